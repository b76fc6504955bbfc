"""Names that the code and the docs cite still exist: a docstring or a doc that points at a
renamed or removed function is caught here, not by a confused reader.

- a dotted name of quba in backticks (`quba.engine.measure.replicates`, `quba.zoo.load_model(...)`)
  or in ``module:attr`` form (`quba.kernels.calibration:binner`, a hook's lazy reference) imports,
  and every attribute after the module exists;
- a file of the package named by its path (quba/engine/runner.py, quba/data/zoo_catalog.csv)
  exists, and in the ``quba/<file>.py:name`` form the docs use, the file defines ``name``
  (a function, a class, a method or an assignment; ``Class.method`` too).

Read: every module, class and function docstring and comment under quba/ (the whole source text),
README.md and docs/*.md. (docs/ and tests/ paths and doc anchors: tests/unit/test_docs.py.)
"""
from __future__ import annotations

import ast
import functools
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "quba"

#: `quba.a.b`, `quba.a.b.c(...)`, `quba.a:b`, "quba.a:b" (a hook string)
DOTTED = re.compile(r"[`\"'](quba(?:\.[A-Za-z_]\w*)+)(?::([A-Za-z_][\w.]*))?(?:\([^`\"']*\))?[`\"']")
#: quba/engine/runner.py, quba/metrics/calibration.py:_weighted_calibration_error
PATH = re.compile(r"(?<![\w/.-])(quba/[\w/.-]*\w)(?::([A-Za-z_][\w.]*))?")


def texts() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py")) + [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    return [p for p in files if "__pycache__" not in p.parts]


def resolve_dotted(dotted: str, attr: str | None) -> str | None:
    """None when `dotted` (a module path, then attributes) and `attr` (attributes) resolve; else why not."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        rest = parts[i:] + (attr.split(".") if attr else [])
        break
    else:
        return "no such module"
    for name in rest:
        if not hasattr(obj, name):
            return f"{getattr(obj, '__name__', obj)!s} has no attribute {name!r}"
        obj = getattr(obj, name)
    return None


def defined_names(path: Path) -> set[str]:
    """Top-level functions, classes and assignments of a module, and `Class.member` for members."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            if isinstance(node, ast.ClassDef):
                for m in node.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        out.add(f"{node.name}.{m.name}")
                    elif isinstance(m, ast.AnnAssign) and isinstance(m.target, ast.Name):
                        out.add(f"{node.name}.{m.target.id}")
        elif isinstance(node, ast.Assign):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


@functools.cache
def entry_point_groups() -> frozenset[str]:
    """The entry-point groups of the registries (quba.dimensions, quba.model_sources, quba.suites,
    quba.executors): names of groups, not of modules, though they look alike."""
    from quba.registry import registries

    return frozenset(r.group for r in registries().values())


def problems_in(text: str) -> list[str]:
    bad = []
    groups = entry_point_groups()
    for m in DOTTED.finditer(text):
        if m.group(2) is None and m.group(1) in groups:
            continue
        why = resolve_dotted(m.group(1), m.group(2))
        if why:
            bad.append(f"{m.group(0)}: {why}")
    for m in PATH.finditer(text):
        path, name = ROOT / m.group(1), m.group(2)
        if not path.exists():
            bad.append(f"{m.group(0)}: no such file")
        elif name and path.suffix == ".py" and name not in defined_names(path):
            bad.append(f"{m.group(0)}: {m.group(1)} defines no {name!r}")
    return bad


def test_names_cited_in_code_and_docs_exist():
    bad, seen = [], 0
    for p in texts():
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            seen += len(DOTTED.findall(line)) + len(PATH.findall(line))
            bad += [f"{p.relative_to(ROOT)}:{n}: {b}" for b in problems_in(line)]
    assert seen >= 200  # the code and the docs cite a lot: the patterns still match them
    assert not bad, "stale references:\n" + "\n".join(bad)


@pytest.mark.parametrize("text,stale", [
    ("from its `quba.engine.measure.bootstrap_hook`", True),
    ("`quba.engine.measure.replicates` gives them", False),
    ('hooks as "quba.kernels.calibration:binner"', False),
    ('hooks as "quba.kernels.calibration:binned"', True),
    ("`quba.nosuchmodule.thing`", True),
    ("see quba/engine/measure.py", False),
    ("see quba/engine/measures.py", True),
    ("`quba/metrics/calibration.py:_weighted_calibration_error`", False),
    ("`quba/metrics/calibration.py:weighted_calibration_error`", True),
    ("`quba/engine/measure.py:Context.weight`", False),
    ("`quba.zoo.load_model(\"ResNet50\")`", False),
    ("the entry-point group `quba.executors`", False),  # a group's name, not a module's
    ("the entry-point group `quba.executor`", True),
    # issue 20.5 moved MEt3R out of the engine and split QUBA-mini: old paths are stale, new ones live
    ("`quba.engine.met3r.Geometry`", True),
    ("see quba/engine/met3r.py", True),
    ("`quba.met3r.Geometry`", False),
    ("`quba/met3r/render.py:splat`", False),
    ("`quba/suites/mini_build.py:split_rng`", False),
    ("`quba/suites/mini.py:split_rng`", True),
    ("`quba.flips.COMPARE_ROWS`", False),
])
def test_the_checker_tells_stale_from_live(text, stale):
    assert bool(problems_in(text)) is stale, problems_in(text)
