"""How a sweep runs its tasks: the `Executor` contract, quba's three executors and their registry.

Scheduling and resource placement are the engines' own: `concurrent.futures`
process pools on this machine, Ray's scheduler, SLURM through submitit. The
driver only submits ready tasks (`capacity` at a time), waits for any to
finish and reads their outcomes:

    Cls.check(args)        before any work: the options and installed packages (one QubaError line)
    Cls.from_args(args, folder) -> an executor for the sweep's options (folder: DIR/<suite>)
    ex.capacity            tasks the driver may have in flight (None: no limit)
    ex.submit(tasks)       -> handles (submitted together: one SLURM job array)
    ex.wait(handles, s)    -> the handles that finished (within s seconds)
    ex.outcome(handle)     -> run_task's dict; a worker that died becomes a failure
    ex.describe()          one line for the sweep's log
    ex.close()

Executors are registered by name in `EXECUTORS` (a `quba.registry.Registry`; ``--executor NAME``):
quba's own below, others through the entry-point group ``quba.executors`` or ``--plugin MODULE``
(docs/adding-an-executor.md).

`local`: N single-process pools (spawned, so no state leaks from the driver),
one per worker slot, each with cores // N torch threads or one GPU; a slot of
its own means a killed or crashed worker breaks only its pool and is charged
to the one model it was running. `ray`: one Ray task per sweep task
(`num_cpus`, `num_gpus` per task; no automatic retries: a failure is reported
and a rerun retries). `submitit`: one SLURM job per task, the first wave as a
job array throttled by --array-parallelism (submitit's local executor on a
machine without SLURM).
"""
from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod

from quba.errors import QubaError
from quba.registry import Registry
from quba.sweep.task import failure, run_task


class Executor(ABC):
    """What the sweep driver uses of an executor (the module docstring). A subclass sets ``name``
    and implements `submit`, `wait` and `outcome`; the rest has defaults. Tasks are dicts for
    `quba.sweep.task.run_task`, which never raises; a task's ``threads`` is None unless the
    executor sets it (the torch threads its worker may use)."""

    #: its name for --executor
    name: str = ""
    #: tasks the driver may have in flight at once (None: no limit, the engine schedules)
    capacity: int | None = None
    #: (module, extra) it needs installed: checked by `check` before anything starts
    requires: tuple[tuple[str, str], ...] = ()

    @classmethod
    def check(cls, args) -> None:
        """Check the sweep's options (`args`: the parsed ones of `quba sweep`) before any work; one
        QubaError line on a problem. May fill in defaults. Default: the `requires` packages."""
        for module, extra in cls.requires:
            require(module, extra, cls.name)

    @classmethod
    def from_args(cls, args, folder) -> "Executor":
        """An executor for the sweep's options; `folder` (DIR/<suite>) may hold its own files.
        Default: the class called with no arguments."""
        return cls()

    def describe(self) -> str:
        """One line for the sweep's log and state (default: its name)."""
        return self.name

    @abstractmethod
    def submit(self, tasks: list[dict]) -> list:
        """Start `tasks`; one handle per task, in order."""

    @abstractmethod
    def wait(self, handles, timeout: float) -> list:
        """The handles among `handles` that have finished, waiting at most `timeout` seconds."""

    @abstractmethod
    def outcome(self, handle) -> dict:
        """run_task's dict of a finished handle; a worker that died is a `failure(task, "worker", ...)`."""

    def close(self) -> None:
        """Release what it holds (pools, a Ray instance it started). Default: nothing."""


# ---------------------------------------------------------------- local

