"""`quba rank`: rank models by the QUBA score."""
from __future__ import annotations

import argparse

from quba.cli._ranking_args import (FILTERS_HELP, add_filters, add_leaderboard, add_sensitivity_options,
                                    add_weights, filter_kwargs, fill)

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
    p.set_defaults(func=run)


def run(args) -> int:
    from quba.ranking import rank, render

    r = rank(
        args.leaderboard, weights=args.weights, preset=args.preset, reference=args.reference,
        top=args.top, sensitivity=args.sensitivity, concentration=args.concentration, seed=args.seed,
        **filter_kwargs(args),
    )
    out = {"table": render.ranking_table, "csv": render.ranking_csv, "json": render.ranking_json}[args.format](r)
    print(out, end="")
    return 0
