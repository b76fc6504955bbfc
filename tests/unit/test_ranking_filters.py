"""Filters and leaderboard loading."""
import numpy as np
import pandas as pd
import pytest

from quba.errors import QubaError
from quba.ranking import load_leaderboard, rank
from quba.ranking.score import match_values


def test_reference_leaderboard_loads_with_source_and_suite():
    lb = load_leaderboard()
    assert len(lb) == 326
    assert (lb["leaderboard"] == "reference").all() and (lb["suite"] == "imagenet").all()
    assert lb["parameters_m"].isna().sum() == 22
    assert lb["accuracy"].isna().sum() == 0  # completed from the project page


def test_max_params_filter_and_unknown_sizes():
    r = rank(max_params=30)
    assert (r.ranked["parameters_m"] <= 30).all()
    lb = load_leaderboard()
    complete = lb.dropna(subset=list(r.dims))
    assert len(r.ranked) == (complete["parameters_m"] <= 30).sum()
    # without size in the weights, unknown sizes are still not ranked under a budget
    r2 = rank(preset="size-agnostic", max_params=30)
    reasons = set(r2.excluded["reason"])
    assert "parameter count unknown (needed by --max-params)" in reasons
    assert r2.ranked["parameters_m"].notna().all()


def test_match_values_exact_then_prefix_then_substring():
    values = ["Supervised learning", "Self-supervised learning", "Semi-supervised learning", "A1"]
    assert match_values("supervised", values) == ["Supervised learning"]
    assert match_values("SUPERVISED LEARNING", values) == ["Supervised learning"]
    assert match_values("self", values) == ["Self-supervised learning"]
    assert match_values("vised learn", values) == values[:3]
    assert match_values("a1", values) == ["A1"]
    assert match_values("zzz", values) == []


def test_metadata_filters_and_their_combination():
    r = rank(architecture="cnn")
    assert set(r.ranked["architecture"]) == {"CNN"}
    r = rank(architecture=["cnn", "transformer"], pretraining_data="21k")
    assert set(r.ranked["architecture"]) <= {"CNN", "Transformer"}
    assert set(r.ranked["pretraining_data"]) == {"ImageNet-21k"}
    r = rank(paradigm="supervised")
    assert set(r.ranked["paradigm"]) == {"Supervised learning"}
    r = rank(paradigm="self")
    assert set(r.ranked["paradigm"]) == {"Self-supervised learning"}
    with pytest.raises(QubaError, match="did you mean: Transformer"):
        rank(architecture="transfomer")


def test_name_glob_is_case_insensitive_and_ored():
    r = rank(name=["vit-b*", "resnet50"])
    names = set(r.ranked["model"])
    assert "ResNet50" in names
    assert all(n.lower().startswith("vit-b") or n == "ResNet50" for n in names)
    assert len(names) > 3


def test_nothing_left_after_filters():
    with pytest.raises(QubaError, match="no model is left"):
        rank(name="no-such-model*")
    with pytest.raises(QubaError, match="positive"):
        rank(max_params=-5)


def test_exclude_missing_keeps_complete_rows_only():
    r = rank(weights="accuracy")
    assert len(r.ranked) == 326
    r = rank(weights="accuracy", exclude_missing=True)
    assert len(r.ranked) == 304 and r.excluded.empty


def test_combined_leaderboards_name_their_source(tmp_path):
    mine = tmp_path / "mine.csv"
    pd.DataFrame({"model": ["MyNet"], "accuracy": [0.99], "parameters_m": [1.0]}).to_csv(mine, index=False)
    lb = load_leaderboard(["reference", str(mine)])
    assert len(lb) == 327
    assert lb.loc[lb["model"] == "MyNet", "leaderboard"].item() == str(mine)
    r = rank(["reference", str(mine)], weights="accuracy", top=3)
    assert r.table.iloc[0]["model"] == "MyNet" and r.table.iloc[0]["leaderboard"] == str(mine)
    # its missing dimensions are missing, not zero
    assert np.isnan(lb.loc[lb["model"] == "MyNet", "shape_bias"].item())


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("name,accuracy\nx,0.5\n", "no 'model' column"),
    ("model,foo\nx,1\n", "no dimension columns"),
    ("model,accuracy\nx,high\n", "non-numeric"),
    ("model,accuracy\nx,0.5\nx,0.6\n", "more than once"),
])
def test_bad_leaderboards(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(QubaError, match=message):
        load_leaderboard(str(p))


def test_missing_leaderboard_file(tmp_path):
    with pytest.raises(QubaError, match="not found"):
        load_leaderboard(str(tmp_path / "nope.csv"))


def test_not_ranked_remedies_are_true():
    """Each excluded model's remedy, applied, ranks it (known answers: the remedy is checked by doing it)."""
    from quba.ranking.render import ranking_table
    from quba.ranking.score import REMEDIES

    cases = [({}, "renormalise"), ({"max_params": 50}, "parameters"),
             ({"max_params": 50, "renormalise": True}, "parameters"),
             ({"weights": "parameters_m=1"}, "weights")]
    for kw, want in cases:
        r = rank(**kw)
        assert set(r.excluded["remedy"]) == {want}, kw
        text = ranking_table(r)
        assert f"hint: {REMEDIES[want]['cli']}"[:60] in " ".join(text.split()), kw
        models = list(r.excluded["model"])
        if want == "renormalise":  # ticking renormalise ranks every one of them
            assert set(models) <= set(rank(**kw, renormalise=True).ranked["model"])
        elif want == "parameters":  # renormalising does not; dropping the size filter does
            assert not set(models) & set(rank(**{**kw, "renormalise": True}).ranked["model"])
            assert set(models) <= set(rank(renormalise=True).ranked["model"])
        else:  # no weighted value: neither renormalising nor anything but other weights
            assert not set(models) & set(rank(**kw, renormalise=True).ranked["model"])
            assert set(models) <= set(rank(weights="accuracy=1").ranked["model"])
    # The old false hint is gone: under --max-params nothing suggests --renormalise.
    assert "--renormalise scores" not in ranking_table(rank(max_params=50))


def test_a_reason_group_mixing_remedies_says_each():
    """"missing accuracy" under --max-params: one of the two has no size either, so renormalising ranks only
    the other; the hint gives each remedy with its count."""
    from quba.ranking.score import remedy_hint

    df = pd.DataFrame({"model": list("ABCD"), "accuracy": [0.7, 0.8, np.nan, np.nan],
                       "shape_bias": [0.3, 0.4, 0.5, 0.2], "parameters_m": [10.0, 20.0, 5.0, np.nan]})
    r = rank(df, weights="accuracy=1,shape_bias=1", max_params=100)
    assert dict(zip(r.excluded["model"], r.excluded["remedy"])) == {"C": "renormalise", "D": "parameters"}
    assert set(r.excluded["reason"]) == {"missing accuracy"}
    hint = remedy_hint(r.excluded["remedy"])
    assert hint.startswith("1: --renormalise") and "; 1: no parameter count" in hint
    renormalised = rank(df, weights="accuracy=1,shape_bias=1", max_params=100, renormalise=True)
    assert "C" in set(renormalised.ranked["model"]) and set(renormalised.excluded["model"]) == {"D"}
