"""`quba reproduce`: the reproduction report -- your records against the published leaderboard."""
from __future__ import annotations

import argparse
import textwrap

ORDER = 13


def register(sub) -> None:
    from quba.suites.specs import DEFAULT_LEADERBOARD_SUITE

    p = sub.add_parser(
        "reproduce",
        help="compare your records with the paper's leaderboard, dimension by dimension",
        description=textwrap.fill(
            "The reproduction report: for every record under DIR/<suite>/records/ whose model is in the published "
            "leaderboard (the paper's 326 models for imagenet; ids as 'quba zoo list' spells them), each dimension's "
            "fresh value and 95% interval, the published value, the difference (fresh - published) and whether the "
            "published value lies inside the interval (allowing for its rounding). Each row names what makes it not "
            "like for like: another adversarial protocol than the paper's (--protocol paper reproduces theirs), a "
            "--subset, an incomplete split, skipped images. Reads records only: evaluate first."
        ),
        epilog="examples:\n"
               "  quba evaluate ResNet50 --suite imagenet --data-root /data/imagenet --protocol paper\n"
               "  quba reproduce\n"
               "  quba reproduce --models ResNet50 --format csv > reproduction.csv\n"
               "  quba reproduce --suite mini -o results",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from quba.cli import _names

    p.add_argument("--suite", default=DEFAULT_LEADERBOARD_SUITE, metavar=_names.suite_metavar(),
                   help=f"the suite of the records (default {DEFAULT_LEADERBOARD_SUITE}, the paper's)")
    p.add_argument("--output", "-o", default="results", metavar="DIR",
                   help="results folder holding DIR/<suite>/records/ (default: results)")
    p.add_argument("--against", metavar="paper|reference|CSV",
                   help="the published leaderboard: reference (default), the suite's shipped one: the paper's 326 "
                        "rows for imagenet (also called paper), mini_reference.csv for mini; or a leaderboard CSV "
                        "(its rows' protocol is not known: protocol differences are not named)")
    p.add_argument("--models", nargs="+", metavar="ID", help="only these records (default: all of the suite)")
    p.add_argument("--format", "-f", choices=["table", "csv", "json"], default="table",
                   help="table (readable), csv (one row per model and dimension: model, dimension, fresh, lo, hi, "
                        "published, difference, inside, like_for_like, notes) or json (rows and summary)")
    p.set_defaults(func=run)


def render(report: dict, fmt: str) -> str:
    from quba.ranking.reproduction import rows_csv, rows_table

    if fmt == "csv":
        return rows_csv(report)
    if fmt == "json":
        import json

        return json.dumps(report, indent=1) + "\n"
    return rows_table(report, report.get("records"))


def run(args) -> int:
    from quba.api import reproduce

    report = reproduce(args.output, args.suite, against=args.against, models=args.models)
    print(render(report, args.format), end="")
    return 0
