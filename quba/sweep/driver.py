"""The sweep driver: check the input, plan, hand tasks to an executor, report.

Planning decides, before anything runs, what each model needs:

- skipped: catalog entries this installation cannot load (source
  `unavailable`, a missing optional package) and non-classifiers, with the reason;
- up to date: its record already holds every requested dimension (finite) for
  this suite (fingerprint, version), subset, seed, bootstrap and every other
  option that changes a value (`quba.sweep.task.record_up_to_date`), and the id pins
  the weights (a catalog id without a checkpoint): not touched at all;
- to run: one task per model, or with --split-tasks one task per split request
  (the outputs one paper-protocol run makes together: one task; `quba.engine.plan.Requests.shards`)
  and a final task that computes the dimensions from the shared cache; every task plans
  with `quba.engine.plan` from the same options, so the final task finds every output cached. A
  custom FILE.py:FUNCTION model whose record looks up to date is verified by
  its task against the fingerprints of its weights and code, before any forward pass.

A rerun of the same command after any interruption resumes: finished records
are up to date, finished splits are in the prediction cache (written atomically
per split), and a failed model is planned again (--retry-failed: only those).
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from quba.errors import QubaError, closest
from quba.sweep import state as S

LEADERBOARD_EVERY_S = 30.0


@dataclass
class Plan:
    models: list[str]  # every model id in order (not skipped)
    todo: list[dict] = field(default_factory=list)  # {"model", "verify"}
    cached: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- which models

def read_models_file(path) -> list[str]:
    """One model id per line; blank lines and '#' comments ignored."""
    from quba.integrity import read_regular

    try:
        text = read_regular(path).decode("utf-8", errors="replace")  # a named pipe: one line, not a hang
    except OSError as exc:
        raise QubaError(f"cannot read --models-file {path} ({exc.strerror or exc}); give a text file "
                        "with one model id per line") from None
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def _unavailable_reason(row: dict) -> str | None:
    from quba.zoo.sources import is_available, source_of

    if (row.get("task") or "classification") != "classification":
        return f"not a classifier (task {row.get('task')})"
    if is_available(row):
        return None
    if row["source"] == "unavailable":
        return "unavailable: " + (row.get("notes") or "no published weights")
    need = source_of(row)
    return f"unavailable: its loader needs the optional package {need!r}, which is not installed"


def select_models(tokens, groups, models_file, suite: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(model ids / FILE.py:FUNCTION specs to evaluate, [(id, reason skipped)]).

    Every unknown id is reported at once, with suggestions (QubaError, exit 2)."""
    from quba.zoo.catalog import all_groups, catalog, select, source_spec_row

    tokens = [t for tok in tokens for t in str(tok).split(",") if t.strip()]
    tokens = [t.strip() for t in tokens]
    if models_file:
        tokens += read_models_file(models_file)
    groups = [g.strip() for item in (groups or []) for g in str(item).split(",") if g.strip()]
    rows = catalog()
    by_id = {r["id"]: r for r in rows}
    known_groups = {g.lower(): g for g in all_groups(rows)}
    # a group named among the models (quba sweep mini) counts as --group, unless a model has that id
    groups += [t for t in tokens if t not in by_id and (t.lower() == "paper" or t.lower() in known_groups)]
    tokens = [t for t in tokens if t not in groups]
    if not tokens and not groups:
        from quba.suites.specs import spec

        defaults = spec(suite).default_groups if spec(suite) is not None else ()
        if not defaults:
            raise QubaError(f"name the models to sweep on suite {suite!r}: MODEL ..., --group paper|GROUP "
                            "or --models-file FILE")
        groups = list(defaults)
    by_lower = {k.lower(): r for k, r in by_id.items()}
    chosen: list[dict | str] = []
    unknown = []
    for g in groups:
        if g.lower() == "paper":
            chosen += catalog(include_mini=False, include_extra=False)
        elif g.lower() in known_groups:  # a group's non-classifiers are no candidates (as in `quba leaderboard`)
            chosen += [r for r in select(rows, group=g) if (r.get("task") or "classification") == "classification"]
        else:
            unknown.append(f"group {g!r}{closest(g, ['paper', *known_groups.values()])}")
    for t in tokens:
        if t in by_id or t.lower() in by_lower:
            chosen.append(by_id.get(t) or by_lower[t.lower()])
        elif ".py:" in t:
            path = t.rpartition(":")[0]
            if not os.path.isfile(path):
                unknown.append(f"{t!r} (no file {path})")
            else:
                chosen.append(t)
        elif (row := source_spec_row(t)) is not None:  # SOURCE:IDENTIFIER of a registered source
            chosen.append(row)
        else:
            unknown.append(f"{t!r}{closest(t, by_id)}")
    if unknown:
        raise QubaError(f"unknown model id(s): {', '.join(unknown)}; nothing was run (see 'quba zoo list')")
    models, skipped, seen = [], [], set()
    for item in chosen:
        mid = item if isinstance(item, str) else item["id"]
        if mid in seen:
            continue
        seen.add(mid)
        reason = None if isinstance(item, str) else _unavailable_reason(item)
        if reason:
            skipped.append((mid, reason))
        else:
            models.append(mid)
    return models, skipped


