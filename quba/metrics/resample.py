"""Bootstrap resamples given as count weights, the form every metric of `quba.metrics` takes.

A resample of N images drawn with replacement is a row of draw counts [N] (how often each image is
drawn); B resamples are a matrix [B, N], which every metric accepts as ``sample_weight`` and answers
with the B replicates (docs/metrics.md#bootstrap-intervals). The engine's bootstrap
(`quba.engine.measure.Context.weight`) and `quba compare`'s (`quba.metrics.flips.bootstrap_flips`)
draw them here.
"""
from __future__ import annotations

import numpy as np


def index_matrix(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """[n, size] image positions drawn with replacement: row b is resample b (the same numbers as
    n calls ``rng.integers(0, size, size)`` one after another)."""
    return rng.integers(0, size, (n, size)) if size else np.zeros((n, 0), np.int64)


def draw_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Count weights [n, size] of n resamples: row b, how often each position is drawn (the
    draws of `index_matrix`, so a resample given as counts is the resample given as indices)."""
    idx = index_matrix(rng, n, size)
    if not size:
        return np.zeros((n, 0))
    flat = (idx + (np.arange(n) * size)[:, None]).ravel()
    return np.bincount(flat, minlength=n * size).reshape(n, size).astype(np.float64)
