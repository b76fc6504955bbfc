"""The documentation in docs/ stays true to the code and self-contained.

- docs/cli.md documents every command and option that `quba <command> --help` shows,
  and no option that no longer exists (regenerate it: python tools/gen_cli_doc.py);
- no tracked text file refers to anything outside the repository;
- every `docs/<file>.md#<anchor>` reference (in code, tests, README, docs) names an
  existing doc and one of its headings, by GitHub's anchor rules; every `docs/<file>.md`
  and `tests/<path>.py` named in a text file exists;
- every link inside README.md leads to an existing file and heading, and every
  `README.md#<anchor>` or `README, '<section>'` reference names one of its headings;
- README.md stays short (the details live in docs/);
- docs/metrics.md lists every registered dimension with its direction.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from quba.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]  # tests/unit/test_docs.py
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
THIS = Path(__file__).resolve()


# --------------------------------------------------------------------------- markdown helpers
def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: inline links reduced to their text, lower case, every
    character that is not a letter, digit, space, hyphen or underscore dropped, spaces -> '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    text = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def headings(text: str) -> list[str]:
    """ATX headings outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m and not fenced:
            out.append(m.group(2))
    return out


def anchors(text: str) -> set[str]:
    """All anchors of a document; repeated headings get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for h in headings(text):
        a = github_anchor(h)
        if a in seen:
            seen[a] += 1
            a = f"{a}-{seen[a]}"
        else:
            seen[a] = 0
        out.add(a)
    return out


def test_github_anchor_rules():
    assert github_anchor("Multi-view consistency (MEt3R)") == "multi-view-consistency-met3r"
    assert github_anchor("`quba zoo train-mini`") == "quba-zoo-train-mini"
    assert github_anchor("Ranking: `quba rank`, `quba recommend`") == "ranking-quba-rank-quba-recommend"
    assert github_anchor("Teacher–student agreement") == "teacherstudent-agreement"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n## A\n") == {"a", "a-1", "a-2"}


#: Folders never part of the project's text: version control, caches, builds.
SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", "build", "dist", ".quba_cache", "node_modules"}


def is_environment(folder: Path) -> bool:
    """A virtual environment (venv, virtualenv, uv: pyvenv.cfg) or a conda environment."""
    return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta").is_dir()


def project_files(root: Path) -> list[str]:
    """Tracked and new (not ignored) files under `root`, relative; outside a git checkout (a copied
    folder, an unpacked sdist) every file, without caches and builds. Never a file of a virtual or
    conda environment inside the clone, whatever its name (issue 23.14: a .venv failed 4 tests)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=root,
                             capture_output=True, check=True).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # no git, or not a checkout
        names = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
            names += [os.path.relpath(os.path.join(folder, f), root) for f in sorted(files)]
    envs: dict[Path, bool] = {}

    def in_environment(rel: Path) -> bool:
        for parent in list(rel.parents)[:-1]:  # every folder above the file, within root
            if parent not in envs:
                envs[parent] = is_environment(root / parent)
            if envs[parent]:
                return True
        return False

    return [n for n in names if not in_environment(Path(n))]


def tracked_text_files(root: Path = ROOT) -> list[Path]:
    """Tracked (and new, not ignored) files of the repository that are text (`project_files`)."""
    files = []
    for name in project_files(root):
        p = root / name
        if not p.is_file():
            continue
        data = p.read_bytes()
        if b"\0" in data[:8192]:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        files.append(p)
    return files


# --------------------------------------------------------------------------- the CLI reference
def cli_commands(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from cli_commands(sub, (*prefix, name))


def help_options(parser: argparse.ArgumentParser) -> set[str]:
    """Option strings as `--help` prints them (the lines of the options list)."""
    opts = set()
    for line in parser.format_help().splitlines():
        m = re.match(r"^  (-\S.*?)(?:\s{2,}|$)", line)
        if m:
            opts.update(re.findall(r"(?<![\w-])--?[A-Za-z0-9][\w-]*", m.group(1)))
    return opts


def parser_options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions if a.help is not argparse.SUPPRESS for o in a.option_strings}


