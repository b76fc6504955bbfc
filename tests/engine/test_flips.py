"""Negative-flip metrics: hand-built prediction sets with exact fractions (docs/metrics.md#negative-flips, ELODI)."""
import numpy as np
import pytest

from quba.errors import QubaError
from quba.metrics import flips

# 10 test images; labels y, old and new predictions built by hand:
#   idx: 0 1 2 3 4 5 6 7 8 9
#   old: R R R R R R W W W W      (R = right, W = wrong)
#   new: R R R W W R R W W R
Y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
OLD = np.array([0, 1, 2, 3, 4, 5, 0, 0, 0, 0])
NEW = np.array([0, 1, 2, 9, 9, 5, 6, 0, 1, 9])


def test_hand_built_fractions():
    # negative flips: images 3, 4 -> NFR = 2/10
    assert flips.negative_flip_rate(Y, OLD, NEW) == pytest.approx(2 / 10)
    # positive flips: images 6, 9 -> PFR = 2/10
    assert flips.positive_flip_rate(Y, OLD, NEW) == pytest.approx(2 / 10)
    # new errors: 3, 4, 7, 8 -> NFI = 2/4
    assert flips.negative_flip_impact(Y, OLD, NEW) == pytest.approx(2 / 4)
    # err_old = 4/10, err_new = 4/10 -> NFR_rel = 0.2 / (0.6 * 0.4)
    assert flips.relative_negative_flip_rate(Y, OLD, NEW) == pytest.approx(0.2 / (0.6 * 0.4))
    # same decision on 0,1,2,5,7 (7: both predict 0) -> 5/10
    assert flips.top1_agreement(OLD, NEW) == pytest.approx(5 / 10)
    s = flips.flip_summary(Y, OLD, NEW)
    assert s["n_negative_flips"] == 2 and s["n_positive_flips"] == 2 and s["n"] == 10
    assert s["err_old"] == pytest.approx(0.4) and s["err_new"] == pytest.approx(0.4)


def test_swapping_old_and_new_swaps_nfr_and_pfr():
    assert flips.negative_flip_rate(Y, NEW, OLD) == flips.positive_flip_rate(Y, OLD, NEW)


def test_model_against_itself_has_no_flips():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 5, 200))
    s = flips.flip_summary(y, p, p)
    assert s["nfr"] == 0 and s["pfr"] == 0 and s["nfi"] == 0 and s["relative_nfr"] == 0
    assert s["agreement"] == 1.0
    ci = flips.bootstrap_flips(y, p, p, n_boot=50, seed=1)
    assert ci["nfr"] == (0.0, 0.0) and ci["agreement"] == (1.0, 1.0)


def test_independent_errors_give_relative_nfr_near_one():
    rng = np.random.default_rng(3)
    n = 200_000
    y = np.zeros(n, dtype=int)
    old = np.where(rng.random(n) < 0.8, 0, 1)  # 20 % error
    new = np.where(rng.random(n) < 0.7, 0, 1)  # 30 % error, independent of old
    assert flips.relative_negative_flip_rate(y, old, new) == pytest.approx(1.0, abs=0.02)


def test_degenerate_denominators_are_zero():
    y = np.array([0, 1, 2])
    perfect = y.copy()
    wrong = np.array([1, 2, 0])
    assert flips.negative_flip_impact(y, wrong, perfect) == 0.0
    assert flips.relative_negative_flip_rate(y, wrong, perfect) == 0.0  # old never right
    assert flips.relative_negative_flip_rate(y, perfect, perfect) == 0.0  # new never wrong
    assert flips.relative_negative_flip_rate(y, perfect, wrong) == pytest.approx(1.0)  # 1 / (1 * 1)


def test_bootstrap_is_seeded_and_brackets_the_value():
    a = flips.bootstrap_flips(Y, OLD, NEW, n_boot=300, seed=7)
    b = flips.bootstrap_flips(Y, OLD, NEW, n_boot=300, seed=7)
    assert a == b
    s = flips.flip_summary(Y, OLD, NEW)
    for k in flips.FLIP_METRICS:
        lo, hi = a[k]
        assert lo <= s[k] <= hi and lo < hi
    assert flips.bootstrap_flips(Y, OLD, NEW, n_boot=0) == {}


