"""`--plugin MODULE`: load third-party dimensions before a command runs (quba.dimensions.load_plugin).

Commands that measure or rank dimensions (evaluate, leaderboard, sweep, rank, recommend, correlate,
report) take it; `quba.cli.main` loads the modules after parsing, so a plugin's dimension can be
named in --dims and --weights like quba's own. Installed packages can instead declare the entry-point
group ``quba.dimensions`` (loaded on the first lookup, no flag needed). docs/adding-a-dimension.md."""
from __future__ import annotations

import argparse

PLUGIN_COMMANDS = ("evaluate", "leaderboard", "sweep", "rank", "recommend", "correlate", "report")


def add_plugin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", metavar="MODULE", action="append", default=None,
                   help="import MODULE (a dotted name on PYTHONPATH, or a .py file) first, so the dimensions "
                        "it declares can be measured and ranked (repeatable; installed packages can use the "
                        "entry-point group quba.dimensions instead)")


def load(args) -> list[str]:
    """Load the --plugin modules of parsed arguments; the dimension names they declared."""
    from quba.dimensions import load_plugins

    return load_plugins(getattr(args, "plugin", None) or [])
