"""MEt3R: pure metric, splatting, features, geometry plug-ins and known answers on QUBA-mini."""
import warnings

import numpy as np
import pytest
import torch

from quba import met3r as E
from quba.errors import QubaError
from quba.metrics import met3r as mm

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- pure metric
def test_cosine_dissimilarity_hand_values():
    a = np.array([[1.0, 1.0, 0.0, 2.0], [0.0, 0.0, 1.0, 0.0]])  # [C=2, 4 pixels]
    b = np.array([[1.0, -1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    s = mm.cosine_dissimilarity(a, b, axis=0)
    assert s == pytest.approx([0.0, 2.0, 1.0, 1.0])  # same, opposite, orthogonal, zero vector
    assert mm.masked_mean(s, np.array([True, True, False, False])) == pytest.approx(1.0)
    assert np.isnan(mm.masked_mean(s, np.zeros(4, bool)))
    assert mm.met3r_direction(a, a, np.ones(4, bool)) == pytest.approx(0.0, abs=1e-12)
    assert mm.met3r_direction(a, b, np.array([False, True, True, False])) == pytest.approx(1.5)
    c = mm.combine_directions(0.2, float("nan"))
    assert c["mean"] == pytest.approx(0.2) and np.isnan(c["backward"])
    s2 = mm.summarize_pairs(np.array([0.1, 0.3, np.nan]))
    assert s2 == {"met3r": pytest.approx(0.2), "pairs": 3, "pairs_without_overlap": 1}


def test_unproject_and_self_splat_is_identity():
    K = np.array([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]])
    rng = np.random.default_rng(0)
    depth = rng.uniform(2.0, 5.0, (32, 32))
    pts = E.unproject(depth, K)
    assert pts[..., 2] == pytest.approx(depth)
    feats = rng.normal(size=(5, 32, 32))
    out, d, cov = E.splat(pts, feats, K, np.eye(4), (32, 32))
    assert cov.all() and np.allclose(out.numpy(), feats, atol=1e-6) and np.allclose(d.numpy(), depth)
    depth[0, 0] = -1  # invalid depth: no point
    assert np.isnan(E.unproject(depth, K)[0, 0]).all()


def test_splat_z_buffer_keeps_nearest_surface():
    K = np.array([[10.0, 0, 2], [0, 10.0, 2], [0, 0, 1]])
    far = E.unproject(np.full((4, 4), 5.0), K)
    near = E.unproject(np.full((4, 4), 2.0), K)
    pts = np.concatenate([far.reshape(-1, 3), near.reshape(-1, 3)])
    feats = np.concatenate([np.zeros((1, 16)), np.ones((1, 16))], 1)
    out, d, cov = E.splat(pts, feats, K, np.eye(4), (4, 4))
    assert (out.numpy() == 1).all() and np.allclose(d.numpy(), 2.0)


def identical_pair(size=32, seed=0):
    rng = np.random.default_rng(seed)
    img = (rng.random((3, size, size)) * 255).astype(np.uint8)
    K = np.array([[30.0, 0, size / 2], [0, 30.0, size / 2], [0, 0, 1]])
    depth = np.full((size, size), 4.0)
    return img, E.known_geometry(depth, depth, K, K, np.eye(4))


def test_identical_views_score_exactly_zero():
    img, geo = identical_pair()
    r = E.evaluate_pairs(img[None], img[None], [geo], progress=False)
    p = r["pairs_detail"][0]
    assert p["forward"] == pytest.approx(0.0, abs=1e-6) and p["backward"] == pytest.approx(0.0, abs=1e-6)
    assert p["overlap_forward"] == 1.0 and r["met3r"] == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- features
def test_procedural_features_seeded(monkeypatch, tmp_path):
    x = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    f0, f0b, f1 = E.ProceduralFeatures(0)(x), E.ProceduralFeatures(0)(x), E.ProceduralFeatures(1)(x)
    assert f0.shape[:1] == (2,) and f0.shape[2:] == (24, 24)
    assert torch.equal(f0, f0b) and not torch.allclose(f0, f1)
    # no local DINO weights: 'auto' falls back, 'dino' says what to do
    monkeypatch.delenv("QUBA_DINO_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert isinstance(E.make_features("auto"), E.ProceduralFeatures)
    with pytest.raises(QubaError, match="no local weights"):
        E.make_features("dino")
    with pytest.raises(QubaError, match="does not exist"):
        E.make_features("dino", dino_weights=tmp_path / "missing.safetensors")


def test_dino_features_from_a_local_weight_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0)
    path = tmp_path / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    feats = E.DinoFeatures("vit_tiny_patch16_224", weights=path, input_size=64)  # small input: fast test
    assert all(torch.equal(a, b) for a, b in zip(feats.model.state_dict().values(), model.state_dict().values()))
    out = feats(torch.rand(2, 3, 40, 40))
    assert out.shape == (2, 192, 40, 40) and torch.isfinite(out).all()
    img, geo = identical_pair(size=40)
    r = E.evaluate_pairs(img[None], img[None], [geo], feats, progress=False)
    assert r["met3r"] == pytest.approx(0.0, abs=1e-5) and "vit_tiny" in r["features"]
    with pytest.raises(QubaError, match="do not fit"):
        E.DinoFeatures("vit_small_patch16_224", weights=path)


# ----------------------------------------------------------------------------- geometry plug-in
def test_reconstructor_plugin(tmp_path, monkeypatch):
    (tmp_path / "fake_recon_q7.py").write_text(
        "import numpy as np\nfrom quba.met3r import known_geometry\n"
        "def factory():\n"
        "    def recon(v1, v2):\n"
        "        H, W = v1.shape[1:]\n"
        "        K = np.array([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]])\n"
        "        d = np.full((H, W), 3.0)\n"
        "        return known_geometry(d, d, K, K, np.eye(4))\n"
        "    return recon\n"
        "def broken():\n    return lambda a, b: 'not geometry'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recon = E.load_reconstructor("fake_recon_q7:factory")
    img, _ = identical_pair()
    r = E.evaluate_pairs(img[None], img[None], recon, progress=False)
    assert r["met3r"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(QubaError, match="not a Geometry"):
        E.evaluate_pairs(img[None], img[None], E.load_reconstructor("fake_recon_q7:broken"), progress=False)
    with pytest.raises(QubaError, match="cannot import"):
        E.load_reconstructor("no_such_module_q7:factory")
    with pytest.raises(QubaError, match="module:factory"):
        E.load_reconstructor("dust3r")


# ----------------------------------------------------------------------------- known answers on QUBA-mini
@pytest.fixture(scope="module")
def mini():
    return E.suite_pairs("mini", 0)


def _score(v1, v2, geos):
    return [p["mean"] for p in E.evaluate_pairs(v1, v2, geos, progress=False)["pairs_detail"]]


def test_mini_consistent_near_zero_inconsistent_higher_and_monotone(mini):
    ids, v1, v2, geos, meta = mini
    kind, change = meta["kind"], meta["change"]
    cons_idx = np.flatnonzero(kind == "consistent")[:10]
    cons = np.mean(_score(v1[cons_idx], v2[cons_idx], [geos[i] for i in cons_idx]))
    assert cons < 0.05
    # content: part of view 2's scene re-textured; 10 pairs per target level (.05/.1/.2/.4 of the pixels)
    idx = np.flatnonzero(kind == "content")
    s = np.array(_score(v1[idx], v2[idx], [geos[i] for i in idx]))
    target = np.array([min((0.05, 0.1, 0.2, 0.4), key=lambda t: abs(t - c)) for c in change[idx]])
    means = [s[target == t].mean() for t in (0.05, 0.1, 0.2, 0.4)]
    assert means[0] > cons and means[-1] > 4 * cons, (means, cons)
    assert all(a < b for a, b in zip(means, means[1:])), means


@pytest.mark.slow
def test_mini_wrong_pose_scores_higher_than_the_true_pose_of_the_same_pair(mini):
    ids, v1, v2, geos, meta = mini
    idx = np.flatnonzero(meta["kind"] == "pose")
    true_geo = [E.known_geometry(meta["depth1"][i], meta["depth2"][i], meta["K"][i], meta["K"][i],
                                 meta["T_21_true"][i]) for i in idx]
    reported = np.array(_score(v1[idx], v2[idx], [geos[i] for i in idx]))
    true = np.array(_score(v1[idx], v2[idx], true_geo))
    assert true.mean() < 0.05  # with the pose it was rendered from, a pose pair is consistent
    assert (reported > true).all()
    excess = [(reported - true)[meta["change"][idx] == deg].mean() for deg in (1.0, 2.0, 4.0, 8.0)]
    assert all(a < b for a, b in zip(excess, excess[1:])), excess


def test_same_scene_monotone_in_content_and_pose_change(mini):
    ids, v1, v2, geos, meta = mini
    i = int(np.flatnonzero(meta["kind"] == "consistent")[0])
    g = geos[i]
    # content: an ever larger square of view 2 replaced by a foreign pattern
    views2 = []
    for half in (0, 6, 12, 20, 32):
        v = v2[i].copy()
        c = v.shape[-1] // 2
        ys, xs = np.mgrid[0:v.shape[1], 0:v.shape[2]]
        pattern = np.stack([(xs * 37 % 256), (ys * 53 % 256), ((xs + ys) * 11 % 256)]).astype(np.uint8)
        sl = (slice(None), slice(max(0, c - half), c + half), slice(max(0, c - half), c + half))
        v[sl] = pattern[sl]
        views2.append(v)
    s = _score(np.stack([v1[i]] * 5), np.stack(views2), [g] * 5)
    assert s[0] < 0.05 and all(a < b for a, b in zip(s, s[1:])), s
    # pose: the reported T_21 off by a growing rotation (same images)
    from scipy.spatial.transform import Rotation

    wrong = []
    for deg in (0, 1, 2, 4, 8):
        T = g.T_21.copy()
        T[:3, :3] = Rotation.from_rotvec(np.deg2rad(deg) * np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2])
                                         ).as_matrix() @ T[:3, :3]
        d1 = g.points1[..., 2]
        d2 = (g.points2 @ g.T_21[:3, :3].T + g.T_21[:3, 3])[..., 2]
        wrong.append(E.known_geometry(d1, d2, g.K1, g.K2, T))
    s = _score(np.stack([v1[i]] * 5), np.stack([v2[i]] * 5), wrong)
    assert s[0] < 0.05 and all(a < b for a, b in zip(s, s[1:])), s


# ----------------------------------------------------------------------------- summary over pairs (quba/met3r/record.py)
def test_bootstrap_pairs_resamples_pairs_and_skips_pairs_without_overlap():
    from quba.metrics.resample import index_matrix

    means = np.random.default_rng(0).random(40)
    means[[3, 17]] = np.nan  # pairs without overlap
    lo, hi = E.bootstrap_pairs(means, 500, seed=3)
    finite = means[np.isfinite(means)]
    # the interval is the percentile interval of explicit resamples of the finite pairs
    reps = finite[index_matrix(np.random.default_rng([3, 0x3E73]), 500, finite.size)].mean(1)
    assert (lo, hi) == tuple(np.percentile(reps, [2.5, 97.5]))
    assert lo < finite.mean() < hi and E.bootstrap_pairs(means, 500, seed=4) != (lo, hi)
    assert E.bootstrap_pairs(np.full(7, 0.3), 100) == pytest.approx((0.3, 0.3))  # no spread, no width
    assert all(np.isnan(E.bootstrap_pairs(means, 0))) and all(np.isnan(E.bootstrap_pairs([np.nan], 50)))


def test_pair_groups_round_content_changes_to_the_nearest_level_and_keep_the_kind_order():
    pairs = [{"kind": "pose", "change": 2.0, "mean": 0.5}, {"kind": "content", "change": 0.07, "mean": 0.2},
             {"kind": "content", "change": 0.04, "mean": 0.4}, {"kind": "consistent", "change": 0.0, "mean": 0.1},
             {"kind": "content", "change": 0.31, "mean": np.nan}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of a group of pairs without overlap: NaN
        groups = E.pair_groups(pairs, (0.05, 0.1, 0.2, 0.4))
        unrounded = E.pair_groups(pairs)
    assert [(g["kind"], g["change"], g["pairs"]) for g in groups] == [
        ("consistent", 0.0, 1), ("content", 0.05, 2), ("content", 0.4, 1), ("pose", 2.0, 1)]
    assert groups[1]["met3r"] == pytest.approx(0.3) and np.isnan(groups[2]["met3r"])
    assert [g["change"] for g in unrounded][1:3] == [0.04, 0.07]  # no levels: the changes as they are
