"""Teacher–student agreement (e²KD: Parchami-Araghi, Böhle, Rao, Schiele,
"Good Teachers Explain: Explanation-Enhanced Knowledge Distillation", ECCV 2024, Sec. 3, 5).

- Top-1 agreement: ``mean 1[ŷ_student = ŷ_teacher]`` (the fidelity measure of Sec. 5).
- Explanation similarity: for each image, the cosine between the flattened
  attribution maps of teacher and student, both taken for the teacher's top-1
  class: ``cos(E_T, E_S) = <E_T, E_S> / (|E_T| |E_S|)``; the dimension is the mean
  over images. A map that is all zero has no direction: its cosine is 0.

Pure functions: numpy arrays in, numbers out.
"""
from __future__ import annotations

import numpy as np

from quba.errors import QubaError
from quba.metrics._checks import weighted_mean
from quba.metrics.flips import top1_agreement
from quba.metrics.resample import draw_counts

__all__ = ["top1_agreement", "explanation_cosines", "explanation_similarity", "bootstrap_mean"]


def explanation_cosines(maps_teacher, maps_student) -> np.ndarray:
    """Per-image cosine similarity of two stacks of attribution maps.

    ``maps_*``: arrays of shape [N, ...] (any map shape, the same for both); each
    image's map is flattened. Returns float64 [N] in [-1, 1]; 0 where either map is
    all zero.
    """
    t = np.asarray(maps_teacher, dtype=np.float64)
    s = np.asarray(maps_student, dtype=np.float64)
    if t.shape != s.shape or t.ndim < 1 or t.shape[0] == 0:
        raise QubaError(
            f"explanation similarity needs two equal-shape, non-empty stacks of maps [N, ...]; "
            f"got {t.shape} and {s.shape} (use the same attribution method for both models)"
        )
    t = t.reshape(len(t), -1)
    s = s.reshape(len(s), -1)
    dot = np.einsum("ij,ij->i", t, s)
    norm = np.linalg.norm(t, axis=1) * np.linalg.norm(s, axis=1)
    out = np.zeros(len(t))
    ok = norm > 0
    out[ok] = dot[ok] / norm[ok]
    return np.clip(out, -1.0, 1.0)


def explanation_similarity(maps_teacher, maps_student) -> float:
    """Mean over images of cos(E_teacher, E_student) (e²KD, Sec. 5)."""
    return float(explanation_cosines(maps_teacher, maps_student).mean())


def bootstrap_mean(values, n_boot: int = 200, seed: int = 0, alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of per-image values (``n_boot`` resamples from
    ``np.random.default_rng(seed)``, as count weights: `quba.metrics.resample.draw_counts`, the
    weighted mean of `quba.metrics._checks.weighted_mean`); None when ``n_boot`` is 0."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if n_boot <= 0 or len(v) == 0:
        return None
    means = weighted_mean(v, draw_counts(np.random.default_rng(seed), int(n_boot), len(v)))
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))
