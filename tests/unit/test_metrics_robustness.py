import math

import pytest

from quba.errors import QubaError
from quba.metrics import (IMAGENET_C_CORRUPTIONS, SEVERITIES, adversarial_robustness, corruption_robustness,
                          object_focus, ood_robustness)


def test_adversarial_robustness_hand_computed():
    # gmean(.4/.8, .2/.8) = sqrt(.5 * .25)
    assert adversarial_robustness(0.8, 0.4, 0.2) == pytest.approx(math.sqrt(0.125))
    assert adversarial_robustness(0.8, 0.4, 0.0) == 0.0


def test_corruption_robustness_is_mean_of_relative_accuracies():
    accs = {("fog", 1): 0.6, ("fog", 2): 0.4, ("snow", 1): 0.2}
    assert corruption_robustness(0.8, accs) == pytest.approx((0.75 + 0.5 + 0.25) / 3)
    full = {(c, s): 0.4 for c in IMAGENET_C_CORRUPTIONS for s in SEVERITIES}
    assert len(full) == 75
    assert corruption_robustness(0.8, full) == pytest.approx(0.5)


def test_ood_robustness_is_gmean_of_relative_accuracies():
    accs = {"edge": 0.2, "silhouette": 0.8, "sketch": 0.4, "stylized": 0.4, "rendition": 0.4}
    # relative: .25, 1, .5, .5, .5 -> (0.03125)^(1/5)
    assert ood_robustness(0.8, accs) == pytest.approx(0.03125 ** 0.2)


def test_object_focus_hand_computed():
    assert object_focus(0.8, 0.9, 0.6) == pytest.approx(1 - 0.3 / 0.8)
    assert object_focus(0.8, 0.7, 0.7) == pytest.approx(1.0)  # background ignored


@pytest.mark.parametrize("clean", [0.0, float("nan")])
def test_zero_clean_accuracy_gives_nan(clean):
    assert math.isnan(adversarial_robustness(clean, 0.1, 0.1))
    assert math.isnan(corruption_robustness(clean, {("fog", 1): 0.1}))
    assert math.isnan(ood_robustness(clean, {"edge": 0.1}))
    assert math.isnan(object_focus(clean, 0.5, 0.4))


def test_empty_mappings_rejected():
    with pytest.raises(QubaError):
        corruption_robustness(0.8, {})
    with pytest.raises(QubaError):
        ood_robustness(0.8, {})
