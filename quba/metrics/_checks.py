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


def sample_weights(sample_weight, n: int) -> np.ndarray | None:
    """Count weights (the scikit-learn ``sample_weight`` convention): None, a 1-D array [N] or
    rows of weights [B, N] (B bootstrap resamples, row b: how often each image was drawn),
    as float64; one line if the shape does not fit or a weight is negative or not finite."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim not in (1, 2) or w.shape[-1] != n:
        raise QubaError(f"sample_weight must be [N] or [B, N] with N = {n} images, got shape {w.shape}")
    if w.size and (not np.all(np.isfinite(w)) or w.min() < 0):
        raise QubaError("sample_weight must hold finite, non-negative weights (draw counts)")
    return w


def weighted_mean(x, w: np.ndarray | None):
    """mean_i x_i, or with count weights Σ_i w_i x_i / Σ_i w_i (per row of w [B, N]: an array [B]).
    No weight at all: nan. For 0/1 values and integer counts both sums are exact, so a resample given
    as counts has exactly the mean of the resampled values."""
    x = np.asarray(x, dtype=np.float64)
    if w is None:
        return float(np.mean(x)) if x.size else float("nan")
    total = w.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total > 0, (w @ x) / np.where(total > 0, total, 1.0), np.nan)
    return float(out) if w.ndim == 1 else out
