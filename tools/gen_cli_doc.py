"""Generate docs/cli.md, the reference of every `quba` command and option, from the real parsers.

    python tools/gen_cli_doc.py           # rewrite docs/cli.md
    python tools/gen_cli_doc.py --check   # exit 1 (and say why) if docs/cli.md differs from the parsers

Run it after adding or changing a command or an option; tests/unit/test_docs.py fails when a
command or option of `quba <command> --help` is missing from docs/cli.md (or when the doc
lists an option that no longer exists). The text comes from `quba.cli.build_parser()`:
each command's description, usage, arguments with their help, defaults and choices, and
its epilog.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cli.md"
WIDTH = 100  # usage lines are wrapped at this width, whatever the terminal


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, sub, helps.get(name)


def commands(parser: argparse.ArgumentParser | None = None, prefix: tuple[str, ...] = ()):
    """[(("rank",), parser, one-line help), (("zoo", "list"), ...), ...] in the order `quba --help` lists them.

    A command with subcommands (`quba zoo`) is listed, then each of its subcommands."""
    if parser is None:
        from quba.cli import build_parser

        parser = build_parser()
    out = []
    for name, sub, help_ in _subparsers(parser):
        out.append(((*prefix, name), sub, help_))
        out.extend(commands(sub, (*prefix, name)))
    return out


def documented_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments `--help` shows (not the subcommand selector, not suppressed ones)."""
    return [a for a in parser._actions
            if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)]


def heading(path: tuple[str, ...]) -> str:
    return "## `quba " + " ".join(path) + "`"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(parser.prog, width=WIDTH)


def _row(parser: argparse.ArgumentParser, a: argparse.Action) -> str:
    fmt = _formatter(parser)
    if a.option_strings:
        names = ", ".join(f"`{o}`" for o in a.option_strings)
        metavar = fmt._format_args(a, a.dest.upper()) if a.nargs != 0 else ""
    else:
        names = f"`{a.metavar or a.dest}`"
        metavar = fmt._format_args(a, a.dest) if a.nargs not in (None, 1) else ""
    help_ = fmt._expand_help(a) if a.help else ""
    if a.choices is not None and a.metavar is not None:  # a metavar hides the choices in --help
        help_ = help_.rstrip() + " (choices: " + ", ".join(f"`{c}`" for c in a.choices) + ")"
    default = a.default
    shown = "" if default in (None, False, argparse.SUPPRESS) or a.nargs == 0 else f"`{default}`"
    if isinstance(default, (list, tuple)):
        shown = "`" + " ".join(map(str, default)) + "`" if default else ""
    return f"| {names} | {_cell(metavar)} | {shown} | {_cell(help_)} |"


#: The rule every option name follows (docs/cli.md, "Option names"); tests/unit/test_cli_names.py
#: checks what of it a program can.
NAMING = """\
One name per concept, the same on every command that has it; a renamed option keeps its old
name for one release (below).

- A name says what its value is, in words joined by hyphens (`--reference-model ID`,
  `--data-root DIR`, `--batch-size B`).
- `--data-root DIR`: the folder holding the ImageNet-family datasets, for the commands that read
  it (`evaluate`, `leaderboard`, `sweep`, `compare`, `certify`, `rank`/`recommend --stability`)
  and for every `quba data` command that fills or checks it.
- `--output`/`-o`: where a command writes what it makes: a results folder (`evaluate`,
  `leaderboard`, `sweep`, `certify`, `consistency --record`; `reproduce` reads it), the page
  (`report`), the new data root (`data subset`). `--format`/`-f`: what is printed on stdout; a
  file written beside it has a name of its own (`consistency --json FILE`). Its readable choice
  is `table`, or `text` where the output is no table (`recommend`, `data list`, `zoo show`).
- `--workers N`: processes that share a command's work (`sweep`'s local executor, `data
  generate`, `data check`). `--loader-workers N`: DataLoader processes that decode images for
  each model (`evaluate`, `leaderboard`, `sweep`).
- "reference" is always qualified: `--reference-population paper|leaderboard|CSV` (the
  population that z-normalises: `rank`, `recommend`, `report`), `--reference-model ID` (the older
  model of a negative-flip comparison); as a value, `reference` is the suite's shipped
  leaderboard (`-l reference`, `--against reference`).
- The filters (`--max-params`, `--architecture`, `--paradigm`, `--pretraining-data`, `--name`,
  `--suite`, `--exclude-missing`) are the same options with the same meaning in `rank`,
  `recommend` and `correlate` (one `quba.ranking.Filters`).
- A short form always stands for the same long option: `-o --output`,
  `-f --format`, `-l --leaderboard`, `-w --weights`, `-p --preset`, `-n --top`, `-m --model`,
  `-g --group`, `-s --source`.

An old name works as before and prints one line on stderr, `deprecated: use --NEW (--OLD still
works in this release and goes in the next)`; `--help` and the tables below show only the new
name."""


