"""One sweep task, run in a worker (a local process, a Ray task or a SLURM job).

`run_task(task)` never raises: it returns a dict with `status` "done",
"cached", "shard-done" or "failed" (with `error`, `stage`, `host`, `traceback`
tail and `time`), so one model's failure never stops the sweep. Kinds:

  model   evaluate the model on its dimensions and write its record
  shard   run some of the model's split requests into the shared prediction cache
  final   after its shards: compute the dimensions from the cache, write the record

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


def _opts(task: dict, batch_size: int) -> dict:
    """The per-run options dict `quba.engine.measure_model` hands to the dimensions' hooks."""
    from quba.engine.paper_protocol import check_options

    kw = task["eval"]
    protocol = kw.get("protocol") or "quba"
    paper = check_options(protocol, kw.get("paper_order"), kw.get("paper_train_mode"))
    return {"seed": kw["seed"], "subset": kw["subset"], "bootstrap": kw["bootstrap"], "device": kw["device"],
            "batch_size": batch_size, "workers": kw["workers"], "strict": kw["strict"], "protocol": protocol,
            **({"paper_order": paper.order, "paper_train_mode": paper.train_mode} if paper else {}),
            "progress": False, **(kw.get("options") or {})}


def split_requests(suite, dims, opts: dict) -> dict:
    """{request key: SplitRequest}: every split request the dimensions need (as evaluate merges them)."""
    from quba import dimensions as D
    from quba.engine import collect_requests, resolve_dims

    merged, _ = collect_requests([D.get(n) for n in resolve_dims(dims)], suite, opts)
    return {r.key: r for r in merged.values()}


def _shard(loaded, suite, task: dict, batch_size: int) -> dict:
    """Run this shard's requests into the prediction cache (no record)."""
    from quba.engine import resolve_model
    from quba.engine.cache import PredictionCache
    from quba.engine.runner import Runner, resolve_device

    kw = task["eval"]
    reqs = split_requests(suite, task["dims"], _opts(task, batch_size))
    common = dict(device=resolve_device(kw["device"]), batch_size=batch_size, workers=kw["workers"],
                  seed=kw["seed"], subset=kw["subset"], strict=kw["strict"], progress=False,
                  cache=PredictionCache())
    runners = {}
    try:
        for key in task["requests"]:
            r = reqs[key]
            if r.model not in runners:
                runners[r.model] = Runner(loaded if r.model is None else resolve_model(r.model), suite, **common)
            runners[r.model].outputs(r)
    finally:
        for run in runners.values():
            run.close()
    passes = sum(sum(run.forward_passes.values()) for run in runners.values())
    cached = sum(len(run.from_cache) for run in runners.values())
    return {"forward_passes": passes, "from_cache": cached, "splits": len(task["requests"])}


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
    from quba.engine import requested_setup, transform_overrides
    from quba.engine.paper_protocol import check_options

    prov = record.get("provenance", {})
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
    if prov.get("transform_overrides") != transform_overrides(eval_kw.get("input_size"), eval_kw.get("interpolation"),
                                                              eval_kw.get("crop_pct")):
        return False
    if model_fingerprint is not None and prov.get("model_fingerprint") != model_fingerprint:
        return False
    if code_fingerprint is not None and prov.get("code_fingerprint") != code_fingerprint:
        return False
    protocol = eval_kw.get("protocol") or "quba"
    paper = check_options(protocol, eval_kw.get("paper_order"), eval_kw.get("paper_train_mode"))
    opts = {"protocol": protocol, "batch_size": eval_kw.get("batch_size", 256), **(eval_kw.get("options") or {})}
    if paper is not None:
        opts.update(paper_order=paper.order, paper_train_mode=paper.train_mode)
    for d in dims:
        entry = record.get("dimensions", {}).get(d, {})
        v = entry.get("value")
        if v is None or not math.isfinite(v):
            return False
        have, want = entry.get("setup") or {}, requested_setup(d, opts)
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
