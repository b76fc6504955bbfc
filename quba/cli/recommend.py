"""`quba recommend`: the best models for your priorities, explained."""
from __future__ import annotations

import argparse

from quba.cli._aliases import deprecate
from quba.cli._ranking_args import (FILTERS_HELP, add_filters, add_leaderboard, add_sensitivity_options,
                                    add_stability_options, add_weights, filters_from, fill)

ORDER = 31


def register(sub) -> None:
    from quba.ranking.weights import presets_help

    p = sub.add_parser(
        "recommend",
        help="recommend models for your priorities and budget, with strengths, trade-offs and weight sensitivity",
        description=fill(
            "Recommend the top K models under a preset (default paper), --prefer and filters: each with its "
            "strengths and weaknesses (dimensions at least 1 sd above/below the reference mean), its trade-off "
            "against the most accurate candidate, and how often it stays on top when the weights are perturbed "
            "(Dirichlet draws around them)."
        ),
        epilog=(fill("--prefer DIM sets DIM's weight to 3x its weight in the preset (1 if the preset gives it "
                     "0); --prefer DIM=W sets it to W. Both apply on top of --preset and --weights.")
                + "\n\n" + presets_help() + "\n\n" + FILTERS_HELP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_leaderboard(p)
    p.add_argument("--prefer", action="append", default=[], metavar="DIM[=W]",
                   help="raise a dimension's weight (repeatable): DIM = 3x its preset weight, DIM=W = exactly W")
    add_weights(p)
    add_filters(p)
    p.add_argument("--top", "-n", type=int, default=3, metavar="N", help="how many to recommend (default 3)")
    deprecate(p, "-k", "--top")  # before 0.2: -k (rank's --top is -n)
    p.add_argument("--samples", type=int, default=1000, metavar="N",
                   help="weight vectors drawn for the sensitivity analysis (default 1000)")
    add_sensitivity_options(p)
    add_stability_options(p)
    p.add_argument("--format", "-f", choices=["text", "json"], default="text", help="text (default) or json")
    p.set_defaults(func=run)


def run(args) -> int:
    from quba.ranking import recommend, render

    rec = recommend(
        args.leaderboard, prefer=args.prefer, preset=args.preset, weights=args.weights, reference=args.reference,
        filters=filters_from(args), renormalise=args.renormalise, top=args.top, samples=args.samples,
        concentration=args.concentration, seed=args.seed,
    )
    out = render.recommendation_text(rec) if args.format == "text" else render.recommendation_json(rec)
    if args.stability:
        from quba.cli.rank import with_stability

        out = with_stability(out, "json" if args.format == "json" else "table", rec.ranking, args)
    print(out, end="")
    return 0
