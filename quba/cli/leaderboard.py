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
               "mini-cnn-shape\n  quba leaderboard --suite mini --records-only",
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
    add_run_options(p)
    p.set_defaults(func=run)


def expand_models(tokens, suite: str) -> list[str]:
    """Model ids from groups and ids (classification models only: a segmentation model has no logits)."""
    from quba.errors import QubaError, closest
    from quba.zoo.catalog import all_groups, catalog, select

    if not tokens:
        if suite != "mini":
            raise QubaError(f"name the models to evaluate on suite {suite!r} with --models GROUP|ID ...")
        tokens = ["mini"]
    rows = catalog()
    by_id = {r["id"]: r for r in rows}
    groups = {g.lower(): g for g in all_groups(rows)}
    out: list[str] = []
    for tok in tokens:
        for part in str(tok).split(","):
            part = part.strip()
            if not part:
                continue
            if part in by_id:
                out.append(part)
            elif part.lower() in groups:
                out.extend(r["id"] for r in select(rows, group=part)
                           if (r.get("task") or "classification") == "classification")
            elif ".py:" in part or part.lower().endswith(_checkpoint_suffixes()):
                out.append(part)  # a custom file, or a checkpoint for --arch
            else:
                raise QubaError(f"unknown model or group {part!r}{closest(part, list(by_id) + list(groups.values()))}; "
                                "see 'quba zoo list'")
    return list(dict.fromkeys(out))


def _checkpoint_suffixes() -> tuple[str, ...]:
    from quba.zoo import _CHECKPOINT_SUFFIXES

    return _CHECKPOINT_SUFFIXES


def run(args) -> int:
    from pathlib import Path

    from quba.engine import _load_suite, evaluate, resolve_dims
    from quba.errors import QubaError
    from quba.report import write_report
    from quba.store.leaderboard import write_leaderboard
    from quba.store.records import check_writable

    if args.records_only:
        path = write_leaderboard(args.output, args.suite)
        if path is None:
            raise QubaError(f"no records under {Path(args.output) / args.suite / 'records'}; evaluate models first")
    else:
        resolve_dims(args.dims)
        ids = expand_models(args.models, args.suite) if (args.models or not (args.checkpoint and args.arch)) else []
        if not ids and not args.checkpoint:
            raise QubaError("no models to evaluate (the groups given are empty)")
        suite = _load_suite(args.suite, args.data_root)
        check_writable(args.output, suite.name)
        from quba.cli.evaluate import evaluate_kwargs, load_models

        models = load_models(ids, args.checkpoint, args.arch)
        for i, model in enumerate(models, 1):
            print(f"[{i}/{len(models)}] {model.id}", file=sys.stderr)
            evaluate(model, suite, args.dims, **evaluate_kwargs(args))
        path = Path(args.output) / suite.name / "leaderboard.csv"
    rep = write_report(path, path.parent)
    print(f"leaderboard: {path}")
    if rep["correlations"]:
        print(f"correlations: {rep['correlations']}")
        print(f"heatmap: {rep['heatmap']}")
    if rep["radar"]:
        print(f"radar plots: {len(rep['radar'])} under {rep['radar'][0].parent}")
    for note in rep["notes"]:
        print(f"note: {note}")
    if args.report:
        from quba.report.html import write_report_html

        suite_name = path.parent.name
        sources = (["reference"] if suite_name == "imagenet" else []) + [str(path)]
        print(f"interactive report: {write_report_html(path.parent / 'report.html', sources, suite=suite_name)}")
    return 0