def doc_sections(text: str) -> dict[tuple[str, ...], str]:
    """{("zoo", "list"): section text} for every '## `quba ...`' heading of docs/cli.md."""
    parts = re.split(r"^## `quba ([^`]+)`\s*$", text, flags=re.M)
    return {tuple(parts[i].split()): parts[i + 1] for i in range(1, len(parts), 2)}


def documented_options(section: str) -> set[str]:
    """Option strings in the first column of the section's tables."""
    opts = set()
    for line in section.splitlines():
        if line.startswith("| `-"):
            first = line.split("|")[1]
            opts.update(re.findall(r"`(--?[A-Za-z0-9][\w-]*)`", first))
    return opts


REGENERATE = "regenerate it: python tools/gen_cli_doc.py"


def test_cli_doc_has_every_command_and_option():
    text = CLI_DOC.read_text(encoding="utf-8")
    sections = doc_sections(text)
    cmds = dict(cli_commands(build_parser()))
    assert len(cmds) >= 10  # evaluate, leaderboard, zoo (+4), rank, recommend, ...
    missing_cmds = sorted(" ".join(c) for c in cmds if c not in sections)
    assert not missing_cmds, f"docs/cli.md lacks the command(s) {missing_cmds}; {REGENERATE}"
    stale_cmds = sorted(" ".join(c) for c in sections if c not in cmds)
    assert not stale_cmds, f"docs/cli.md documents command(s) quba no longer has: {stale_cmds}; {REGENERATE}"
    for path, parser in cmds.items():
        section = sections[path]
        shown = help_options(parser)
        assert shown >= {"-h", "--help"}, f"could not read the options of 'quba {' '.join(path)} --help'"
        assert shown == parser_options(parser)
        documented = documented_options(section)
        missing = sorted(shown - documented)
        assert not missing, f"docs/cli.md, 'quba {' '.join(path)}': missing option(s) {missing}; {REGENERATE}"
        stale = sorted(documented - shown)
        assert not stale, f"docs/cli.md, 'quba {' '.join(path)}': option(s) {stale} no longer exist; {REGENERATE}"
        for a in parser._actions:
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction):
                name = a.metavar or a.dest
                assert f"| `{name}` |" in section, f"docs/cli.md, 'quba {' '.join(path)}': argument {name} missing"


def test_cli_doc_checker_catches_a_missing_option():
    """The check above is not vacuous: dropping one option's row from the doc is noticed."""
    text = CLI_DOC.read_text(encoding="utf-8")
    section = doc_sections(text)[("rank",)]
    assert "--sensitivity" in documented_options(section)
    cut = "\n".join(line for line in section.splitlines() if not line.startswith("| `--sensitivity`"))
    assert "--sensitivity" not in documented_options(cut)


def _env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


# --------------------------------------------------------------------------- self-contained repository
OUTSIDE = [
    (re.compile(r"\.\./shared"), "a path to the shared folder outside the repository"),
    (re.compile(r"/work/"), "an absolute path of the development machine"),
    (re.compile(r"shared/reference"), "the reference folder outside the repository"),
    (re.compile(r"METRICS\.md"), "a METRICS.md outside the repository (cite docs/metrics.md#<section>)"),
]


def test_no_file_refers_outside_the_repository():
    problems = []
    for p in tracked_text_files():
        if p.resolve() == THIS:
            continue  # this file names the patterns
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            for pattern, what in OUTSIDE:
                if pattern.search(line):
                    problems.append(f"{p.relative_to(ROOT)}:{n}: {what}: {line.strip()[:100]}")
    assert not problems, "\n".join(problems)


DOC_REF = re.compile(r"docs/([\w.-]+\.md)#([\w-]+)")
MD_LINK = re.compile(r"\]\(([^)\s]*)\)")


def test_doc_anchor_references_resolve():
    docs = {p.name: anchors(p.read_text(encoding="utf-8")) for p in DOCS.glob("*.md")}
    assert "metrics.md" in docs and "cli.md" in docs
    bad, refs = [], 0
    for p in tracked_text_files():
        text = p.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            for name, anchor in DOC_REF.findall(line):
                refs += 1
                if name not in docs:
                    bad.append(f"{p.relative_to(ROOT)}:{n}: docs/{name} does not exist")
                elif anchor not in docs[name]:
                    bad.append(f"{p.relative_to(ROOT)}:{n}: docs/{name} has no heading for #{anchor}")
    assert refs >= 20  # the code cites the protocol by section
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_links_inside_docs_resolve(doc):
    """Relative links of a doc (README too) lead to existing files and headings."""
    path = DOCS / doc
    _check_links(path)


