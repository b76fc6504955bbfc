import math

import pytest

from quba.errors import QubaError
from quba.metrics import shape_bias, texture_class_from_filename
from quba.metrics.decisions import sixteen_class_names


def test_shape_bias_hand_computed():
    shape = [0, 0, 1, 2, 3, 4]
    texture = [1, 0, 2, 3, 4, 5]
    # image 1 (shape == texture) is dropped even though its prediction hits both
    preds = [0, 0, 2, 2, 9, 4]
    # remaining: shape hit (img0), texture hit (img2), shape hit (img3), neither (img4), shape hit (img5)
    assert shape_bias(shape, texture, preds) == pytest.approx(3 / 4)


def test_shape_bias_extremes_and_nan():
    assert shape_bias([0, 1], [1, 0], [0, 1]) == 1.0
    assert shape_bias([0, 1], [1, 0], [1, 0]) == 0.0
    assert math.isnan(shape_bias([0, 1], [1, 0], [5, 5]))
    assert math.isnan(shape_bias([0], [0], [0]))  # only agreeing images: no hit counts


def test_shape_bias_bad_input():
    with pytest.raises(QubaError):
        shape_bias([0, 1], [1], [0, 1])


@pytest.mark.parametrize("name,expected", [
    ("0001_cl_dnn_dog10-bird2.png", "bird"),
    ("airplane1-bicycle2.png", "bicycle"),
    ("some/dir/cat3-elephant10.png", "elephant"),
    ("knife7-Oven1.JPEG", "oven"),
    ("truck2-keyboard.png", "keyboard"),
])
def test_texture_class_from_filename(name, expected):
    assert texture_class_from_filename(name, sixteen_class_names()) == expected


def test_texture_class_from_filename_errors():
    with pytest.raises(QubaError, match="cannot read"):
        texture_class_from_filename("dog10.png", sixteen_class_names())
    with pytest.raises(QubaError, match="did you mean: bird"):
        texture_class_from_filename("dog10-birds2.png", sixteen_class_names())
