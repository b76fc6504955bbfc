"""The plan (quba/engine/plan.py, issue 20.1 and 20.6): one function from (model, suite, dimensions,
options) to the requests and their cache keys, each key, fingerprint and resolution made once per
evaluation, and the run's cost in the record's provenance."""
from __future__ import annotations

import pytest

import quba.engine as E
from quba.engine import plan as P
from quba.errors import QubaError

DIMS = ["accuracy", "calibration_error", "object_focus", "negative_flip_rate"]


def _counting(monkeypatch, owner, name):
    calls = []
    real = getattr(owner, name)

    def counted(*a, **kw):
        calls.append(a[:1])
        return real(*a, **kw)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_mini_evaluation_keys_hashes_and_resolves_everything_once(quba_cache, monkeypatch):
    import quba.suites as S
    from quba.api import evaluate
    from quba.suites.mini import MiniSuite
    from quba.zoo.base import LoadedModel

    keys = _counting(monkeypatch, P, "cache_fields")
    suite_fps = _counting(monkeypatch, MiniSuite, "fingerprint")
    weights_fps = _counting(monkeypatch, LoadedModel, "fingerprint")
    code_fps = _counting(monkeypatch, LoadedModel, "code_fingerprint")
    dims = _counting(monkeypatch, E, "resolve_dims")
    suites = _counting(monkeypatch, S, "load_suite")
    rec = evaluate("mini-cnn-standard", "mini", DIMS, subset=2, bootstrap=5, output=None, progress=False,
                   options={"negative_flip_rate": {"reference_model": "mini-cnn-shape"}})
    # val, the two background splits, the reference model's val: four requests, four keys
    assert len(rec["splits"]) == 4 and len(keys) == 4
    assert len(suite_fps) == 1
    assert len(weights_fps) == len(code_fps) == 2  # the model and its reference, once each
    assert len(dims) == 1 and len(suites) == 1
    cost = rec["provenance"]["cost"]
    assert cost == {"forward_passes": sum(rec["forward_passes"].values()), "attack_passes": 0,
                    "splits_from_cache": 0, "splits": 4}
    again = evaluate("mini-cnn-standard", "mini", DIMS, subset=2, bootstrap=5, output=None, progress=False,
                     options={"negative_flip_rate": {"reference_model": "mini-cnn-shape"}})
    assert again["provenance"]["cost"] == {"forward_passes": 0, "attack_passes": 0, "splits_from_cache": 4,
                                           "splits": 4}
    assert again["dimensions"] == rec["dimensions"]


def test_the_plan_is_the_same_for_a_split_task_and_its_model_task():
    """A split task plans only its requests, under exactly the keys the whole plan gives them."""
    from quba.suites import load_suite

    suite = load_suite("mini")
    run = P.RunOptions(subset=2, bootstrap=0, device="cpu", precision="bf16", protocol="paper", progress=False)
    requests = P.plan_requests(suite, ["accuracy", "adversarial_robustness"], run)
    whole = requests.with_model("mini-cnn-standard")
    units = requests.shards()
    # val; the paper protocol's FGSM and PGD, clean and attacked outputs: one run, one unit
    assert [len(keys) for _, keys in units] == [1, 4]
    for _, keys in units:
        part = P.plan_requests(suite, ["accuracy", "adversarial_robustness"], run).with_model(
            "mini-cnn-standard", only=keys)
        assert [r.key for r in part.selected] == keys
        assert {r.key: f for r, f in part.fields.items()} == {r.key: whole.fields[r] for r in whole.selected
                                                              if r.key in keys}
    by_key = {r.key: whole.fields[r] for r in whole.selected}
    assert by_key["val"]["precision"] == "bf16"
    assert all(f["precision"] == "fp32" for k, f in by_key.items() if k != "val")  # the authors' attacks: fp32
    with pytest.raises(QubaError, match="no split request 'nope'"):
        requests.with_model("mini-cnn-standard", only=["nope"])


def test_a_bad_option_fails_before_any_model_loads(monkeypatch):
    from quba.suites import load_suite

    monkeypatch.setattr(E, "resolve_model", lambda m: pytest.fail("a model was loaded"))
    with pytest.raises(QubaError, match="option interpretability.grid_size must be >= 2"):
        P.plan_requests(load_suite("mini"), ["interpretability"],
                        P.RunOptions(options={"interpretability": {"grid_size": 1}}))
    with pytest.raises(TypeError, match="unexpected keyword argument 'subsets'"):
        P.run_options(subsets=3)
