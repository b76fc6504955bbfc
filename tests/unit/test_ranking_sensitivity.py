"""Dirichlet weight sensitivity: known answers, reproducibility."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from quba.errors import QubaError
from quba.ranking import Filters, rank, weight_sensitivity
from quba.ranking.sensitivity import dirichlet_weights


def _two():
    # A is better in accuracy, B in calibration (oriented z-scores)
    return pd.DataFrame({"accuracy": [1.0, 0.0], "calibration_error": [0.0, 1.0]}, index=["A", "B"])


def test_dirichlet_is_centred_on_the_normalised_weights():
    W = dirichlet_weights({"a": 2.0, "b": 1.0, "c": 1.0, "zero": 0.0}, 20000, 100.0, seed=1)
    assert W.shape == (20000, 3)
    np.testing.assert_allclose(W.sum(axis=1), 1.0)
    np.testing.assert_allclose(W.mean(axis=0), [0.5, 0.25, 0.25], atol=0.003)
    # Var = m (1 - m) / (c + 1)
    np.testing.assert_allclose(W.var(axis=0), np.array([0.25, 0.1875, 0.1875]) / 101, rtol=0.05)


def test_two_model_trade_off_matches_the_beta_probability():
    c = 4.0
    s = weight_sensitivity(_two(), {"accuracy": 2, "calibration_error": 1}, samples=20000, concentration=c,
                           top_k=1, seed=3)
    # A wins iff its weight share exceeds 1/2; the share is Beta(c*2/3, c*1/3)
    p_a = 1 - beta.cdf(0.5, c * 2 / 3, c / 3)
    assert s.loc["A", "p_rank1"] == pytest.approx(p_a, abs=0.01)
    assert s.loc["A", "p_rank1"] + s.loc["B", "p_rank1"] == pytest.approx(1.0)
    assert (s["p_topk"] == s["p_rank1"]).all()
    assert s.loc["A", "mean_rank"] == pytest.approx(2 - s.loc["A", "p_rank1"])


def test_dominant_model_always_wins_and_concentration_tightens():
    z = pd.DataFrame({"a": [1.0, 0.9, 0.0], "b": [1.0, 0.0, 0.9]}, index=["best", "x", "y"])
    s = weight_sensitivity(z, {"a": 1, "b": 1}, samples=500, concentration=1.0, top_k=2, seed=0)
    assert s.loc["best", "p_rank1"] == 1.0 and s.loc["best", "p_topk"] == 1.0
    assert s["p_topk"].sum() == pytest.approx(2.0)
    loose = weight_sensitivity(_two(), {"accuracy": 3, "calibration_error": 2}, samples=4000,
                               concentration=2.0, top_k=1, seed=0)
    tight = weight_sensitivity(_two(), {"accuracy": 3, "calibration_error": 2}, samples=4000,
                               concentration=1000.0, top_k=1, seed=0)
    assert tight.loc["A", "p_rank1"] > loose.loc["A", "p_rank1"]
    assert tight.loc["A", "p_rank1"] > 0.99


def test_seeded_and_reproducible():
    a = rank(top=5, sensitivity=300, seed=7)
    b = rank(top=5, sensitivity=300, seed=7)
    c = rank(top=5, sensitivity=300, seed=8)
    cols = ["p_rank1", "p_topk", "mean_rank"]
    pd.testing.assert_frame_equal(a.ranked[cols], b.ranked[cols])
    assert not a.ranked[cols].equals(c.ranked[cols])
    assert a.ranked["p_rank1"].sum() == pytest.approx(1.0)
    assert a.ranked["p_topk"].sum() == pytest.approx(5.0)
    assert a.sensitivity == {"samples": 300, "concentration": 100.0, "seed": 7, "top_k": 5}


def test_single_weighted_dimension_is_not_sensitive():
    r = rank(weights="accuracy", sensitivity=50, top=3, filters=Filters(exclude_missing=True))
    assert r.ranked.iloc[0]["p_rank1"] == 1.0
    assert (r.ranked.head(3)["p_topk"] == 1.0).all()


def test_renormalised_rows_are_scored_over_what_they_have():
    z = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, np.nan]}, index=["full", "part"])
    s = weight_sensitivity(z, {"a": 1, "b": 1}, samples=100, top_k=1, renormalise=True)
    assert s.loc["part", "p_rank1"] == 1.0  # its score is 2 under any weights
    with pytest.raises(QubaError, match="missing"):
        weight_sensitivity(z, {"a": 1, "b": 1}, samples=10, top_k=1)


@pytest.mark.parametrize("kw, message", [
    ({"concentration": 0}, "concentration"),
    ({"concentration": -1}, "concentration"),
    ({"samples": 0}, "samples"),
    ({"seed": 1.5}, "seed"),
])
def test_bad_sensitivity_arguments(kw, message):
    args = {"samples": 10, "top_k": 1, **kw}
    with pytest.raises(QubaError, match=message):
        weight_sensitivity(_two(), {"accuracy": 1, "calibration_error": 1}, **args)
