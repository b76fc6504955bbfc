"""Accuracy, relative accuracy and the geometric mean used to combine them.

Hesse et al., "Beyond Accuracy" (QUBA), Sec. 3; docs/metrics.md#notation and
docs/metrics.md#accuracy.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from quba.errors import QubaError
from quba.metrics._checks import labels_1d, same_length, sample_weights, weighted_mean


def accuracy(y_true, y_pred, sample_weight=None):
    """Top-1 accuracy ``acc = (1/N) Σ_i 1[ŷ_i = y_i]`` (docs/metrics.md#accuracy).

    A prediction of -1 (a decision mapping with no class for it, e.g. the
    ImageNet-9 mapping) never equals a label, so it counts as wrong.
    An empty split has no accuracy: returns ``nan``. ``sample_weight`` (count
    weights, [N] or [B, N]): ``Σ_i w_i 1[ŷ_i = y_i] / Σ_i w_i`` (per row: an array [B]).
    """
    y = labels_1d(y_true, "y_true")
    p = labels_1d(y_pred, "y_pred")
    same_length(y, p, "y_true", "y_pred")
    w = sample_weights(sample_weight, y.size)
    if y.size == 0:
        return float("nan") if w is None or w.ndim == 1 else np.full(len(w), np.nan)
    return weighted_mean(y == p, w)


def relative_accuracy(acc: float, acc_clean: float) -> float:
    """``acc / acc_clean`` — "relative" in docs/metrics.md#notation (divided by clean val accuracy).

    ``acc_clean == 0`` (or nan) gives ``nan``: a model with no clean accuracy
    has no defined relative robustness, and nan propagates into the dimension
    rather than a fake 0 or inf.
    """
    if np.ndim(acc) or np.ndim(acc_clean):  # replicates: elementwise, the same rule
        a, c = np.asarray(acc, dtype=np.float64), np.asarray(acc_clean, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.isfinite(c) & (c > 0) & np.isfinite(a), a / c, np.nan)
    acc, acc_clean = float(acc), float(acc_clean)
    if not math.isfinite(acc_clean) or acc_clean == 0.0 or not math.isfinite(acc):
        return float("nan")
    if acc_clean < 0 or acc < 0:
        raise QubaError(f"accuracies must be non-negative, got acc={acc}, acc_clean={acc_clean}")
    return acc / acc_clean


def gmean(values: Iterable[float], axis: int | None = None):
    """Geometric mean ``(Π_k max(v_k, 0))^(1/K)`` (docs/metrics.md#notation).

    Values are clipped at 0 first, so any value ≤ 0 makes the result 0 (the
    geometric mean of non-negative numbers is 0 as soon as one is 0; a negative
    value — e.g. a relative score below zero — is treated as the worst case 0,
    never as a complex root). Any nan gives nan. No values: QubaError.
    Computed in log space for numerical stability. ``axis=-1``: the geometric mean of
    every row (bootstrap replicates [B, K] -> [B]), by the same rule.
    """
    if axis is not None:
        m = np.asarray(values, dtype=np.float64)
        if m.shape[axis] == 0:
            raise QubaError("gmean of no values is undefined; pass at least one value")
        with np.errstate(divide="ignore"):
            out = np.exp(np.mean(np.log(np.clip(m, 1e-300, None)), axis=axis))
        out[np.any(m <= 0, axis=axis)] = 0.0
        out[np.any(np.isnan(m), axis=axis)] = np.nan
        return out
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).ravel()
    if v.size == 0:
        raise QubaError("gmean of no values is undefined; pass at least one value")
    if np.any(np.isnan(v)):
        return float("nan")
    v = np.clip(v, 0.0, None)
    if np.any(v == 0.0):
        return 0.0
    return float(np.exp(np.mean(np.log(v))))
