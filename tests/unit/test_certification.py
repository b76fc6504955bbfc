"""Certified segmentation: pure statistics, hierarchy, CIG, and known-answer models."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from statsmodels.stats.multitest import multipletests
from torch import nn

from quba.dimensions.certify import CertifyConfig, certify_segmentation
from quba.errors import QubaError
from quba.metrics import certification as cm

torch.set_num_threads(1)

NAMES = [f"c{i}" for i in range(8)]
# fine c0..c7; mid A(c0,c1) B(c2,c3) C(c4,c5) D(c6,c7); coarse X(c0..c3) Y(c4..c7)
PARENTS = {f"c{i}": ["ABCD"[i // 2], "XY"[i // 4]] for i in range(8)}


def hierarchy():
    return cm.Hierarchy.from_parents(NAMES, ["fine", "mid", "coarse"], PARENTS)


# ----------------------------------------------------------------------------- statistics
def test_pvalues_match_scipy_binomtest():
    for k, n, tau in [(100, 100, 0.75), (80, 100, 0.75), (70, 100, 0.75), (0, 10, 0.5), (9, 10, 0.6)]:
        want = stats.binomtest(k, n, tau, alternative="greater").pvalue
        assert cm.binomial_pvalues(np.array([k]), n, tau)[0] == pytest.approx(want, rel=1e-9)


def test_holm_and_bonferroni_match_statsmodels():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 1e-4, 30), rng.uniform(0, 1, 70)])
    for method in ("holm", "bonferroni"):
        want = multipletests(p, alpha=0.01, method=method)[0]
        got = cm.reject(p, 0.01, method)
        assert np.array_equal(got, want)
    # Holm rejects at least what Bonferroni does, and here strictly more
    p2 = np.array([0.001, 0.013, 0.016, 0.9])
    assert cm.bonferroni_reject(p2, 0.05).sum() == 1
    assert cm.holm_reject(p2, 0.05).sum() == 3


def test_clopper_pearson_and_radius():
    lo = cm.clopper_pearson_lower(np.array([0, 50, 100]), 100, 0.001)
    assert lo[0] == 0.0 and 0.3 < lo[1] < 0.5 and 0.9 < lo[2] < 1.0
    # exact: P[Binom(n, lo) >= k] = alpha at the bound
    assert stats.binom.sf(49, 100, lo[1]) == pytest.approx(0.001, rel=1e-6)
    r = cm.certified_radius(np.array([0.4, 0.5, 0.8413447460685429]), sigma=0.5)
    assert r[0] == 0 and r[1] == 0 and r[2] == pytest.approx(0.5, rel=1e-6)


def test_certify_counts_abstains_below_tau():
    counts = np.array([[100, 100], [76, 40]])
    d = cm.certify_counts(counts, 100, 0.75, 0.001)
    assert d["certified"].tolist() == [[True, True], [False, False]]
    with pytest.raises(QubaError):
        cm.certify_counts(counts, 100, 0.75, 0.0)


# ----------------------------------------------------------------------------- hierarchy and CIG
def test_hierarchy_from_parents_and_json(tmp_path):
    h = hierarchy()
    assert h.node_names[1] == ["A", "B", "C", "D"] and h.node_names[2] == ["X", "Y"]
    assert h.leaves[1].tolist() == [2, 2, 2, 2] and h.leaves[2].tolist() == [4, 4]
    # a class missing from parents (background) is its own node at every level
    hb = cm.Hierarchy.from_parents(["background", *NAMES], ["fine", "mid", "coarse"], PARENTS)
    assert hb.leaves[2][hb.node_of[2, 0]] == 1
    f = tmp_path / "h.json"
    f.write_text(json.dumps(PARENTS))
    hj = cm.load_hierarchy_json(f, NAMES)
    assert np.array_equal(hj.node_of, h.node_of) and hj.levels == ["fine", "level1", "level2"]
    f.write_text(json.dumps({"levels": ["fine", "mid", "coarse"], "parents": PARENTS}))
    assert cm.load_hierarchy_json(f, NAMES).levels == ["fine", "mid", "coarse"]
    bad = dict(PARENTS, c1=["B", "Y"])  # A's c1 under Y while c0 under X is fine, but B now spans X and Y
    f.write_text(json.dumps(bad))
    with pytest.raises(QubaError, match="not nested"):
        cm.load_hierarchy_json(f, NAMES)
    f.write_text(json.dumps({"cat": ["animal"]}))
    with pytest.raises(QubaError, match="not among"):
        cm.load_hierarchy_json(f, NAMES)
    f.write_text("{oops")
    with pytest.raises(QubaError, match="not valid JSON"):
        cm.load_hierarchy_json(f, NAMES)


def test_select_levels_thresholds():
    m = np.array([0.9, 0.5, 0.3, 0.05])
    assert cm.select_levels(m, (0.5, 0.1)).tolist() == [0, 0, 1, 2]
    with pytest.raises(QubaError):
        cm.select_levels(m, (0.1, 0.5))
    p = np.array([[0.7, 0.2], [0.2, 0.3], [0.1, 0.5]])  # classes x pixels
    assert np.allclose(cm.top2_margin(p, axis=0), [0.5, 0.2])


def test_cig_hand_computed():
    h = hierarchy()
    y = np.array([0, 1, 2, 4, 6, 7])
    levels = np.array([0, 1, 2, 0, 1, 0])
    nodes = np.array([0, 0, 0, 5, 3, 6])  # c0 ok; A ok; X ok; c5 wrong; D ok; c6 wrong
    cert = np.array([True, True, True, True, True, False])
    s = cm.summarize(nodes, levels, cert, y, h)
    lk = np.log(8)
    want = (lk + 2 * (lk - np.log(2)) + (lk - np.log(4))) / (6 * lk)  # = 8/18 in bits
    assert s["certified_information_gain"] == pytest.approx(want)
    assert s["abstain_rate"] == pytest.approx(1 / 6)
    assert s["certified_accuracy"] == pytest.approx(4 / 6)
    assert s["per_level"]["mid"]["certified"] == 2 and s["per_level"]["mid"]["correct"] == 2
    assert s["per_level"]["fine"]["precision"] == pytest.approx(1 / 2)
    # class-averaged: classes 0,1,2,4,6,7 each one pixel
    per = [1.0, (lk - np.log(2)) / lk, (lk - np.log(4)) / lk, 0.0, (lk - np.log(2)) / lk, 0.0]
    assert s["class_certified_information_gain"] == pytest.approx(np.mean(per))
    # ignored pixels do not count
    y2 = np.array([0, 1, 2, 4, 6, -1])
    s2 = cm.summarize(nodes, levels, cert, y2, h, ignore_index=-1)
    assert s2["pixels"] == 5


def test_cig_equals_pixel_accuracy_at_fine_level():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 8, 500)
    pred = np.where(rng.random(500) < 0.7, y, rng.integers(0, 8, 500))
    s = cm.summarize(pred, np.zeros(500, int), np.ones(500, bool), y, hierarchy())
    assert s["certified_information_gain"] == pytest.approx((pred == y).mean())
    assert 0.0 <= s["certified_information_gain"] <= 1.0


# ----------------------------------------------------------------------------- known-answer models
class Constant(nn.Module):
    """Predicts class `c` everywhere, whatever the input."""

    def __init__(self, c, k=8):
        super().__init__()
        self.c, self.k = c, k

    def forward(self, x):
        logits = torch.zeros(x.shape[0], self.k, *x.shape[2:])
        logits[:, self.c] = 5.0
        return logits


# Class codes in 3 channels: coarse (robust), mid (robust), fine: fragile (0.49 / 0.51) under X,
# robust (0.2 / 0.8) under Y. A 5x5 mean filter shrinks pixel noise to sigma/5.
CODES = torch.zeros(8, 3)
for _i in range(8):
    CODES[_i, 0] = 0.2 if _i < 4 else 0.8
    CODES[_i, 1] = 0.3 if (_i // 2) % 2 == 0 else 0.7
    CODES[_i, 2] = (0.49 if _i % 2 == 0 else 0.51) if _i < 4 else (0.2 if _i % 2 == 0 else 0.8)


class NearestCode(nn.Module):
    """Nearest class code of the locally averaged pixel: fine classes under X are confused under noise."""

    def forward(self, x):
        x = F.avg_pool2d(x, 5, 1, 2, count_include_pad=False)
        d = ((x.unsqueeze(1) - CODES[None, :, :, None, None]) ** 2).sum(2)
        return -d / 0.0002


def code_images(size=12):
    labels = np.repeat(np.arange(8), size * size).reshape(8, size, size)
    images = CODES.numpy()[labels].transpose(0, 3, 1, 2).astype(np.float32)
    return images, labels


def test_constant_model_certifies_every_pixel_at_fine_level():
    h = hierarchy()
    images, labels = code_images(8)
    for sigma in (0.25, 1.0):
        r = certify_segmentation(Constant(3), images, labels, h, CertifyConfig(sigma=sigma, n0=4, n=60),
                                 progress=False)
        assert r.certified.all() and (r.levels == 0).all() and (r.nodes == 3).all()
        assert r.summary["abstain_rate"] == 0.0
        # nothing relaxed: CIG is the pixel accuracy of the constant prediction (1 class of 8)
        assert r.summary["certified_information_gain"] == pytest.approx(1 / 8)
        assert r.summary["per_level"]["fine"]["certified"] == labels.size


@pytest.mark.slow
def test_abstention_rises_with_sigma_and_adaptive_abstains_less():
    h = hierarchy()
    images, labels = code_images()
    flat, adapt = [], []
    for sigma in (0.02, 0.3, 0.8):
        rf = certify_segmentation(NearestCode(), images, labels, h,
                                  CertifyConfig(sigma=sigma, n0=10, n=60, adaptive=False), progress=False)
        ra = certify_segmentation(NearestCode(), images, labels, h,
                                  CertifyConfig(sigma=sigma, n0=10, n=60, adaptive=True, thresholds=(0.5, 0.1)),
                                  progress=False)
        flat.append(rf.summary)
        adapt.append(ra.summary)
        # flat never relaxes; adaptive certified pixels are right at their level
        assert (rf.levels == 0).all()
        assert ra.summary["certified_accuracy"] == pytest.approx(1 - ra.summary["abstain_rate"])
        assert ra.summary["abstain_rate"] < rf.summary["abstain_rate"]
        assert ra.summary["certified_information_gain"] > rf.summary["certified_information_gain"]
        for s in (rf.summary, ra.summary):
            assert 0.0 <= s["certified_information_gain"] <= 1.0
        # robust Y classes (c4..c7) stay at the fine level at small noise; uncertain X classes relax
        if sigma < 0.1:
            assert (ra.levels[4:] == 0).mean() > 0.9 and ra.certified[4:].mean() > 0.9
        if 0.1 < sigma < 0.5:
            assert ra.levels[:4].mean() > 0.5 and ra.certified[:4].mean() > 0.8
    for series in (flat, adapt):
        ab = [s["abstain_rate"] for s in series]
        assert ab[0] < ab[1] < ab[2]
    # flat: certified pixels are exactly the fine-level correct ones
    assert flat[0]["certified_information_gain"] == pytest.approx(flat[0]["certified_accuracy"])


def test_seeded_and_config_errors():
    h = hierarchy()
    images, labels = code_images(6)
    cfg = CertifyConfig(sigma=0.3, n0=5, n=20, seed=7)
    a = certify_segmentation(NearestCode(), images[:2], labels[:2], h, cfg, progress=False)
    b = certify_segmentation(NearestCode(), images[:2], labels[:2], h, cfg, progress=False)
    assert np.array_equal(a.nodes, b.nodes) and np.array_equal(a.certified, b.certified)
    with pytest.raises(QubaError, match="thresholds"):
        certify_segmentation(NearestCode(), images[:1], labels[:1], h, CertifyConfig(thresholds=(0.3,)),
                             progress=False)
    with pytest.raises(QubaError, match="logits"):
        certify_segmentation(Constant(0, k=5), images[:1], labels[:1], h, CertifyConfig(n0=1, n=1),
                             progress=False)
