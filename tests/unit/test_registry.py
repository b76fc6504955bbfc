"""The one registry class (quba/registry.py): lazy "module:attr" entries, refusal of silent
overwrites, an entry-point group per kind, plugins that register several kinds, and the public
names of each kind kept working."""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quba.errors import QubaError
from quba.registry import KINDS, Registry, RegistryError, is_ref, load_plugin, registries

ROOT = Path(__file__).resolve().parents[2]


def kinds_module(suite: str, executor: str, extra: str = "") -> str:
    """The source of a module holding a suite `ToySuite` named `suite` (split val), an executor
    `ToyExecutor` named `executor` and the three functions of a model source; `extra` appended."""
    return textwrap.dedent(f'''
        from quba.suites.base import Suite
        from quba.sweep.executors import LocalExecutor

        class ToySuite(Suite):
            name = "{suite}"
            class_names = ["a", "b"]
            def fingerprint(self): return "{suite}"
            def split_names(self): return ["val"]
            def split(self, name): raise KeyError(name)

        class ToyExecutor(LocalExecutor):
            name = "{executor}"

        def load(row, pretrained, device="cpu"): raise NotImplementedError
        def check(row): return None
        def available(row): return True
    ''') + textwrap.dedent(extra)


@pytest.fixture
def lazy_module(tmp_path, monkeypatch):
    """A module on the path that records being imported (quba_lazy_probe.IMPORTED)."""
    (tmp_path / "quba_lazy_probe.py").write_text("IMPORTED = True\nclass Thing:\n    name = 'thing'\nvalue = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("quba_lazy_probe", None)
    yield "quba_lazy_probe"
    sys.modules.pop("quba_lazy_probe", None)


def test_a_lazy_entry_is_imported_on_first_use_only(lazy_module):
    reg = Registry("widget", "quba.test_widgets")
    reg.register("answer", f"{lazy_module}:value")
    reg.register("whole", lazy_module)  # a module as such
    assert reg.names() == ["answer", "whole"] and "ANSWER" in reg
    assert lazy_module not in sys.modules  # registered and listed: nothing imported
    assert reg.get("answer") == 42 and lazy_module in sys.modules
    assert reg.get("whole").value == 42 and reg.ref("answer") == f"{lazy_module}:value"


def test_a_broken_lazy_entry_is_one_line_on_use(lazy_module):
    reg = Registry("widget", "quba.test_widgets")
    reg.register("gone", f"{lazy_module}:missing")
    reg.register("nowhere", "no_such_module_q20:thing")
    with pytest.raises(QubaError, match=r"cannot load widget 'gone' from 'quba_lazy_probe:missing'"):
        reg.get("gone")
    with pytest.raises(QubaError, match="cannot load widget 'nowhere'.*No module named"):
        reg.get("nowhere")


def test_overwrites_are_refused_unless_replace(lazy_module):
    reg = Registry("widget", "quba.test_widgets", name_of=lambda o: o.name, aliases_of=lambda o: o.aliases)

    class W:
        def __init__(self, name, aliases=()):
            self.name, self.aliases = name, aliases

    a, b = W("a", ("alpha",)), W("a")
    reg.register(a)
    assert reg.register(a) is a  # the same object again (a plugin loaded twice): a no-op
    with pytest.raises(RegistryError, match="widget 'a' is already registered with another definition") as exc:
        reg.register(b)
    assert isinstance(exc.value, QubaError) and isinstance(exc.value, ValueError) and "\n" not in str(exc.value)
    assert reg.get("a") is a and reg.get("ALPHA") is a
    with pytest.raises(RegistryError, match="alias 'alpha' is taken by 'a'"):
        reg.register(W("c", ("alpha",)))
    reg.register(b, replace=True)
    assert reg.get("a") is b and "alpha" not in reg  # the replaced entry's aliases went with it
    # a reference: the same string is the same entry; a reference to the registered object too
    reg = Registry("widget", "quba.test_widgets")
    reg.register("v", f"{lazy_module}:value")
    reg.register("v", f"{lazy_module}:value")
    with pytest.raises(RegistryError):
        reg.register("v", f"{lazy_module}:Thing")
    reg.register("t", f"{lazy_module}:Thing")
    import quba_lazy_probe

    assert reg.register("t", quba_lazy_probe.Thing) is not None  # the object its reference names: the same
    with pytest.raises(RegistryError, match="no 'module:attr' reference"):
        reg.register("x", "not a reference")


def test_unknown_names_suggest_the_known_and_the_plugin_route():
    reg = Registry("widget", "quba.test_widgets", hint=" (pass --plugin MODULE)")
    reg.register("sprocket", object())
    with pytest.raises(QubaError, match=r"unknown widget 'sprockt' \(did you mean: sprocket\?\); known: sprocket "
                                        r"\(pass --plugin MODULE\)"):
        reg.get("sprockt")


def test_a_check_validates_and_converts_entries(lazy_module):
    def check(name, obj):
        if not isinstance(obj, int):
            raise TypeError(f"a widget is an int, got {type(obj).__name__}")
        return obj * 2

    reg = Registry("widget", "quba.test_widgets", check=check)
    assert reg.register("two", 1) == 2
    with pytest.raises(RegistryError, match="widget 'bad': a widget is an int, got float"):
        reg.register("bad", 3.5)
    reg.register("lazy", f"{lazy_module}:Thing")  # checked when used
    with pytest.raises(RegistryError, match="widget 'lazy': a widget is an int, got type"):
        reg.get("lazy")
    reg.register("good", f"{lazy_module}:value")
    assert reg.get("good") == 84


def test_entry_points_add_lazy_entries_and_a_broken_one_warns(lazy_module, monkeypatch):
    eps = [md.EntryPoint(name="answer", value=f"{lazy_module}:value", group="quba.test_widgets"),
           md.EntryPoint(name="taken", value="quba.errors:QubaError", group="quba.test_widgets")]
    monkeypatch.setattr(md, "entry_points", lambda group=None: [e for e in eps if e.group == group])
    reg = Registry("widget", "quba.test_widgets")
    reg.register("taken", object())
    with pytest.warns(UserWarning, match="widget plugin taken .* failed to load: widget 'taken' is already"):
        assert reg.names() == ["taken", "answer"]
    assert lazy_module not in sys.modules  # the entry point's name is known, its module not imported
    assert reg.get("answer") == 42
    reg.read_entry_points()  # read once
    assert reg.names() == ["taken", "answer"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_reads_its_own_entry_point_group(kind, monkeypatch, lazy_module):
    reg = registries()[kind]
    group = {"dimension": "quba.dimensions", "model source": "quba.model_sources", "suite": "quba.suites",
             "executor": "quba.executors"}[kind]
    assert reg.group == group
    seen = []
    monkeypatch.setattr(md, "entry_points", lambda group=None: seen.append(group) or [])
    reg.copy().read_entry_points(force=True)
    assert seen == [group]


def test_the_entry_point_routes_of_suites_sources_and_executors(tmp_path, monkeypatch):
    """An installed package's entry points: a suite class, a source module and an executor class,
    each found by name on lookup and imported only then."""
    (tmp_path / "ep_pkg_q20.py").write_text(kinds_module("ep_suite", "ep_exec"))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [md.EntryPoint("ep_suite", "ep_pkg_q20:ToySuite", "quba.suites"),
           md.EntryPoint("ep_exec", "ep_pkg_q20:ToyExecutor", "quba.executors"),
           md.EntryPoint("ep_src", "ep_pkg_q20", "quba.model_sources")]
    monkeypatch.setattr(md, "entry_points", lambda group=None: [e for e in eps if e.group == group])
    from quba.suites import specs
    from quba.sweep import executors
    from quba.zoo import registry as zoo_registry

    for mod, attr in ((specs, "SPECS"), (executors, "EXECUTORS"), (zoo_registry, "SOURCES")):
        monkeypatch.setattr(mod, attr, getattr(mod, attr).copy())
        getattr(mod, attr).read_entry_points(force=True)
    try:
        assert "ep_suite" in specs.names() and "ep_exec" in executors.EXECUTORS.names()
        assert "ep_src" in zoo_registry.row_sources()
        assert "ep_pkg_q20" not in sys.modules
        from quba.suites import load_suite

        suite = load_suite("ep_suite")
        assert type(suite).__name__ == "ToySuite" and specs.spec("ep_suite").data_root is False
        assert executors.EXECUTORS.get("ep_exec").__name__ == "ToyExecutor"
        assert zoo_registry.SOURCES.get("ep_src").available({}) is True
    finally:
        sys.modules.pop("ep_pkg_q20", None)


def test_an_installed_distribution_adds_a_suite_through_its_entry_points(tmp_path, monkeypatch):
    """A real (fake) distribution on the path, found by importlib.metadata itself: its dist-info's
    entry_points.txt names a suite and an executor; quba reads the groups on lookup, lazily."""
    (tmp_path / "dist_pkg_q20.py").write_text(kinds_module("dist_suite", "dist_exec"))
    info = tmp_path / "dist_pkg_q20-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dist-pkg-q20\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[quba.suites]\ndist_suite = dist_pkg_q20:ToySuite\n\n"
                                           "[quba.executors]\ndist_exec = dist_pkg_q20:ToyExecutor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [e.value for e in md.entry_points(group="quba.suites") if e.name == "dist_suite"] == [
        "dist_pkg_q20:ToySuite"]  # importlib.metadata sees the distribution
    from quba.suites import specs
    from quba.sweep import executors

    for mod, attr in ((specs, "SPECS"), (executors, "EXECUTORS")):
        monkeypatch.setattr(mod, attr, getattr(mod, attr).copy())
        getattr(mod, attr).read_entry_points(force=True)
    try:
        assert "dist_suite" in specs.names() and "dist_exec" in executors.EXECUTORS
        assert "dist_pkg_q20" not in sys.modules  # known by name, not imported
        from quba.suites import load_suite

        assert load_suite("dist_suite").split_names() == ["val"]
        assert executors.EXECUTORS.get("dist_exec").__name__ == "ToyExecutor"
    finally:
        sys.modules.pop("dist_pkg_q20", None)


def test_kinds_refuse_what_is_not_of_their_kind(monkeypatch):
    from quba import dimensions
    from quba.suites import specs
    from quba.sweep import executors
    from quba.zoo import sources

    for mod, attr in ((specs, "SPECS"), (executors, "EXECUTORS"), (sources, "REGISTRY"),
                      (dimensions, "REGISTRY")):
        monkeypatch.setattr(mod, attr, getattr(mod, attr).copy())
    with pytest.raises(QubaError, match="does not subclass quba.suites.base.Suite"):
        specs.register(type("NotASuite", (), {"name": "nope"}))
    with pytest.raises(QubaError, match="a subclass of quba.sweep.executors.Executor"):
        executors.EXECUTORS.register("nope", object)
    with pytest.raises(QubaError, match="has no load, check, available"):
        sources.register("nope", object())
    with pytest.raises(QubaError, match="takes a quba.dimensions.Dimension"):
        dimensions.register("accuracy")
    # a built-in name taken by something else: one error, unless replace
    with pytest.raises(QubaError, match="suite 'mini' is already registered"):
        specs.register(specs.SuiteSpec("mini", "other", "x:Y", False))
    with pytest.raises(QubaError, match="model source 'timm' is already registered"):
        sources.register("timm", "my_timm")
    with pytest.raises(ValueError, match="dimension 'accuracy' is already registered"):
        dimensions.register(dimensions.Dimension("accuracy", False, "A", "another accuracy"))
    with pytest.raises(QubaError, match="executor 'local' is already registered"):
        executors.register(type("Local2", (executors.LocalExecutor,), {"name": "local"}))
    sources.register("timm", "my_timm", replace=True)
    assert sources.REGISTRY.ref("timm") == "my_timm"


def test_a_plugin_module_registers_several_kinds_and_loads_once(tmp_path, monkeypatch):
    from quba import dimensions
    from quba.suites import specs
    from quba.sweep import executors
    from quba.zoo import registry as zoo_registry

    for mod, attr in ((specs, "SPECS"), (executors, "EXECUTORS"), (zoo_registry, "SOURCES"),
                      (dimensions, "REGISTRY")):
        monkeypatch.setattr(mod, attr, getattr(mod, attr).copy())
    plugin = tmp_path / "multi_q20.py"
    plugin.write_text(kinds_module("multi_suite", "multi_exec", '''
        from quba.dimensions import Dimension
        from quba.sweep.executors import EXECUTORS

        EXECUTORS.register(ToyExecutor)  # a call to register, and constants below
        SUITES = [ToySuite]
        MODEL_SOURCES = {"multi_src": "multi_q20"}
        DIMENSIONS = [Dimension("multi_dim", True, "M", "m", needs="multi_q20:x", compute="multi_q20:x")]
    '''))
    try:
        got = load_plugin(str(plugin))
        assert got == {"dimension": ["multi_dim"], "model source": ["multi_src"], "suite": ["multi_suite"],
                       "executor": ["multi_exec"]}
        first = sys.modules["multi_q20"]
        again = load_plugin(str(plugin))  # the same file again: imported once (a new class E would be refused)
        assert again == {k: v for k, v in got.items() if k != "executor"}  # its constants, declared again
        assert sys.modules["multi_q20"] is first and executors.EXECUTORS.get("multi_exec") is first.ToyExecutor
        assert dimensions.get("multi_dim").name == "multi_dim"
    finally:
        sys.modules.pop("multi_q20", None)


def test_a_plugin_that_registers_wrongly_is_one_line(tmp_path, monkeypatch):
    from quba.suites import specs

    monkeypatch.setattr(specs, "SPECS", specs.SPECS.copy())
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "clash_q20.py").write_text("from quba.suites.specs import SuiteSpec\n"
                                           "SUITES = [SuiteSpec('mini', 'Mine', 'clash_q20:X', False)]\n")
    try:
        with pytest.raises(QubaError, match=r"^--plugin clash_q20: suite 'mini' is already registered"):
            load_plugin("clash_q20")
    finally:
        sys.modules.pop("clash_q20", None)
    with pytest.raises(QubaError, match="--plugin no_such_plugin_q20: cannot import it"):
        load_plugin("no_such_plugin_q20")


