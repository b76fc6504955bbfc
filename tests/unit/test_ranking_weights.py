"""Weight specs and presets."""
import json

import pytest

from quba import dimensions
from quba.errors import QubaError
from quba.paths import data_file
from quba.ranking import rank
from quba.ranking.weights import PRESETS, get_preset, parse_spec, presets_help, resolve_weights


def test_spec_parsing_names_aliases_fractions_and_bare_names():
    assert parse_spec("accuracy=1,calibration_error=2") == {"accuracy": 1.0, "calibration_error": 2.0}
    assert parse_spec(" acc = 0.5 , ece=1/4, params ") == {
        "accuracy": 0.5, "calibration_error": 0.25, "parameters_m": 1.0}
    assert parse_spec({"ood": 3}) == {"ood_robustness": 3.0}
    assert parse_spec("shape=0") == {"shape_bias": 0.0}


@pytest.mark.parametrize("spec, message", [
    ("accuracy=-1", "negative"),
    ("accuracy=abc", "not a number"),
    ("accuracy=1/0", "not a number"),
    ("accuracy=inf", "finite"),
    ("accuracy=nan", "finite"),
    ("acuracy=1", "did you mean: accuracy"),
    ("accuracy=1,acc=2", "twice"),
    ("", "empty"),
    ("=1", "without a dimension name"),
])
def test_bad_specs(spec, message):
    with pytest.raises(QubaError, match=message):
        parse_spec(spec)


def test_all_zero_weights_are_an_error():
    with pytest.raises(QubaError, match="all weights are zero"):
        resolve_weights("accuracy=0,calibration_error=0")
    with pytest.raises(QubaError, match="all weights are zero"):
        resolve_weights("accuracy=0", preset="accuracy-only")


def test_paper_preset_is_the_published_default():
    norm = json.loads(data_file("quba_normalization.json").read_text())
    paper = get_preset("paper").weights
    assert paper == dict(zip(norm["dimensions"], norm["default_weight"]))
    w, label = resolve_weights()
    assert w == paper and label == "preset paper"


def test_spec_alone_weights_only_what_it_names_and_overrides_a_preset():
    w, label = resolve_weights("calibration_error=2")
    assert w == {"calibration_error": 2.0} and label == "custom"
    w, label = resolve_weights("calibration_error=2,shape_bias=0", preset="paper")
    assert w["calibration_error"] == 2.0 and w["shape_bias"] == 0.0
    assert w["accuracy"] == 1.0 and w["adversarial_robustness"] == pytest.approx(1 / 3)
    assert label == "preset paper + overrides"


def test_preset_lookup_and_suggestion():
    assert get_preset("Accuracy_Only").name == "accuracy-only"
    with pytest.raises(QubaError, match="did you mean: robustness"):
        get_preset("robustnes")


def test_every_preset_is_valid_and_documented():
    text = presets_help()
    for name, p in PRESETS.items():
        assert name in text
        assert all(dimensions.is_known(d) and v >= 0 for d, v in p.weights.items())
        assert any(v > 0 for v in p.weights.values())
        r = rank(preset=name, top=3)
        assert set(r.weights) == {d for d, v in p.weights.items() if v > 0}


def test_presets_change_the_ranking_as_described():
    acc = rank(preset="accuracy-only")
    assert acc.ranked.iloc[0]["accuracy"] == acc.ranked["accuracy"].max()
    eff = rank(preset="efficient")
    paper = rank(preset="paper")
    # tripling the size weight favours smaller models at the top
    assert eff.ranked["parameters_m"].head(10).median() < paper.ranked["parameters_m"].head(10).median()
    agnostic = rank(preset="size-agnostic")
    assert "parameters_m" not in agnostic.weights
    assert len(agnostic.ranked) == 326  # models without a parameter count can be ranked
    rob = rank(preset="robustness")
    assert set(rob.weights) == {"accuracy", "adversarial_robustness", "corruption_robustness", "ood_robustness",
                                "object_focus"}
    tr = rank(preset="trustworthy")
    assert tr.weights["calibration_error"] == 2 * paper.weights["calibration_error"]
