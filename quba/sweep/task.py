"""One sweep task, run in a worker (a local process, a Ray task or a SLURM job).

`run_task(task)` never raises: it returns a dict with `status` "done",
"cached", "shard-done" or "failed" (with `error`, `stage`, `host`, `traceback`
tail and `time`), so one model's failure never stops the sweep. Kinds:

  model   evaluate the model on its dimensions and write its record
  shard   run some of the model's split requests into the shared prediction cache
  final   after its shards: compute the dimensions from the cache, write the record

Every kind plans with `quba.engine.plan` from the same options (`run_options`), so a shard
fills exactly the cache entries its final task reads.

Workers write only their own model's record (store.records.write_record) and
the prediction cache; the driver writes failures/, the leaderboard and the
outcome in sweep.json (workers add their `running` entry). Module-level
imports stay light: torch is imported inside the task, after the thread count
and visible GPUs are set.
"""
from __future__ import annotations

import math
import os
import socket
import time
import traceback

TRACEBACK_LINES = 25
#: evaluate options that change values, compared with the record's provenance where both have them
SETUP_IF_RECORDED = ("protocol",)


def host() -> str:
    return socket.gethostname()


def failure(task: dict, stage: str, exc: BaseException | str, tb: str = "") -> dict:
    from quba.sweep.state import now

    error = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return {"status": "failed", "model": task["model"], "kind": task["kind"], "shard": task.get("shard"),
            "stage": stage, "error": error, "host": host(), "pid": os.getpid(),
            "traceback": "\n".join(tb.rstrip().splitlines()[-TRACEBACK_LINES:]), "time": now()}


def is_oom(exc: BaseException) -> bool:
    """CUDA (or other accelerator) out-of-memory, as torch raises it."""
    from quba.errors import ModelOutOfMemory

    if isinstance(exc, ModelOutOfMemory):  # the runner's one-line form of torch's error
        return True
    try:
        import torch

        if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def check_visible(task: dict) -> None:
    """The data root, the cache and the output must be visible (and writable) on this host."""
    from quba.errors import QubaError

    problems = []
    out = os.path.join(task["output"], task["suite"])
    if not os.path.isdir(out) or not os.access(out, os.W_OK | os.X_OK):
        problems.append(f"output folder {out}")
    if not os.path.isdir(task["cache"]) or not os.access(task["cache"], os.W_OK | os.X_OK):
        problems.append(f"cache {task['cache']}")
    if task.get("data_root") and not os.path.isdir(task["data_root"]):
        problems.append(f"data root {task['data_root']}")
    if problems:
        raise QubaError(f"host {host()} cannot see or write {', '.join(problems)}; the output, the cache "
                        "($QUBA_CACHE) and the data root must be on a filesystem every worker sees")


def _enter(task: dict) -> None:
    """Working folder, cache and threads of the driver's setup."""
    if task.get("cwd") and os.path.isdir(task["cwd"]):
        os.chdir(task["cwd"])
    os.environ["QUBA_CACHE"] = task["cache"]
    threads = task.get("threads")
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(threads))
        import torch

        torch.set_num_threads(int(threads))


def run_options(eval_kw: dict, **override):
    """The run's options (`quba.engine.plan.RunOptions`) of the keywords `quba evaluate` would pass
    (`eval_kw`, as the driver hands them to every task), with `override` (the task's batch size
    after an out-of-memory retry, its quiet progress): the driver, every split task and the model
    task plan with these, so they plan the same requests under the same cache keys."""
    from quba.engine.plan import RunOptions, run_options as make

    names = set(RunOptions.__dataclass_fields__)
    return make(**{**{k: v for k, v in eval_kw.items() if k in names}, **override})


def _shard(loaded, suite, task: dict, batch_size: int) -> dict:
    """Run this shard's requests into the prediction cache (no record), under the plan its model
    task makes (`quba.engine.plan`): the same requests, cache keys, precision and transform."""
    from quba.engine import fill
    from quba.engine.plan import plan_requests

    run = run_options(task["eval"], batch_size=batch_size, progress=False)
    plan = plan_requests(suite, task["dims"], run).with_model(loaded, only=task["requests"])
    outputs, runners = fill(plan)
    return {"forward_passes": sum(sum(r.forward_passes.values()) for r in runners.values()),
            "attack_passes": sum(sum(r.attack_passes.values()) for r in runners.values()),
            "from_cache": sum(len(r.from_cache) for r in runners.values()), "splits": len(outputs)}


def _evaluate(loaded, suite, task: dict, batch_size: int) -> dict:
    from quba.api import evaluate

    # every keyword `quba evaluate` would pass (task["eval"]); the sweep decides where and how quietly
    kw = {**task["eval"], "batch_size": batch_size, "output": None, "progress": False,
          "data_root": task.get("data_root")}
    return evaluate(loaded, suite, task["dims"], **kw)


def check_finite(record: dict, dims) -> None:
    """A model whose outputs are NaN/inf gives non-finite values (stored as null): fail it instead."""
    from quba.errors import QubaError

    bad = [d for d in dims if record["dimensions"].get(d, {}).get("value") is None
           or not math.isfinite(record["dimensions"][d]["value"])]
    if bad:
        raise QubaError(f"model {record['model']!r} gave non-finite {', '.join(bad)} (NaN or inf outputs?)")


