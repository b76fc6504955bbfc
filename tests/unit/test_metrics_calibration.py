import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from quba.errors import QubaError
from quba.metrics import adaptive_calibration_error, calibration_error, expected_calibration_error


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _random_case(seed, n=600, k=7, scale=2.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = _softmax(rng.normal(size=(n, k)) * scale).astype(dtype)
    y = rng.integers(0, k, n)
    return y, p


# ---------------------------------------------------------------- ECE

def test_ece_each_image_alone_in_its_bin():
    # confidences 0.95 (correct), 0.62 (wrong), 0.71 (correct), 0.83 (correct): distinct bins
    p = np.array([[0.95, 0.05], [0.62, 0.38], [0.29, 0.71], [0.17, 0.83]])
    y = np.array([0, 1, 1, 1])
    expected = (0.05 + 0.62 + 0.29 + 0.17) / 4
    assert expected_calibration_error(y, p) == pytest.approx(expected)


def test_ece_bins_average_before_the_absolute_value():
    # two images in the same bin, one right one wrong, both at 0.55: |0.5 - 0.55| = 0.05,
    # not the per-image mean of 0.45 and 0.55
    p = np.array([[0.55, 0.45], [0.55, 0.45]])
    y = np.array([0, 1])
    assert expected_calibration_error(y, p) == pytest.approx(0.05)
    # with one bin everything pools: acc 0.5 vs conf 0.55 again
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(0.05)


def test_ece_confidence_one_falls_in_last_bin():
    # conf 1.0 (wrong) and conf 0.95 (correct) share the closed last bin [14/15, 1]:
    # acc 0.5, conf 0.975 -> 0.475
    p = np.array([[1.0, 0.0], [0.95, 0.05]])
    y = np.array([1, 0])
    assert expected_calibration_error(y, p) == pytest.approx(0.475)


def test_ece_differs_from_torchmetrics_exactly_at_confidence_one():
    # torchmetrics puts conf == 1.0 into a bin of its own: (|0 - 1| + |1 - 0.95|)/2 = 0.525
    p = np.array([[1.0, 0.0], [0.95, 0.05]])
    y = np.array([1, 0])
    tm = multiclass_calibration_error(torch.tensor(p, dtype=torch.float32), torch.tensor(y), num_classes=2,
                                      n_bins=15, norm="l1").item()
    assert tm == pytest.approx(0.525, abs=1e-6)
    assert expected_calibration_error(y, p) == pytest.approx(0.475)
    # nudge the saturated confidence below 1.0 and both agree again
    p2 = np.array([[0.99, 0.01], [0.95, 0.05]])
    tm2 = multiclass_calibration_error(torch.tensor(p2, dtype=torch.float32), torch.tensor(y), num_classes=2,
                                       n_bins=15, norm="l1").item()
    assert expected_calibration_error(y, p2) == pytest.approx(tm2, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_ece_matches_torchmetrics_on_random_inputs(seed):
    y, p = _random_case(seed, n=2000, k=10, scale=1.0 + seed, dtype=np.float32)
    assert p.max() < 1.0
    tm = multiclass_calibration_error(torch.from_numpy(p), torch.from_numpy(y), num_classes=10,
                                      n_bins=15, norm="l1").item()
    assert expected_calibration_error(y, p) == pytest.approx(tm, abs=1e-5)


def test_ece_perfectly_calibrated_is_zero():
    # 10 images at confidence 0.7 (bin 10), 7 of them correct
    p = np.tile([[0.7, 0.3]], (10, 1))
    y = np.array([0] * 7 + [1] * 3)
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- ACE

def test_ace_hand_computed():
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    y = np.array([0, 1, 1, 1])
    # class 0 sorted: .2(0) .3(0) | .6(0) .9(1): |0-.25| , |.5-.75| -> 0.25
    # class 1 sorted: .1(0) .4(1) | .7(1) .8(1): |.5-.25| , |1-.75| -> 0.25
    assert adaptive_calibration_error(y, p, n_bins=2) == pytest.approx(0.25)
    # one bin per class: class 0 |.25 - .5| = .25, class 1 |.75 - .5| = .25
    assert adaptive_calibration_error(y, p, n_bins=1) == pytest.approx(0.25)
    # four bins: each image alone; class 0: (.2+.3+.6+.1)/4 = .3, class 1: (.1+.6+.3+.2)/4 = .3
    assert adaptive_calibration_error(y, p, n_bins=4) == pytest.approx(0.3)


def test_ace_skips_zero_probabilities_and_empty_classes():
    # class 2 has p = 0 everywhere: left out (mean over classes 0 and 1 only)
    p = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.3, 0.7, 0.0], [0.2, 0.8, 0.0]])
    y = np.array([0, 1, 1, 1])
    assert adaptive_calibration_error(y, p, n_bins=2) == pytest.approx(0.25)
    # a zero in class 0's column is excluded from its bins: class 0 bins over (.3,.6,.9) with B=1
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.0, 1.0]])
    ce0 = abs(1 / 3 - (0.9 + 0.6 + 0.3) / 3)
    ce1 = abs(3 / 4 - (0.1 + 0.4 + 0.7 + 1.0) / 4)
    assert adaptive_calibration_error(y, p, n_bins=1) == pytest.approx((ce0 + ce1) / 2)


