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
from quba.metrics.resample import draw_counts


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


def positive_flip_rate(y, pred_old, pred_new, sample_weight=None):
    """PFR = mean 1[ŷ_old ≠ y ∧ ŷ_new = y] (with count weights: the weighted mean)."""
    y, a, b = _check(y, pred_old, pred_new)
    return weighted_mean((a != y) & (b == y), sample_weights(sample_weight, len(y)))


def _ratio_or_zero(num, den):
    """num / den, 0 where den is 0 (a float, or per row of weights an array)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den != 0, num / np.where(den != 0, den, 1.0), 0.0)
    return float(out) if out.ndim == 0 else out


def negative_flip_impact(y, pred_old, pred_new, sample_weight=None):
    """NFI = #NF / #(ŷ_new ≠ y) (ELODI); 0 when the new model makes no error
    (then there can be no negative flip either). With count weights ``sample_weight``
    ([N] or [B, N]) both counts are weighted: the NFI of the resampled images."""
    y, a, b = _check(y, pred_old, pred_new)
    nf = ((a == y) & (b != y)).astype(np.float64)
    wrong = (b != y).astype(np.float64)
    w = sample_weights(sample_weight, len(y))
    if w is None:
        return _ratio_or_zero(nf.sum(), wrong.sum())
    return _ratio_or_zero(w @ nf, w @ wrong)


def relative_negative_flip_rate(y, pred_old, pred_new, sample_weight=None):
    """NFR_rel = NFR / ((1 − err_old) · err_new) (ELODI, Zhao et al. 2023).

    1 means the new model's regressions are as frequent as if the two models erred
    independently; below 1, the update is more backward-compatible than chance.
    When the denominator is 0 (old model never right, or new model never wrong) no
    negative flip is possible, NFR is 0 and NFR_rel is returned as 0. With count weights
    ``sample_weight`` ([N] or [B, N]) every mean is the weighted one.
    """
    y, a, b = _check(y, pred_old, pred_new)
    w = sample_weights(sample_weight, len(y))
    nfr = weighted_mean((a == y) & (b != y), w)
    denom = np.multiply(weighted_mean(a == y, w), weighted_mean(b != y, w))
    return _ratio_or_zero(nfr, denom)


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

    Resamples test images with replacement (the same draws for both models, so pairs
    stay paired), ``n_boot`` times from ``np.random.default_rng(seed)``, and returns
    ``{metric: (lo, hi)}`` at the ``alpha/2`` and ``1 − alpha/2`` quantiles of the
    replicates. ``n_boot = 0`` returns an empty dict.

    The replicates are the metric functions above under count weights
    (`quba.metrics.resample.draw_counts`: row b, how often each image is drawn in
    resample b), the ``sample_weight`` form every dimension's bootstrap uses, so value
    and interval come from one formula. For these 0/1 statistics the weighted sums are
    exact: each replicate equals the metric on the explicitly resampled images bit for
    bit (tests/engine/test_flips.py).
    """
    y, a, b = _check(y, pred_old, pred_new)
    if n_boot < 0:
        raise QubaError(f"--bootstrap must be >= 0, got {n_boot}")
    if n_boot == 0:
        return {}
    w = draw_counts(np.random.default_rng(seed), int(n_boot), len(y))
    stats = {
        "nfr": negative_flip_rate(y, a, b, sample_weight=w),
        "nfi": negative_flip_impact(y, a, b, sample_weight=w),
        "pfr": positive_flip_rate(y, a, b, sample_weight=w),
        "relative_nfr": relative_negative_flip_rate(y, a, b, sample_weight=w),
        "agreement": top1_agreement(a, b, sample_weight=w),
    }
    lo_q, hi_q = alpha / 2, 1 - alpha / 2
    return {k: (float(np.quantile(stats[k], lo_q)), float(np.quantile(stats[k], hi_q))) for k in FLIP_METRICS}
