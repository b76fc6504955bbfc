"""Wall time of the main job, `quba evaluate mini-cnn-standard`, cold and warm.

    python benchmarks/main_job_cold_warm.py [--model mini-cnn-standard] [--repeat 1] [--cores 0,1]

Cold: a fresh, empty QUBA_CACHE (QUBA-mini's splits are generated, in parallel across the
cores this process may use, and every split runs through the model). Warm: the same command
again on that cache (suite and predictions read back; bootstrap and writing remain). Each run is
a separate `python -m quba` process, so import time counts as a user sees it. `--suite-workers 1` compares with
serial suite generation. `--cores 0,1` pins
the runs to those CPUs (taskset semantics via os.sched_setaffinity), e.g. to measure "2 idle cores"
on a bigger machine. The goal (issue 10.9): cold <= 30 s on 2 idle cores. Prints one line per run
and a summary; measure on a quiet machine (a loaded one inflates every number).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(model: str, cache: str, output: str, extra: list[str]) -> tuple[float, float]:
    env = {**os.environ, "QUBA_CACHE": cache, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "quba", "evaluate", model, "--no-progress", "--output", output,
                        *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"quba evaluate failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mini-cnn-standard")
    ap.add_argument("--repeat", type=int, default=1, help="cold/warm pairs (default 1)")
    ap.add_argument("--cores", help="comma-separated CPU ids to pin the runs to (default: all allowed)")
    ap.add_argument("--suite-workers", type=int,
                    help="QUBA_SUITE_WORKERS for the runs (processes generating QUBA-mini; 1 = serial)")
    ap.add_argument("extra", nargs="*", help="further arguments for quba evaluate (after --)")
    args = ap.parse_args()
    if args.cores:
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    if args.suite_workers is not None:
        os.environ["QUBA_SUITE_WORKERS"] = str(args.suite_workers)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"main job: quba evaluate {args.model} {' '.join(args.extra)} ({cores} core(s), "
          f"load average {os.getloadavg()[0]:.1f})")
    colds, warms = [], []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cache, out = os.path.join(tmp, "cache"), os.path.join(tmp, "results")
            wall, cpu = run_once(args.model, cache, out, args.extra)
            colds.append(wall)
            print(f"  cold {i + 1}: {wall:6.1f} s wall, {cpu:6.1f} s CPU")
            wall, cpu = run_once(args.model, cache, out, args.extra)
            warms.append(wall)
            print(f"  warm {i + 1}: {wall:6.1f} s wall, {cpu:6.1f} s CPU")
    print(f"cold {min(colds):.1f} s (best of {len(colds)}), warm {min(warms):.1f} s (best of {len(warms)})")


if __name__ == "__main__":
    main()
