import math

import numpy as np
import pytest

from quba.errors import QubaError
from quba.metrics import accuracy, gmean, relative_accuracy


def test_accuracy_hand_computed():
    assert accuracy([0, 1, 2, 3], [0, 1, 0, 0]) == 0.5
    assert accuracy(np.array([4, 4, 4]), np.array([4, 4, 4])) == 1.0


def test_accuracy_minus_one_counts_wrong():
    # -1 = "decision mapping has no class for this prediction" (ImageNet-9)
    assert accuracy([0, 1, 2, 3], [-1, 1, -1, 3]) == 0.5


def test_accuracy_bad_input():
    with pytest.raises(QubaError, match="differ in length"):
        accuracy([0, 1], [0])
    with pytest.raises(QubaError, match="1-D"):
        accuracy([[0, 1]], [[0, 1]])
    with pytest.raises(QubaError, match="integer"):
        accuracy([0.5, 1.0], [0, 1])
    assert math.isnan(accuracy([], []))


def test_relative_accuracy():
    assert relative_accuracy(0.4, 0.8) == pytest.approx(0.5)
    assert math.isnan(relative_accuracy(0.4, 0.0))
    assert math.isnan(relative_accuracy(0.4, float("nan")))
    with pytest.raises(QubaError):
        relative_accuracy(-0.1, 0.5)


def test_gmean_hand_computed():
    assert gmean([4.0, 9.0]) == pytest.approx(6.0)
    assert gmean([2.0, 4.0, 8.0]) == pytest.approx(4.0)
    assert gmean(np.array([0.5])) == pytest.approx(0.5)
    assert gmean((x for x in [1.0, 100.0])) == pytest.approx(10.0)


def test_gmean_zero_negative_nan_empty():
    assert gmean([0.0, 5.0]) == 0.0
    assert gmean([-0.2, 5.0]) == 0.0  # clipped at 0, never a complex root
    assert math.isnan(gmean([float("nan"), 1.0]))
    with pytest.raises(QubaError):
        gmean([])