def _ace_reference(y, p, n_bins):
    """Plain per-class loop, the way docs/metrics.md#calibration-error reads."""
    errs = []
    for j in range(p.shape[1]):
        pj = p[:, j]
        keep = pj > 0
        if not keep.any():
            continue
        pos = (y[keep] == j).astype(float)
        vals = pj[keep]
        order = np.lexsort((pos, vals))
        err = 0.0
        for chunk in np.array_split(order, n_bins):
            if chunk.size:
                err += chunk.size / vals.size * abs(pos[chunk].mean() - vals[chunk].mean())
        errs.append(err)
    return float(np.mean(errs))


@pytest.mark.parametrize("seed,n,k,bins", [(0, 500, 5, 15), (1, 37, 4, 15), (2, 1000, 12, 7), (3, 10, 3, 15)])
def test_ace_matches_reference_loop(seed, n, k, bins):
    y, p = _random_case(seed, n=n, k=k)
    # zeros and exact ties (a quarter of the rows rounded coarsely and re-normalised)
    rng = np.random.default_rng(seed + 100)
    rows = rng.random(n) < 0.25
    p[rows] = np.round(p[rows], 1)
    p[rows] /= p[rows].sum(axis=1, keepdims=True)
    assert (p == 0).any()
    assert adaptive_calibration_error(y, p, n_bins=bins) == pytest.approx(_ace_reference(y, p, bins), abs=1e-12)


def test_ace_does_not_depend_on_image_order():
    y, p = _random_case(4, n=300, k=5)
    p = np.round(p, 2)
    p /= p.sum(axis=1, keepdims=True)
    perm = np.random.default_rng(0).permutation(len(y))
    assert adaptive_calibration_error(y[perm], p[perm]) == pytest.approx(adaptive_calibration_error(y, p),
                                                                          abs=1e-12)


def test_ace_float32_input_matches_float64():
    y, p = _random_case(5, n=400, k=6, dtype=np.float32)
    assert adaptive_calibration_error(y, p) == pytest.approx(adaptive_calibration_error(y, p.astype(np.float64)),
                                                             abs=1e-6)


# ---------------------------------------------------------------- combined + bad input

def test_calibration_error_is_gmean_of_ece_and_ace():
    y, p = _random_case(6)
    ece = expected_calibration_error(y, p)
    ace = adaptive_calibration_error(y, p)
    assert calibration_error(y, p) == pytest.approx(math.sqrt(ece * ace))