def _random_update(seed, n=120, k=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    old = np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n))
    new = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    return y, old, new, rng


METRIC_FNS = {"nfr": flips.negative_flip_rate, "nfi": flips.negative_flip_impact, "pfr": flips.positive_flip_rate,
              "relative_nfr": flips.relative_negative_flip_rate}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_flip_metric_takes_count_weights(seed):
    """sample_weight [N] or [B, N] (row b: how often each image is drawn) gives the metric of the
    resampled images, bit for bit (0/1 statistics, integer counts: exact sums), and 0 where the
    resample leaves a denominator empty, as the unweighted metrics do."""
    y, a, b, rng = _random_update(seed)
    n = len(y)
    W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(40)]).astype(float)
    W[0] = 0.0
    W[0, np.flatnonzero(b == y)[:3]] = 2  # a resample of images the new model gets right: NFI, NFR_rel 0
    for name, fn in METRIC_FNS.items():
        got = fn(y, a, b, sample_weight=W)
        assert got.shape == (len(W),)
        for w, g in zip(W, got):
            idx = np.repeat(np.arange(n), w.astype(int))
            assert g == fn(y[idx], a[idx], b[idx]), name
            assert fn(y, a, b, sample_weight=w) == g, name  # one row alone
        assert fn(y, a, b, sample_weight=np.ones(n)) == fn(y, a, b), name
    assert flips.negative_flip_impact(y, a, b, sample_weight=W[0]) == 0.0
    assert flips.relative_negative_flip_rate(y, a, b, sample_weight=W[0]) == 0.0


def test_compare_bootstrap_is_the_metrics_on_the_explicit_resamples():
    """bootstrap_flips routes the resamples through the metrics' count weights; its intervals are
    those of the explicit loop it replaced (n_boot resamples of indices from default_rng(seed), the
    five formulas on each), exactly."""
    y, a, b, _ = _random_update(5, n=97)
    for n_boot, seed, alpha in ((200, 0, 0.05), (31, 7, 0.1)):
        rng = np.random.default_rng(seed)
        reps = {k: [] for k in flips.FLIP_METRICS}
        for _ in range(n_boot):
            idx = rng.integers(0, len(y), size=len(y))
            s = flips.flip_summary(y[idx], a[idx], b[idx])
            for k in flips.FLIP_METRICS:
                reps[k].append(s[k])
        want = {k: (float(np.quantile(v, alpha / 2)), float(np.quantile(v, 1 - alpha / 2))) for k, v in reps.items()}
        assert flips.bootstrap_flips(y, a, b, n_boot=n_boot, seed=seed, alpha=alpha) == want


def test_bad_input_is_a_quba_error():
    with pytest.raises(QubaError, match="same ordered test set"):
        flips.negative_flip_rate(Y, OLD, NEW[:5])
    with pytest.raises(QubaError):
        flips.flip_summary([], [], [])
    with pytest.raises(QubaError):
        flips.top1_agreement([1, 2], [1])


# ---------------------------------------------------------------------------- QUBA-mini: CLI and dimension

