"""`quba correlate`: Spearman rank correlation between all pairs of dimensions."""
from __future__ import annotations

import argparse

from quba.cli._ranking_args import FILTERS_HELP, add_filters, add_leaderboard, filters_from, fill

ORDER = 32


def register(sub) -> None:
    p = sub.add_parser(
        "correlate",
        help="Spearman correlation (with p-values) between every pair of dimensions",
        description=fill(
            "Spearman rank correlation and its two-sided p-value (scipy.stats.spearmanr) for every pair of "
            "dimensions of a leaderboard, each over the models that have both values."
        ),
        epilog=FILTERS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_leaderboard(p)
    p.add_argument("--dims", nargs="+", metavar="DIM",
                   help="only these dimensions (names or aliases, space- or comma-separated, as in evaluate; "
                        "default: all with values)")
    p.add_argument("--oriented", action="store_true",
                   help="negate lower-is-better dimensions first, so rho > 0 means 'better goes with better'")
    add_filters(p, renormalise=False)
    p.add_argument("--format", "-f", choices=["table", "csv"], default="table",
                   help="table (matrix with significance stars) or csv (dim_a,dim_b,rho,p_value,n)")
    p.set_defaults(func=run)


def run(args) -> int:
    from quba.ranking import correlate, render

    dims = [d.strip() for part in args.dims for d in part.split(",") if d.strip()] if args.dims else None
    pairs = correlate(args.leaderboard, dims=dims, oriented=args.oriented, filters=filters_from(args))
    print(render.correlation_table(pairs, args.oriented) if args.format == "table"
          else render.correlation_csv(pairs), end="")
    return 0