def test_links_in_readme_resolve():
    """Every relative link of the README: to docs/, to other files, and to its own headings."""
    _check_links(ROOT / "README.md")


README_REF = re.compile(r"README\.md#([\w-]+)")
README_SECTION = re.compile(r"README(?:\.md)?,\s*[\'\"“]([^\'\"”]+)[\'\"”]")
DOC_FILE = re.compile(r"(?<![\w/.-])docs/([\w.-]+\.md)\b")
TEST_FILE = re.compile(r"(?<![\w/.-])(tests/[\w/.-]+\.py)\b")


def readme_reference_problems(text: str, readme_anchors: set[str]) -> list[str]:
    """References in `text` to README sections that do not exist (by anchor or by title)."""
    bad = [f"README.md#{a}" for a in README_REF.findall(text) if a not in readme_anchors]
    bad += [f"README, {t!r}" for t in README_SECTION.findall(text) if github_anchor(t) not in readme_anchors]
    return bad


def test_readme_references_resolve():
    """Code, tests and docs that point into the README name one of its headings; since the long
    sections moved to docs/, a stale "README, 'The ImageNet suite on disk'" is caught here."""
    readme = anchors((ROOT / "README.md").read_text(encoding="utf-8"))
    bad = []
    for p in tracked_text_files():
        if p.resolve() == THIS:
            continue  # the examples below
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            bad += [f"{p.relative_to(ROOT)}:{n}: {b}" for b in readme_reference_problems(line, readme)]
    assert not bad, "no such README heading:\n" + "\n".join(bad)


