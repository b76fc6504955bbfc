"""`quba sweep`: equal values on every executor, resume after kill -9, fault isolation, bad input.

Every equality here is exact (the records' dimension dicts, floats and all).
Runs that are compared get a fresh prediction cache (the generated mini suite
is shared), so each of them really computes its models.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from quba.cli import main
from quba.store.records import record_path, run_log_path

REPO = Path(__file__).resolve().parents[2]
FOUR = ["mini-cnn-standard", "mini-cnn-shape", "mini-cnn-texture", "mini-vit-standard"]
CHEAP = ["--dims", "accuracy", "calibration_error", "--bootstrap", "20", "--no-progress"]

BAD_MODELS = textwrap.dedent('''
    import torch
    from torch import nn

    class Small(nn.Module):
        def __init__(self, mode):
            super().__init__()
            torch.manual_seed({"raise": 1, "nan": 2, "oom": 3}[mode])  # own weights: the cache is keyed by them
            self.net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                     nn.Flatten(), nn.Linear(4, 12))
            self.mode = mode

        def forward(self, x):
            if self.mode == "raise":
                raise RuntimeError("boom: this model always fails")
            if self.mode == "oom" and x.shape[0] > 64:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            z = self.net(x)
            return z * float("nan") if self.mode == "nan" else z

    def raises():
        return Small("raise")

    def nan():
        return Small("nan")

    def oom():
        return Small("oom")
''')


@pytest.fixture(scope="module")
def suites_dir():
    """The session cache's generated mini suite (generated here once if needed)."""
    from quba.paths import cache_dir
    from quba.suites import load_suite

    load_suite("mini").split("val")
    return cache_dir() / "suites"


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch, suites_dir):
    """A new, empty prediction cache (the mini suite shared); QUBA_CACHE points at it."""
    def make(name="cache"):
        root = tmp_path / name
        root.mkdir()
        (root / "suites").symlink_to(suites_dir, target_is_directory=True)
        monkeypatch.setenv("QUBA_CACHE", str(root))
        return root

    return make


def cli(capsys, *argv):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def dims_of(output) -> dict:
    out = {}
    for p in sorted((Path(output) / "mini" / "records").glob("*.json")):
        rec = json.loads(p.read_text())
        out[rec["model"]] = rec["dimensions"]
    return out


def _use_fresh_cache(root: Path, suites: Path) -> None:
    root.mkdir()
    (root / "suites").symlink_to(suites, target_is_directory=True)
    os.environ["QUBA_CACHE"] = str(root)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, suites_dir):
    """{model: dimensions} of the four models evaluated in this process, one after the other, on a fresh cache."""
    from quba.api import evaluate

    old = os.environ.get("QUBA_CACHE")
    try:
        _use_fresh_cache(tmp_path_factory.mktemp("ref") / "cache", suites_dir)
        return {m: evaluate(m, "mini", CHEAP[1:3], bootstrap=20, output=None, progress=False)["dimensions"]
                for m in FOUR}
    finally:
        if old is None:
            os.environ.pop("QUBA_CACHE", None)
        else:
            os.environ["QUBA_CACHE"] = old


@pytest.mark.slow
def test_local_two_workers_equal_sequential_leaderboard_and_rerun_touches_nothing(reference, fresh_cache, tmp_path,
                                                                                  capsys):
    fresh_cache("seq")
    rc, _, err = cli(capsys, "leaderboard", "--suite", "mini", "--models", *FOUR, *CHEAP, "--output", tmp_path / "seq")
    assert rc == 0, err
    cache = fresh_cache("sweep")
    rc, _, err = cli(capsys, "sweep", *FOUR, "--workers", "2", *CHEAP, "--output", tmp_path / "par")
    assert rc == 0, err
    seq, par = dims_of(tmp_path / "seq"), dims_of(tmp_path / "par")
    assert sorted(par) == sorted(FOUR)
    assert par == seq == reference  # values and intervals, exactly
    a = pd.read_csv(tmp_path / "seq" / "mini" / "leaderboard.csv")
    b = pd.read_csv(tmp_path / "par" / "mini" / "leaderboard.csv")
    cols = ["model", "accuracy", "calibration_error", "accuracy_lo", "accuracy_hi"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    # the same command again: every record up to date, not even opened for writing
    recs = sorted((tmp_path / "par" / "mini" / "records").glob("*.json"))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in recs}
    assert os.environ["QUBA_CACHE"] == str(cache)
    rc, out, err = cli(capsys, "sweep", *FOUR, "--workers", "2", *CHEAP, "--output", tmp_path / "par")
    assert rc == 0, err
    assert "0 done, 4 cached" in out
    assert "0 to run, 4 up to date" in err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in recs} == before


