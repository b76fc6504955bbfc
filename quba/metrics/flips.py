"""Negative flips between two models on the same ordered test set (model update old -> new).

Notation: ``y`` labels, ``a = ŷ_old``, ``b = ŷ_new`` top-1 decisions, all int arrays
of length N in the same order.

- Negative flip rate (Yan et al., "Positive-Congruent Training", CVPR 2021, Sec. 3;
  Zhao et al., "ELODI: Ensemble Logit Difference Inhibition for Positive-Congruent
  Training", TPAMI 2023):  ``NFR = mean 1[a = y ∧ b ≠ y]``.
- Negative flip impact (as in ELODI's evaluation; docs/metrics.md#negative-flips):
  ``NFI = #NF / #(b ≠ y)``, the share of the new model's errors that are regressions.
- Positive flip rate: ``PFR = mean 1[a ≠ y ∧ b = y]``.
- Relative NFR (ELODI): ``NFR_rel = NFR / ((1 − err_old) · err_new)``, the
  observed NFR over the NFR expected if the two models erred independently.
- Top-1 agreement: ``mean 1[a = b]``.

Pure functions: numpy arrays in, numbers out.
"""
from __future__ import annotations

import numpy as np

from quba.errors import QubaError
from quba.metrics._checks import sample_weights, weighted_mean


def _check(y, pred_old, pred_new) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y).reshape(-1)
    a = np.asarray(pred_old).reshape(-1)
    b = np.asarray(pred_new).reshape(-1)
    if not (len(y) == len(a) == len(b)):
        raise QubaError(
            f"flip metrics need predictions on the same ordered test set; got {len(y)} labels, "
            f"{len(a)} old and {len(b)} new predictions"
        )
    if len(y) == 0:
        raise QubaError("flip metrics need at least one test image; the prediction sets are empty")
    return y, a, b


def negative_flip_rate(y, pred_old, pred_new, sample_weight=None):
    """NFR = mean 1[ŷ_old = y ∧ ŷ_new ≠ y] (Yan et al. 2021, Sec. 3); with count weights
    ``sample_weight`` ([N] or [B, N]) the weighted mean."""
    y, a, b = _check(y, pred_old, pred_new)
    return weighted_mean((a == y) & (b != y), sample_weights(sample_weight, len(y)))


def positive_flip_rate(y, pred_old, pred_new) -> float:
    """PFR = mean 1[ŷ_old ≠ y ∧ ŷ_new = y]."""
    y, a, b = _check(y, pred_old, pred_new)
    return float(np.mean((a != y) & (b == y)))


def negative_flip_impact(y, pred_old, pred_new) -> float:
    """NFI = #NF / #(ŷ_new ≠ y) (ELODI); 0 when the new model makes no error
    (then there can be no negative flip either)."""
    y, a, b = _check(y, pred_old, pred_new)
    errors_new = int(np.sum(b != y))
    if errors_new == 0:
        return 0.0
    return float(np.sum((a == y) & (b != y)) / errors_new)


def relative_negative_flip_rate(y, pred_old, pred_new) -> float:
    """NFR_rel = NFR / ((1 − err_old) · err_new) (ELODI, Zhao et al. 2023).

    1 means the new model's regressions are as frequent as if the two models erred
    independently; below 1, the update is more backward-compatible than chance.
    When the denominator is 0 (old model never right, or new model never wrong) no
    negative flip is possible, NFR is 0 and NFR_rel is returned as 0.
    """
    y, a, b = _check(y, pred_old, pred_new)
    nfr = float(np.mean((a == y) & (b != y)))
    denom = float(np.mean(a == y)) * float(np.mean(b != y))
    if denom == 0.0:
        return 0.0
    return nfr / denom


def top1_agreement(pred_a, pred_b, sample_weight=None):
    """Share of images on which two models make the same top-1 decision, mean 1[ŷ_a = ŷ_b]
    (with count weights ``sample_weight`` [N] or [B, N]: the weighted mean)."""
    a = np.asarray(pred_a).reshape(-1)
    b = np.asarray(pred_b).reshape(-1)
    if len(a) != len(b) or len(a) == 0:
        raise QubaError(f"top-1 agreement needs two non-empty prediction sets of equal length; got {len(a)} and {len(b)}")
    return weighted_mean(a == b, sample_weights(sample_weight, len(a)))


FLIP_METRICS = ("nfr", "nfi", "pfr", "relative_nfr", "agreement")


def flip_summary(y, pred_old, pred_new) -> dict[str, float]:
    """All flip metrics at once, plus counts: nfr, nfi, pfr, relative_nfr, agreement,
    err_old, err_new, n, n_negative_flips, n_positive_flips."""
    y, a, b = _check(y, pred_old, pred_new)
    nf = (a == y) & (b != y)
    pf = (a != y) & (b == y)
    return {
        "nfr": negative_flip_rate(y, a, b),
        "nfi": negative_flip_impact(y, a, b),
        "pfr": positive_flip_rate(y, a, b),
        "relative_nfr": relative_negative_flip_rate(y, a, b),
        "agreement": top1_agreement(a, b),
        "err_old": float(np.mean(a != y)),
        "err_new": float(np.mean(b != y)),
        "n": int(len(y)),
        "n_negative_flips": int(nf.sum()),
        "n_positive_flips": int(pf.sum()),
    }


def bootstrap_flips(
    y, pred_old, pred_new, n_boot: int = 200, seed: int = 0, alpha: float = 0.05
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals for every metric in FLIP_METRICS.

    Resamples test images with replacement (the same indices for both models, so
    pairs stay paired), ``n_boot`` times with ``np.random.default_rng(seed)``, and
    returns ``{metric: (lo, hi)}`` at the ``alpha/2`` and ``1 − alpha/2`` quantiles.
    ``n_boot = 0`` returns an empty dict.
    """
    y, a, b = _check(y, pred_old, pred_new)
    if n_boot < 0:
        raise QubaError(f"--bootstrap must be >= 0, got {n_boot}")
    if n_boot == 0:
        return {}
    rng = np.random.default_rng(seed)
    n = len(y)
    stats = {k: np.empty(n_boot) for k in FLIP_METRICS}
    right_old = a == y
    wrong_new = b != y
    agree = a == b
    for i in range(n_boot):
        idx = rng.integers(0, n, size=n)
        ro, wn = right_old[idx], wrong_new[idx]
        nf = ro & wn
        nfr = nf.mean()
        pf = (~ro) & (~wn)
        denom = ro.mean() * wn.mean()
        n_err = wn.sum()
        stats["nfr"][i] = nfr
        stats["pfr"][i] = pf.mean()
        stats["nfi"][i] = nf.sum() / n_err if n_err else 0.0
        stats["relative_nfr"][i] = nfr / denom if denom else 0.0
        stats["agreement"][i] = agree[idx].mean()
    lo_q, hi_q = alpha / 2, 1 - alpha / 2
    return {k: (float(np.quantile(v, lo_q)), float(np.quantile(v, hi_q))) for k, v in stats.items()}