def deprecated_rows(cmds) -> list[str]:
    """Table rows `| quba CMD | --old | --new |` of every deprecated option name."""
    from quba.cli._aliases import deprecated_names

    rows = []
    for path, sub, _ in cmds:
        for old, new in sorted(deprecated_names(sub).items()):
            rows.append(f"| `quba {' '.join(path)}` | `{old}` | `{new}` |")
    return rows


def _usage(parser: argparse.ArgumentParser) -> str:
    fmt = _formatter(parser)
    fmt.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return fmt.format_help().strip()


def render() -> str:
    from quba.cli import build_parser

    root = build_parser()
    cmds = commands(root)
    lines = [
        "# Command-line reference",
        "",
        "<!-- Generated by tools/gen_cli_doc.py from quba's argparse parsers; do not edit by hand.",
        "     Regenerate with: python tools/gen_cli_doc.py -->",
        "",
        "Every `quba` command and option, as `quba <command> --help` prints them. Bad usage is",
        "reported in one line with exit code 2. The README shows the commands at work; the",
        "formulas behind them are in [metrics.md](metrics.md).",
        "",
        "```text",
        _usage(root),
        "```",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for path, sub, help_ in cmds:
        anchor = "quba-" + "-".join(path)
        lines.append(f"| [`quba {' '.join(path)}`](#{anchor}) | {_cell(help_ or '')} |")
    lines += ["", "Options of `quba` itself:", "", "| option | value | default | description |", "|---|---|---|---|"]
    lines += [_row(root, a) for a in documented_actions(root)]
    lines += ["", "## Option names", "", NAMING, "", "Deprecated names:", "",
              "| command | old name | use instead |", "|---|---|---|", *deprecated_rows(cmds)]
    for path, sub, help_ in cmds:
        lines += ["", heading(path), ""]
        desc = sub.description or help_ or ""
        if "%(prog)" in desc:  # as argparse prints it
            desc = desc % {"prog": sub.prog}
        if desc:
            lines += [_one_line(desc), ""]
        lines += ["```text", _usage(sub), "```", ""]
        actions = documented_actions(sub)
        positional = [a for a in actions if not a.option_strings]
        optional = [a for a in actions if a.option_strings]
        if positional:
            lines += ["| argument | value | default | description |", "|---|---|---|---|"]
            lines += [_row(sub, a) for a in positional]
            lines.append("")
        lines += ["| option | value | default | description |", "|---|---|---|---|"]
        lines += [_row(sub, a) for a in optional]
        if any(name for name, _, _ in _subparsers(sub)):
            names = ", ".join(f"[`{' '.join((*path, n))}`](#quba-{'-'.join((*path, n))})"
                              for n, _, _ in _subparsers(sub))
            lines += ["", f"Subcommands: {names}."]
        if sub.epilog:
            lines += ["", "```text", sub.epilog.strip("\n"), "```"]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if docs/cli.md is out of date")
    args = ap.parse_args(argv)
    os.environ["COLUMNS"] = str(WIDTH)
    sys.path.insert(0, str(ROOT))
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is out of date; run: python tools/gen_cli_doc.py", file=sys.stderr)
            return 1
        return 0
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(DOC)
    print(f"wrote {DOC.relative_to(ROOT)} ({len(re.findall(r'^## `quba ', text, flags=re.M))} commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