def plan_models(models: list[str], skipped, *, output, suite, dims, eval_kw: dict, force: bool,
                trust_ids: bool) -> Plan:
    """Sort the models into up to date (not touched), to run, to run after verifying the weights."""
    from quba.store.records import read_record, record_path
    from quba.sweep.task import record_up_to_date

    plan = Plan(models=list(models), skipped=list(skipped))
    for mid in models:
        custom = ".py:" in mid
        path = record_path(output, suite.name, mid)
        fresh = False
        if not force and path.exists():
            try:
                fresh = record_up_to_date(read_record(path), suite=suite, dims=dims, eval_kw=eval_kw)
            except QubaError:
                fresh = False  # unreadable: evaluated again, the record replaced
        if fresh and trust_ids and not custom:
            plan.cached.append(mid)
        else:
            plan.todo.append({"model": mid, "verify": fresh})
    return plan


# ---------------------------------------------------------------- running

def make_executor(args, output_suite_dir: Path):
    """The executor --executor names (`quba.sweep.executors.EXECUTORS`), for the sweep's options."""
    from quba.sweep.executors import EXECUTORS

    return EXECUTORS.get(args.executor).from_args(args, output_suite_dir)


class Driver:
    def __init__(self, executor, *, output, suite: str, tasks_for, progress: bool, total: int):
        from tqdm import tqdm

        self.ex = executor
        self.output, self.suite = output, suite
        self.tasks_for = tasks_for  # model -> (first tasks, final task or None)
        self.bar = tqdm(total=total, desc="sweep", unit="model", file=sys.stderr, disable=not progress,
                        dynamic_ncols=True)
        self.results: dict[str, dict] = {}
        self.new_records = False

    def line(self, text: str) -> None:
        self.bar.write(text, file=sys.stderr)

    def finish(self, res: dict) -> None:
        model = res["model"]
        self.results[model] = res
        st = res["status"]
        if st == "failed":
            info = {k: res.get(k) for k in ("model", "suite", "error", "stage", "host", "pid", "traceback", "time",
                                            "kind", "shard")}
            info["suite"] = self.suite
            S.write_failure(self.output, self.suite, model, info)
            S.mark(self.output, self.suite, model, state="failed", reason=res["error"], stage=res["stage"],
                   host=res.get("host"), finished=res.get("time"))
            self.line(f"FAILED {model} [{res['stage']} on {res.get('host')}]: {res['error']}")
        else:
            S.clear_failure(self.output, self.suite, model)
            S.mark(self.output, self.suite, model, state=st, host=res.get("host"), finished=S.now(),
                   seconds=round(res.get("seconds", 0.0), 2))
            if st == "done":
                self.new_records = True
                extra = (f"; OOM: retried at batch size {res['batch_size']}" if res.get("oom_retried") else "")
                self.line(f"done   {model} in {res.get('seconds', 0):.1f} s on {res.get('host')} "
                          f"({res.get('forward_passes', 0)} forward passes{_attack_part(res)}, "
                          f"{res.get('from_cache', 0)} of "
                          f"{res.get('splits', 0)} split(s) from cache{extra})")
            else:
                self.line(f"cached {model}: its record is up to date (weights and code verified); not touched")
        self.bar.update(1)

    def run(self, models: list[str]) -> dict[str, dict]:
        pending: deque = deque()
        finals: dict[str, dict] = {}
        for m in models:
            first, final = self.tasks_for(m)
            pending.extend(first)
            if final is not None:
                finals[m] = {"left": len(first), "failed": None, "task": final}
        inflight: dict = {}
        last_lb = time.monotonic()
        try:
            while pending or inflight:
                batch = []
                while pending and (self.ex.capacity is None or len(inflight) + len(batch) < self.ex.capacity):
                    batch.append(pending.popleft())
                if batch:
                    for h, t in zip(self.ex.submit(batch), batch):
                        inflight[h] = t
                for h in self.ex.wait(list(inflight), timeout=1.0):
                    task = inflight.pop(h)
                    res = self.ex.outcome(h)
                    model = task["model"]
                    if task["kind"] != "shard":
                        self.finish(res)
                        continue
                    f = finals[model]
                    f["left"] -= 1
                    if res["status"] == "failed":
                        f["failed"] = f["failed"] or res
                    else:
                        self.line(f"split  {model} {task['shard']}: {res.get('forward_passes', 0)} forward passes"
                                  f"{_attack_part(res)} on {res.get('host')}")
                    if f["left"] == 0:
                        if f["failed"]:
                            self.finish(f["failed"])
                        else:
                            pending.append(f["task"])
                if self.new_records and time.monotonic() - last_lb > LEADERBOARD_EVERY_S:
                    self.write_leaderboard()
                    last_lb = time.monotonic()
        finally:
            self.bar.close()
        return self.results

    def write_leaderboard(self):
        from quba.store.leaderboard import write_leaderboard

        self.new_records = False
        return write_leaderboard(self.output, self.suite)