def test_the_public_names_of_each_kind_keep_working():
    import quba.dimensions as D
    import quba.suites as S
    from quba.sweep import executors as E
    from quba.zoo import sources

    assert D.register is not None and D.get("acc").name == "accuracy" and D.canonical("ECE") == "calibration_error"
    assert callable(sources.register) and sources.get("timm").__name__ == "quba.zoo.sources.timm"
    assert S.SUITE_NAMES == ("mini", "imagenet") and S.spec("MINI").name == "mini"
    assert E.EXECUTORS.names() == ["local", "ray", "submitit"]
    assert is_ref("a.b:C") and is_ref("a.b") and not is_ref("a b") and not is_ref(3)


def test_importing_the_registries_imports_nothing_heavy():
    """Every registry (and the CLI's name lists) in a fresh interpreter: no torch, no source, no suite."""
    code = textwrap.dedent("""
        import json, sys
        from quba.registry import registries
        regs = registries()
        names = {k: r.names() for k, r in regs.items()}
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "pandas", "timm")
                       or m.startswith(("quba.zoo.sources", "quba.suites.mini", "quba.suites.imagenet", "quba.engine")))
        print(json.dumps({"names": names, "heavy": heavy}))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["heavy"] == []
    assert {"timm", "mini", "custom"} <= set(got["names"]["model source"])
    assert got["names"]["suite"][:2] == ["mini", "imagenet"] and "accuracy" in got["names"]["dimension"]
