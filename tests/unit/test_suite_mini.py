"""QUBA-mini suite: determinism, metadata, corruptions from the package, ground truth."""
import hashlib

import numpy as np
import pytest
import torch

from quba.errors import QubaError
from quba.suites import load_suite
from quba.suites.mini import (CONTENT_LEVELS, CORRUPTIONS, POSE_LEVELS_DEG, MiniSuite, corruption_seed)

CLASSIFICATION_META = ("mask", "shape", "texture", "background", "pose")
MULTIVIEW_META = ("depth1", "depth2", "K", "T_21", "T_21_true", "consistent", "kind", "change")
# one severity per corruption, cycling so every severity is covered
CORRUPTION_SAMPLE = [f"corruption/{c}/{k % 5 + 1}" for k, c in enumerate(CORRUPTIONS)]


@pytest.fixture(scope="module")
def suite():
    # the session's fresh temporary cache (conftest), so splits are generated here
    # once and shared with the other tests of this process
    return MiniSuite(seed=0)


def _digest(split) -> str:
    h = hashlib.sha256()
    arrays = [split.images.numpy(), split.labels]
    if hasattr(split, "view2"):
        arrays.append(split.view2.numpy())
    arrays += [split.meta[k] for k in sorted(split.meta)]
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_interface(suite):
    assert suite.name == "mini" and isinstance(suite.version, str)
    assert suite.num_classes == len(suite.class_names) == 12
    assert suite.image_size == 32
    assert suite.hierarchy["levels"] == ["fine", "mid", "coarse"]
    parents = suite.hierarchy["parents"]
    assert set(parents) == set(suite.class_names)
    assert all(len(p) == 2 for p in parents.values())
    assert len({p[1] for p in parents.values()}) == 2  # two coarse nodes
    # a mid node has exactly one coarse parent
    mid_to_coarse = {}
    for mid, coarse in parents.values():
        assert mid_to_coarse.setdefault(mid, coarse) == coarse
    names = suite.split_names()
    assert len([n for n in names if n.startswith("corruption/")]) == 75
    for n in ["train", "val", "ood/edge", "ood/silhouette", "ood/sketch", "ood/stylized", "ood/rendition",
              "cue_conflict", "bg/mixed_same", "bg/mixed_rand", "segmentation", "multiview"]:
        assert n in names
    from imagecorruptions import get_corruption_names
    assert CORRUPTIONS == get_corruption_names()


def test_same_seed_same_bytes_and_cache_roundtrip(suite, tmp_path, monkeypatch):
    names = ["val", "ood/sketch", "segmentation", "multiview", "corruption/glass_blur/3", "corruption/frost/4"]
    first = {n: _digest(suite.split(n)) for n in names}
    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "other"))
    fresh = MiniSuite(seed=0)
    assert {n: _digest(fresh.split(n)) for n in names} == first
    assert fresh.fingerprint() == suite.fingerprint()
    # a new object over the same cache reads the files instead of regenerating
    again = MiniSuite(seed=0)
    monkeypatch.setattr(again, "_generate", lambda name: (_ for _ in ()).throw(AssertionError(name)))
    assert _digest(again.split("segmentation")) == first["segmentation"]
    other = MiniSuite(seed=1)
    assert other.fingerprint() != suite.fingerprint()
    assert _digest(other.split("ood/sketch")) != first["ood/sketch"]
    g1 = suite.generate(24, seed=5, texture="random", background="random")
    g2 = fresh.generate(24, seed=5, texture="random", background="random")
    assert torch.equal(g1.images, g2.images)
    assert not torch.equal(g1.images, suite.generate(24, seed=6, texture="random", background="random").images)


@pytest.mark.parametrize("name", ["train", "val", "ood/edge", "ood/silhouette", "ood/sketch", "ood/stylized",
                                  "ood/rendition", "cue_conflict", "bg/mixed_same", "bg/mixed_rand",
                                  "segmentation"] + CORRUPTION_SAMPLE)
def test_split_metadata(suite, name):
    sp = suite.split(name)
    n = len(sp)
    assert n > 0 and sp.name == name
    assert sp.images.dtype == torch.uint8 and tuple(sp.images.shape) == (n, 3, 32, 32)
    assert sp.labels.dtype == np.int64 and sp.labels.shape == (n,)
    assert set(np.unique(sp.labels)) == set(range(12))
    for key in CLASSIFICATION_META:
        assert key in sp.meta, key
        assert len(sp.meta[key]) == n
    assert sp.meta["mask"].dtype == bool and sp.meta["mask"].shape == (n, 32, 32)
    assert sp.meta["mask"].reshape(n, -1).any(axis=1).all()  # every image has a foreground
    assert np.array_equal(sp.meta["shape"][sp.meta["shape"] >= 0], sp.labels[sp.meta["shape"] >= 0])
    x, i = sp.dataset()[3]
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32) and i == 3
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert sp.decision.predict(np.eye(12)[[2, 5]]).tolist() == [2, 5]


