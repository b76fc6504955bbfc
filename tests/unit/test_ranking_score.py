"""QUBA score: acceptance over the paper leaderboard, hand-computed tables, references, missing values."""
import csv
import json
import math

import numpy as np
import pandas as pd
import pytest

from quba import dimensions
from quba.errors import QubaError
from quba.paths import data_file
from quba.ranking import Filters, load_leaderboard, rank


def _paper_rows():
    with open(data_file("quba_paper_results.csv"), newline="") as fh:
        return list(csv.DictReader(fh))


def _paper_expected():
    """QUBA of every complete row, straight from the published formula and constants."""
    norm = json.loads(data_file("quba_normalization.json").read_text())
    dims = norm["dimensions"]
    out = {}
    for row in _paper_rows():
        if any(row[d] == "" for d in dims):
            continue
        num = 0.0
        for d, hib, mu, sd, w in zip(dims, norm["higher_is_better"], norm["mean"], norm["std"],
                                     norm["default_weight"]):
            s = 1.0 if hib else -1.0
            num += w * s * (float(row[d]) - mu) / sd
        out[row["model"]] = num / sum(norm["default_weight"])
    return out


def test_default_weights_match_published_formula_over_304_complete_rows():
    expected = _paper_expected()
    assert len(expected) == 304
    r = rank()
    assert len(r.ranked) == 304
    got = dict(zip(r.ranked["model"], r.ranked["quba"]))
    assert set(got) == set(expected)
    worst = max(abs(got[m] - expected[m]) for m in expected)
    assert worst < 1e-9
    assert list(r.ranked["model"].head(3)) == ["EVA02-b-21k", "Hiera-B-Plus", "ConvNextV2-B-21k"]
    assert r.reference.source["accuracy"] == "paper constants"
    assert not r.ranked["renormalised"].any()


def test_excluded_rows_carry_reasons():
    r = rank()
    assert len(r.excluded) == 326 - 304
    reasons = dict(zip(r.excluded["model"], r.excluded["reason"]))
    assert reasons["CLIP-L14-OpenAI"] == "missing parameters_m"
    df = _small()
    df.loc[1, ["accuracy", "calibration_error"]] = np.nan
    r = rank(df, weights="accuracy=1,calibration_error=3")
    assert dict(zip(r.excluded["model"], r.excluded["reason"])) == {"B": "missing all 2 weighted dimensions"}


