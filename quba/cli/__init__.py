"""The `quba` command: a thin shell over the Python API.

Each subcommand lives in its own module in this package and defines
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Modules are discovered, so adding a command is adding a file. Keep their
top-level imports light (no torch): import heavy modules inside `func`.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from quba import __version__
from quba.errors import QubaError


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line and exit code 2."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quba",
        description="Measure image classifiers on quality beyond accuracy (QUBA) and rank them.",
    )
    parser.add_argument("--version", action="version", version=f"quba {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "register"):
            modules.append(mod)
    for mod in sorted(modules, key=lambda m: (getattr(m, "ORDER", 50), m.__name__)):
        mod.register(sub)
    from quba.cli._plugins import PLUGIN_COMMANDS, add_plugin_option

    for name in PLUGIN_COMMANDS:  # third-party dimensions, model sources, suites, executors: --plugin MODULE
        if name in sub.choices:
            add_plugin_option(sub.choices[name])
    return parser


#: The advice on running out of memory names the options, of these, that the command has.
MEMORY_OPTIONS = ("batch_size", "subset", "bootstrap", "samples", "sensitivity", "stability", "limit")


def main(argv: list[str] | None = None) -> int:
    from quba.errors import interrupts_watched

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    with interrupts_watched():  # a KeyboardInterrupt that no Ctrl-C caused is a model's (errors.model_exit_error)
        return _run(args)


def _run(args) -> int:
    try:
        if getattr(args, "plugin", None):
            from quba.cli._plugins import load

            load(args)
        return int(args.func(args) or 0)
    except QubaError as exc:
        print(f"quba: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("quba: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # only code quba runs (a model, preprocess or plugin) calls it in a command
        print(f"quba: error: sys.exit({exc.code!r}) was called by code quba ran (a model, its preprocess or a "
              f"plugin) during 'quba {args.command}', which did not finish; fix that code", file=sys.stderr)
        return 2
    except MemoryError:
        opts = [f"--{o.replace('_', '-')}" for o in MEMORY_OPTIONS if hasattr(args, o)]
        hint = f"; use a smaller {', '.join(opts[:-1]) + ' or ' if len(opts) > 1 else ''}{opts[-1]}" if opts \
            else "; free memory or use a smaller leaderboard"
        print(f"quba: error: out of memory{hint}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into e.g. `head`, which closed early: not an error.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # disk full, read-only folder, a file where a folder should be: one line, not a traceback
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"quba: error: cannot read or write{where} ({exc.strerror or exc.__class__.__name__}); "
              "free space, fix permissions or choose another folder", file=sys.stderr)
        return 2
