import math

import numpy as np
import pytest

from quba.errors import QubaError
from quba.metrics import class_balance, class_balance_parts


def _case():
    # class 0: two images, both right, true-class probs .8 and .6 (pop. std .1)
    # class 1: two images, one right, true-class probs .7 and .2 (pop. std .25)
    # class 2: no image
    p = np.array([
        [0.8, 0.1, 0.1],
        [0.6, 0.3, 0.1],
        [0.2, 0.7, 0.1],
        [0.5, 0.2, 0.3],
    ])
    y = np.array([0, 0, 1, 1])
    return y, p


def test_parts_hand_computed():
    y, p = _case()
    parts = class_balance_parts(y, p)
    # per-class accuracies 1 and .5: mean .75, unbiased std = sqrt((.25^2 + .25^2) / 1)
    assert parts["accuracy_std"] == pytest.approx(math.sqrt(0.125))
    assert parts["accuracy_part"] == pytest.approx(1 - math.sqrt(0.125))
    assert parts["probability_std"] == pytest.approx((0.1 + 0.25) / 2)
    assert parts["probability_part"] == pytest.approx(0.825)
    assert parts["empty_classes"] == 1
    assert parts["classes_present"] == 2
    assert class_balance(y, p) == pytest.approx(math.sqrt((1 - math.sqrt(0.125)) * 0.825))


def test_num_classes_must_match_probs():
    y, p = _case()
    assert class_balance_parts(y, p, num_classes=3)["empty_classes"] == 1
    with pytest.raises(QubaError, match="num_classes"):
        class_balance(y, p, num_classes=5)


def test_perfectly_balanced_model_scores_one():
    y = np.repeat(np.arange(4), 5)
    p = np.full((20, 4), 0.1)
    p[np.arange(20), y] = 0.7
    parts = class_balance_parts(y, p)
    assert parts["accuracy_part"] == pytest.approx(1.0)
    assert parts["probability_part"] == pytest.approx(1.0)
    assert class_balance(y, p) == pytest.approx(1.0)


def test_unbalanced_model_scores_lower():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 50)
    balanced = np.full((200, 4), 0.1)
    balanced[np.arange(200), y] = 0.7
    skewed = balanced.copy()
    # classes 2 and 3 are always mistaken for class 0, with scattered confidence
    bad = y >= 2
    skewed[bad] = 0.0
    c = rng.uniform(0.55, 0.95, bad.sum())
    skewed[bad, 0] = c
    skewed[np.where(bad)[0], y[bad]] = 1 - c
    parts = class_balance_parts(y, skewed)
    # per-class accuracies 1, 1, 0, 0: unbiased std sqrt(1/3)
    assert parts["accuracy_part"] == pytest.approx(1 - math.sqrt(1 / 3))
    # true-class prob of classes 2, 3 is 1 - U(.55, .95): population std near .4/sqrt(12)
    assert parts["probability_std"] == pytest.approx(2 * (0.4 / math.sqrt(12)) / 4, abs=0.01)
    assert class_balance(y, skewed) < 0.75 < class_balance(y, balanced)


def test_single_class_accuracy_std_undefined():
    y = np.array([1, 1])
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    parts = class_balance_parts(y, p)
    assert math.isnan(parts["accuracy_part"])
    assert parts["probability_part"] == pytest.approx(1 - 0.2)
    assert math.isnan(class_balance(y, p))


def test_bad_input():
    y, p = _case()
    with pytest.raises(QubaError):
        class_balance(y, np.log(p))
    with pytest.raises(QubaError):
        class_balance(y[:3], p)