def test_overconfident_model_has_larger_calibration_error():
    y, p = _random_case(7, n=3000, k=10, scale=1.0)
    logits = np.log(p)
    assert calibration_error(y, _softmax(logits * 5)) > calibration_error(y, p)


# ---------------------------------------------------------------- value and replicates: two algorithms, one function

def _agreement_case(rng, kind):
    """A random (y, p, n_bins) of one kind: plain softmax at any temperature, ties (probabilities
    rounded to one decimal, zeros among them), saturated rows (exactly one-hot: confidence 1.0, the
    other classes 0), float32, zero columns, labels from a few classes only, fewer images than bins."""
    n = int(rng.integers(1, 250))
    k = int(rng.integers(2, 30))
    p = _softmax(rng.normal(size=(n, k)) * rng.choice([0.05, 1.0, 4.0, 60.0]))
    if kind == "ties":
        p = np.round(p, 1)
        p[p.sum(axis=1) == 0, 0] = 1.0
    elif kind == "saturated":
        hot = rng.random(n) < 0.6
        p[hot] = np.eye(k)[rng.integers(0, k, int(hot.sum()))]
    elif kind == "float32":
        p = p.astype(np.float32)
    elif kind == "zero_columns":
        p[:, : k // 2] = 0.0
        p[p.sum(axis=1) == 0, -1] = 1.0
    p = p / p.sum(axis=1, keepdims=True)
    y = rng.integers(0, int(rng.integers(1, k + 1)), n)  # often only some classes have images
    return y, p, int(rng.choice([1, 2, 5, 15]))


AGREEMENT_KINDS = ("softmax", "ties", "saturated", "float32", "zero_columns")


@pytest.mark.parametrize("kind", AGREEMENT_KINDS)
def test_value_and_replicate_algorithms_agree_on_the_identity_resample(kind):
    """The value comes from the definitions (expected_ and adaptive_calibration_error: sort every
    class's column), a replicate from the count-weighted algorithm (`_weighted_calibration_error`:
    bin each resample over the full sample's sort; in the engine on torch, quba/kernels). Why two:
    docs/metrics.md#bootstrap-intervals. They are one function of the data: with every image drawn
    once (the identity resample) the replicate is the value to float rounding, numpy and torch
    passes alike, on 60 random cases of each kind."""
    from quba.kernels.calibration import binner

    rng = np.random.default_rng(AGREEMENT_KINDS.index(kind))
    on_torch = binner("cpu")
    for _ in range(60):
        y, p, bins = _agreement_case(rng, kind)
        value = calibration_error(y, p, bins)
        ones = np.ones((1, len(y)))
        numpy_rep = calibration_error(y, p, bins, sample_weight=ones)[0]
        torch_rep = calibration_error(y, p, bins, sample_weight=ones, binner=on_torch)[0]
        assert np.isfinite(value)
        assert numpy_rep == pytest.approx(value, rel=1e-12, abs=1e-15)
        assert torch_rep == pytest.approx(value, rel=1e-12, abs=1e-15)
        assert calibration_error(y, p, bins, sample_weight=ones[0]) == numpy_rep  # 1-D weights: the same row


@pytest.mark.parametrize("fn", [expected_calibration_error, adaptive_calibration_error, calibration_error])
def test_bad_input(fn):
    y, p = _random_case(8, n=20, k=3)
    with pytest.raises(QubaError, match="logits"):
        fn(y, np.log(p))
    with pytest.raises(QubaError, match="labels must lie"):
        fn(y + 3, p)
    with pytest.raises(QubaError, match="differ in length"):
        fn(y[:-1], p)
    with pytest.raises(QubaError, match="2-D"):
        fn(y, p[:, 0])
    with pytest.raises(QubaError, match="NaN"):
        q = p.copy()
        q[0, 0] = np.nan
        fn(y, q)
    with pytest.raises(QubaError, match="n_bins"):
        fn(y, p, n_bins=0)
