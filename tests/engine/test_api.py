"""The API layer (quba/api.py): one-way flow, validation once, one record maker (store/schema.py)."""
from __future__ import annotations

import json

import pytest
import torch
from engine_fakes import BrightnessNet, FakeSuite

import quba
from quba import api
from quba.errors import QubaError
from quba.store import schema
from quba.store.records import load_records, read_record


def _net():
    torch.manual_seed(0)
    return BrightnessNet()


def test_quba_reexports_the_api():
    for name in ("evaluate", "evaluate_many", "leaderboard", "compare", "certify", "consistency", "place"):
        assert getattr(quba, name) is getattr(api, name)


def test_quba_error_is_a_value_error():
    assert issubclass(QubaError, ValueError)
    with pytest.raises(ValueError, match="--bootstrap must be at most 10000"):
        api.check_bootstrap(10_001)


def test_the_engine_writes_nothing_the_api_writes_the_record_and_leaderboard(tmp_path, monkeypatch):
    from quba.engine import measure_model

    monkeypatch.chdir(tmp_path)  # the default output is ./results: nothing may appear there
    parts = measure_model(_net(), FakeSuite(), ["accuracy"], bootstrap=0, progress=False, cache_root=tmp_path / "c")
    assert not (tmp_path / "results").exists()
    assert "format" not in parts and parts["dimensions"]["accuracy"]["value"] is not None
    rec = api.evaluate(_net(), FakeSuite(), ["accuracy"], bootstrap=0, progress=False, output=tmp_path / "res",
                       cache_root=tmp_path / "c")
    assert rec["format"] == schema.FORMAT and rec["created"]
    assert rec["dimensions"]["accuracy"] == parts["dimensions"]["accuracy"]
    assert read_record(rec["path"])["dimensions"]["accuracy"]["value"] == rec["dimensions"]["accuracy"]["value"]
    assert (tmp_path / "res" / "fake" / "leaderboard.csv").is_file()


def test_bad_input_fails_before_any_work_and_writes_nothing(tmp_path):
    for kw, msg in [({"subset": 0}, "--subset"), ({"batch_size": "x"}, "--batch-size"),
                    ({"protocol": "nope"}, "protocol"), ({"bootstrap": -1}, "--bootstrap")]:
        with pytest.raises(QubaError, match=msg):
            api.evaluate(_net(), FakeSuite(), ["accuracy"], progress=False, output=tmp_path / "res",
                         cache_root=tmp_path / "c", **kw)
    with pytest.raises(QubaError, match="unknown dimension|no dimension"):
        api.evaluate(_net(), FakeSuite(), ["accuracy", "not_a_dimension"], output=tmp_path / "res")
    assert not (tmp_path / "res").exists() and not (tmp_path / "c").exists()


def test_make_record_validates_what_it_makes():
    rec = schema.make_record(model="m", suite="s", dimensions={"accuracy": {"value": float("nan"), "lo": 1, "hi": 2}},
                             provenance={})
    assert rec["dimensions"]["accuracy"]["value"] is None  # non-finite: null, as every writer stores it
    assert rec["metadata"] == {"architecture": None, "paradigm": None, "pretraining_data": None, "source": None}
    with pytest.raises(QubaError, match="for model 'm'.*accuracy.*not a number"):
        schema.make_record(model="m", suite="s", dimensions={"accuracy": {"value": "high"}}, provenance={})
    with pytest.raises(QubaError, match="no 'model' name"):
        schema.make_record(model=" ", suite="s", dimensions={}, provenance={})


def test_a_record_of_a_newer_format_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "res" / "s" / "records" / "m.json"
    path.parent.mkdir(parents=True)
    body = {"format": 3, "model": "m", "suite": "s", "dimensions": {}}
    path.write_text(json.dumps({**body, "checksum": schema.checksum(body)}))
    with pytest.raises(QubaError, match=f"record {path} .*unknown format 3.*reads formats 1, 2"):
        load_records(tmp_path / "res", "s")


def test_consistency_record_goes_through_make_record(tmp_path):
    out = api.consistency("mini", features="procedural", limit=3, bootstrap=20, record="my-gen",
                          output=tmp_path / "res", progress=False)
    rec = read_record(out["record"])  # validated, checksum and all
    assert rec["format"] == schema.FORMAT and rec["model"] == "my-gen" and rec["suite"] == "mini"
    assert rec["dimensions"]["met3r"]["value"] == pytest.approx(out["met3r"])
    assert rec["metadata"]["source"] == "pairs" and rec["provenance"]["subset"] == 3
    assert out["groups"] and {g["kind"] for g in out["groups"]} <= {"consistent", "content", "pose"}


def test_placement_follows_the_suite_spec(monkeypatch):
    """Which reference, which protocol and which normalisation: the suite declares them."""
    import dataclasses

    from quba.ranking import placement
    from quba.suites import specs

    rec = {"model": "x", "suite": "mini", "dimensions": {"adversarial_robustness": {"value": 0.1,
                                                                                     "setup": {"protocol": "quba"}}}}
    assert placement.protocol_warnings(rec) == []
    monkeypatch.setattr(specs, "SPECS", specs.SPECS.copy())
    mini = specs.SPECS.get("mini")
    specs.SPECS.register(dataclasses.replace(mini, reference_protocol="paper"), replace=True)
    assert "under the quba protocol" in placement.protocol_warnings(rec)[0]
    specs.SPECS.register(dataclasses.replace(mini, reference=None), replace=True)
    assert "no reference leaderboard ships for suite 'mini'" in placement.place(rec)["note"]
