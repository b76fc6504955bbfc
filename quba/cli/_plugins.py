"""`--plugin MODULE`: load third-party dimensions, model sources, suites and executors before a command
runs (quba.registry.load_plugin).

Commands that measure, rank or load models and suites take it; `quba.cli.main` loads the modules
after parsing, so what a plugin registers can be named like quba's own (--dims, --weights,
--suite, --executor, SOURCE:IDENTIFIER models). Installed packages can instead declare the
entry-point groups quba.dimensions, quba.model_sources, quba.suites, quba.executors (read on the
first lookup, no flag needed). docs/adding-a-dimension.md, docs/adding-a-suite.md, ..."""
from __future__ import annotations

import argparse

PLUGIN_COMMANDS = ("evaluate", "leaderboard", "sweep", "rank", "recommend", "correlate", "report", "compare",
                   "certify", "reproduce")


def add_plugin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", metavar="MODULE", action="append", default=None,
                   help="import MODULE (a dotted name on PYTHONPATH, or a .py file) first, so the dimensions, "
                        "model sources, suites and executors it registers can be used (repeatable; installed "
                        "packages can use the entry-point groups quba.dimensions, quba.model_sources, "
                        "quba.suites, quba.executors instead)")


def load(args) -> dict[str, list[str]]:
    """Load the --plugin modules of parsed arguments; {kind: names} they registered."""
    from quba.registry import load_plugins

    return load_plugins(getattr(args, "plugin", None) or [])
