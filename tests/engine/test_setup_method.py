"""Issue 10.10: the attribution method is recorded as part of a dimension's setup; another method
replaces the value only with a note naming both."""
from __future__ import annotations

import json

import quba


def test_interpretability_records_its_method_and_a_change_is_noted(tmp_path, capsys):
    kw = dict(dims=["interpretability"], bootstrap=0, progress=False, output=tmp_path, device="cpu",
              subset=4)
    first = quba.evaluate("mini-cnn-standard", "mini",
                          options={"interpretability": {"method": "gradient", "n_grids": 8}}, **kw)
    # the method it resolved to, and the options it was given (from its options declaration)
    assert first["dimensions"]["interpretability"]["setup"] == {"method": "gradient",
                                                                "options": {"method": "gradient", "n_grids": 8}}
    capsys.readouterr()
    second = quba.evaluate("mini-cnn-standard", "mini",
                           options={"interpretability": {"method": "input_x_gradient", "n_grids": 8}}, **kw)
    err = capsys.readouterr().err
    assert second["dimensions"]["interpretability"]["setup"]["method"] == "input_x_gradient"
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "method gradient -> input_x_gradient" in notes[0]
    on_disk = json.loads(next((tmp_path / "mini" / "records").glob("*.json")).read_text())
    assert on_disk["dimensions"]["interpretability"]["setup"]["method"] == "input_x_gradient"
    # the same method again: no note
    quba.evaluate("mini-cnn-standard", "mini",
                  options={"interpretability": {"method": "input_x_gradient", "n_grids": 8}}, **kw)
    assert "note:" not in capsys.readouterr().err


def test_protocol_is_part_of_the_adversarial_setup(tmp_path):
    from quba.engine import dimension_setup

    paper = {"protocol": "paper", "batch_size": 32}
    assert dimension_setup("adversarial_robustness", paper, {"acc_pgd": 0.1}) == {
        "protocol": "paper", "paper": {"order": "shuffled", "train_mode": "attack", "batch_size": 32}}
    assert dimension_setup("adversarial_robustness", {"protocol": "quba"}) == {"protocol": "quba"}
    assert dimension_setup("accuracy", paper, None) == {}
    # one-call train mode: every dimension eval.py measures after the attacks carries it; accuracy (before) not
    one_call = {**paper, "paper_train_mode": "all"}
    assert dimension_setup("corruption_robustness", one_call)["paper"]["train_mode"] == "all"
    assert dimension_setup("shape_bias", one_call)["protocol"] == "paper"
    assert dimension_setup("accuracy", one_call) == {}
    assert dimension_setup("interpretability", {"protocol": "quba"}, {"method": "grad_cam"}) == {"method": "grad_cam"}
