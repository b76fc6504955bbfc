"""Teacher–student agreement metrics (e²KD) on hand-computed cases."""
import numpy as np
import pytest

from quba.errors import QubaError
from quba.metrics import agreement


def test_top1_agreement_exact_fraction():
    assert agreement.top1_agreement([0, 1, 2, 3], [0, 1, 0, 0]) == pytest.approx(0.5)


def test_explanation_cosines_hand_computed():
    t = np.array([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]], [[3.0, 4.0], [0.0, 0.0]], [[1, 2], [3, 4]]])
    s = np.array([[[2.0, 0.0], [0.0, 0.0]], [[1.0, -1.0], [0.0, 0.0]], [[4.0, 3.0], [0.0, 0.0]], [[0, 0], [0, 0]]])
    cos = agreement.explanation_cosines(t, s)
    np.testing.assert_allclose(cos, [1.0, 0.0, 24 / 25, 0.0])  # an all-zero map has cosine 0
    assert agreement.explanation_similarity(t, s) == pytest.approx((1 + 0 + 24 / 25 + 0) / 4)
    assert agreement.explanation_similarity(t, -t) == pytest.approx(-1.0)


def test_cosine_ignores_scale_but_not_direction():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 3, 8, 8))
    assert agreement.explanation_similarity(a, 7.5 * a) == pytest.approx(1.0)
    b = rng.normal(size=(5, 3, 8, 8))
    assert abs(agreement.explanation_similarity(a, b)) < 0.3


def test_bootstrap_mean_interval():
    v = np.linspace(0, 1, 101)
    lo, hi = agreement.bootstrap_mean(v, n_boot=400, seed=0)
    assert lo < 0.5 < hi and hi - lo < 0.2
    assert agreement.bootstrap_mean(v, n_boot=400, seed=0) == (lo, hi)
    assert agreement.bootstrap_mean(v, n_boot=0) is None


def test_shape_mismatch_is_a_quba_error():
    with pytest.raises(QubaError, match="same attribution method"):
        agreement.explanation_similarity(np.zeros((2, 4)), np.zeros((2, 5)))
