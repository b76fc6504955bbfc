"""Dimensions as declarations: the registry is complete on import, and a third-party dimension
plugs in through --plugin (or the entry-point group quba.dimensions) with no edit of quba."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = textwrap.dedent('''
    """A third-party dimension: top-1 error (lower is better), declared with lazy hooks."""
    from quba.dimensions import Dimension, SplitRequest, register
    from quba.metrics.classification import accuracy


    def needs(suite, opts):
        from quba.suites.base import role_splits

        return [SplitRequest(role_splits(suite, "clean")[0])]


    def compute(ctx):
        (req,) = needs(ctx.suite, ctx.opts)
        out = ctx.outputs(req)
        acc = accuracy(out.labels, out.decisions, sample_weight=ctx.weight(req))
        return 1.0 - acc


    register(Dimension("top1_error", False, "Top-1 error", "1 - top-1 accuracy on the clean split",
                       source="a test plugin", aliases=("error",), valid_range=(0.0, 1.0), roles=("clean",),
                       needs="{module}:needs", compute="{module}:compute"))
''')


def _env(tmp_path, cache):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "plugins"), str(ROOT), env.get("PYTHONPATH", "")])
    env["QUBA_CACHE"] = str(cache)
    return env


def _quba(args, env):
    return subprocess.run([sys.executable, "-m", "quba", *args], capture_output=True, text=True, env=env,
                          cwd=env["PYTHONPATH"].split(os.pathsep)[0])


def test_registry_is_complete_after_importing_quba_dimensions_alone():
    """A fresh interpreter that imports only quba.dimensions finds every dimension, each with hooks
    that resolve (or, for MEt3R, measured by `quba consistency` on image pairs), and imports no engine."""
    code = textwrap.dedent("""
        import json, sys
        import quba.dimensions as D
        dims = D.all_dimensions()
        engine_loaded = any(m.startswith("quba.engine") for m in sys.modules)
        out = {}
        for name, d in dims.items():
            hooks = [h for h in (d.needs, d.compute, d.scores) if h is not None]
            for h in hooks:
                h.resolve() if hasattr(h, "resolve") else h
            out[name] = {"measurable": d.measurable, "hooks": len(hooks), "hib": d.higher_is_better}
        print(json.dumps({"dims": out, "engine_before": engine_loaded}))
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert not got["engine_before"]  # declaring dimensions imports nothing of the engine
    dims = got["dims"]
    from quba.dimensions import NINE

    assert set(NINE) <= set(dims) and len(dims) >= 14
    for name, d in dims.items():
        if name == "met3r":  # measured on image pairs by `quba consistency`, not by evaluate
            assert not d["measurable"]
            continue
        assert d["measurable"], name
    assert dims["calibration_error"]["hib"] is False and dims["accuracy"]["hib"] is True


