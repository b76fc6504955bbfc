"""`quba leaderboard`: evaluate many models and write the leaderboard, correlations and plots."""
from __future__ import annotations

import argparse
import sys

ORDER = 11


def register(sub) -> None:
    from quba.cli.evaluate import add_run_options

    p = sub.add_parser(
        "leaderboard",
        help="evaluate many models; write the leaderboard, correlations, radar plots and a heatmap",
        description=(
            "Evaluate every model of the given groups or ids on a suite (each split once per model, cached), "
            "then regenerate DIR/<suite>/leaderboard.csv from all records there, and write "
            "DIR/<suite>/correlations.csv (Spearman rho per pair of dimensions), "
            "DIR/<suite>/plots/radar_<model>.png per model and DIR/<suite>/plots/correlation_heatmap.png."
        ),
        epilog="examples:\n  quba leaderboard --suite mini\n  quba leaderboard --suite mini --models mini-cnn-standard "
               "mini-cnn-shape\n  quba leaderboard --suite mini --records-only\n"
               "  quba leaderboard --suite imagenet --data-root DIR --models ResNet50 --protocol paper --against paper",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models", nargs="+", metavar="GROUP|ID",
                   help="zoo groups (e.g. mini) and/or model ids (default for --suite mini: the mini zoo's "
                        "classifiers; required for imagenet)")
    p.add_argument("--records-only", action="store_true",
                   help="evaluate nothing: regenerate the leaderboard, correlations and plots from the records")
    p.add_argument("--report", action="store_true",
                   help="also write DIR/<suite>/report.html, the interactive offline page of 'quba report' "
                        "(for imagenet, beside the paper's 326 models)")
    p.add_argument("--against", metavar="paper|reference|CSV",
                   help="then print the reproduction report of the suite's records against a published "
                        "leaderboard: paper (imagenet), reference (the suite's shipped one) or a CSV; see "
                        "'quba reproduce'")
    add_run_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from quba.api import leaderboard
    from quba.cli.evaluate import evaluate_kwargs

    kw = evaluate_kwargs(args)
    output, data_root = kw.pop("output"), kw.pop("data_root")
    if args.against and args.against.strip().lower() not in ("paper", "reference"):
        from pathlib import Path

        from quba.errors import QubaError

        if not Path(args.against).is_file():  # before hours of evaluation, not after
            raise QubaError(f"--against {args.against!r}: no such file; give 'paper' or a leaderboard CSV")
    rep = leaderboard(args.models, args.suite, args.dims, records_only=args.records_only, html=args.report,
                      output=output, data_root=data_root, checkpoint=args.checkpoint, arch=args.arch,
                      remap_keys=args.remap_keys,
                      log=lambda line: print(line, file=sys.stderr), **kw)
    print(f"leaderboard: {rep['leaderboard']}")
    if rep["correlations"]:
        print(f"correlations: {rep['correlations']}")
        print(f"heatmap: {rep['heatmap']}")
    if rep["radar"]:
        print(f"radar plots: {len(rep['radar'])} under {rep['radar'][0].parent}")
    for note in rep["notes"]:
        print(f"note: {note}")
    if rep["html"]:
        print(f"interactive report: {rep['html']}")
    if args.against:
        from quba.api import reproduce
        from quba.cli.reproduce import render

        print()
        print(render(reproduce(output, rep["leaderboard"].parent.name, against=args.against), "table"), end="")
    return 0