def test_readme_reference_checker_is_not_vacuous():
    readme = anchors((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "the-main-job" in readme
    assert readme_reference_problems("see README.md#the-main-job and README, 'The main job'", readme) == []
    assert readme_reference_problems("(layout: README, 'The ImageNet suite on disk')", readme) == [
        "README, 'The ImageNet suite on disk'"]
    assert readme_reference_problems("README.md#throughput", readme) == ["README.md#throughput"]


def test_named_docs_and_test_files_exist():
    """A `docs/<file>.md` or `tests/<path>.py` named in code, docs or tests exists (test files
    moved into tests/unit, tests/engine, tests/e2e)."""
    bad = []
    for p in tracked_text_files():
        if p.resolve() == THIS:
            continue
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            bad += [f"{p.relative_to(ROOT)}:{n}: docs/{d}" for d in DOC_FILE.findall(line)
                    if not (DOCS / d).is_file()]
            bad += [f"{p.relative_to(ROOT)}:{n}: {t}" for t in TEST_FILE.findall(line) if not (ROOT / t).is_file()]
    assert not bad, "no such file:\n" + "\n".join(bad)


def test_readme_is_short():
    """What quba is, install, the main job, testing and a tour; everything else is in docs/."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move the details into docs/"


def _check_links(path: Path, only_docs: bool = False) -> None:
    text = path.read_text(encoding="utf-8")
    bad = []
    for target in MD_LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if only_docs and DOCS not in dest.parents:
            continue
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
            bad.append(f"{target}: no such heading")
    assert not bad, f"{path.relative_to(ROOT)}: " + "; ".join(bad)


# --------------------------------------------------------------------------- the protocol covers every dimension
def test_metrics_doc_lists_every_dimension_with_its_direction():
    """Every dimension registered by a fresh `import quba.dimensions` has a row in the table of
    docs/metrics.md with the registry's direction and a section that exists."""
    code = ("import json, quba.dimensions as D; "
            "print(json.dumps({n: d.higher_is_better for n, d in D.all_dimensions().items()}))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=_env(),
                       check=True)
    registry = json.loads(r.stdout)
    assert "accuracy" in registry and "met3r" in registry
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    rows = {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"^\| `(\w+)` \| ([↑↓]) \| \[[^\]]+\]\(#([\w-]+)\) \|", text, flags=re.M)}
    missing = sorted(set(registry) - set(rows))
    assert not missing, f"docs/metrics.md has no row for dimension(s) {missing}"
    doc_anchors = anchors(text)
    for name, higher in registry.items():
        arrow, anchor = rows[name]
        assert arrow == ("↑" if higher else "↓"), f"docs/metrics.md gives {name} the wrong direction"
        assert anchor in doc_anchors, f"docs/metrics.md: #{anchor} (row of {name}) is not a heading"


# --------------------------------------------------------------------------- issue 23.14: a clone with a venv
def _project_with_an_environment(root: Path, env_name: str) -> None:
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("# A\n")
    env = root / env_name
    (env / "lib" / "site-packages" / "pkg").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (env / "lib" / "site-packages" / "pkg" / "README.md").write_text("see docs/nowhere.md and /usr/lib\n")
    (root / "conda" / "conda-meta").mkdir(parents=True)
    (root / "conda" / "x.txt").write_text("docs/nowhere.md\n")


@pytest.mark.parametrize("git", [True, False], ids=["git checkout", "no git"])
@pytest.mark.parametrize("env_name", [".venv", "venv", "my-env"])
def test_files_of_a_virtual_environment_inside_the_clone_are_not_checked(tmp_path, git, env_name):
    _project_with_an_environment(tmp_path, env_name)
    if git:
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    files = {p.relative_to(tmp_path).as_posix() for p in tracked_text_files(tmp_path)}
    assert files == {"docs/a.md"}


@pytest.mark.parametrize("command", [c for c, _ in cli_commands(build_parser())], ids=" ".join)
def test_help_shows_percent_signs_once(command, capsys):
    """argparse %-formats option help (95%% there prints 95%) but not a description (95%% stays)."""
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    text = capsys.readouterr().out
    assert "%%" not in text and "%(" not in text


# --------------------------------------------------------------------------- the real path's commands parse
#: the docs a newcomer follows from archives to a comparison with the paper (README's tour and real-path lines)
REAL_PATH_DOCS = ("README.md", "docs/data.md", "docs/reproduction.md", "docs/sweep.md")


def shown_commands(text: str) -> list[str]:
    """Every `quba ...` command line of the ```bash blocks of `text`, continuation lines joined, comments
    and shell redirections left out; synopsis lines (`[--opt N]`, `...`) are not commands and are skipped."""
    import shlex

    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line.startswith("quba ") or "[" in line or "..." in line:
                continue
            words = shlex.split(line, comments=True)
            for stop in (">", "|", "&&", ";"):
                if stop in words:
                    words = words[:words.index(stop)]
            out.append(words)
    return out


@pytest.mark.parametrize("doc", REAL_PATH_DOCS)
def test_every_command_the_real_path_docs_show_parses_under_its_current_names(doc, capsys):
    """Each command shown parses as written, by no deprecated option name, and the models it names are
    catalog ids (`quba evaluate convnext_tiny` would fail: the id is ConvNext-T)."""
    from quba.zoo.catalog import get

    commands = shown_commands((ROOT / doc).read_text(encoding="utf-8"))
    assert commands, f"{doc} shows no quba command"
    for words in commands:
        try:
            args = build_parser().parse_args(words[1:])
        except SystemExit as exc:
            pytest.fail(f"{doc}: {' '.join(words)!r} does not parse (exit {exc.code}): {capsys.readouterr().err}")
        err = capsys.readouterr().err
        assert not err, f"{doc}: {' '.join(words)!r}: {err}"
        for model in getattr(args, "models", None) or []:
            if ":" not in model and "/" not in model and not model.endswith((".pth", ".safetensors")):
                get(model)  # an unknown id is a QubaError naming the closest ones


def test_the_command_extraction_is_not_vacuous():
    text = "```bash\nquba data check --data-root D   # ok\nquba data generate [--per-class N]\n" \
           "quba reproduce --format csv > r.csv\nquba data prepare imagenet-val --from T \\\n  --data-root D\n```\n"
    assert shown_commands(text) == [["quba", "data", "check", "--data-root", "D"],
                                    ["quba", "reproduce", "--format", "csv"],
                                    ["quba", "data", "prepare", "imagenet-val", "--from", "T", "--data-root", "D"]]
