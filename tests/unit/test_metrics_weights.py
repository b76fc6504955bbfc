"""Count weights (`sample_weight`, [N] or [B, N]): every metric the engine bootstraps gives, for a
resample given as draw counts, exactly the metric on the resampled inputs (one formula for the
value and its bootstrap replicates)."""
from __future__ import annotations

import numpy as np
import pytest

from quba.errors import QubaError
from quba.metrics import robustness as rob
from quba.metrics.certification import pooled_cig
from quba.metrics.classification import accuracy, gmean
from quba.metrics.flips import negative_flip_rate, top1_agreement
from quba.metrics.shape import shape_bias


def _draws(n, b=6, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(b)]).astype(float)


def _rows(W):
    return [np.repeat(np.arange(W.shape[1]), w.astype(int)) for w in W]


def test_known_answers():
    y, p = np.array([0, 1, 2, 2]), np.array([0, 1, 0, 2])
    assert accuracy(y, p, sample_weight=[1, 0, 3, 0]) == 0.25  # image 0 right once, image 2 wrong 3 times
    np.testing.assert_array_equal(accuracy(y, p, sample_weight=[[1, 1, 1, 1], [0, 0, 2, 0]]), [0.75, 0.0])
    assert shape_bias([0, 1, 2], [1, 0, 2], [0, 0, 2], sample_weight=[3, 1, 5]) == 0.75  # 3 shape, 1 texture hit
    assert pooled_cig([1.0, 0.5], [10, 30], sample_weight=[1, 2]) == pytest.approx((10 + 30) / 70)
    assert pooled_cig([1.0, 0.5], [10, 30]) == pytest.approx(25 / 40)
    np.testing.assert_array_equal(gmean(np.array([[1.0, 4.0], [0.0, 2.0], [np.nan, 1.0]]), axis=-1), [2.0, 0.0, np.nan])


def test_weighted_equals_the_metric_on_the_resample():
    rng = np.random.default_rng(1)
    n = 50
    y, a, b = rng.integers(0, 3, n), rng.integers(0, 3, n), rng.integers(0, 3, n)
    W = _draws(n)
    for got, idx in zip(accuracy(y, a, sample_weight=W), _rows(W)):
        assert got == accuracy(y[idx], a[idx])
    for got, idx in zip(negative_flip_rate(y, a, b, sample_weight=W), _rows(W)):
        assert got == negative_flip_rate(y[idx], a[idx], b[idx])
    for got, idx in zip(top1_agreement(a, b, sample_weight=W), _rows(W)):
        assert got == top1_agreement(a[idx], b[idx])
    s, t = rng.integers(0, 4, n), rng.integers(0, 4, n)
    np.testing.assert_array_equal(shape_bias(s, t, a, sample_weight=W),
                                  [shape_bias(s[idx], t[idx], a[idx]) for idx in _rows(W)])


def test_robustness_formulas_take_replicates():
    clean, fgsm, pgd = np.array([0.8, 0.0]), np.array([0.4, 0.1]), np.array([0.2, 0.1])
    got = rob.adversarial_robustness(clean, fgsm, pgd)
    assert got[0] == rob.adversarial_robustness(0.8, 0.4, 0.2) and np.isnan(got[1])
    accs = {("a", 1): np.array([0.4, 0.2]), ("b", 1): np.array([0.6, 0.3])}
    got = rob.corruption_robustness(np.array([0.8, 0.5]), accs)
    assert got[0] == rob.corruption_robustness(0.8, {k: v[0] for k, v in accs.items()})
    got = rob.ood_robustness(np.array([0.8, 0.5]), {"x": np.array([0.4, 0.2]), "y": np.array([0.2, 0.1])})
    assert got[1] == rob.ood_robustness(0.5, {"x": 0.2, "y": 0.1})
    got = rob.object_focus(np.array([0.8, 0.0]), np.array([0.6, 0.5]), np.array([0.4, 0.5]))
    assert got[0] == rob.object_focus(0.8, 0.6, 0.4) and np.isnan(got[1])


def test_bad_weights_are_one_clear_error():
    with pytest.raises(QubaError, match=r"sample_weight must be \[N\] or \[B, N\]"):
        accuracy([0, 1], [0, 1], sample_weight=[1, 1, 1])
    with pytest.raises(QubaError, match="non-negative"):
        accuracy([0, 1], [0, 1], sample_weight=[1, -1])