def test_a_plugin_dimension_is_evaluated_with_an_interval_and_ranked(tmp_path):
    """Acceptance: a dimension defined outside the package, registered by --plugin, evaluated on two
    mini models with a bootstrap interval, and ranked with a weight on it; no file of quba edited."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "my_quba_dims.py").write_text(PLUGIN.replace("{module}", "my_quba_dims"))
    env = _env(tmp_path, tmp_path / "cache")
    out = tmp_path / "results"
    models = ["mini-cnn-standard", "mini-cnn-texture"]
    for m in models:
        r = _quba(["evaluate", m, "--suite", "mini", "--dims", "error", "accuracy", "--bootstrap", "40",
                   "--device", "cpu", "--no-progress", "--output", str(out), "--plugin", "my_quba_dims"], env)
        assert r.returncode == 0, r.stderr
    recs = {m: json.loads((out / "mini" / "records" / f"{m}.json").read_text())["dimensions"] for m in models}
    for m, d in recs.items():
        err, acc = d["top1_error"], d["accuracy"]
        assert err["value"] == pytest.approx(1.0 - acc["value"], abs=1e-12)  # the known answer
        assert err["lo"] < err["value"] < err["hi"]  # an interval, from the engine's generic bootstrap
        assert 0.0 <= err["lo"] and err["hi"] <= 1.0
    # without the plugin, the dimension is unknown: one line, exit code 2
    lb = str(out / "mini" / "leaderboard.csv")
    bad = _quba(["rank", "--leaderboard", lb, "--weights", "top1_error=1"], env)
    assert bad.returncode == 2 and "top1_error" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # with it, the weight counts and the direction is the plugin's (lower error ranks first)
    r = _quba(["rank", "--leaderboard", lb, "--weights", "top1_error=1", "--format", "json",
               "--plugin", "my_quba_dims"], env)
    assert r.returncode == 0, r.stderr
    ranked = json.loads(r.stdout)
    rows = ranked["ranking"] if isinstance(ranked, dict) else ranked
    order = [row["model"] for row in rows]
    best = min(models, key=lambda m: recs[m]["top1_error"]["value"])
    assert order[0] == best


def test_plugin_errors_are_one_line(tmp_path):
    env = _env(tmp_path, tmp_path / "cache")
    (tmp_path / "plugins").mkdir()
    r = _quba(["rank", "--plugin", "no_such_plugin_module"], env)
    assert r.returncode == 2 and "no_such_plugin_module" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_entry_point_group_registers_a_dimension(tmp_path, monkeypatch):
    """An installed package declares `[project.entry-points."quba.dimensions"]`; quba finds it on lookup."""
    import importlib.metadata as md

    import quba.dimensions as D

    (tmp_path / "ep_dims.py").write_text(textwrap.dedent('''
        from quba.dimensions import Dimension
        DIMENSIONS = [Dimension("ep_test_dim", True, "EP", "from an entry point", needs="ep_dims:x", compute="ep_dims:x")]
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = md.EntryPoint(name="ep", value="ep_dims", group=D.ENTRY_POINT_GROUP)
    monkeypatch.setattr(md, "entry_points", lambda group=None: [ep] if group == D.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(D, "REGISTRY", D.REGISTRY.copy())
    D.REGISTRY.read_entry_points(force=True)
    assert D.get("ep_test_dim").higher_is_better is True


def test_sweep_workers_load_the_plugin(tmp_path, monkeypatch, capsys):
    """`quba sweep --plugin FILE.py` with two worker processes: each worker registers the plugin's
    dimension before it evaluates, so the records carry it."""
    from quba.cli import main
    import quba.dimensions as D

    plugin = tmp_path / "sweep_dims.py"
    plugin.write_text(PLUGIN.replace("{module}", "sweep_dims").replace('"top1_error"', '"sweep_error"')
                      .replace('aliases=("error",)', 'aliases=()'))
    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    try:
        rc = main(["sweep", "mini-cnn-standard", "mini-cnn-texture", "--dims", "sweep_error", "--bootstrap", "10",
                   "--workers", "2", "--no-progress", "--output", str(out), "--plugin", str(plugin)])
    finally:
        D.unregister("sweep_error")
    assert rc == 0, capsys.readouterr().err
    for m in ("mini-cnn-standard", "mini-cnn-texture"):
        d = json.loads((out / "mini" / "records" / f"{m}.json").read_text())["dimensions"]["sweep_error"]
        assert 0 < d["value"] < 1 and d["lo"] <= d["value"] <= d["hi"]


OPTIONS_PLUGIN = textwrap.dedent('''
    """A third-party dimension with an option: top-k accuracy on the clean split, k set by
    --option topk_hit.k=K (a declared int; no flag of quba's knows it)."""
    from dataclasses import dataclass

    import numpy as np

    from quba.dimensions import Dimension, SplitRequest, register
    from quba.metrics._checks import weighted_mean


    @dataclass(frozen=True)
    class TopKOptions:
        k: int | None = None  # None: 1

        def __post_init__(self):
            if self.k is not None and self.k < 1:
                raise ValueError(f"k must be >= 1, got {self.k}")


    def needs(suite, opts):
        from quba.suites.base import role_splits

        return [SplitRequest(role_splits(suite, "clean")[0])]


    def compute(ctx):
        (req,) = needs(ctx.suite, ctx.opts)
        out = ctx.outputs(req)
        k = ctx.options.k or 1
        top = np.argsort(-out.logits, axis=1)[:, :k]
        hits = (top == np.asarray(out.labels)[:, None]).any(axis=1)
        return weighted_mean(hits, ctx.weight(req))


    register(Dimension("topk_hit", True, "Top-k accuracy", "the label among the k highest logits",
                       source="a test plugin", valid_range=(0.0, 1.0), roles=("clean",),
                       needs=needs, compute=compute, options=TopKOptions))
''')


def test_a_plugin_dimensions_option_is_set_from_the_command_line(tmp_path, monkeypatch, capsys):
    """--option DIM.KEY=VALUE is generated from the declarations: a plugin's option is typed, checked
    and handed to its hooks as ctx.options, with no edit of quba's CLI (issue 20.4)."""
    from quba.cli import main
    import quba.dimensions as D

    plugin = tmp_path / "topk_dims.py"
    plugin.write_text(OPTIONS_PLUGIN)
    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "cache"))

    def evaluate(*argv):
        try:
            rc = main(["evaluate", "mini-cnn-standard", "--dims", "topk_hit", "accuracy", "--subset", "3",
                       "--bootstrap", "10", "--no-progress", "--format", "json", "-o", str(tmp_path / "out"),
                       "--plugin", str(plugin), *argv])
        except SystemExit as exc:
            rc = exc.code
        return rc, capsys.readouterr()

    try:
        rc, cap = evaluate()
        assert rc == 0, cap.err
        record = json.loads(cap.out)
        top1 = record[0] if isinstance(record, list) else record
        dims = top1["dimensions"]
        assert dims["topk_hit"]["value"] == pytest.approx(dims["accuracy"]["value"], abs=1e-12)  # default k: 1
        assert "setup" not in dims["topk_hit"]
        rc, cap = evaluate("--option", "topk_hit.k=12")  # every class of QUBA-mini: always a hit
        assert rc == 0, cap.err
        rec = json.loads(cap.out)
        rec = rec[0] if isinstance(rec, list) else rec
        assert rec["dimensions"]["topk_hit"]["value"] == 1.0
        assert rec["dimensions"]["topk_hit"]["setup"] == {"options": {"k": 12}}
        for bad, message in (("topk_hit.k=two", "k takes a whole number"),
                             ("topk_hit.kk=2", "unknown option 'kk' for topk_hit (did you mean: k?)"),
                             ("topk_hit.k=0", "k must be >= 1, got 0")):
            rc, cap = evaluate("--option", bad)
            assert rc == 2 and message in cap.err and len(cap.err.strip().splitlines()) == 1, cap.err
    finally:
        D.unregister("topk_hit")
