"""`quba report`: one self-contained, offline HTML page of leaderboards."""
from __future__ import annotations

import argparse

from quba.cli._aliases import deprecate
from quba.cli._ranking_args import add_leaderboard, fill

ORDER = 33


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write an interactive leaderboard page (one offline HTML file: scatter, weights, filters, ranking)",
        description=fill(
            "Write ONE self-contained HTML file (data and Plotly inlined; it works from file:// with no network): "
            "the ranking first (sortable, with architecture, training paradigm and pretraining data columns; usable "
            "before the plots load), the filters, presets, prefer buttons and per-dimension weights of "
            "'quba rank'/'quba recommend' with QUBA recomputed in the page by the same formula and reference "
            "normalisation, model details and a comparison of up to 3 models, a scatter of any dimension or QUBA "
            "against another (colour: architecture, shape: training paradigm or pretraining data, 95% intervals "
            "from <dim>_lo/_hi, your rows outlined; hover for every value, click to compare), the Spearman heatmap "
            "of the filtered models, a CSV download of the ranking, how to read it and the paper's BibTeX. The "
            "view lives in the address, e.g. report.html#preset=trustworthy&max_params=50; Back undoes a change."
        ),
        epilog="examples:\n  quba report\n  quba report -l reference -l results/mini/leaderboard.csv -o report.html\n"
               "  quba report -l my_imagenet_results.csv -l reference --title 'Our models vs QUBA'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_leaderboard(p)
    from quba.cli import _names

    p.add_argument("--suite", metavar=_names.suite_metavar(),
                   help="include only this suite's rows (default: every suite, with a selector; ImageNet first)")
    p.add_argument("--reference-population", dest="reference", metavar="paper|leaderboard|CSV",
                   help="the population that z-normalises, as in 'quba rank' (default: the paper's constants for "
                        "the ImageNet dimensions, the leaderboard's own mean and sample std otherwise)")
    deprecate(p, "--reference", "--reference-population")  # before 0.2 (vs --reference-model, a model)
    p.add_argument("--output", "-o", default="report.html", metavar="HTML",
                   help="the file to write (default report.html)")
    p.add_argument("--title", metavar="T", help="page title (default 'QUBA leaderboard')")
    p.set_defaults(func=run)


def run(args) -> int:
    from quba.report.html import write_report_html

    path = write_report_html(args.output, args.leaderboard, suite=args.suite, reference=args.reference,
                             title=args.title)
    import sys

    from quba.integrity import written_in_place

    # the page went into a device, a pipe or /dev/stdout: this note must not follow it there
    print(f"report: {path} (open it in a browser; works offline)",
          file=sys.stderr if written_in_place(path) else sys.stdout)
    return 0
