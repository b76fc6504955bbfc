"""Input checks shared by the metric functions (one-line QubaErrors)."""
from __future__ import annotations

import numpy as np

from quba.errors import QubaError


def labels_1d(y, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise QubaError(f"{name} must be a 1-D array of class indices, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise QubaError(f"{name} must hold integer class indices, got dtype {y.dtype}")
        y = y.astype(np.int64)
    return y.astype(np.int64, copy=False)


def same_length(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if len(a) != len(b):
        raise QubaError(f"{na} and {nb} differ in length ({len(a)} vs {len(b)}); pass one entry per image")


def probabilities(probs, y: np.ndarray | None = None, name: str = "probs") -> np.ndarray:
    """[N, K] rows of probabilities (float32 stays float32, anything else becomes
    float64); labels, if given, must index the K columns."""
    p = np.asarray(probs)
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    if p.ndim != 2:
        raise QubaError(f"{name} must be a 2-D array [images, classes], got shape {p.shape}")
    if p.size:
        lo, hi = float(p.min()), float(p.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise QubaError(f"{name} holds NaN or infinite values; pass softmax probabilities")
        if lo < -1e-6 or hi > 1 + 1e-6 or np.abs(p.sum(axis=1, dtype=np.float64) - 1).max() > 1e-3:
            raise QubaError(f"{name} rows must be probabilities summing to 1 (these look like logits?); "
                            "apply softmax first")
        if lo < 0 or hi > 1:
            p = np.clip(p, 0, 1)
    if y is not None:
        same_length(y, p, "y_true", name)
        if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
            raise QubaError(f"labels must lie in 0..{p.shape[1] - 1} (the columns of {name}), "
                            f"got {y.min()}..{y.max()}")
    return p
