"""MEt3R multi-view consistency: feature dissimilarity over the overlap of two renderings.

Asim, Wewer, Wimmer, Schiele & Lenssen, "MEt3R: Measuring Multi-View
Consistency in Generated Images", CVPR 2025, Sec. 3: both views' dense
features are rendered into one camera from a 3D reconstruction; on the pixels
covered by both renderings,

    S(p) = 1 − cos(F1(p), F2(p)),          MEt3R = mean_p S(p)  ∈ [0, 2],

lower is more consistent. quba renders into each view's camera in turn
("forward": into view 1, "backward": into view 2) and reports both and their
mean. The rendering lives in `quba.met3r`; these are the pure parts.
"""
from __future__ import annotations

import math

import numpy as np


def cosine_dissimilarity(f1: np.ndarray, f2: np.ndarray, axis: int = 0, eps: float = 1e-8) -> np.ndarray:
    """Per-pixel `1 − cos(f1, f2)` along the feature `axis`, in [0, 2].

    A zero feature vector has no direction; its cosine is taken as 0 (S = 1).
    """
    a = np.asarray(f1, dtype=np.float64)
    b = np.asarray(f2, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"feature maps differ in shape: {a.shape} vs {b.shape}")
    dot = (a * b).sum(axis=axis)
    na = np.sqrt((a * a).sum(axis=axis))
    nb = np.sqrt((b * b).sum(axis=axis))
    cos = np.where((na > eps) & (nb > eps), dot / np.maximum(na * nb, eps), 0.0)
    return 1.0 - np.clip(cos, -1.0, 1.0)


def masked_mean(values: np.ndarray, mask: np.ndarray) -> float:
    """Mean of `values` where `mask`; NaN when the mask is empty."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return float("nan")
    return float(np.asarray(values, dtype=np.float64)[m].mean())


def met3r_direction(f_a: np.ndarray, f_b: np.ndarray, overlap: np.ndarray, axis: int = 0) -> float:
    """MEt3R in one camera: mean of `1 − cos(F_a, F_b)` over the `overlap` pixels
    (features [C, H, W] with axis=0, overlap bool [H, W]); NaN if nothing overlaps."""
    return masked_mean(cosine_dissimilarity(f_a, f_b, axis=axis), overlap)


def combine_directions(forward: float, backward: float) -> dict:
    """Both directions and their mean (the mean of the finite ones; NaN if neither is)."""
    vals = [v for v in (forward, backward) if v is not None and math.isfinite(v)]
    return {"forward": float(forward), "backward": float(backward),
            "mean": float(np.mean(vals)) if vals else float("nan")}


def summarize_pairs(means: np.ndarray) -> dict:
    """Overall MEt3R: mean over pairs of the per-pair mean (pairs without overlap left out and counted)."""
    m = np.asarray(means, dtype=np.float64)
    ok = np.isfinite(m)
    return {"met3r": float(m[ok].mean()) if ok.any() else float("nan"), "pairs": int(m.size),
            "pairs_without_overlap": int((~ok).sum())}
