"""Costs of the issue-6 dimensions on QUBA-mini, as counts and ratios (never asserted).

Prints
- `quba compare`: forward passes and wall time, cold cache vs warm cache (warm must
  be 0 passes: predictions are read from the engine's cache);
- training cost per step: B-cos CNN / its standard twin (same recipe), e2KD / KD
  student (the explanation term's double backprop);
- pointing game: seconds per 3x3 grid relative to one forward pass over `val`.

Run: python benchmarks/beyond_nine_costs.py   (about a minute on 2 cores)
"""
from __future__ import annotations

import os
import tempfile
import time

import torch


def _steps_per_second(fn, steps: int = 15) -> float:
    fn(2)  # warm-up: first steps build kernels
    t = time.perf_counter()
    fn(steps)
    return steps / (time.perf_counter() - t)


def main() -> None:
    torch.set_num_threads(2)
    os.environ["QUBA_CACHE"] = tempfile.mkdtemp(prefix="quba-bench-")
    from quba.api import compare
    from quba.dimensions.pointing_game import run_pointing_game
    from quba.suites.mini import MiniSuite
    from quba.zoo.mini import build, load
    from quba.zoo.mini.bcos import fit_bce
    from quba.zoo.mini.students import distil

    suite = MiniSuite(seed=0)
    val, tr = suite.split("val"), suite.split("train")

    t = time.perf_counter()
    cold = compare("mini-cnn-standard", "mini-cnn-shape", bootstrap=200, progress=False)
    t_cold = time.perf_counter() - t
    t = time.perf_counter()
    warm = compare("mini-cnn-standard", "mini-cnn-shape", bootstrap=200, progress=False)
    t_warm = time.perf_counter() - t
    print(f"compare: forward passes cold {cold['forward_passes']}, warm {warm['forward_passes']}; "
          f"time warm/cold = {t_warm / t_cold:.2f}")

    def bce(model_id):
        return lambda n: fit_bce(build(model_id), tr.images, tr.labels, steps=n, seed=0, progress=False)

    teacher = load("mini-cnn-standard").module

    def kd(weight):
        return lambda n: distil(build("mini-student-kd"), teacher, tr.images, tr.labels, steps=n, seed=0,
                                explanation_weight=weight, progress=False)

    b, tw = _steps_per_second(bce("mini-bcos-cnn")), _steps_per_second(bce("mini-bcos-twin"))
    e, k = _steps_per_second(kd(1.0)), _steps_per_second(kd(0.0))
    print(f"training step time: B-cos / twin = {tw / b:.2f}, e2KD / KD = {k / e:.2f}")

    model = load("mini-cnn-standard").module
    x = torch.as_tensor(val.images).float() / 255
    t = time.perf_counter()
    with torch.no_grad():
        model(x)
    t_fwd = time.perf_counter() - t
    t = time.perf_counter()
    run_pointing_game(model, val.images, val.labels, n_grids=20, progress=False)
    t_grid = (time.perf_counter() - t) / 20
    print(f"pointing game: one 3x3 grid (9 attributions at 96 px) = {t_grid / t_fwd:.2f} x a forward pass over "
          f"val ({len(val)} images)")


if __name__ == "__main__":
    main()
