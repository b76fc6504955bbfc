"""Relative robustness dimensions and object focus (QUBA dimensions 2, 3, 4, 7).

Each value is a ratio to the clean validation accuracy ``acc_clean`` of the
same model ("relative" in docs/metrics.md#notation). ``acc_clean == 0`` (or nan)
makes every relative accuracy undefined: these functions then return nan
(documented choice: a nan dimension is reported as missing, never as a fake
0 or infinity).

Hesse et al., "Beyond Accuracy" (QUBA), Sec. 3; docs/metrics.md#the-nine-quba-dimensions.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from quba.errors import QubaError
from quba.metrics.classification import gmean, relative_accuracy

#: The 15 ImageNet-C corruptions (Hendrycks & Dietterich 2019), folder names of ImageNet-C.
IMAGENET_C_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


def _rows(*xs) -> bool:
    """True when the accuracies are bootstrap replicates (arrays [B]) rather than numbers: the
    functions below then apply the same formula elementwise (nan where acc_clean is not > 0)."""
    return any(np.ndim(x) for x in xs)


def _clean_ok(acc_clean: float) -> bool:
    acc_clean = float(acc_clean)
    return math.isfinite(acc_clean) and acc_clean > 0


def adversarial_robustness(acc_clean: float, acc_fgsm: float, acc_pgd: float) -> float:
    """``gmean(acc_FGSM/acc, acc_PGD/acc)`` on val (docs/metrics.md#adversarial-robustness). nan if acc == 0."""
    if _rows(acc_clean, acc_fgsm, acc_pgd):
        return gmean(np.stack([relative_accuracy(acc_fgsm, acc_clean), relative_accuracy(acc_pgd, acc_clean)],
                              axis=-1), axis=-1)
    if not _clean_ok(acc_clean):
        return float("nan")
    return gmean([relative_accuracy(acc_fgsm, acc_clean), relative_accuracy(acc_pgd, acc_clean)])


def corruption_robustness(acc_clean: float, accs: Mapping) -> float:
    """``mean_{(c, s)} acc(c, s)/acc`` over the given (corruption, severity) accuracies.

    docs/metrics.md#corruption-robustness: the ImageNet suite passes the 15 ImageNet-C
    corruptions x severities 1-5 (:data:`IMAGENET_C_CORRUPTIONS`,
    :data:`SEVERITIES`); the mean is over exactly the entries given.
    nan if acc == 0. No entries: QubaError.
    """
    if not accs:
        raise QubaError("corruption robustness needs at least one (corruption, severity) accuracy")
    if _rows(acc_clean, *accs.values()):
        return np.mean(np.stack([relative_accuracy(a, acc_clean) for a in accs.values()], axis=-1), axis=-1)
    if not _clean_ok(acc_clean):
        return float("nan")
    return float(np.mean([relative_accuracy(a, acc_clean) for a in accs.values()]))


def ood_robustness(acc_clean: float, accs: Mapping[str, float]) -> float:
    """``gmean_d acc(d)/acc`` over the OOD splits given (docs/metrics.md#ood-robustness).

    The ImageNet suite passes edge, silhouette, sketch, stylized (16-class
    decisions) and rendition (ImageNet-R, 200-class restriction). nan if
    acc == 0. No entries: QubaError.
    """
    if not accs:
        raise QubaError("OOD robustness needs at least one OOD split accuracy")
    if _rows(acc_clean, *accs.values()):
        return gmean(np.stack([relative_accuracy(a, acc_clean) for a in accs.values()], axis=-1), axis=-1)
    if not _clean_ok(acc_clean):
        return float("nan")
    return gmean([relative_accuracy(a, acc_clean) for a in accs.values()])


def object_focus(acc_clean: float, acc_mixed_same: float, acc_mixed_rand: float) -> float:
    """``1 − (acc(mixed_same) − acc(mixed_rand)) / acc`` (docs/metrics.md#object-focus).

    Backgrounds Challenge (Xiao et al. 2021) accuracies in the ImageNet-9
    label space; a model that ignores the background has equal accuracies on
    both splits and scores 1. nan if acc == 0.
    """
    if _rows(acc_clean, acc_mixed_same, acc_mixed_rand):
        c = np.asarray(acc_clean, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(c > 0, 1.0 - (np.asarray(acc_mixed_same) - np.asarray(acc_mixed_rand)) / c, np.nan)
    if not _clean_ok(acc_clean):
        return float("nan")
    return 1.0 - (float(acc_mixed_same) - float(acc_mixed_rand)) / float(acc_clean)
