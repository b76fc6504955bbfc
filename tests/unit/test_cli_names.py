"""Option names are consistent across commands (the rule: docs/cli.md, "Option names"), and every
renamed option keeps its old name for one release: it parses as the new one, prints one
`deprecated: use --NEW` line on stderr, and is hidden from --help and from docs/cli.md's option
tables (which list it, with its replacement, under "Deprecated names")."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pytest

from quba.cli import build_parser, main
from quba.cli._aliases import deprecated_names

ROOT = Path(__file__).resolve().parents[2]
CLI_DOC = ROOT / "docs" / "cli.md"
sys.path.insert(0, str(ROOT / "tools"))

#: (command, old, new, argv with OPT where the option goes): every rename of this release.
RENAMED = [
    ("evaluate", "--workers", "--loader-workers", ["evaluate", "OPT", "2"]),
    ("leaderboard", "--workers", "--loader-workers", ["leaderboard", "OPT", "2"]),
    ("data list", "--root", "--data-root", ["data", "list", "OPT", "/data"]),
    ("data fetch", "--root", "--data-root", ["data", "fetch", "all", "OPT", "/data"]),
    ("data prepare", "--root", "--data-root", ["data", "prepare", "imagenet-val", "--from", "v.tar", "OPT", "/data"]),
    ("data generate", "--root", "--data-root", ["data", "generate", "imagenet-c", "OPT", "/data"]),
    ("data check", "--root", "--data-root", ["data", "check", "OPT", "/data"]),
    ("data subset", "--root", "--data-root", ["data", "subset", "OPT", "/data", "--per-class", "2", "-o", "/d2"]),
    ("data subset", "--out", "--output", ["data", "subset", "--data-root", "/data", "--per-class", "2", "OPT", "/d2"]),
    ("rank", "--reference", "--reference-population", ["rank", "OPT", "leaderboard"]),
    ("recommend", "--reference", "--reference-population", ["recommend", "OPT", "leaderboard"]),
    ("recommend", "-k", "--top", ["recommend", "OPT", "5"]),
    ("report", "--reference", "--reference-population", ["report", "OPT", "leaderboard"]),
    ("consistency", "--out", "--json", ["consistency", "mini", "OPT", "result.json"]),
]


def commands(parser=None, prefix=()):
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield " ".join((*prefix, name)), sub
                yield from commands(sub, (*prefix, name))


def test_the_deprecated_names_are_exactly_the_renames_of_this_release():
    """None dropped before its release is over, none added without a test."""
    found = {(cmd, old, new) for cmd, sub in commands() for old, new in deprecated_names(sub).items()}
    assert found == {(cmd, old, new) for cmd, old, new, _ in RENAMED}


@pytest.mark.parametrize("cmd,old,new,argv", RENAMED, ids=[f"{c}:{o}" for c, o, _, _ in RENAMED])
def test_an_old_name_works_says_so_once_and_is_hidden(cmd, old, new, argv, capsys):
    parser = build_parser()
    as_new = parser.parse_args([new if a == "OPT" else a for a in argv])
    assert capsys.readouterr().err == ""
    as_old = parser.parse_args([old if a == "OPT" else a for a in argv])
    err = capsys.readouterr().err
    assert vars(as_old) == vars(as_new)
    assert err.splitlines() == [f"deprecated: use {new} ({old} still works in this release and goes in the next)"]
    sub = dict(commands(parser))[cmd]
    shown = set(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", sub.format_help()))
    assert new in shown and old not in shown
    section = CLI_DOC.read_text(encoding="utf-8").split(f"## `quba {cmd}`\n", 1)[1].split("\n## ", 1)[0]
    assert f"`{new}`" in section and f"`{old}`" not in section
    assert f"| `quba {cmd}` | `{old}` | `{new}` |" in CLI_DOC.read_text(encoding="utf-8")


def test_a_required_option_given_by_its_old_name_counts_as_given(capsys):
    args = build_parser().parse_args(["data", "check", "--root", "/data"])
    assert args.data_root == "/data"
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["data", "check"])
    assert exc.value.code == 2 and "--data-root" in capsys.readouterr().err


def test_sweep_workers_count_processes_and_are_not_deprecated(capsys):
    """Evaluate's old --workers (DataLoader processes) is not inherited by sweep, whose --workers
    counts worker processes."""
    args = build_parser().parse_args(["sweep", "--workers", "3", "--loader-workers", "1"])
    assert (args.workers, args.loader_workers) == (3, 1) and capsys.readouterr().err == ""


def test_the_cli_doc_is_what_the_generator_writes_now():
    import gen_cli_doc

    assert CLI_DOC.read_text(encoding="utf-8") == gen_cli_doc.render(), "regenerate: python tools/gen_cli_doc.py"


def test_a_short_option_means_one_long_option_on_every_command():
    meaning: dict[str, set[str]] = {}
    for cmd, sub in commands():
        for a in sub._actions:
            shorts = [s for s in a.option_strings if not s.startswith("--")]
            longs = [s for s in a.option_strings if s.startswith("--")]
            for s in shorts:
                meaning.setdefault(s, set()).update(longs[:1])
    mixed = {s: sorted(v) for s, v in meaning.items() if len(v) > 1}
    assert not mixed, f"short options standing for different long ones: {mixed}"
    assert meaning["-n"] == {"--top"} and meaning["-o"] == {"--output"}


def test_every_option_says_what_it_does():
    bare = [f"quba {cmd} {a.option_strings[0]}" for cmd, sub in commands() for a in sub._actions
            if a.option_strings and a.help is not argparse.SUPPRESS and not (a.help or "").strip()]
    assert not bare, f"options without help: {bare}"


def test_one_name_per_concept_across_commands():
    """The names the rule retired are gone from every command's --help (only the deprecated aliases
    answer to them), and each concept has its one name wherever it appears."""
    opts = {cmd: {s for a in sub._actions if a.help is not argparse.SUPPRESS for s in a.option_strings}
            for cmd, sub in commands()}
    for cmd, names in opts.items():
        assert not names & {"--root", "--out", "--reference"}, cmd
        if cmd.startswith("data ") or cmd in ("evaluate", "leaderboard", "sweep", "compare", "certify"):
            assert "--data-root" in names, cmd
    assert all("--loader-workers" in opts[c] and "--workers" not in opts[c] for c in ("evaluate", "leaderboard"))
    for c in ("rank", "recommend", "report"):
        assert "--reference-population" in opts[c]
    filters = {"--max-params", "--architecture", "--paradigm", "--pretraining-data", "--name", "--suite",
               "--exclude-missing"}
    assert all(filters <= opts[c] for c in ("rank", "recommend", "correlate"))


# ---------------------------------------------------------------------------- whole commands, old names

def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_old_names_run_the_same_command(capsys):
    new = _run(capsys, "rank", "--reference-population", "leaderboard", "-n", "5", "--format", "csv")
    old = _run(capsys, "rank", "--reference", "leaderboard", "-n", "5", "--format", "csv")
    assert new[0] == old[0] == 0 and new[1] == old[1] and new[2] == ""
    assert old[2].startswith("deprecated: use --reference-population")
    new = _run(capsys, "recommend", "-n", "2", "--samples", "20", "--format", "json")
    old = _run(capsys, "recommend", "-k", "2", "--samples", "20", "--format", "json")
    assert new[0] == old[0] == 0 and new[1] == old[1] and old[2].startswith("deprecated: use --top")


def test_correlate_takes_every_filter_and_dims_as_evaluate_does(capsys):
    rc, spaced, _ = _run(capsys, "correlate", "--dims", "acc", "ood", "shape", "--format", "csv")
    rc2, commas, _ = _run(capsys, "correlate", "--dims", "acc,ood,shape", "--format", "csv")
    assert rc == rc2 == 0 and spaced == commas and spaced.count("\n") == 4  # header + 3 pairs
    def ns(text):
        return [int(line.rsplit(",", 1)[1]) for line in text.strip().splitlines()[1:]]

    three = ["correlate", "--dims", "accuracy", "shape_bias", "parameters_m", "--format", "csv"]
    rc, pairwise, _ = _run(capsys, *three)
    rc2, complete, _ = _run(capsys, *three, "--exclude-missing")
    assert rc == rc2 == 0
    assert ns(pairwise) == [326, 304, 304]  # 22 paper models have no parameter count
    assert ns(complete) == [304, 304, 304]  # the same complete rows for every pair