def test_corruptions_come_from_the_package(suite):
    from imagecorruptions import corrupt

    val = suite.split("val")
    idx = suite.corruption_subset()
    assert len(idx) == 240 and np.bincount(val.labels[idx]).tolist() == [20] * 12
    state = np.random.get_state()
    for name in CORRUPTION_SAMPLE:
        _, c, sev = name.split("/")
        sp = suite.split(name)
        assert np.array_equal(sp.meta["val_index"], idx)
        for k in (0, 7):
            i = int(idx[k])
            s = corruption_seed(suite.seed, c, int(sev), i)
            np.random.seed(s)
            kw = {"seed": s} if c in ("glass_blur", "impulse_noise") else {}
            direct = corrupt(val.images[i].permute(1, 2, 0).numpy().copy(), severity=int(sev),
                             corruption_name=c, **kw)
            got = sp.images[k].permute(1, 2, 0).numpy()
            assert np.array_equal(got, direct), name
            if c not in ("brightness",) or int(sev) > 1:
                assert not np.array_equal(got, val.images[i].permute(1, 2, 0).numpy()), name
    np.random.set_state(state)
    # generating a split leaves numpy's global RNG where it was
    before = np.random.get_state()[1].copy()
    suite.split("corruption/shot_noise/5")
    assert np.array_equal(np.random.get_state()[1], before)


def test_train_has_the_deliberate_shortcuts(suite):
    tr = suite.split("train")
    assert len(tr) == 3000 and np.bincount(tr.labels).tolist() == [250] * 12
    tex_typ = (tr.meta["texture"] == tr.labels).mean()
    bg_typ = (tr.meta["background"] == tr.labels).mean()
    assert 0.82 < tex_typ < 0.92 and 0.82 < bg_typ < 0.92
    # the non-typical remainder is spread over other textures / backgrounds
    assert len(np.unique(tr.meta["texture"][tr.meta["texture"] != tr.labels])) == 12
    assert len(np.unique(tr.meta["background"][tr.meta["background"] != tr.labels])) == 13


def test_cue_conflict_and_backgrounds_ground_truth(suite):
    cc = suite.split("cue_conflict")
    assert (cc.meta["texture"] != cc.meta["shape"]).all() and np.array_equal(cc.meta["shape"], cc.labels)
    pairs = set(zip(cc.meta["shape"].tolist(), cc.meta["texture"].tolist()))
    assert len(pairs) == 12 * 11
    same, rand = suite.split("bg/mixed_same"), suite.split("bg/mixed_rand")
    assert np.array_equal(same.labels, rand.labels) and np.array_equal(same.meta["mask"], rand.meta["mask"])
    # identical foreground pixels deep inside the object (noise aside), different backgrounds
    inner = same.meta["mask"] & rand.meta["mask"]
    diff = (same.images.int() - rand.images.int()).abs().permute(0, 2, 3, 1).numpy()
    assert np.median(diff[inner]) <= 12
    assert np.median(diff[~same.meta["mask"]]) > 20
    assert (same.meta["background_class"] == same.labels).all()
    assert (same.meta["background"] == same.labels).mean() > 0.8
    assert (rand.meta["background"] == rand.labels).mean() < 0.3


def test_segmentation_labels(suite):
    sp = suite.split("segmentation")
    seg = sp.meta["seg"]
    assert seg.dtype == np.int64 and seg.shape == (len(sp), 32, 32)
    assert seg.min() == 0 and seg.max() <= 12
    assert np.array_equal(sp.meta["mask"], seg > 0)
    for i in range(len(sp)):
        counts = np.bincount(seg[i].ravel(), minlength=13)[1:]
        assert counts[sp.labels[i]] == counts.max() > 0
    assert (sp.meta["n_objects"] > 1).mean() > 0.5
    assert len(np.unique(seg)) == 13