def _attack_part(res: dict) -> str:
    return f" + {res['attack_passes']} attack passes" if res.get("attack_passes") else ""


def validate(args) -> None:
    """Every check that needs no work: one line and exit 2 on the first problem."""
    from quba.api import check_bootstrap, check_int

    if args.workers is not None and args.workers < 1:
        raise QubaError(f"--workers must be >= 1 (worker processes of the local executor), got {args.workers}")
    for flag in ("cpus_per_task", "gpus_per_task"):
        v = getattr(args, flag)
        if v is not None and v < 0:
            raise QubaError(f"--{flag.replace('_', '-')} must be >= 0, got {v}")
    for flag in ("timeout_min", "array_parallelism"):
        if getattr(args, flag) < 1:
            raise QubaError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    check_int(args.subset, "--subset", 1, allow_none=True)
    check_bootstrap(args.bootstrap)
    check_int(args.batch_size, "--batch-size", 1)
    check_int(args.loader_workers, "--loader-workers", 0)
    check_int(args.seed, "--seed", 0)
    from quba.sweep.executors import EXECUTORS

    EXECUTORS.get(args.executor).check(args)  # an unknown name: one line naming the known executors


def run(args, eval_kw: dict) -> int:
    """The sweep of `quba sweep` (args: its parsed options). eval_kw: the keywords `quba evaluate`
    would pass to `quba.api.evaluate` for the same options (the CLI builds them), less output,
    progress and data_root, which the sweep sets per task."""
    from quba.engine import load_suite, resolve_dims
    from quba.paths import cache_dir
    from quba.store.records import check_writable

    validate(args)
    if getattr(args, "remap_keys", False) and not getattr(args, "checkpoint", None):
        raise QubaError("--remap-keys goes with --checkpoint PATH (it renames the checkpoint's tensors)")
    names = resolve_dims(args.dims)
    models, skipped = select_models(args.models + list(args.extra_models), args.group, args.models_file, args.suite)
    if args.retry_failed:
        failed = S.failed_models(args.output, args.suite)
        models = [m for m in models if m in failed] if (args.models or args.group or args.models_file) \
            else [m for m in failed if m not in dict(skipped)]
        if not models:
            print(f"sweep: no failed models to retry under {S.failures_dir(args.output, args.suite)}")
            return 0
    suite = load_suite(args.suite, args.data_root)
    check_writable(args.output, suite.name)
    output = os.path.abspath(args.output)
    eval_kw = {k: v for k, v in eval_kw.items() if k not in ("output", "progress", "data_root")}
    load_kw = {k: v for k in ("checkpoint", "arch", "remap_keys") if (v := getattr(args, k, None))}  # evaluate's
    if load_kw.get("arch"):
        models.append(str(load_kw["checkpoint"]))  # as in evaluate: the checkpoint is one more model
    elif load_kw and len(models) != 1:
        raise QubaError("--checkpoint without --arch loads your weights into one catalog model: name exactly one")
    plan = plan_models(models, skipped, output=output, suite=suite, dims=names, eval_kw=eval_kw,
                       force=args.force, trust_ids=not getattr(args, "checkpoint", None))
    sdir = S.suite_dir(output, suite.name)
    executor = make_executor(args, sdir) if plan.todo else None  # Ray: connects / starts here (exit 2 if not)
    sdir.mkdir(parents=True, exist_ok=True)
    cache = str(cache_dir())
    t_start = time.perf_counter()

    def register_run(state):
        state["runs"].append({"started": S.now(), "host": _host(), "pid": os.getpid(),
                              "executor": executor.describe() if executor else None, "argv": sys.argv[1:]})
        state["runs"] = state["runs"][-20:]
        for m in plan.models:
            state["models"][m] = {"state": "planned"}
        for m in plan.cached:
            state["models"][m] = {**state["models"].get(m, {}), "state": "cached"}
        for m, reason in plan.skipped:
            state["models"][m] = {"state": "skipped", "reason": reason}

    S.update_state(output, suite.name, register_run)
    print(f"sweep of {len(plan.models) + len(plan.skipped)} model(s) on suite {suite.name} "
          f"({', '.join(names)}): {len(plan.todo)} to run, {len(plan.cached)} up to date (not touched), "
          f"{len(plan.skipped)} skipped" + (f"; executor {executor.describe()}" if executor else ""),
          file=sys.stderr)

    verify_of = {t["model"]: t["verify"] for t in plan.todo}
    shards = None
    if args.split_tasks and plan.todo:  # the model-free part of every model's plan: its requests, split in units
        from quba.engine.plan import plan_requests
        from quba.sweep.task import run_options

        shards = plan_requests(suite, names, run_options(eval_kw)).shards()

    def tasks_for(model: str):
        verify = verify_of[model]
        if load_kw.get("arch") and model == str(load_kw["checkpoint"]):
            load = {"specs": [], "kwargs": load_kw}
        else:
            load = {"specs": [model], "kwargs": {} if load_kw.get("arch") else load_kw}
        base = {"kind": "model", "model": model, "load": load, "suite": args.suite, "data_root": _abs(args.data_root),
                "dims": names, "eval": eval_kw, "output": output, "cache": cache, "cwd": os.getcwd(),
                "verify_up_to_date": verify, "plugins": [_abs(m) if m.endswith(".py") else m
                                                         for m in getattr(args, "plugin", None) or []]}
        if shards is None:
            return [base], None
        tasks = [{**base, "kind": "shard", "shard": name, "requests": keys, "verify_up_to_date": False}
                 for name, keys in shards]
        return tasks, {**base, "kind": "final"}

    results = {}
    if executor is not None:
        driver = Driver(executor, output=output, suite=suite.name, tasks_for=tasks_for, progress=args.progress,
                        total=len(plan.todo))
        try:
            results = driver.run([t["model"] for t in plan.todo])
        finally:
            executor.close()
    from quba.store.leaderboard import write_leaderboard

    lb = write_leaderboard(output, suite.name)
    return report(plan, results, lb, output, suite.name, time.perf_counter() - t_start, args.format)


