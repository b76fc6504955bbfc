"""`quba rank`: rank models by the QUBA score."""
from __future__ import annotations

import argparse

from quba.cli._ranking_args import (FILTERS_HELP, add_filters, add_leaderboard, add_sensitivity_options,
                                    add_stability_options, add_weights, filters_from, fill)

ORDER = 30


def register(sub) -> None:
    from quba.ranking.weights import presets_help

    p = sub.add_parser(
        "rank",
        help="rank models by the QUBA score under your weights and filters",
        description=fill(
            "Rank models by QUBA = sum_d w_d s_d (x_d - mu_d)/sigma_d / sum_d w_d (s_d = +1 if higher is better, "
            "else -1) over one or more leaderboards (default: the shipped 326-model paper leaderboard). "
            "A model missing a weighted dimension is not ranked (listed with the reason) unless --renormalise."
        ),
        epilog=presets_help() + "\n\n" + FILTERS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_leaderboard(p)
    add_weights(p)
    add_filters(p)
    p.add_argument("--top", "-n", type=int, metavar="N", help="show the best N (default: all)")
    p.add_argument("--format", "-f", choices=["table", "csv", "json"], default="table",
                   help="table (readable), csv (rank,model,quba, then <dim>,<dim>_z per dimension) or json "
                        "(adds contributions, excluded models, the reference used)")
    p.add_argument("--sensitivity", type=int, default=0, metavar="N",
                   help="also draw N weight vectors around the weights and report each model's probability "
                        "of rank 1 and of the top k (k = --top, else 10)")
    add_sensitivity_options(p)
    add_stability_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from quba.ranking import rank, render

    r = rank(
        args.leaderboard, weights=args.weights, preset=args.preset, reference=args.reference,
        filters=filters_from(args), renormalise=args.renormalise, top=args.top, sensitivity=args.sensitivity,
        concentration=args.concentration, seed=args.seed,
    )
    out = {"table": render.ranking_table, "csv": render.ranking_csv, "json": render.ranking_json}[args.format](r)
    if args.stability:
        out = with_stability(out, args.format, r, args)
    print(out, end="")
    return 0


def with_stability(out: str, fmt: str, ranking, args) -> str:
    """The ranking output with the rank-stability result added (a section, columns or a key)."""
    import json

    from quba.ranking.stability import rank_stability, stability_text

    if not args.leaderboard:
        from quba.errors import QubaError

        raise QubaError("--stability resamples the images of a leaderboard built from records; give "
                        "--leaderboard DIR/<suite>/leaderboard.csv (the paper's rows have no per-image predictions)")
    st = rank_stability(ranking, args.leaderboard, args.stability, args.seed, data_root=args.data_root,
                        device=args.device)
    if fmt == "json":
        data = json.loads(out)
        data["stability"] = {"samples": args.stability, "seed": args.seed,
                             "models": json.loads(st.to_json(orient="records"))}
        return json.dumps(data, indent=1) + "\n"
    if fmt == "csv":
        import io

        import pandas as pd

        from quba import csvsafe

        # every cell as the ranking wrote it (names such as NA stay names), the escape undone for the merge
        table = csvsafe.unescape_frame(pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False))
        merged = table.merge(st[["model", "p_keep", "rank_lo", "rank_hi"]], on="model", how="left")
        return csvsafe.to_csv(merged, index=False)
    return out + stability_text(st, args.stability, args.seed)