def record_up_to_date(record: dict, *, suite, dims, eval_kw: dict, model_fingerprint: str | None = None,
                      code_fingerprint: str | None = None) -> bool:
    """Whether `record` already holds `dims` (finite) measured with this setup: the suite, every run
    option that changes values (subset, seed, bootstrap, an explicit precision, the transform
    overrides, the protocol), and per dimension the setup the options decide
    (`quba.engine.requested_setup`: the protocol and its options, and the dimension's own options
    from its declaration, so a plugin's options count too); with fingerprints, also the model's
    weights and code."""
    from quba.engine import requested_setup

    prov = record.get("provenance", {})
    run = run_options(eval_kw)
    if record.get("suite") != suite.name or prov.get("suite_fingerprint") != suite.fingerprint():
        return False
    if prov.get("suite_version") != str(suite.version):
        return False
    if any(prov.get(k) != eval_kw.get(k) for k in ("subset", "seed", "bootstrap")):
        return False
    if any(k in prov and k in eval_kw and prov[k] != eval_kw[k] for k in SETUP_IF_RECORDED):
        return False
    if eval_kw.get("precision") in ("fp32", "bf16") and prov.get("precision") != eval_kw["precision"]:
        return False  # auto: decided by each worker's device, which the driver cannot know
    if prov.get("transform_overrides") != run.transform_overrides():
        return False
    if model_fingerprint is not None and prov.get("model_fingerprint") != model_fingerprint:
        return False
    if code_fingerprint is not None and prov.get("code_fingerprint") != code_fingerprint:
        return False
    opts = run.hook_opts()
    for d in dims:
        entry = record.get("dimensions", {}).get(d, {})
        v = entry.get("value")
        if v is None or not math.isfinite(v):
            return False
        have, want = entry.get("setup") or {}, requested_setup(d, opts, run.options or {})
        if any(have.get(k) != want.get(k) for k in ("protocol", "paper", "options")):
            return False
    return True


def run_task(task: dict) -> dict:
    """Run one task (see the module docstring); returns its outcome, never raises (but on a real
    Ctrl-C: a KeyboardInterrupt the model's own code raises, or its sys.exit(), is its failure)."""
    from quba.errors import interrupts_watched

    try:
        with interrupts_watched():  # in a worker: tell the user's Ctrl-C from a model's KeyboardInterrupt
            return _run_task(task)
    finally:
        _release()  # the task's frame (model, outputs) is gone by now


def _run_task(task: dict) -> dict:
    t0 = time.perf_counter()
    stage = "setup"
    try:
        _enter(task)
        check_visible(task)
        from quba.sweep import state

        try:
            state.mark(task["output"], task["suite"], task["model"], state="running", host=host(), pid=os.getpid(),
                       started=state.now())
        except Exception:  # noqa: BLE001 - the state file is bookkeeping; the work goes on
            pass
        if task.get("plugins"):  # --plugin: the worker registers the same third-party dimensions, suites, ...
            from quba.registry import load_plugins

            load_plugins(task["plugins"])
        stage = "suite"
        from quba.engine import load_suite

        suite = load_suite(task["suite"], task.get("data_root"))
        stage = "load"
        from quba.api import load_models

        how = task.get("load") or {"specs": [task["model"]], "kwargs": {}}
        loaded = load_models(how["specs"], **how["kwargs"])[0]  # evaluate's own loading (--checkpoint, ...)
        if task.get("verify_up_to_date"):
            from quba.store.records import read_record, record_path

            path = record_path(task["output"], suite.name, loaded.id)
            if path.exists() and record_up_to_date(read_record(path), suite=suite, dims=task["dims"],
                                                   eval_kw=task["eval"], model_fingerprint=loaded.fingerprint(),
                                                   code_fingerprint=loaded.code_fingerprint()):
                return {"status": "cached", "model": task["model"], "kind": task["kind"], "host": host(),
                        "pid": os.getpid(), "seconds": time.perf_counter() - t0, "record": str(path)}
        stage = "evaluate"
        batch_size = int(task["eval"]["batch_size"])
        retried = False
        while True:
            try:
                if task["kind"] == "shard":
                    out = _shard(loaded, suite, task, batch_size)
                else:
                    out = _evaluate(loaded, suite, task, batch_size)
                break
            except Exception as exc:  # noqa: BLE001
                if retried or not is_oom(exc) or batch_size < 2:
                    raise
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                batch_size, retried = batch_size // 2, True  # once, at half the batch (as timm's bulk runner)
        base = {"model": task["model"], "kind": task["kind"], "shard": task.get("shard"), "host": host(),
                "pid": os.getpid(), "batch_size": batch_size, "oom_retried": retried}
        if task["kind"] == "shard":
            return {**base, "status": "shard-done", "seconds": time.perf_counter() - t0, **out}
        stage = "record"
        check_finite(out, task["dims"])
        from quba.store.records import write_record

        path = write_record(task["output"], out)
        return {**base, "status": "done", "seconds": time.perf_counter() - t0, "record": str(path),
                "forward_passes": int(sum(out.get("forward_passes", {}).values())),
                "attack_passes": int(sum(out.get("attack_passes", {}).values())),
                "from_cache": sum(1 for s in out.get("splits", {}).values() if s.get("cached")),
                "splits": len(out.get("splits", {}))}
    except BaseException as exc:  # noqa: BLE001 - reported to the driver, which writes failures/
        from quba.errors import real_interrupt

        if isinstance(exc, KeyboardInterrupt) and real_interrupt():
            raise  # the user's Ctrl-C stops the sweep
        return failure(task, stage, exc, traceback.format_exc())


def _release() -> None:
    """Free this task's model before the worker takes the next one (GPU memory above all)."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
