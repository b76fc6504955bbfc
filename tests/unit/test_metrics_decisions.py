from pathlib import Path

import numpy as np
import pytest

from quba.errors import QubaError
from quba.metrics import accuracy
from quba.metrics.decisions import (canonical_wnids, imagenet_index_to_in9, imagenet_r_indices, imagenet_r_predict,
                                    imagenet_r_probs, imagenet_r_wnids, in9_class_names, in9_predict,
                                    sixteen_class_names, sixteen_class_probs)
from quba.paths import data_file


def _timm_info(name):
    import timm.data

    return (Path(timm.data.__file__).parent / "_info" / name).read_text().split()


def test_canonical_wnids_are_the_sorted_1000():
    w = canonical_wnids()
    assert len(w) == 1000 == len(set(w))
    assert w == sorted(w)
    assert w[0] == "n01440764" and w[-1] == "n15075141"
    from timm.data import ImageNetInfo

    assert w == list(ImageNetInfo().label_names())
    assert data_file("imagenet_wnids.txt").read_text().split() == w


def test_sixteen_class_probs_is_the_mean_not_the_sum():
    names = sixteen_class_names()
    assert len(names) == 16 and names == sorted(names)
    p = np.zeros((1, 1000))
    p[0, 404] = 0.3  # airplane: a single index
    from quba.metrics.decisions import _mappings

    bird = _mappings()["sixteen_class_imagenet_indices"]["bird"]
    p[0, bird] = 0.5 / len(bird)  # more total mass on bird, but a lower mean
    p[0, 0] = 0.2
    p16 = sixteen_class_probs(p)
    assert p16.shape == (1, 16)
    assert p16[0, names.index("airplane")] == pytest.approx(0.3)
    assert p16[0, names.index("bird")] == pytest.approx(0.5 / len(bird))
    assert names[p16.argmax(axis=1)[0]] == "airplane"


def test_sixteen_class_probs_known_categories():
    # one-hot on ImageNet index 294 (brown bear) -> bear, 1/4 of its 4 indices
    p = np.zeros((2, 1000))
    p[0, 294] = 1.0
    p[1, 444] = 1.0  # tandem bicycle
    p16 = sixteen_class_probs(p)
    names = sixteen_class_names()
    assert p16[0, names.index("bear")] == pytest.approx(0.25)
    assert [names[i] for i in p16.argmax(axis=1)] == ["bear", "bicycle"]
    with pytest.raises(QubaError):
        sixteen_class_probs(np.zeros((2, 999)))


def test_imagenet_r_indices_match_timm():
    idx = imagenet_r_indices()
    assert idx.shape == (200,) and np.all(np.diff(idx) > 0)
    assert list(idx) == [int(i) for i in _timm_info("imagenet_r_indices.txt")]
    wn = canonical_wnids()
    assert [wn[i] for i in idx] == imagenet_r_wnids() == _timm_info("imagenet_r_synsets.txt")


def test_imagenet_r_predict_restricts_to_200():
    idx = imagenet_r_indices()
    not_r = sorted(set(range(1000)) - set(idx.tolist()))
    logits = np.zeros((3, 1000))
    logits[:, not_r[0]] = 100.0  # global argmax outside IN-R must be ignored
    logits[0, idx[5]] = 3.0
    logits[1, idx[199]] = 2.0
    logits[2, idx[0]] = 1.0
    assert imagenet_r_predict(logits).tolist() == [5, 199, 0]
    # restricting probabilities gives the same argmax as restricting logits
    z = np.random.default_rng(0).normal(size=(50, 1000)) * 3
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.array_equal(imagenet_r_probs(p).argmax(1), imagenet_r_predict(z))


def test_in9_mapping():
    m = imagenet_index_to_in9()
    names = in9_class_names()
    assert len(names) == 9 and m.shape == (1000,)
    assert names[m[151]] == "Dog"  # Chihuahua
    assert names[m[0]] == "Fish"  # tench
    assert m[404] == -1  # airliner: no ImageNet-9 class
    assert in9_predict(np.array([151, 404, 0])).tolist() == [0, -1, 8]
    # -1 never equals a label: counts as wrong
    assert accuracy([0, 0, 8], in9_predict(np.array([151, 404, 0]))) == pytest.approx(2 / 3)
    with pytest.raises(QubaError):
        in9_predict(np.array([1000]))
