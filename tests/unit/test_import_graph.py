"""The package's import graph (issue 11): the flow is one way, zoo -> suites -> engine -> metrics ->
store -> ranking -> report, with the API and the CLI on top.

Every `import` statement is read from the source (top-level and inside functions alike: a lazy
import is still a dependency), so this checks the design, not what one run happened to import."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import quba

ROOT = Path(quba.__file__).parent


def _unit(module: str) -> str:
    """The top-level part of quba a module belongs to: 'engine', 'api', 'errors', ..."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "quba"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Modules of quba imported anywhere in the file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name == "quba" or a.name.startswith("quba.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == "quba":  # from quba import dimensions, errors, ...
                out |= {f"quba.{a.name}" for a in node.names}
            elif mod.startswith("quba."):
                out.add(mod)
    return out


def _is_part(unit: str) -> bool:
    """A subpackage or module of quba (not a name such as `__version__`)."""
    return (ROOT / unit).is_dir() or (ROOT / f"{unit}.py").is_file()


def graph() -> dict[str, set[str]]:
    """unit -> units it imports (itself left out)."""
    g: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        me = _unit(_module_name(path))
        deps = {u for u in (_unit(m) for m in _imports(path)) if _is_part(u)} - {me, "quba"}
        g.setdefault(me, set()).update(deps)
    return g


def _cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_graph_is_read_from_the_source():
    g = graph()
    assert {"engine", "store", "ranking", "cli", "api", "zoo", "suites", "metrics"} <= set(g)
    assert "engine" in g["api"] and "store" in g["api"] and "ranking" in g["api"]
    assert "api" in g["cli"]


def test_no_import_circle_between_the_parts_of_quba():
    cycle = _cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_engine_neither_writes_nor_ranks():
    assert not graph()["engine"] & {"store", "ranking", "cli", "api", "report", "sweep"}


def test_store_ranking_and_report_never_reach_back_into_the_api_or_cli():
    g = graph()
    for unit in ("store", "ranking", "report", "metrics", "suites", "zoo", "dimensions"):
        assert not g.get(unit, set()) & {"api", "cli"}, unit