@pytest.mark.slow
def test_ray_executor_equals_local(reference, fresh_cache, tmp_path, capsys):
    ray = pytest.importorskip("ray", reason="the Ray executor needs the [ray] extra (CI installs it)")
    fresh_cache()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rc, out, err = cli(capsys, "sweep", *FOUR[:3], "--executor", "ray", *CHEAP, "--output", tmp_path / "ray")
    finally:
        ray.shutdown()
    assert rc == 0, err
    assert "executor ray" in err and "3 done" in out
    assert dims_of(tmp_path / "ray") == {m: reference[m] for m in FOUR[:3]}  # = the local executor's


@pytest.mark.slow
def test_submitit_local_executor_equals_local(reference, fresh_cache, tmp_path, capsys):
    pytest.importorskip("submitit", reason="the submitit executor needs the [slurm] extra (CI installs it)")
    fresh_cache()
    rc, out, err = cli(capsys, "sweep", *FOUR[:3], "--executor", "submitit", "--submitit-cluster", "local",
                       *CHEAP, "--output", tmp_path / "sub")
    assert rc == 0, err
    assert "submitit (local)" in err and "3 done" in out
    assert dims_of(tmp_path / "sub") == {m: reference[m] for m in FOUR[:3]}  # = the local executor's


def _driver(output, *extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "quba", "sweep", *FOUR, *CHEAP, "--output", str(output), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, timeout=120.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        hit = cond()
        if hit:
            return hit
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
def test_kill_driver_then_rerun_finishes_and_leaves_the_first_record_alone(reference, fresh_cache, tmp_path,
                                                                             capsys):
    fresh_cache()
    out = tmp_path / "out"
    records = out / "mini" / "records"
    proc = _driver(out, "--workers", "1")
    first = _wait_for(lambda: next(iter(records.glob("*.json")), None) if records.is_dir() else None)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # the orphaned worker notices its driver is gone and exits
    n_at_kill = len(list(records.glob("*.json")))
    assert n_at_kill < 4
    rc, status, _ = cli(capsys, "sweep", "--status", "--output", out)
    assert rc == 0 and "4 model(s): " in status  # whatever the moment of the kill, the state file is whole
    snap = (first.read_bytes(), first.stat().st_mtime_ns)
    rc, stdout, err = cli(capsys, "sweep", *FOUR, *CHEAP, "--output", out, "--workers", "2")
    assert rc == 0, err
    assert f"{4 - n_at_kill} done, {n_at_kill} cached" in stdout
    assert (first.read_bytes(), first.stat().st_mtime_ns) == snap
    assert dims_of(out) == reference
    assert sorted(pd.read_csv(out / "mini" / "leaderboard.csv")["model"]) == sorted(FOUR)


@pytest.mark.slow
def test_kill_a_worker_fails_only_its_model_and_a_rerun_finishes(reference, fresh_cache, tmp_path, capsys):
    fresh_cache()
    out = tmp_path / "out"
    state = out / "mini" / "sweep.json"

    def running():
        try:
            models = json.loads(state.read_text())["models"]
        except (OSError, ValueError, KeyError):
            return None
        return next(((m, e["pid"]) for m, e in models.items() if e.get("state") == "running"), None)

    proc = _driver(out, "--workers", "2")
    victim, pid = _wait_for(running)
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 1, stderr
    fail = json.loads((out / "mini" / "failures" / f"{victim}.json").read_text())
    assert fail["stage"] == "worker" and "died" in fail["error"]
    assert f"{victim}  [worker on" in stdout
    assert sorted(dims_of(out)) == sorted(m for m in FOUR if m != victim)  # the others finished
    rc, stdout, err = cli(capsys, "sweep", *FOUR, *CHEAP, "--output", out, "--workers", "2")
    assert rc == 0, err
    assert "1 done, 3 cached" in stdout
    assert not (out / "mini" / "failures" / f"{victim}.json").exists()
    assert dims_of(out) == reference


@pytest.mark.slow
def test_failing_models_are_isolated_recorded_and_retried(fresh_cache, tmp_path, capsys):
    fresh_cache()
    models = tmp_path / "bad.py"
    models.write_text(BAD_MODELS)
    out = tmp_path / "out"
    specs = ["mini-cnn-standard", f"{models}:raises", f"{models}:nan", f"{models}:oom", "vit-b-16-mae-lp"]
    # an unknown id is refused before anything runs
    rc, _, err = cli(capsys, "sweep", *specs, "mini-cnn-standrd", *CHEAP, "--output", out)
    assert rc == 2 and err.count("\n") == 1
    assert "mini-cnn-standrd" in err and "did you mean: mini-cnn-standard" in err
    assert not out.exists()
    # the others finish; two failures with their reasons; the unavailable entry is skipped, not failed
    rc, stdout, err = cli(capsys, "sweep", *specs, "--workers", "2", "--batch-size", "128", *CHEAP, "--output", out)
    assert rc == 1
    failures = {json.loads(p.read_text())["model"]: json.loads(p.read_text())
                for p in (out / "mini" / "failures").glob("*.json")}
    assert sorted(failures) == sorted([f"{models}:raises", f"{models}:nan"])
    assert "boom" in failures[f"{models}:raises"]["error"]
    assert "nan" in failures[f"{models}:nan"]["error"].lower() or "finite" in failures[f"{models}:nan"]["error"]
    for f in failures.values():
        assert f["stage"] and f["host"] and f["time"] and "File " in f["traceback"]
    assert "2 done, 0 cached (up to date), 2 failed, 1 skipped" in stdout
    assert "vit-b-16-mae-lp  unavailable: " in stdout
    recs = {p.name: json.loads(p.read_text()) for p in (out / "mini" / "records").glob("*.json")}
    assert len(recs) == 2
    oom = next(r for r in recs.values() if r["model"].endswith(":oom"))
    assert oom["provenance"]["batch_size"] == 64  # the out-of-memory model retried once at half the batch
    assert "OOM: retried at batch size 64" in err
    rc, status, _ = cli(capsys, "sweep", "--status", "--output", out)
    assert rc == 0 and "2 done, 0 cached, 2 failed, 1 skipped" in status and "boom" in status
    # fix one model; --retry-failed runs only the two failed ones
    models.write_text(BAD_MODELS.replace('raise RuntimeError("boom', 'pass  # ("boom'))
    standard = out / "mini" / "records" / "mini-cnn-standard.json"
    snap = (standard.read_bytes(), standard.stat().st_mtime_ns)
    rc, stdout, err = cli(capsys, "sweep", *specs, "--retry-failed", *CHEAP, "--output", out)
    assert rc == 1
    assert "1 done, 0 cached (up to date), 1 failed" in stdout and "2 to run" in err
    assert [p.name for p in (out / "mini" / "failures").glob("*.json")] == [next(
        p.name for p in (out / "mini" / "failures").glob("*nan*"))]
    assert (standard.read_bytes(), standard.stat().st_mtime_ns) == snap
    # its file changed (the fix above): the code fingerprint of every model in it changed, so the oom
    # model's record is no longer up to date (issue 23.4) and it is evaluated again
    rc, stdout, err = cli(capsys, "sweep", f"{models}:oom", "--batch-size", "128", *CHEAP, "--output", out)
    assert rc == 0 and "1 done, 0 cached" in stdout
    # a file model with an up-to-date record: its task checks the weights' and code's fingerprints, then
    # leaves it alone
    oom_path = next(p for p in (out / "mini" / "records").glob("*oom*"))
    snap = (oom_path.read_bytes(), oom_path.stat().st_mtime_ns)
    rc, stdout, err = cli(capsys, "sweep", f"{models}:oom", *CHEAP, "--output", out)
    assert rc == 0 and "0 done, 1 cached" in stdout and "(weights and code verified); not touched" in err
    assert (oom_path.read_bytes(), oom_path.stat().st_mtime_ns) == snap


@pytest.mark.slow
def test_split_tasks_equal_one_task_per_model(fresh_cache, tmp_path, capsys):
    from quba.api import evaluate

    dims = ["accuracy", "object_focus"]
    fresh_cache("a")
    ref = evaluate("mini-cnn-standard", "mini", dims, bootstrap=20, output=None, progress=False)
    fresh_cache("b")
    rc, stdout, err = cli(capsys, "sweep", "mini-cnn-standard", "--split-tasks", "--workers", "2", "--dims", *dims,
                          "--bootstrap", "20", "--no-progress", "--output", tmp_path / "out")
    assert rc == 0, err
    assert err.count("split  mini-cnn-standard ") == 3  # val, bg/mixed_same, bg/mixed_rand: one task each
    path = tmp_path / "out" / "mini" / "records" / "mini-cnn-standard.json"
    rec = json.loads(path.read_text())
    assert rec["dimensions"] == ref["dimensions"]
    run = json.loads(run_log_path(path).read_text().splitlines()[-1])  # run data live in the run log
    assert sum(run["forward_passes"].values()) == 0  # the final step read every split from the cache
    assert all(s["cached"] for s in run["splits"].values())


# ------------------------------------------------------------------ bad input, fast


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers must be >= 1"),
    (["nope-net", "resnet5O", "--group", "minii"], "unknown model id(s): group 'minii' (did you mean: mini"),
    (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "cannot reach the Ray cluster at '127.0.0.1:1'"),
    (["--executor", "ray", "--ray-address", "nohostport"], "bad --ray-address"),
    (["--gpus", "7"], "--gpus 7 asks for GPU 7"),
    (["--models-file", "/nonexistent/list.txt"], "cannot read --models-file"),
    (["--suite", "imagenet"], "name the models to sweep on suite 'imagenet'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, tmp_path, capsys):
    rc, out, err = cli(capsys, "sweep", *argv, "--output", tmp_path / "out")
    assert rc == 2
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_every_unknown_id_is_named_with_suggestions(tmp_path, capsys):
    rc, _, err = cli(capsys, "sweep", "nope-net", "mini-cnn-standard", "ResNet5O", "--output", tmp_path / "o")
    assert rc == 2
    assert "'nope-net'" in err and "'ResNet5O' (did you mean: ResNet50" in err


@pytest.mark.parametrize("executor, module, extra", [("ray", "ray", "ray"), ("submitit", "submitit", "slurm")])
def test_missing_engine_names_the_extra(executor, module, extra, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    rc, _, err = cli(capsys, "sweep", "--executor", executor, "--output", tmp_path / "o")
    assert rc == 2
    assert f"pip install -e '.[{extra}]'" in err and err.count("\n") == 1


def test_status_without_a_sweep_is_exit_2(tmp_path, capsys):
    rc, _, err = cli(capsys, "sweep", "--status", "--output", tmp_path)
    assert rc == 2 and "no sweep state" in err


def test_models_file_and_paper_group_skip_unavailable_entries_with_reasons(tmp_path):
    from quba.sweep.driver import select_models
    from quba.zoo.catalog import catalog

    f = tmp_path / "models.txt"
    f.write_text("# my picks\nmini-cnn-standard\n\nmini-cnn-adv  # adversarially trained\n")
    models, skipped = select_models([], None, f, "mini")
    assert models == ["mini-cnn-standard", "mini-cnn-adv"] and skipped == []
    assert select_models(["mini"], None, None, "mini") == select_models([], ["mini"], None, "mini")
    models, skipped = select_models([], ["paper"], None, "imagenet")
    paper = [r["id"] for r in catalog(include_mini=False, include_extra=False)]
    assert sorted(models + [m for m, _ in skipped]) == sorted(paper)
    gone = dict(skipped)
    assert "vit-b-16-mae-lp" in gone and "checkpoint not released" in gone["vit-b-16-mae-lp"]
    assert all(r.startswith("unavailable") for r in gone.values())


def test_sweep_inherits_every_evaluate_option():
    """An option added to `quba evaluate` is a `quba sweep` option too (the parser is evaluate's own)."""
    from quba.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    ev, sw = sub.choices["evaluate"], sub.choices["sweep"]
    ev_opts = {s for a in ev._actions for s in a.option_strings}
    assert "--loader-workers" in ev_opts and ev_opts <= {s for a in sw._actions for s in a.option_strings}
    args = sw.parse_args(["--workers", "3", "--loader-workers", "2"])  # evaluate's deprecated --workers is not here
    assert (args.workers, args.loader_workers) == (3, 2)


def test_a_task_that_cannot_see_the_output_fails_naming_the_host(tmp_path, monkeypatch):
    import socket

    monkeypatch.chdir(tmp_path)  # the task enters the driver's folder and cache: restored afterwards
    monkeypatch.setenv("QUBA_CACHE", str(tmp_path))

    from quba.sweep.task import run_task

    task = {"kind": "model", "model": "mini-cnn-standard", "suite": "mini", "data_root": None,
            "dims": ["accuracy"], "eval": {}, "output": str(tmp_path / "not-mounted"), "cache": str(tmp_path),
            "cwd": str(tmp_path)}
    res = run_task(task)
    assert res["status"] == "failed" and res["stage"] == "setup"
    assert f"host {socket.gethostname()} cannot see or write output folder" in res["error"]
    assert "filesystem every worker sees" in res["error"]


@pytest.mark.slow
def test_imagenet_sweep_with_a_relative_data_root(fresh_cache, tmp_path, monkeypatch, capsys):
    """Tasks run in other processes: the driver's relative data root and output still resolve there."""
    from imagenet_fixture import fake_imagenet_tree

    fresh_cache()
    monkeypatch.chdir(tmp_path)
    fake_imagenet_tree(tmp_path / "imagenet", splits=("val", "cue-conflict"))
    (tmp_path / "colour.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from imagenet_fixture import ColourCodeModel\n\ndef build():\n    return ColourCodeModel()\n")
    rc, stdout, err = cli(capsys, "sweep", "colour.py:build", "--suite", "imagenet", "--data-root", "imagenet",
                          "--dims", "accuracy", "shape_bias", "--split-tasks", "--bootstrap", "10", "--no-progress",
                          "--output", "res")
    assert rc == 0, err
    rec = json.loads(record_path(tmp_path / "res", "imagenet", "colour.py:build").read_text())
    assert rec["dimensions"]["accuracy"]["value"] == 1.0 and rec["dimensions"]["shape_bias"]["value"] == 1.0
    assert (tmp_path / "res" / "imagenet" / "leaderboard.csv").exists()


def test_status_marks_a_running_entry_whose_process_is_gone():
    import socket

    from quba.sweep.state import render_status

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    st = {"suite": "mini", "output": "o", "updated": "t", "runs": [], "models": {
        "a": {"state": "running", "host": socket.gethostname(), "pid": dead.pid, "started": "t0"},
        "b": {"state": "running", "host": socket.gethostname(), "pid": os.getpid(), "started": "t1"},
        "c": {"state": "failed", "host": "n1", "stage": "load", "reason": "QubaError: no weights"}}}
    text = render_status(st)
    assert "2 running" in text and "1 failed" in text
    assert f"a  on {socket.gethostname()} (pid {dead.pid}) since t0 - gone (killed?)" in text
    assert "since t1\n" in text and "c  [load on n1] QubaError: no weights" in text


def test_submitit_options_become_slurm_parameters(tmp_path, monkeypatch):
    pytest.importorskip("submitit", reason="the submitit executor needs the [slurm] extra (CI installs it)")
    from quba.errors import QubaError
    from quba.sweep.executors import SubmititExecutor

    opts = dict(cluster="slurm", partition="gpu", gpus=1, cpus_per_task=8, timeout_min=720, array_parallelism=32)
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun: no SLURM here
    with pytest.raises(QubaError, match="submitit cannot use cluster 'slurm' here"):
        SubmititExecutor(tmp_path / "jobs", **opts)
    (tmp_path / "srun").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "srun").chmod(0o755)
    ex = SubmititExecutor(tmp_path / "jobs", **opts)
    assert ex.ex._executor.parameters == {"time": 720, "cpus_per_task": 8, "job_name": "quba-sweep",
                                          "gpus_per_node": 1, "array_parallelism": 32, "partition": "gpu"}