def _worker_init(threads: int, gpu: int | None, parent: int) -> None:
    """Runs in each spawned worker before any task: threads, GPU, and exit when the driver dies."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)

    def watch():  # a killed driver must not leave workers running (a rerun starts its own)
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


class LocalExecutor(Executor):
    """N single-process pools on this machine (--workers, --gpus)."""

    name = "local"

    def __init__(self, workers: int, gpus: list[int] | None = None):
        import multiprocessing as mp

        self.workers = workers
        self.gpus = gpus or []
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
        self.threads = max(1, cores // workers)
        self._ctx = mp.get_context("spawn")
        self._pools: list = [None] * workers
        self._busy: dict = {}  # future -> (slot, task)
        self.capacity = workers

    @classmethod
    def check(cls, args) -> None:
        args.gpus = _parse_gpus(args.gpus)
        if args.workers is None:
            args.workers = len(args.gpus) if args.gpus else 1
        from quba.engine.runner import resolve_device

        resolve_device("cuda" if args.gpus and args.device == "auto" else args.device)

    @classmethod
    def from_args(cls, args, folder) -> "LocalExecutor":
        return cls(args.workers, args.gpus)

    def describe(self) -> str:
        per = f"GPU {', '.join(map(str, self.gpus))}" if self.gpus else f"{self.threads} torch thread(s) each"
        return f"local, {self.workers} worker(s), {per}"

    def _pool(self, slot: int):
        from concurrent.futures import ProcessPoolExecutor

        if self._pools[slot] is None:
            gpu = self.gpus[slot % len(self.gpus)] if self.gpus else None
            self._pools[slot] = ProcessPoolExecutor(1, mp_context=self._ctx, initializer=_worker_init,
                                                    initargs=(self.threads, gpu, os.getpid()))
        return self._pools[slot]

    def submit(self, tasks: list[dict]) -> list:
        from concurrent.futures.process import BrokenProcessPool

        handles = []
        for task in tasks:
            busy = {slot for slot, _ in self._busy.values()}
            slot = next(i for i in range(self.workers) if i not in busy)
            task = {**task, "threads": task.get("threads") or self.threads}
            try:
                fut = self._pool(slot).submit(run_task, task)
            except BrokenProcessPool:  # its idle worker died: a fresh one
                self._pools[slot] = None
                fut = self._pool(slot).submit(run_task, task)
            self._busy[fut] = (slot, task)
            handles.append(fut)
        return handles

    def wait(self, handles, timeout: float) -> list:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def outcome(self, handle) -> dict:
        from concurrent.futures.process import BrokenProcessPool

        slot, task = self._busy.pop(handle)
        try:
            return handle.result()
        except BrokenProcessPool as exc:
            self._pools[slot].shutdown(wait=False, cancel_futures=True)
            self._pools[slot] = None  # a fresh worker for the next task
            return failure(task, "worker", f"worker process died while running it (killed or crashed: {exc})")
        except Exception as exc:  # noqa: BLE001 - e.g. the task could not be sent
            return failure(task, "worker", exc)

    def close(self) -> None:
        for pool in self._pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- ray

def check_ray_address(address: str | None, timeout: float = 30.0) -> None:
    """HOST:PORT must accept a connection within `timeout` seconds (before anything starts)."""
    import socket

    if not address or address == "auto":
        return
    hostport = address.removeprefix("ray://")
    hostname, _, port = hostport.rpartition(":")
    if not hostname or not port.isdigit():
        raise QubaError(f"bad --ray-address {address!r}; use auto or HOST:PORT (e.g. 10.0.0.1:6379)")
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((hostname, int(port)), timeout=max(0.1, deadline - time.monotonic())):
                return
        except OSError as exc:
            last = exc
            if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
                break  # nobody listens there / no such host: waiting will not help
            time.sleep(0.5)
    raise QubaError(f"cannot reach the Ray cluster at {address!r} ({last}); start it ('ray start --head') "
                    "or give its address with --ray-address HOST:PORT")


class RayExecutor(Executor):
    """One Ray task per sweep task (--ray-address, --cpus-per-task, --gpus-per-task)."""

    name = "ray"
    capacity = None
    requires = (("ray", "ray"),)

    def __init__(self, address: str | None, cpus_per_task: float, gpus_per_task: float):
        import ray

        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(log_to_driver=False)
            except Exception as exc:  # noqa: BLE001 - ConnectionError and friends
                raise QubaError(f"cannot connect to Ray at {address or 'a new local instance'} "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                                "check --ray-address") from None
            self.started = True
        self.cpus, self.gpus = cpus_per_task, gpus_per_task
        self._remote = ray.remote(run_task).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=0)
        self._tasks: dict = {}

    @classmethod
    def check(cls, args) -> None:
        super().check(args)
        check_ray_address(args.ray_address)

    @classmethod
    def from_args(cls, args, folder) -> "RayExecutor":
        return cls(args.ray_address, args.cpus_per_task or 1, args.gpus_per_task)

    def describe(self) -> str:
        res = self.ray.cluster_resources()
        return (f"ray, {self.cpus:g} CPU / {self.gpus:g} GPU per task on a cluster of "
                f"{res.get('CPU', 0):g} CPU, {res.get('GPU', 0):g} GPU")

    def submit(self, tasks: list[dict]) -> list:
        out = []
        for task in tasks:
            task = {**task, "threads": task.get("threads") or max(1, int(self.cpus))}
            ref = self._remote.remote(task)
            self._tasks[ref] = task
            out.append(ref)
        return out

    def wait(self, handles, timeout: float) -> list:
        done, _ = self.ray.wait(list(handles), num_returns=1, timeout=timeout)
        return done

    def outcome(self, handle) -> dict:
        task = self._tasks.pop(handle)
        try:
            return self.ray.get(handle)
        except Exception as exc:  # noqa: BLE001 - worker died, node lost, task cancelled
            return failure(task, "worker", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


# ---------------------------------------------------------------- submitit

class SubmititExecutor(Executor):
    """One SLURM job per task via submitit (--slurm-partition, --slurm-gpus, --timeout-min, ...)."""

    name = "submitit"
    capacity = None
    requires = (("submitit", "slurm"),)

    def __init__(self, folder, *, cluster: str | None, partition: str | None, gpus: int, cpus_per_task: int,
                 timeout_min: int, array_parallelism: int):
        import submitit

        self.submitit = submitit
        try:
            self.ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        except RuntimeError as exc:  # e.g. --submitit-cluster slurm where there is no srun
            raise QubaError(f"submitit cannot use cluster {cluster!r} here ({exc}); run on a SLURM login node, "
                            "or leave out --submitit-cluster") from None
        params = dict(timeout_min=timeout_min, cpus_per_task=cpus_per_task, name="quba-sweep")
        if self.ex.cluster == "slurm":
            params.update(gpus_per_node=gpus, slurm_array_parallelism=array_parallelism)
            if partition:
                params["slurm_partition"] = partition
        elif gpus:
            params["gpus_per_node"] = gpus
        self.ex.update_parameters(**params)
        self.cpus = cpus_per_task
        self._tasks: dict = {}
        self._done_cache: set = set()

    @classmethod
    def from_args(cls, args, folder) -> "SubmititExecutor":
        return cls(folder / ".submitit", cluster=args.submitit_cluster, partition=args.slurm_partition,
                   gpus=args.slurm_gpus, cpus_per_task=args.cpus_per_task or 1, timeout_min=args.timeout_min,
                   array_parallelism=args.array_parallelism)

    def describe(self) -> str:
        return f"submitit ({self.ex.cluster}), {self.cpus} CPU per task"

    def submit(self, tasks: list[dict]) -> list:
        tasks = [{**t, "threads": t.get("threads") or self.cpus} for t in tasks]
        if len(tasks) > 1:
            with self.ex.batch():  # one job array
                jobs = [self.ex.submit(run_task, t) for t in tasks]
        else:
            jobs = [self.ex.submit(run_task, t) for t in tasks]
        for job, task in zip(jobs, tasks):
            self._tasks[job] = task
        return jobs

    def wait(self, handles, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while True:
            done = [j for j in handles if j.done()]
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def outcome(self, handle) -> dict:
        task = self._tasks.pop(handle)
        try:
            return handle.result()
        except Exception as exc:  # noqa: BLE001 - job killed, timed out, node failure
            msg = str(exc).strip().splitlines()
            return failure(task, "worker", f"{type(exc).__name__}: {msg[0] if msg else ''} (job {handle.job_id})")

def require(module: str, extra: str, executor: str) -> None:
    """The optional engine must be importable, else one line naming the extra to install."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise QubaError(f"--executor {executor} needs the {module} package, which is not installed; "
                        f"pip install -e '.[{extra}]' (or pip install 'quba[{extra}]')") from None