def _compare_json(capsys, *argv):
    import json

    from quba.cli import main

    rc = main(["compare", *argv, "--format", "json", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out)


def test_compare_cli_reads_cached_predictions(quba_cache, capsys):
    import torch

    same = _compare_json(capsys, "mini-cnn-standard", "mini-cnn-standard", "--bootstrap", "50")
    assert same["images"] == 600
    assert same["forward_passes"] == {"old": 600, "new": 0}  # the same weights: the second read is cached
    for k in ("nfr", "nfi", "pfr", "relative_nfr"):
        assert same["metrics"][k]["value"] == 0.0
    assert same["metrics"]["agreement"]["value"] == 1.0 and same["negative_flips"] == 0

    upd = _compare_json(capsys, "mini-cnn-standard", "mini-cnn-shape", "--bootstrap", "100")
    assert upd["forward_passes"] == {"old": 0, "new": 600}
    again = _compare_json(capsys, "mini-cnn-standard", "mini-cnn-shape", "--bootstrap", "100")
    assert again["forward_passes"] == {"old": 0, "new": 0}  # zero extra forward passes
    assert again["metrics"] == upd["metrics"]

    # the numbers are the flip metrics of the two models' own predictions
    from quba.suites.mini import MiniSuite
    from quba.zoo.mini import load

    val = MiniSuite(seed=0).split("val")
    x = torch.as_tensor(val.images).float() / 255
    with torch.no_grad():
        old = load("mini-cnn-standard").module(x).argmax(1).numpy()
        new = load("mini-cnn-shape").module(x).argmax(1).numpy()
    s = flips.flip_summary(val.labels, old, new)
    for k in flips.FLIP_METRICS:
        assert upd["metrics"][k]["value"] == pytest.approx(s[k])
        assert upd["metrics"][k]["lo"] <= s[k] <= upd["metrics"][k]["hi"]
    assert 0 < s["nfr"] < s["err_new"]


def test_compare_cli_bad_input_exits_2(quba_cache, capsys):
    from quba.cli import main

    assert main(["compare", "mini-cnn-standard", "mini-cnn-shap"]) == 2
    assert "did you mean" in capsys.readouterr().err
    assert main(["compare", "mini-cnn-standard", "mini-cnn-shape", "--split", "vall"]) == 2
    assert "no split 'vall'" in capsys.readouterr().err
    assert main(["compare", "mini-cnn-standard", "mini-cnn-shape", "--bootstrap", "-1"]) == 2


def test_negative_flip_rate_dimension(quba_cache):
    from quba.api import evaluate

    opts = {"negative_flip_rate": {"reference_model": "mini-cnn-standard"}}
    rec = evaluate("mini-cnn-shape", "mini", ["nfr"], bootstrap=50, output=None, progress=False, options=opts)
    d = rec["dimensions"]["negative_flip_rate"]
    assert d["details"]["reference_model"] == "mini-cnn-standard"
    assert 0 < d["value"] < 0.2 and d["lo"] <= d["value"] <= d["hi"]
    assert d["details"]["relative_nfr"] == pytest.approx(
        d["value"] / ((1 - d["details"]["err_old"]) * d["details"]["err_new"]))
    own = evaluate("mini-cnn-standard", "mini", ["nfr"], bootstrap=0, output=None, progress=False, options=opts)
    assert own["dimensions"]["negative_flip_rate"]["value"] == 0.0
    assert sum(own["forward_passes"].values()) == 0  # both models' val outputs were cached by the first run


def test_negative_flip_rate_needs_a_declared_reference(quba_cache, tmp_path, capsys):
    from quba.cli import main

    assert main(["evaluate", "mini-cnn-shape", "--dims", "nfr", "--output", str(tmp_path), "--no-progress"]) == 2
    assert "--reference-model" in capsys.readouterr().err
    assert main(["evaluate", "mini-cnn-shape", "--dims", "negative_flip_rate", "--reference-model",
                 "mini-cnn-standard", "--output", str(tmp_path), "--bootstrap", "20", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "negative_flip_rate ↓" in out
    import csv

    rows = list(csv.DictReader(open(tmp_path / "mini" / "leaderboard.csv")))
    assert any(r.get("negative_flip_rate") for r in rows)  # joins the leaderboard like the nine
    # ... and is weighted like them, lower being better: the reference itself (NFR 0) ranks first
    assert main(["evaluate", "mini-cnn-standard", "--dims", "nfr", "--reference-model", "mini-cnn-standard",
                 "--output", str(tmp_path), "--bootstrap", "0", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["rank", "--leaderboard", str(tmp_path / "mini" / "leaderboard.csv"), "--weights",
                 "negative_flip_rate=1", "--format", "csv"]) == 0
    ranked = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["model"] for r in ranked] == ["mini-cnn-standard", "mini-cnn-shape"]
