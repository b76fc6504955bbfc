"""Arguments shared by `quba rank`, `quba recommend` and `quba correlate` (light imports only)."""
from __future__ import annotations

import argparse
import textwrap

from quba.cli._aliases import deprecate

FILTERS_HELP = """\
filters (repeatable ones combine with OR; different filters with AND):
  --architecture/--paradigm/--pretraining-data match case-insensitively: a value
  equal to the query wins, else values starting with it, else values containing
  it (e.g. --paradigm supervised = "Supervised learning" only, --pretraining-data
  21k = "ImageNet-21k"); --name takes a shell glob (case-insensitive)."""


def fill(text: str) -> str:
    """Wrap a description for the raw help formatter (which keeps the epilog's layout)."""
    return textwrap.fill(text, 79)


def add_leaderboard(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--leaderboard", "-l", metavar="CSV", action="append", default=None,
        help="leaderboard CSV (repeat to combine several; the name 'reference' stands for the shipped "
             "326-model paper leaderboard, the default when none is given; with --suite mini and none given: "
             "the shipped mini zoo reference)",
    )


def add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", "-w", metavar="SPEC",
                   help="weights, e.g. accuracy=1,calibration_error=2 (a bare name means 1, fractions like 1/3 "
                        "work). Alone: only these dimensions count. With --preset: these entries override "
                        "the preset's")
    p.add_argument("--preset", "-p", metavar="NAME", help="named weights (default: paper; listed below)")
    p.add_argument("--reference-population", dest="reference", metavar="paper|leaderboard|CSV",
                   help="the population that z-normalises: the paper's fixed constants (default for the ImageNet "
                        "suite), the mean and sample std of the loaded leaderboard (default for other suites), "
                        "or of the rows of a CSV")
    deprecate(p, "--reference", "--reference-population")  # before 0.2 (vs --reference-model, a model)


def add_filters(p: argparse.ArgumentParser, renormalise: bool = True) -> None:
    """The options of `quba.ranking.Filters` (every field, the same in rank, recommend and correlate)
    and, where models are scored, --renormalise."""
    g = p.add_argument_group("filters")
    g.add_argument("--max-params", type=float, metavar="M", help="at most M million parameters "
                   "(models with an unknown count are not ranked)")
    g.add_argument("--architecture", action="append", default=[], metavar="A",
                   help="e.g. CNN, Transformer, Vision-language, B-cos")
    g.add_argument("--paradigm", action="append", default=[], metavar="P",
                   help="training paradigm, e.g. 'Supervised learning', self-supervised, 'Adversarial training'")
    g.add_argument("--pretraining-data", action="append", default=[], metavar="D",
                   help="e.g. ImageNet-1k, 21k, large-scale")
    g.add_argument("--name", action="append", default=[], metavar="GLOB", help="model name glob, e.g. 'ViT*'")
    from quba.cli import _names

    g.add_argument("--suite", metavar=_names.suite_metavar(),
                   help="one suite's rows (needed when leaderboards mix suites; without --leaderboard, "
                        "that suite's shipped reference: --suite mini ranks the mini zoo)")
    g.add_argument("--exclude-missing", action="store_true",
                   help="drop models missing any dimension in play, weighted or not (every dimension of the "
                        "leaderboard; for correlate, the correlated ones)")
    if renormalise:
        g.add_argument("--renormalise", "--renormalize", action="store_true",
                       help="score a model missing weighted dimensions over those it has (flagged '*' / "
                            "renormalised) instead of leaving it out")


def filters_from(args):
    """The `quba.ranking.Filters` the filter options of `add_filters` give."""
    from quba.ranking.score import Filters

    return Filters(max_params=args.max_params, architecture=args.architecture, paradigm=args.paradigm,
                   pretraining_data=args.pretraining_data, name=args.name, suite=args.suite,
                   exclude_missing=args.exclude_missing)


def add_sensitivity_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concentration", type=float, default=100.0, metavar="C",
                   help="Dirichlet concentration around the normalised weights (larger = smaller "
                        "perturbations; default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weight draws (default 0)")


def add_stability_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rank stability (leaderboards built from records)")
    g.add_argument("--stability", type=int, default=0, metavar="N",
                   help="resample the test images N times (paired bootstrap over every model's cached per-image "
                        "predictions) and report how often each model keeps its rank; needs a leaderboard.csv "
                        "written by quba evaluate/leaderboard (records/ beside it)")
    g.add_argument("--data-root", metavar="DIR", help="--stability on suite imagenet: the data root it ran on")
    g.add_argument("--device", default="auto", metavar="D",
                   help="--stability: where splits missing from the cache run (default auto)")