def _parse_gpus(spec: str | None) -> list[int] | None:
    if spec is None:
        return None
    try:
        gpus = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        gpus = []
    if not gpus or any(g < 0 for g in gpus):
        raise QubaError(f"bad --gpus {spec!r}; give GPU indices like 0,1")
    import torch

    n = torch.cuda.device_count()
    if max(gpus) >= n:
        raise QubaError(f"--gpus {spec} asks for GPU {max(gpus)}, but this machine has {n} CUDA device(s)")
    return gpus


def _check(name: str, cls):
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise TypeError(f"an executor is a subclass of quba.sweep.executors.Executor, got {cls!r} "
                        "(docs/adding-an-executor.md)")
    if cls.name != name:
        raise TypeError(f"{cls.__qualname__} is named {cls.name!r}; register it under that name")
    return cls


#: The executors by name (--executor NAME): quba's own, the entry-point group ``quba.executors``
#: and ``--plugin MODULE`` holding ``EXECUTORS = [MyExecutor]`` (or calling `EXECUTORS.register`).
EXECUTORS = Registry("executor", "quba.executors", module_attr="EXECUTORS", check=_check,
                     name_of=lambda cls: cls.name, hint=" (a plugin's executor: pass --plugin MODULE)")
for _cls in (LocalExecutor, RayExecutor, SubmititExecutor):
    EXECUTORS.register(_cls, origin="quba")
del _cls


def register(cls, replace: bool = False):
    """Add an executor class (a subclass of `Executor`) under its ``name``; another class under a taken
    name is refused unless `replace` (quba.registry.RegistryError)."""
    return EXECUTORS.register(cls, replace=replace)
