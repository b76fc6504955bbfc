"""Deprecated option names: a renamed option keeps its old name for one release.

`deprecate(parser, "--workers", "--loader-workers")` makes ``--workers`` parse exactly as
``--loader-workers`` (same value type, choices, `required`-ness), after printing one line on
stderr::

    deprecated: use --loader-workers (--workers still works in this release and goes in the next)

The old name is hidden: it is not among the option's `option_strings`, so neither ``--help``,
the usage line nor docs/cli.md's option tables show it; docs/cli.md lists every deprecated name
with its replacement in a section of its own (`deprecated_names`, read by tools/gen_cli_doc.py).
The naming rule that decided the renames is in docs/cli.md too (tools/gen_cli_doc.py, `NAMING`).

How: the old name is registered in the parser's table of option strings for the new option's own
action object, so argparse treats both names as one option (a required option given by its old
name counts as given; `parents=` copies only the new name). The action's class gains
`_Deprecations`, which prints the line when it is called under an old name.
"""
from __future__ import annotations

import argparse
import sys

#: The one line an old name prints; {old} and {new} are option strings.
NOTICE = "deprecated: use {new} ({old} still works in this release and goes in the next)"


class _Deprecations:
    """Mixed into an action's class: the old names it answers to, and the notice when one is used."""

    deprecated: dict[str, str]

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string in self.deprecated:
            print(NOTICE.format(new=self.deprecated[option_string], old=option_string), file=sys.stderr)
        super().__call__(parser, namespace, values, option_string)


def deprecate(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Let `old` stand for the option `new` of `parser` (which must have it), with a notice."""
    action = parser._option_string_actions[new]
    if old in parser._option_string_actions:
        raise ValueError(f"{parser.prog}: {old} already names an option")
    if not isinstance(action, _Deprecations):
        action.__class__ = type(f"Deprecatable{type(action).__name__}", (_Deprecations, type(action)), {})
        action.deprecated = {}
    action.deprecated[old] = new
    parser._option_string_actions[old] = action


def forget(parser: argparse.ArgumentParser, old: str) -> None:
    """Drop the deprecated name `old` from `parser` (a command that reuses another's parser and gives
    the name a meaning of its own: sweep's --workers)."""
    action = parser._option_string_actions.pop(old)
    action.deprecated.pop(old)


def deprecated_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{old: new} of the deprecated option names of `parser` (not of its subcommands)."""
    out = {}
    for name, action in parser._option_string_actions.items():
        if isinstance(action, _Deprecations) and name in action.deprecated:
            out[name] = action.deprecated[name]
    return out
