"""Spearman correlation against scipy; recommendations."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from quba import dimensions
from quba.errors import QubaError
from quba.ranking import Filters, correlate, load_leaderboard, rank, recommend
from quba.ranking.recommendation import apply_prefer


def test_correlation_equals_scipy_pairwise_complete():
    lb = load_leaderboard()
    pairs = correlate()
    dims = list(dimensions.NINE)
    assert len(pairs) == len(dims) * (len(dims) - 1) // 2
    for row in pairs.itertuples():
        sub = lb[[row.dim_a, row.dim_b]].dropna()
        res = spearmanr(sub[row.dim_a], sub[row.dim_b])
        assert row.n == len(sub)
        assert row.rho == pytest.approx(res.statistic, abs=1e-12)
        assert row.p_value == pytest.approx(res.pvalue, rel=1e-9, abs=1e-300)
    ns = dict(zip(zip(pairs.dim_a, pairs.dim_b), pairs.n))
    assert ns[("accuracy", "parameters_m")] == 304 and ns[("accuracy", "shape_bias")] == 326


def test_oriented_correlation_flips_lower_is_better():
    raw = correlate(dims=["accuracy", "calibration_error", "parameters_m"])
    ori = correlate(dims=["acc", "ece", "params"], oriented=True)
    r = raw.set_index(["dim_a", "dim_b"])["rho"]
    o = ori.set_index(["dim_a", "dim_b"])["rho"]
    assert o[("accuracy", "calibration_error")] == pytest.approx(-r[("accuracy", "calibration_error")])
    assert o[("calibration_error", "parameters_m")] == pytest.approx(r[("calibration_error", "parameters_m")])


def test_correlation_on_a_small_table_and_degenerate_pairs():
    df = pd.DataFrame({"model": list("abcd"), "suite": "mini", "accuracy": [0.1, 0.2, 0.3, 0.4],
                       "shape_bias": [0.4, 0.3, 0.2, np.nan], "class_balance": [0.5, 0.5, 0.5, 0.5]})
    pairs = correlate(df).set_index(["dim_a", "dim_b"])
    assert pairs.loc[("accuracy", "shape_bias"), "rho"] == pytest.approx(-1.0)
    assert pairs.loc[("accuracy", "shape_bias"), "n"] == 3
    assert np.isnan(pairs.loc[("accuracy", "class_balance"), "rho"])  # constant column
    with pytest.raises(QubaError, match="at least 3"):
        correlate(df, filters=Filters(name=["a", "b"]))
    with pytest.raises(QubaError, match="no values"):
        correlate(df, dims=["accuracy", "ood"])


def test_prefer_semantics():
    base = {"accuracy": 1.0, "calibration_error": 1.0, "shape_bias": 0.0}
    w, changed = apply_prefer(base, ["calibration_error"])
    assert w["calibration_error"] == 3.0 and changed == {"calibration_error": 3.0}
    w, _ = apply_prefer(base, ["shape"])  # weight 0 in the preset -> 1
    assert w["shape_bias"] == 1.0
    w, _ = apply_prefer(base, ["acc=5", "ece=0.5"])
    assert w["accuracy"] == 5.0 and w["calibration_error"] == 0.5
    with pytest.raises(QubaError, match="twice"):
        apply_prefer(base, ["acc", "accuracy=2"])
    with pytest.raises(QubaError, match="did you mean"):
        apply_prefer(base, ["calibraton"])
    with pytest.raises(QubaError, match=">= 0"):
        apply_prefer(base, ["acc=-1"])


def test_recommend_matches_rank_with_the_same_weights():
    rec = recommend(prefer=["calibration_error"], top=3, samples=200, filters=Filters(max_params=50))
    spec = "calibration_error=3"
    r = rank(weights=spec, preset="paper", top=3, filters=Filters(max_params=50))
    assert [p.model for p in rec.picks] == list(r.table["model"])
    assert rec.ranking.weights["calibration_error"] == 3.0
    assert (rec.ranking.ranked["parameters_m"] <= 50).all()
    # the most accurate candidate is the most accurate among the ranked, filtered set
    assert rec.most_accurate["accuracy"] == rec.ranking.ranked["accuracy"].max()
    assert rec.sensitivity["p_rank1"].sum() == pytest.approx(1.0)


def test_strengths_weaknesses_and_trade_off_on_a_hand_table():
    df = pd.DataFrame({
        "model": ["calibrated", "accurate", "average", "poor"], "suite": "mini",
        "accuracy": [0.70, 0.90, 0.70, 0.50],
        "calibration_error": [0.01, 0.05, 0.03, 0.05],
    })
    rec = recommend(df, weights="accuracy=1,calibration_error=1", top=2, samples=100)
    assert [p.model for p in rec.picks] == ["calibrated", "accurate"]
    top = rec.picks[0]
    # z: accuracy mean 0.7, sd 0.1633; calibration mean 0.035, sd 0.01915
    sd_cal = np.std([0.01, 0.05, 0.03, 0.05], ddof=1)
    assert dict(top.strengths) == pytest.approx({"calibration_error": 0.025 / sd_cal})
    assert top.weaknesses == []
    acc = rec.picks[1]
    assert [d for d, _ in acc.strengths] == ["accuracy"]
    assert [d for d, _ in acc.weaknesses] == []  # calibration z = -0.78: not a weakness at 1 sd
    assert acc.tradeoff is None  # it is the most accurate candidate
    trade = {t["dimension"]: t for t in top.tradeoff}
    assert trade["accuracy"]["better"] is False and trade["accuracy"]["delta"] == pytest.approx(-0.2)
    assert trade["calibration_error"]["better"] is True
    assert trade["calibration_error"]["delta_z"] == pytest.approx(0.04 / sd_cal)


def test_recommend_sensitivity_always_runs_and_rejects_zero_samples():
    rec = recommend(top=2, samples=50, seed=1)
    assert rec.ranking.sensitivity["samples"] == 50
    assert "p_rank1" in rec.ranking.ranked.columns
    with pytest.raises(QubaError, match="samples"):
        recommend(samples=0)
