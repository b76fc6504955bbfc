"""Issue 23.4: `quba sweep` re-runs a model whose record was measured with other value-changing
options (a reference model, an attribution method, a plugin dimension's own option, the protocol's
options, the transform) or other code; up to date only when every one of them agrees."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from quba import dimensions as D
from quba.cli import main
from quba.sweep.task import record_up_to_date

SUITE = None


def _suite():
    global SUITE
    if SUITE is None:
        from quba.suites import load_suite

        SUITE = load_suite("mini")
    return SUITE


def _record(dims_setup: dict, **prov):
    suite = _suite()
    base = {"suite_fingerprint": suite.fingerprint(), "suite_version": str(suite.version), "subset": 1, "seed": 0,
            "bootstrap": 0, "protocol": "quba"}
    return {"model": "m", "suite": "mini", "provenance": {**base, **prov},
            "dimensions": {d: {"value": 0.5, **({"setup": s} if s else {})} for d, s in dims_setup.items()}}


def _kw(**kw):
    return {"subset": 1, "seed": 0, "bootstrap": 0, "protocol": "quba", "batch_size": 256, "options": {}, **kw}


def _fresh(record, dims, **kw):
    return record_up_to_date(record, suite=_suite(), dims=dims, eval_kw=_kw(**kw))


def test_dimension_options_decide_up_to_date():
    from quba.engine import requested_setup

    ref = {"negative_flip_rate": {"reference_model": "mini-cnn-texture"}}
    rec = _record({"negative_flip_rate": requested_setup("negative_flip_rate", ref)})
    assert _fresh(rec, ["negative_flip_rate"], options=ref)
    assert not _fresh(rec, ["negative_flip_rate"], options={"negative_flip_rate": {"reference_model": "mini-cnn-shape"}})
    interp = {"interpretability": {"method": "input_x_gradient"}}
    rec = _record({"interpretability": {**requested_setup("interpretability", interp), "method": "input_x_gradient"}})
    assert _fresh(rec, ["interpretability"], options=interp)
    assert not _fresh(rec, ["interpretability"], options={"interpretability": {"method": "grad_cam"}})
    assert not _fresh(rec, ["interpretability"])  # the default now, an explicit method then: measured again


def test_a_plugin_dimensions_options_count_without_a_hand_list():
    @dataclass(frozen=True)
    class Opts:
        threshold: float | None = None

    dim = D.Dimension(name="plugin_dim_23", higher_is_better=True, title="t", description="d",
                      needs="quba.dimensions.quba9:accuracy_needs", compute="quba.dimensions.quba9:accuracy_compute",
                      options=Opts)
    D.register(dim)
    try:
        from quba.engine import requested_setup

        given = {"plugin_dim_23": {"threshold": 0.5}}
        rec = _record({"plugin_dim_23": requested_setup("plugin_dim_23", given)})
        assert _fresh(rec, ["plugin_dim_23"], options=given)
        assert not _fresh(rec, ["plugin_dim_23"], options={"plugin_dim_23": {"threshold": 0.7}})
    finally:
        D.unregister("plugin_dim_23")


@pytest.mark.parametrize("kw", [dict(protocol="paper"), dict(precision="bf16"), dict(input_size=32),
                                dict(seed=1), dict(subset=2)])
def test_run_options_that_change_values_decide_up_to_date(kw):
    rec = _record({"accuracy": None, "adversarial_robustness": {"protocol": "quba"}}, precision="fp32")
    assert _fresh(rec, ["accuracy", "adversarial_robustness"])
    assert not _fresh(rec, ["accuracy", "adversarial_robustness"], **kw)


def test_the_paper_protocols_options_decide_up_to_date():
    from quba.engine import requested_setup

    opts = {"protocol": "paper", "batch_size": 32, "paper_order": "shuffled", "paper_train_mode": "attack"}
    rec = _record({"adversarial_robustness": requested_setup("adversarial_robustness", opts),
                   "corruption_robustness": requested_setup("corruption_robustness", opts)}, protocol="paper")
    dims = ["adversarial_robustness", "corruption_robustness"]
    assert _fresh(rec, dims, protocol="paper", batch_size=32)
    assert not _fresh(rec, dims, protocol="paper", batch_size=32, paper_order="suite")
    assert not _fresh(rec, dims, protocol="paper", batch_size=32, paper_train_mode="all")  # corruption too now
    assert not _fresh(rec, dims, protocol="paper", batch_size=256)  # batch statistics


MODEL = """
from torch import nn

T = {t}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Tanh())

    def forward(self, x):
        return self.body(x * 4 - 2) / T


def build():
    return Net()
"""


def test_sweep_reruns_after_a_code_change_or_another_reference_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(MODEL.format(t=1)))
    out = tmp_path / "out"
    base = ["sweep", f"{path}:build", "-o", str(out), "--dims", "calibration_error", "negative_flip_rate",
            "--subset", "1", "--bootstrap", "0", "--no-progress", "--workers", "1"]

    def sweep(*extra):
        rc = main([*base, *extra])
        err = capsys.readouterr().err
        assert rc == 0, err
        return err

    sweep("--reference-model", "mini-cnn-texture")
    again = sweep("--reference-model", "mini-cnn-texture")
    assert "up to date (weights and code verified)" in again
    changed = sweep("--reference-model", "mini-cnn-shape")  # NFR against another reference: measured again
    assert f"done   {path}:build" in changed
    path.write_text(textwrap.dedent(MODEL.format(t=50)))  # the code, not the weights
    recoded = sweep("--reference-model", "mini-cnn-shape")
    assert f"done   {path}:build" in recoded