def _imports_torch(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(n == "torch" or n.startswith("torch.") for n in names):
            return True
    return False


def test_metrics_import_no_torch():
    """Metrics are pure functions over arrays (numpy/scipy): no torch anywhere under quba/metrics."""
    for path in (ROOT / "metrics").rglob("*.py"):
        assert not _imports_torch(path), path
    assert _imports_torch(ROOT / "met3r" / "render.py")  # the check can fail


def test_quba_mini_is_drawn_without_torch():
    """QUBA-mini's images are numpy all the way (issue 20.5): the builders, the corruptions and the
    renderer import no torch; only the split objects (a torch Dataset) in suites/mini.py do."""
    for name in ("mini_build.py", "mini_corrupt.py", "mini_render.py", "mini_cache.py"):
        assert not _imports_torch(ROOT / "suites" / name), name
    assert _imports_torch(ROOT / "suites" / "mini.py")


def test_met3r_and_compare_are_jobs_of_the_api_not_the_engine():
    """Issue 20.5: MEt3R scores image pairs and compare two models' cached predictions; neither is
    the engine. MEt3R needs the formula (metrics), a suite's pairs and the record store, nothing
    of the engine; the engine needs neither; only the API calls them (the CLI goes through it)."""
    g = graph()
    assert g["met3r"] <= {"errors", "metrics", "numbers", "store", "suites"}, g["met3r"]
    assert not g["engine"] & {"met3r", "flips"}
    assert {"met3r", "flips"} <= g["api"]
    assert {unit for unit, deps in g.items() if deps & {"met3r", "flips"}} == {"api"}


def test_compare_uses_only_public_engine_names():
    tree = ast.parse((ROOT / "flips.py").read_text(encoding="utf-8"))
    used = [(node.module, a.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("quba.engine") for a in node.names]
    assert used and not [u for u in used if u[1].startswith("_")], used


def test_cli_modules_import_no_private_engine_names():
    for path in (ROOT / "cli").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("quba.engine"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def _suite_name_comparisons(tree: ast.AST) -> list[int]:
    """Line numbers of (in)equality tests against a suite's name literal ("mini", "imagenet")."""
    names = {"mini", "imagenet"}
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value in names for o in operands):
                hits.append(node.lineno)
    return hits


def test_no_branching_on_suite_names_outside_the_suites():
    # issue 11: suites own their specs (reference, normalisation, roles, option defaults)
    found = {str(p.relative_to(ROOT)): lines for p in sorted(ROOT.rglob("*.py"))
             if "suites" not in p.relative_to(ROOT).parts
             and (lines := _suite_name_comparisons(ast.parse(p.read_text())))}
    assert found == {}
    assert _suite_name_comparisons(ast.parse('if suite.name == "mini":\n    pass\n')) == [1]  # the check can fail


#: The hook modules of quba's own dimensions (issue 20.5: they left engine/ for dimensions/).
HOOK_MODULES = ("quba9.py", "beyond.py", "certify.py", "pointing_game.py")


def _engine_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from quba.engine... import name` in the file; (module, '') for
    `import quba.engine...`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("quba.engine"):
            out += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.startswith("quba.engine")]
    return out


def test_engine_holds_no_dimension_hooks():
    """Issue 20.5: engine/ is the engine (runner, cache, attacks, measure); the hooks of quba's
    dimensions live under dimensions/, and the engine reaches them only through the registry's lazy
    ``module:attr`` references, never by import."""
    for name in HOOK_MODULES:
        assert (ROOT / "dimensions" / name).is_file(), name
        assert not (ROOT / "engine" / name).exists(), name
    for path in sorted((ROOT / "engine").rglob("*.py")):
        hooks = {m for m in _imports(path) if m.rsplit(".", 1)[-1] in {n[:-3] for n in HOOK_MODULES}
                 and m.startswith("quba.dimensions.")}
        assert not hooks, f"{path.name} imports the hook module(s) {sorted(hooks)}"


def test_dimension_hooks_import_no_engine():
    """The dimensions never import the engine (quba/dimensions/__init__.py: the engine imports
    them, a circle otherwise), not even a public name of it: a hook reads what it needs from its
    context (ctx.outputs, ctx.models, ctx.split)."""
    for path in sorted((ROOT / "dimensions").rglob("*.py")):
        used = _engine_imports(path)
        assert not used, (path.name, used)
    assert "engine" not in graph().get("dimensions", set())
    assert _engine_imports(ROOT / "flips.py")  # the check can fail: compare reads the engine's cache



def test_the_runner_parts_import_torch_lazily():
    """Issue 20.5 split quba/engine/runner.py into its parts; the cache key's parts and the device
    helpers import torch only inside the function that needs it, so planning and keying do not pay
    torch's import at module load."""
    for name in ("keys.py", "device.py"):
        tree = ast.parse((ROOT / "engine" / name).read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not any((getattr(n, "module", None) or "").startswith("torch")
                       or any(a.name.startswith("torch") for a in n.names) for n in top), name
        assert _imports_torch(ROOT / "engine" / name), name  # lazily, inside a function: the check can fail


def test_the_runner_reexports_its_parts():
    """Code and plugins that import from quba.engine.runner keep working after the split: every
    public name of the runner's parts is the same object there."""
    import importlib

    from quba.engine import runner

    for part in ("keys", "device", "attack_pass"):
        mod = importlib.import_module(f"quba.engine.{part}")
        for name in [n for n in runner.__all__ if hasattr(mod, n) and n in vars(mod)]:
            assert getattr(runner, name) is getattr(mod, name), (part, name)
    assert set(runner.__all__) <= set(vars(runner)), set(runner.__all__) - set(vars(runner))
    assert {"stack_versions", "stratified_subset", "resolve_device", "choose_attack_batch", "Runner",
            "cached_outputs"} <= set(runner.__all__)


# -- issue 20: one registry, explicit contracts ------------------------------------------------------------
def test_the_registry_sits_below_every_kind_it_serves():
    """quba/registry.py imports nothing of quba but its errors; the kinds import it, never the reverse
    (it reaches them only through the lazy 'module:attr' strings of KINDS)."""
    g = graph()
    assert g["registry"] <= {"errors", "integrity"}, g["registry"]
    for unit in ("dimensions", "zoo", "suites", "sweep"):
        assert "registry" in g[unit], unit
    from quba.registry import KINDS

    assert {ref.split(":")[0].split(".")[1] for ref in KINDS.values()} == {"dimensions", "zoo", "suites", "sweep"}


#: Members of the suite and split contracts (quba/suites/base.py), each declared there with a default.
CONTRACT = {"roles", "require", "prepare", "finish", "images", "paths", "hierarchy", "option_defaults",
            "content_levels", "seed", "split_info"}


def _probes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, member) of getattr(x, "member"[, default]) / hasattr(x, "member") on a contract member
    of a suite or a split (x names one: suite, suite_obj, self.suite, split, sp)."""
    hits = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in CONTRACT
                and re.search(r"suite|split|\bsp\b", ast.unparse(node.args[0]))):
            hits.append((node.lineno, node.args[1].value))
    return hits


def test_no_probing_for_members_the_suite_contract_declares():
    # issue 20: Suite and Split declare every member with a default; consumers use them directly
    found = {str(p.relative_to(ROOT)): hits for p in sorted(ROOT.rglob("*.py"))
             if (hits := _probes(ast.parse(p.read_text(encoding="utf-8"))))}
    assert found == {}
    assert _probes(ast.parse('x = getattr(suite, "roles", None)\nhasattr(split, "images")')) == [
        (1, "roles"), (2, "images")]  # the check can fail
    assert _probes(ast.parse('getattr(options, "hierarchy", None)')) == []  # an options object, not a suite


def test_the_contracts_declare_what_the_code_uses():
    from quba.suites.base import Split, Suite
    from quba.sweep.executors import Executor

    for member in (CONTRACT - {"images", "paths"}) | {"name", "version", "class_names", "title", "fingerprint",
                                                       "split_names", "split", "reads_data_root"}:
        assert hasattr(Suite, member) or member in Suite.__annotations__, member
    for member in ("images", "paths", "dataset", "name", "labels", "meta", "decision"):
        assert hasattr(Split, member) or member in Split.__annotations__, member
    for member in ("name", "capacity", "requires", "check", "from_args", "submit", "wait", "outcome",
                   "describe", "close"):
        assert hasattr(Executor, member), member


def _name_branches(tree: ast.AST, names: set[str]) -> list[int]:
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn))
                                                 for op in node.ops):
            for o in (node.left, *node.comparators):
                values = ([o.value] if isinstance(o, ast.Constant) else
                          [e.value for e in o.elts if isinstance(e, ast.Constant)]
                          if isinstance(o, (ast.Tuple, ast.List, ast.Set)) else [])
                if any(v in names for v in values):
                    hits.append(node.lineno)
                    break
    return hits


def test_no_branching_on_executor_names():
    # issue 20: executors are a registry of classes; the driver asks it, never an if/elif chain
    names = {"local", "ray", "submitit"}
    found = {str(p.relative_to(ROOT)): lines for p in sorted((ROOT / "sweep").rglob("*.py")) + sorted(
        (ROOT / "cli").rglob("*.py")) if (lines := _name_branches(ast.parse(p.read_text(encoding="utf-8")), names))}
    assert found == {}
    assert _name_branches(ast.parse('if args.executor == "ray":\n    pass\n'), names) == [1]


def test_cli_metavars_and_choices_of_registered_names_come_from_the_registries():
    """No hard-coded list of suites, executors or sources in the CLI: 'imagenet|mini', choices=[local, ...]."""
    literal = re.compile(r"(imagenet\|mini|mini\|imagenet|local\|ray|['\"]local['\"],\s*['\"]ray['\"]|"
                         r"timm, torchvision, open_clip)")
    found = {p.name: m.group(0) for p in sorted((ROOT / "cli").rglob("*.py"))
             if (m := literal.search(p.read_text(encoding="utf-8")))}
    assert found == {}
    from quba.cli import build_parser

    sweep = build_parser()._subparsers._group_actions[0].choices["sweep"]
    executor = next(a for a in sweep._actions if "--executor" in a.option_strings)
    from quba.sweep.executors import EXECUTORS

    assert executor.metavar == "|".join(EXECUTORS.names())