def test_contributions_sum_to_score_and_rank_is_sorted():
    r = rank()
    t = r.ranked
    contrib = t[[f"{d}_contribution" for d in r.dims]].sum(axis=1)
    np.testing.assert_allclose(contrib, t["quba"], atol=1e-12)
    assert (np.diff(t["quba"].to_numpy()) <= 0).all()
    assert list(t["rank"]) == list(range(1, len(t) + 1))  # no ties in the paper data
    # weights in the output are the preset's
    assert r.weights["adversarial_robustness"] == pytest.approx(1 / 3)
    assert sum(r.normalised_weights.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("dim", dimensions.NINE)
def test_single_weight_orders_by_that_dimension(dim):
    r = rank(weights={dim: 2.5})
    lb = load_leaderboard()
    expected_n = lb[dim].notna().sum()
    assert len(r.ranked) == expected_n
    values = r.ranked[dim].to_numpy()
    if dimensions.higher_is_better(dim):
        assert (np.diff(values) <= 0).all()
    else:
        assert (np.diff(values) >= 0).all()
    # the score is that dimension's oriented z-score, nothing else
    np.testing.assert_allclose(r.ranked["quba"], r.ranked[f"{dim}_z"], atol=1e-12)


def _small(suite="mini"):
    return pd.DataFrame({
        "model": ["A", "B", "C"],
        "suite": suite,
        "accuracy": [0.6, 0.7, 0.8],          # mean 0.7, sample std 0.1
        "calibration_error": [0.03, 0.01, 0.02],  # mean 0.02, sample std 0.01 (lower is better)
    })


def test_hand_computed_table_with_leaderboard_reference():
    r = rank(_small(), weights="accuracy=1,calibration_error=3")
    assert r.reference.name == "leaderboard"  # default for a non-ImageNet suite
    t = r.ranked.set_index("model")
    # z: A (-1, -1), B (0, +1), C (+1, 0) -> QUBA = (z_acc + 3 z_cal) / 4
    assert t.loc["A", "quba"] == pytest.approx(-1.0)
    assert t.loc["B", "quba"] == pytest.approx(0.75)
    assert t.loc["C", "quba"] == pytest.approx(0.25)
    assert list(r.ranked["model"]) == ["B", "C", "A"]
    assert t.loc["B", "calibration_error_z"] == pytest.approx(1.0)
    assert t.loc["B", "calibration_error_contribution"] == pytest.approx(0.75)
    assert t.loc["C", "accuracy_contribution"] == pytest.approx(0.25)
    assert r.reference.std["accuracy"] == pytest.approx(0.1)  # ddof=1


def test_ties_share_a_rank():
    r = rank(_small(), weights="accuracy=1,calibration_error=1")
    t = r.ranked.set_index("model")
    assert t.loc["B", "quba"] == pytest.approx(t.loc["C", "quba"])
    assert t.loc["B", "rank"] == t.loc["C", "rank"] == 1
    assert t.loc["A", "rank"] == 3
    assert list(r.ranked["model"]) == ["B", "C", "A"]


def test_paper_reference_on_hand_values():
    norm = json.loads(data_file("quba_normalization.json").read_text())
    mu, sd = norm["mean"][0], norm["std"][0]
    mu_c, sd_c = norm["mean"][4], norm["std"][4]
    df = pd.DataFrame({"model": ["up", "down"], "accuracy": [mu + sd, mu - 2 * sd],
                       "calibration_error": [mu_c + sd_c, mu_c]})
    r = rank(df, weights="accuracy=1,calibration_error=1")
    t = r.ranked.set_index("model")
    assert r.suite == "imagenet"
    assert t.loc["up", "accuracy_z"] == pytest.approx(1.0)
    assert t.loc["up", "calibration_error_z"] == pytest.approx(-1.0)
    assert t.loc["up", "quba"] == pytest.approx(0.0)
    assert t.loc["down", "quba"] == pytest.approx(-1.0)


def test_reference_choices_change_the_scale_not_the_paper_default():
    lb = load_leaderboard()
    paper = rank(weights="accuracy=1")
    board = rank(weights="accuracy=1", reference="leaderboard")
    acc = lb["accuracy"].dropna()
    assert board.reference.mean["accuracy"] == pytest.approx(acc.mean())
    assert board.reference.std["accuracy"] == pytest.approx(acc.std(ddof=1))
    top = board.ranked.iloc[0]
    assert top["quba"] == pytest.approx((top["accuracy"] - acc.mean()) / acc.std(ddof=1))
    assert paper.ranked.iloc[0]["quba"] != pytest.approx(top["quba"])
    # a DataFrame reference: the mean and sample std of its rows
    ref = pd.DataFrame({"model": ["x", "y"], "accuracy": [0.5, 0.7]})
    custom = rank(weights="accuracy=1", reference=ref)
    assert custom.reference.mean["accuracy"] == pytest.approx(0.6)
    assert custom.reference.std["accuracy"] == pytest.approx(math.sqrt(0.02))


def test_reference_csv_path(tmp_path):
    p = tmp_path / "ref.csv"
    pd.DataFrame({"model": ["x", "y", "z"], "suite": "mini", "accuracy": [0.2, 0.4, 0.6]}).to_csv(p, index=False)
    r = rank(_small(), weights="accuracy", reference=str(p))
    assert r.reference.mean["accuracy"] == pytest.approx(0.4)
    assert r.ranked.set_index("model").loc["C", "quba"] == pytest.approx((0.8 - 0.4) / 0.2)
    # a reference of another suite is refused
    with pytest.raises(QubaError, match="no rows of suite"):
        rank(_small(), weights="accuracy", reference=str(data_file("quba_paper_results.csv")))


def test_mini_suite_never_uses_paper_constants():
    with pytest.raises(QubaError, match="ImageNet suite"):
        rank(_small(), weights="accuracy", reference="paper")


def test_mixed_suites_need_a_choice():
    both = pd.concat([_small("mini"), _small("imagenet").assign(model=["D", "E", "F"])], ignore_index=True)
    with pytest.raises(QubaError, match="--suite"):
        rank(both, weights="accuracy")
    r = rank(both, weights="accuracy", filters=Filters(suite="mini"))
    assert set(r.ranked["model"]) == {"A", "B", "C"}
    assert r.reference.name == "leaderboard"
    # the leaderboard reference is that suite's rows only
    assert r.reference.mean["accuracy"] == pytest.approx(0.7)


def test_missing_value_policy_exclude_or_renormalise():
    df = _small()
    df.loc[0, "calibration_error"] = np.nan  # A lacks calibration
    r = rank(df, weights="accuracy=1,calibration_error=3")
    assert list(r.excluded["model"]) == ["A"]
    assert r.excluded["reason"].iloc[0] == "missing calibration_error"
    assert "A" not in set(r.ranked["model"])
    rr = rank(df, weights="accuracy=1,calibration_error=3", renormalise=True)
    t = rr.ranked.set_index("model")
    assert bool(t.loc["A", "renormalised"]) and not bool(t.loc["B", "renormalised"])
    # A over accuracy alone: z = (0.6 - 0.7) / 0.1 = -1
    assert t.loc["A", "quba"] == pytest.approx(-1.0)
    # calibration reference now from B, C: mean 0.015, std 0.00707
    s = np.std([0.01, 0.02], ddof=1)
    assert t.loc["B", "quba"] == pytest.approx((0 + 3 * (0.015 - 0.01) / s) / 4)
    assert rr.excluded.empty


def test_renormalise_on_paper_leaderboard_ranks_models_without_size():
    r = rank(renormalise=True)
    assert len(r.ranked) == 326  # every row has the eight values
    clip = r.ranked.set_index("model").loc["CLIP-L14-OpenAI"]
    assert bool(clip["renormalised"])
    w = r.weights
    num = sum(w[d] * clip[f"{d}_z"] for d in dimensions.NINE if d != "parameters_m")
    assert clip["quba"] == pytest.approx(num / (sum(w.values()) - w["parameters_m"]))
    assert r.excluded.empty


def test_unranked_when_nothing_scores():
    df = _small()
    df["calibration_error"] = np.nan
    df.loc[0, "calibration_error"] = 0.1
    df.loc[1, "calibration_error"] = 0.2
    with pytest.raises(QubaError, match="no model can be ranked"):
        rank(df, weights="calibration_error", filters=Filters(name="C"))


def test_extra_registered_dimension_uses_leaderboard_statistics(monkeypatch):
    monkeypatch.setattr(dimensions, "REGISTRY", dimensions.REGISTRY.copy())
    dimensions.register(dimensions.Dimension("met3r_test", False, "MEt3R test", "lower is more consistent"))
    norm = json.loads(data_file("quba_normalization.json").read_text())
    df = pd.DataFrame({
        "model": ["a", "b", "c"],
        "accuracy": [norm["mean"][0]] * 3,
        "met3r_test": [0.1, 0.2, 0.6],
        "met3r_test_lo": [0.05, 0.15, 0.5],
        "met3r_test_hi": [0.15, 0.25, 0.7],
    })
    r = rank(df, weights="met3r_test=1,accuracy=1")
    assert r.reference.source["accuracy"] == "paper constants"
    assert r.reference.source["met3r_test"].startswith("leaderboard")
    t = r.ranked.set_index("model")
    m, s = 0.3, np.std([0.1, 0.2, 0.6], ddof=1)
    assert t.loc["a", "met3r_test_z"] == pytest.approx(-(0.1 - m) / s)
    assert t.loc["a", "quba"] == pytest.approx((-(0.1 - m) / s + 0.0) / 2)
    assert list(r.ranked["model"]) == ["a", "b", "c"]
    assert "met3r_test_lo" in r.ranked.columns


def test_preset_dimension_absent_from_leaderboard_is_dropped_with_note():
    r = rank(_small())  # paper preset; only accuracy and calibration exist here
    assert set(r.weights) == {"accuracy", "calibration_error"}
    assert any("parameters_m" in n for n in r.notes)
    with pytest.raises(QubaError, match="no values for it"):
        rank(_small(), weights="accuracy=1,shape_bias=1")


def test_zero_spread_in_reference_is_an_error():
    df = _small()
    df["accuracy"] = 0.5
    with pytest.raises(QubaError, match="no spread"):
        rank(df, weights="accuracy")


def test_top_truncates_table_only():
    r = rank(top=7)
    assert len(r.table) == 7 and len(r.ranked) == 304
    with pytest.raises(QubaError, match="--top"):
        rank(top=0)


def test_reference_without_values_for_a_weighted_dimension():
    ref = pd.DataFrame({"model": ["x"], "suite": "mini", "accuracy": [0.5], "calibration_error": [0.1]})
    with pytest.raises(QubaError, match="fewer than 2 values"):
        rank(_small(), weights="accuracy", reference=ref)
