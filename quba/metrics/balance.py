"""Class balance (QUBA dimension 6).

Hesse et al., "Beyond Accuracy" (QUBA), Sec. 3 (class balance);
docs/metrics.md#class-balance.
"""
from __future__ import annotations

import numpy as np

from quba.errors import QubaError
from quba.metrics._checks import labels_1d, probabilities, sample_weights
from quba.metrics.classification import gmean


def class_balance_parts(y_true, probs, num_classes: int | None = None, sample_weight=None) -> dict:
    """Both parts of class balance, and how many classes had no samples.

    Over the classes c that have at least one sample (C of them):

    - ``accuracy_std = std_c acc_c`` with the unbiased estimator (ddof=1) over
      the per-class top-1 accuracies ``acc_c = mean_{i: y_i=c} 1[argmax p_i = c]``;
      ``accuracy_part = 1 − accuracy_std``;
    - ``probability_std = mean_c std_{i: y_i=c} p_{i,y_i}``, each within-class
      std the population one (ddof=0) of the true-class probability;
      ``probability_part = 1 − probability_std``.

    ``empty_classes`` counts the classes 0..num_classes−1 with no sample; they
    are left out of both parts (docs/metrics.md#class-balance). ``num_classes``
    defaults to ``probs.shape[1]`` and must equal it when given. With fewer
    than two non-empty classes the unbiased std is undefined and
    ``accuracy_part`` is nan. Returns a dict with keys accuracy_part,
    probability_part, accuracy_std, probability_std, empty_classes,
    classes_present. ``sample_weight`` (count weights [N]): every sum and count
    above weighted (an image drawn twice counts twice); [B, N]: the parts of every
    row, each an array [B].
    """
    y = labels_1d(y_true)
    p = probabilities(probs, y)
    k = p.shape[1]
    if num_classes is not None and int(num_classes) != k:
        raise QubaError(f"num_classes={num_classes} but probs has {k} columns; "
                        "pass probabilities over exactly the num_classes classes")
    w = sample_weights(sample_weight, y.size)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    t = p[np.arange(y.size), y].astype(np.float64)
    if w is not None and w.ndim == 2:
        rows = [_parts(y, correct, t, k, row) for row in w]
        return {key: np.array([r[key] for r in rows]) for key in rows[0]} if rows else {}
    return _parts(y, correct, t, k, w)


def _parts(y, correct, t, k: int, w) -> dict:
    """class_balance_parts from per-image (label, top-1 correct, true-class probability) and
    count weights `w` (None: each image once)."""
    counts = np.bincount(y, weights=w, minlength=k).astype(np.float64)
    present = counts > 0
    c = int(present.sum())
    if c == 0:
        nan = float("nan")
        return dict(accuracy_part=nan, probability_part=nan, accuracy_std=nan, probability_std=nan,
                    empty_classes=k, classes_present=0)
    acc_c = np.bincount(y, weights=correct if w is None else w * correct, minlength=k)[present] / counts[present]
    acc_std = float(np.std(acc_c, ddof=1)) if c > 1 else float("nan")
    mean_c = np.bincount(y, weights=t if w is None else w * t, minlength=k) / np.maximum(counts, 1)
    sq = (t - mean_c[y]) ** 2
    var_c = np.bincount(y, weights=sq if w is None else w * sq, minlength=k)[present] / counts[present]
    prob_std = float(np.mean(np.sqrt(var_c)))
    return dict(accuracy_part=1.0 - acc_std, probability_part=1.0 - prob_std,
                accuracy_std=acc_std, probability_std=prob_std,
                empty_classes=int(k - c), classes_present=c)


def class_balance(y_true, probs, num_classes: int | None = None, sample_weight=None):
    """QUBA class balance ``gmean(1 − std_c acc_c, 1 − mean_c std_i p_{i,y_i})``.

    See :func:`class_balance_parts` for the two parts
    (docs/metrics.md#class-balance). Higher is better; 1 means every class is recognised equally
    well with equally spread true-class confidence.
    """
    parts = class_balance_parts(y_true, probs, num_classes, sample_weight)
    if np.ndim(parts["accuracy_part"]):
        return gmean(np.stack([parts["accuracy_part"], parts["probability_part"]], axis=-1), axis=-1)
    return gmean([parts["accuracy_part"], parts["probability_part"]])