def _reprojection(mv, p):
    """Warp view 2 into view 1 with depth1, K, T_21; (colour error, depth error) on visible pixels."""
    K = mv.meta["K"][p].astype(np.float64)
    T = mv.meta["T_21"][p].astype(np.float64)
    d1, d2 = mv.meta["depth1"][p], mv.meta["depth2"][p]
    H, W = d1.shape
    v, u = np.mgrid[0:H, 0:W]
    pix = np.stack([u + 0.5, v + 0.5, np.ones_like(u, dtype=float)], -1).reshape(-1, 3)
    X1 = (pix @ np.linalg.inv(K).T) * d1.reshape(-1, 1)
    X2 = X1 @ T[:3, :3].T + T[:3, 3]
    q = X2 @ K.T
    q = q[:, :2] / q[:, 2:3]
    j, i = np.floor(q[:, 0]).astype(int), np.floor(q[:, 1]).astype(int)
    ok = (i >= 0) & (i < H) & (j >= 0) & (j < W) & (X2[:, 2] > 0)
    ok_idx = np.flatnonzero(ok)
    vis = np.abs(d2[i[ok], j[ok]] - X2[ok, 2]) < 0.05 * X2[ok, 2]
    sel = ok_idx[vis]
    c1 = mv.view1[p].permute(1, 2, 0).numpy().reshape(-1, 3).astype(float)
    c2 = mv.view2[p].permute(1, 2, 0).numpy().astype(float)[i[sel], j[sel]]
    colour_err = np.abs(c1[sel] - c2).mean(axis=1)
    return colour_err, vis.mean()


def test_multiview_geometry_and_inconsistencies(suite):
    mv = suite.split("multiview")
    P = len(mv)
    assert P == 120 and tuple(mv.view1.shape) == tuple(mv.view2.shape) == (P, 3, 64, 64)
    for k in MULTIVIEW_META:
        assert k in mv.meta and len(mv.meta[k]) == P
    kind, change = mv.meta["kind"], mv.meta["change"]
    assert np.array_equal(mv.meta["consistent"], kind == "consistent")
    assert (change[kind == "consistent"] == 0).all()
    # consistent pairs: known geometry maps view 1 onto view 2 (almost all pixels
    # visible with matching depth, colours agree up to resampling)
    for p in np.flatnonzero(kind == "consistent")[:8]:
        err, visible = _reprojection(mv, p)
        assert visible > 0.9 and np.median(err) < 6, (p, visible, np.median(err))
    # pose errors: view 2 was rendered `change` degrees away from the reported pose
    # (and exactly at it for the other kinds) ...
    T, T_true = mv.meta["T_21"].astype(np.float64), mv.meta["T_21_true"].astype(np.float64)
    for p in range(P):
        dR = T_true[p, :3, :3] @ T[p, :3, :3].T
        angle = np.degrees(np.arccos(np.clip((np.trace(dR) - 1) / 2, -1, 1)))
        assert abs(angle - change[p]) < 0.05 if kind[p] == "pose" else angle < 0.05, (p, angle)
    # ... so reprojection with the reported pose misaligns more as the error grows
    err = {m: np.mean([np.mean(_reprojection(mv, p)[0]) for p in np.flatnonzero((kind == "pose") & np.isclose(change, m))])
           for m in POSE_LEVELS_DEG}
    cons = np.mean([np.mean(_reprojection(mv, p)[0]) for p in np.flatnonzero(kind == "consistent")])
    assert cons < err[1.0] and err[1.0] < err[4.0] < err[8.0], (cons, err)
    # content changes: the changed fraction tracks the target magnitude
    for m in CONTENT_LEVELS:
        got = change[(kind == "content") & (np.abs(change - m) < 0.03)]
        assert len(got) >= 8
        assert np.allclose(got, m, atol=0.03)


def test_generate_modes(suite):
    n = 240
    r = suite.generate(n, seed=1, texture="random", background="random")
    assert (r.meta["texture"] == r.labels).mean() < 0.2 and (r.meta["background"] == r.labels).mean() < 0.2
    t = suite.generate(n, seed=1, texture="tied", background="tied")
    assert (t.meta["texture"] == t.labels).all() and (t.meta["background"] == t.labels).all()
    s = suite.generate(n, seed=1, texture="scrambled", background="random")
    assert (s.meta["texture"] == s.labels).all() and (s.meta["shape"] != s.labels).mean() > 0.8
    c = suite.generate(12, seed=1, classes=np.arange(12))
    assert c.labels.tolist() == list(range(12))
    x, _ = c.dataset(preprocess=lambda im: im * 0 + 0.25)[0]
    assert torch.allclose(x, torch.full((3, 32, 32), 0.25))


def test_bad_input_raises_quba_error(suite):
    with pytest.raises(QubaError, match="did you mean: cue_conflict"):
        suite.split("cue_conflic")
    with pytest.raises(QubaError, match="did you mean: mini"):
        load_suite("minii")
    with pytest.raises(QubaError, match="texture mode"):
        suite.generate(4, seed=0, texture="stripes")
    with pytest.raises(QubaError, match="background mode"):
        suite.generate(4, seed=0, background="none")
    with pytest.raises(QubaError):
        MiniSuite(seed=-1)
    assert load_suite("mini", seed=3).seed == 3
