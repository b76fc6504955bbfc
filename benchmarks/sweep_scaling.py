"""How `quba sweep` scales: 1 vs 2 local workers, and Ray's overhead over the local executor.

Runs the same sweep (N mini models, the same dimensions) as a fresh
`python -m quba sweep` process each time, every run on an empty prediction
cache (the generated mini suite is shared and made once before timing), and
prints the wall times and two ratios:

- speed-up = wall(1 local worker) / wall(2 local workers)  (aim: >= 1.7 on 2 idle cores)
- Ray overhead = wall(Ray, local cluster started by the sweep, 1 CPU per task) / wall(2 local workers)

    python benchmarks/sweep_scaling.py [--models 6] [--dims accuracy,calibration_error,corruption_robustness,ood_robustness]
                                       [--bootstrap 200] [--repeat 1] [--no-ray]

Wall times include starting the workers (and Ray), as a user sees them. Ratios,
not absolute times, are what to compare across machines; run it on a quiet one.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def mini_models(n: int) -> list[str]:
    from quba.zoo.mini import catalog_rows

    ids = [r["id"] for r in catalog_rows() if (r.get("task") or "classification") == "classification"]
    if len(ids) < n:
        sys.exit(f"only {len(ids)} mini classifiers; use --models {len(ids)} or fewer")
    return ids[:n]


def timed_sweep(models, dims, bootstrap, executor_args, suites: Path, work: Path) -> float:
    """Wall seconds of one cold `quba sweep` (fresh cache and output)."""
    root = Path(tempfile.mkdtemp(dir=work))
    (root / "cache").mkdir()
    (root / "cache" / "suites").symlink_to(suites, target_is_directory=True)
    env = {**os.environ, "QUBA_CACHE": str(root / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "quba", "sweep", *models, "--dims", dims, "--bootstrap", str(bootstrap),
           "--no-progress", "--output", str(root / "out"), *executor_args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(executor_args)}):\n{proc.stdout}\n{proc.stderr}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--dims", default="accuracy,calibration_error,corruption_robustness,ood_robustness")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (median reported)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="quba-sweep-bench-") as tmp:
        work = Path(tmp)
        os.environ["QUBA_CACHE"] = str(work / "suite-cache")
        from quba.engine.plan import RunOptions, plan_requests
        from quba.suites import load_suite

        suite = load_suite("mini")
        for r in plan_requests(suite, args.dims.split(","), RunOptions()).requests:  # every split once, untimed
            suite.split(r.split)
        suites = work / "suite-cache" / "suites"
        models = mini_models(args.models)
        configs = [("local, 1 worker", ["--workers", "1"]), ("local, 2 workers", ["--workers", "2"])]
        if not args.no_ray:
            configs.append(("ray, 1 CPU per task", ["--executor", "ray", "--cpus-per-task", "1"]))
        walls = {}
        for name, ex_args in configs:
            runs = [timed_sweep(models, args.dims, args.bootstrap, ex_args, suites, work)
                    for _ in range(args.repeat)]
            walls[name] = statistics.median(runs)
            print(f"{name:22s} {walls[name]:7.2f} s  ({len(models)} models, dims {args.dims}, "
                  f"bootstrap {args.bootstrap}, cores {len(os.sched_getaffinity(0))})", flush=True)
        print(f"speed-up 2 vs 1 local workers: {walls['local, 1 worker'] / walls['local, 2 workers']:.2f}x")
        if not args.no_ray:
            print(f"Ray / local (2 workers) wall-time ratio: "
                  f"{walls['ray, 1 CPU per task'] / walls['local, 2 workers']:.2f}")


if __name__ == "__main__":
    main()
