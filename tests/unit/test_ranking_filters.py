"""Filters and leaderboard loading."""
import numpy as np
import pandas as pd
import pytest

from quba.errors import QubaError
from quba.ranking import Filters, load_leaderboard, rank
from quba.ranking.score import match_values


def test_reference_leaderboard_loads_with_source_and_suite():
    lb = load_leaderboard()
    assert len(lb) == 326
    assert (lb["leaderboard"] == "reference").all() and (lb["suite"] == "imagenet").all()
    assert lb["parameters_m"].isna().sum() == 22
    assert lb["accuracy"].isna().sum() == 0  # completed from the project page


def test_max_params_filter_and_unknown_sizes():
    r = rank(filters=Filters(max_params=30))
    assert (r.ranked["parameters_m"] <= 30).all()
    lb = load_leaderboard()
    complete = lb.dropna(subset=list(r.dims))
    assert len(r.ranked) == (complete["parameters_m"] <= 30).sum()
    # without size in the weights, unknown sizes are still not ranked under a budget
    r2 = rank(preset="size-agnostic", filters=Filters(max_params=30))
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
    r = rank(filters=Filters(architecture="cnn"))
    assert set(r.ranked["architecture"]) == {"CNN"}
    r = rank(filters=Filters(architecture=["cnn", "transformer"], pretraining_data="21k"))
    assert set(r.ranked["architecture"]) <= {"CNN", "Transformer"}
    assert set(r.ranked["pretraining_data"]) == {"ImageNet-21k"}
    r = rank(filters=Filters(paradigm="supervised"))
    assert set(r.ranked["paradigm"]) == {"Supervised learning"}
    r = rank(filters=Filters(paradigm="self"))
    assert set(r.ranked["paradigm"]) == {"Self-supervised learning"}
    with pytest.raises(QubaError, match="did you mean: Transformer"):
        rank(filters=Filters(architecture="transfomer"))


def test_name_glob_is_case_insensitive_and_ored():
    r = rank(filters=Filters(name=["vit-b*", "resnet50"]))
    names = set(r.ranked["model"])
    assert "ResNet50" in names
    assert all(n.lower().startswith("vit-b") or n == "ResNet50" for n in names)
    assert len(names) > 3


def test_nothing_left_after_filters():
    with pytest.raises(QubaError, match="no model is left"):
        rank(filters=Filters(name="no-such-model*"))
    with pytest.raises(QubaError, match="positive"):
        rank(filters=Filters(max_params=-5))


def test_exclude_missing_keeps_complete_rows_only():
    r = rank(weights="accuracy")
    assert len(r.ranked) == 326
    r = rank(weights="accuracy", filters=Filters(exclude_missing=True))
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

    cases = [({}, "renormalise"), ({"filters": Filters(max_params=50)}, "parameters"),
             ({"filters": Filters(max_params=50), "renormalise": True}, "parameters"),
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
    assert "--renormalise scores" not in ranking_table(rank(filters=Filters(max_params=50)))


def test_a_reason_group_mixing_remedies_says_each():
    """"missing accuracy" under --max-params: one of the two has no size either, so renormalising ranks only
    the other; the hint gives each remedy with its count."""
    from quba.ranking.score import remedy_hint

    df = pd.DataFrame({"model": list("ABCD"), "accuracy": [0.7, 0.8, np.nan, np.nan],
                       "shape_bias": [0.3, 0.4, 0.5, 0.2], "parameters_m": [10.0, 20.0, 5.0, np.nan]})
    r = rank(df, weights="accuracy=1,shape_bias=1", filters=Filters(max_params=100))
    assert dict(zip(r.excluded["model"], r.excluded["remedy"])) == {"C": "renormalise", "D": "parameters"}
    assert set(r.excluded["reason"]) == {"missing accuracy"}
    hint = remedy_hint(r.excluded["remedy"])
    assert hint.startswith("1: --renormalise") and "; 1: no parameter count" in hint
    renormalised = rank(df, weights="accuracy=1,shape_bias=1", renormalise=True, filters=Filters(max_params=100))
    assert "C" in set(renormalised.ranked["model"]) and set(renormalised.excluded["model"]) == {"D"}


# ---------------------------------------------------------------- one Filters object for rank, recommend, correlate

def test_one_filters_object_serves_rank_recommend_and_correlate():
    f = Filters(max_params=50, architecture=["cnn", "transformer"], name=["*"])
    from quba.ranking import correlate, recommend

    r = rank(filters=f)
    assert r.filters is f and r.n_candidates < r.n_loaded
    rec = recommend(filters=f, top=2, samples=20)
    assert rec.ranking.filters is f
    assert set(rec.ranking.ranked["model"]) == set(r.ranked["model"])
    pairs = correlate(filters=f)
    lb = load_leaderboard()
    kept = f.apply(lb, ["accuracy"])
    assert pairs.set_index(["dim_a", "dim_b"]).loc[("accuracy", "adversarial_robustness"), "n"] == len(kept)
    assert rank(filters={"max_params": 50, "architecture": ["cnn", "transformer"]}).ranked.equals(r.ranked)
    import quba

    assert quba.Filters is Filters  # the top-level API has it beside quba.rank


def test_correlate_exclude_missing_keeps_the_complete_rows_of_the_correlated_dimensions():
    from quba.ranking import correlate

    df = pd.DataFrame({"model": list("ABCDE"), "accuracy": [0.1, 0.2, 0.3, 0.4, 0.5],
                       "shape_bias": [0.5, 0.1, 0.4, 0.2, np.nan], "object_focus": [0.3, 0.2, 0.1, np.nan, 0.9]})
    pairwise = correlate(df).set_index(["dim_a", "dim_b"])["n"]
    assert pairwise[("accuracy", "shape_bias")] == 4 and pairwise[("accuracy", "object_focus")] == 4
    complete = correlate(df, filters=Filters(exclude_missing=True)).set_index(["dim_a", "dim_b"])["n"]
    assert set(complete) == {3}  # A, B, C have all three
    only_two = correlate(df, dims=["accuracy", "shape_bias"], filters=Filters(exclude_missing=True))
    assert list(only_two["n"]) == [4]  # E lacks shape bias; D's missing object focus is not in play


@pytest.mark.parametrize("fn", ["rank", "recommend", "correlate"])
def test_filter_keywords_still_work_for_one_release_with_a_deprecation_warning(fn):
    import quba.ranking as R

    call = getattr(R, fn)
    extra = {"samples": 20} if fn == "recommend" else {}
    with pytest.warns(DeprecationWarning, match=rf"{fn}\(max_params=\.\.\., paradigm=\.\.\.\) is deprecated.*"
                                               r"filters=Filters\(max_params=\.\.\., paradigm=\.\.\.\)"):
        old = call(max_params=50, paradigm="supervised", **extra)
    new = call(filters=Filters(max_params=50, paradigm="supervised"), **extra)
    if fn == "correlate":
        pd.testing.assert_frame_equal(old, new)
    else:
        ranked = (lambda x: x.ranked) if fn == "rank" else (lambda x: x.ranking.ranked)
        pd.testing.assert_frame_equal(ranked(old), ranked(new))
    with pytest.raises(TypeError, match="give the filters once"):
        call(filters=Filters(), max_params=50, **extra)
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_param'"):
        call(max_param=50, **extra)


def test_filters_given_wrongly_are_one_clear_error():
    with pytest.raises(QubaError, match=r"unknown filter 'max_param' \(did you mean: max_params"):
        rank(filters={"max_param": 50})
    with pytest.raises(QubaError, match="filters must be a quba.ranking.Filters"):
        rank(filters="max_params=50")