def _abs(path):
    return os.path.abspath(path) if path else None


def _host() -> str:
    import socket

    return socket.gethostname()


def report(plan: Plan, results: dict, leaderboard, output, suite: str, seconds: float, fmt: str) -> int:
    done = [m for m, r in results.items() if r["status"] == "done"]
    cached = list(plan.cached) + [m for m, r in results.items() if r["status"] == "cached"]
    failed = {m: r for m, r in results.items() if r["status"] == "failed"}
    if fmt == "json":
        import json

        print(json.dumps({"suite": suite, "done": done, "cached": cached,
                          "failed": {m: {k: r.get(k) for k in ("error", "stage", "host")} for m, r in failed.items()},
                          "skipped": dict(plan.skipped), "leaderboard": str(leaderboard) if leaderboard else None,
                          "seconds": round(seconds, 2)}, indent=1))
    else:
        lines = [f"sweep on suite {suite}: {len(done)} done, {len(cached)} cached (up to date), "
                 f"{len(failed)} failed, {len(plan.skipped)} skipped in {seconds:.1f} s"]
        if failed:
            lines.append(f"failed ({len(failed)}; details in {S.failures_dir(output, suite)}/, "
                         "rerun with --retry-failed):")
            lines += [f"  {m}  [{r['stage']} on {r.get('host')}] {r['error']}" for m, r in failed.items()]
        if plan.skipped:
            lines.append(f"skipped ({len(plan.skipped)}):")
            lines += [f"  {m}  {reason}" for m, reason in plan.skipped]
        if leaderboard:
            lines.append(f"leaderboard: {leaderboard}")
        print("\n".join(lines))
    return 1 if failed else 0
