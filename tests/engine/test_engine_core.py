"""The engine on a fake suite: one pass per split (counted), caching, records, bootstrap, subsets, hooks."""
from __future__ import annotations

import dataclasses
import json
import signal

import numpy as np
import pytest
import torch

import quba.api as A
import quba.engine as E
from quba import dimensions as D
from quba.dimensions import Dimension, SplitRequest
from quba.engine import measure
from quba.engine.runner import stratified_subset
from quba.errors import QubaError
from quba.metrics.resample import index_matrix

from engine_fakes import K, BrightnessNet, FakeSuite

NON_ATTACK = ["accuracy", "corruption_robustness", "ood_robustness", "calibration_error", "class_balance",
              "object_focus", "shape_bias", "parameters_m"]


def run(model, suite, tmp_path, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("output", tmp_path / "results")
    return A.evaluate(model, suite, **kw)


def test_every_split_runs_once_and_is_cached(quba_cache, tmp_path):
    suite, model = FakeSuite(), BrightnessNet()
    rec = run(model, suite, tmp_path, dims=NON_ATTACK, bootstrap=0)
    n = len(suite.split("val"))
    expected = {"val", "cue_conflict", "bg/mixed_same", "bg/mixed_rand",
                *[s for s in suite.split_names() if s.startswith(("corruption/", "ood/"))]}
    assert set(rec["forward_passes"]) == expected
    assert all(v == n for v in rec["forward_passes"].values())  # each image exactly once
    assert rec["attack_passes"] == {}
    # Another evaluate with other dimensions: zero forward passes, same values.
    again = run(model, suite, tmp_path, dims=["accuracy", "shape"], bootstrap=0)
    assert sum(again["forward_passes"].values()) == 0
    assert all(s["cached"] for s in again["splits"].values())
    for d in ("accuracy", "shape_bias"):
        assert again["dimensions"][d]["value"] == rec["dimensions"][d]["value"]


def test_dims_subset_runs_only_needed_splits(quba_cache, tmp_path):
    rec = run(BrightnessNet(), FakeSuite(), tmp_path, dims="shape,accuracy", bootstrap=0)
    assert set(rec["forward_passes"]) == {"val", "cue_conflict"}
    assert set(rec["dimensions"]) == {"shape_bias", "accuracy"}
    rec = run(BrightnessNet(), FakeSuite(), tmp_path, dims=["params"], bootstrap=0)
    assert rec["forward_passes"] == {} and rec["dimensions"]["parameters_m"]["value"] == pytest.approx(2.4e-5)


def test_a_changed_model_is_not_served_from_cache(quba_cache, tmp_path):
    suite, model = FakeSuite(), BrightnessNet()
    run(model, suite, tmp_path, dims=["accuracy"], bootstrap=0)
    with torch.no_grad():
        model.levels[0] += 0.01  # other weights -> other fingerprint
    rec = run(model, suite, tmp_path, dims=["accuracy"], bootstrap=0)
    assert rec["forward_passes"]["val"] == len(suite.split("val"))


def test_values_match_the_metrics_on_the_raw_predictions(quba_cache, tmp_path):
    from quba.metrics.calibration import calibration_error
    from quba.metrics.shape import shape_bias

    suite, model = FakeSuite(), BrightnessNet(sharpness=60)
    rec = run(model, suite, tmp_path, dims=["accuracy", "calibration", "shape"], bootstrap=0)
    val = suite.split("val")
    with torch.no_grad():
        z = model(torch.from_numpy(val.images).float() / 255).numpy()
    p = torch.softmax(torch.from_numpy(z).double(), 1).numpy()
    assert rec["dimensions"]["accuracy"]["value"] == pytest.approx(np.mean(z.argmax(1) == val.labels))
    assert 0.5 < rec["dimensions"]["accuracy"]["value"] < 1.0  # the fake is neither trivial nor hopeless
    assert rec["dimensions"]["calibration_error"]["value"] == pytest.approx(calibration_error(val.labels, p),
                                                                             rel=1e-6)
    cue = suite.split("cue_conflict")
    with torch.no_grad():
        pc = model(torch.from_numpy(cue.images).float() / 255).numpy().argmax(1)
    assert rec["dimensions"]["shape_bias"]["value"] == pytest.approx(
        shape_bias(cue.meta["shape"], cue.meta["texture"], pc))


def test_record_and_leaderboard_on_disk(quba_cache, tmp_path):
    import pandas as pd

    suite, model = FakeSuite(), BrightnessNet()
    run(model, suite, tmp_path, dims=["accuracy", "calibration"], bootstrap=20)
    rec = run(model, suite, tmp_path, dims=["shape", "params"], bootstrap=20)
    from quba.store.records import record_path, run_log_path

    path = record_path(tmp_path / "results", "fake", "BrightnessNet")  # BrightnessNet~<hash>.json
    on_disk = json.loads(path.read_text())
    # merged: both evaluations' dimensions in one record; both runs in the run log beside it
    assert set(on_disk["dimensions"]) == {"accuracy", "calibration_error", "shape_bias", "parameters_m"}
    runs = [json.loads(line) for line in run_log_path(path).read_text().splitlines()]
    assert [r["dimensions"] for r in runs] == [["accuracy", "calibration_error"], ["parameters_m", "shape_bias"]]
    prov = on_disk["provenance"]
    for key in ("quba", "torch", "timm", "seed", "device", "suite_fingerprint", "model_fingerprint", "subset"):
        assert key in prov
    assert prov["suite_fingerprint"] == suite.fingerprint()
    assert rec["path"] == str(path)
    lb = pd.read_csv(tmp_path / "results" / "fake" / "leaderboard.csv")
    assert list(lb.columns[:6]) == ["model", "suite", "accuracy", "calibration_error", "shape_bias", "parameters_m"]
    assert "accuracy_lo" in lb.columns and "quba_version" in lb.columns and "subset" in lb.columns
    assert lb.loc[0, "accuracy"] == pytest.approx(on_disk["dimensions"]["accuracy"]["value"], rel=1e-5)
    assert lb.loc[0, "accuracy_lo"] <= lb.loc[0, "accuracy"] <= lb.loc[0, "accuracy_hi"]
    # the ranking engine reads it
    from quba.ranking.leaderboard import load_leaderboard

    assert load_leaderboard(tmp_path / "results" / "fake" / "leaderboard.csv")["model"].tolist() == ["BrightnessNet"]
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_bootstrap_is_seeded_and_independent_of_other_dims(quba_cache, tmp_path):
    suite, model = FakeSuite(), BrightnessNet(sharpness=60)
    a = run(model, suite, tmp_path, dims=NON_ATTACK, bootstrap=50, output=None)
    b = run(model, suite, tmp_path, dims=["shape_bias", "calibration_error"], bootstrap=50, output=None)
    c = run(model, suite, tmp_path, dims=["shape_bias"], bootstrap=50, seed=1, output=None)
    for d in ("shape_bias", "calibration_error"):
        assert a["dimensions"][d] == b["dimensions"][d]
    assert c["dimensions"]["shape_bias"]["lo"] != a["dimensions"]["shape_bias"]["lo"] or \
        c["dimensions"]["shape_bias"]["hi"] != a["dimensions"]["shape_bias"]["hi"]
    for d, v in a["dimensions"].items():
        assert v["lo"] <= v["value"] + 1e-12 and v["value"] <= v["hi"] + 1e-12, d
    assert a["dimensions"]["parameters_m"]["lo"] == a["dimensions"]["parameters_m"]["hi"]
    off = run(model, suite, tmp_path, dims=["accuracy"], bootstrap=0, output=None)
    assert off["dimensions"]["accuracy"]["lo"] is None and off["provenance"]["bootstrap"] == 0


@pytest.mark.parametrize("dim", ["accuracy", "corruption_robustness", "ood_robustness", "object_focus",
                                 "shape_bias", "class_balance", "adversarial_robustness"])
def test_weighted_bootstrap_is_compute_on_every_resample(quba_cache, tmp_path, dim):
    """The generic bootstrap (compute under count weights [B, N]) gives, replicate by replicate,
    what compute gives on the resampled images themselves: one formula for value and interval.
    Draws are per split, replicate after replicate of one split, then the next split."""
    suite = FakeSuite(n_per_class=40)
    model = BrightnessNet(sharpness=60)
    dobj = D.get(dim)
    reqs = dobj.needs(suite, {})
    from quba.engine.runner import Runner

    runner = Runner(E.resolve_model(model), suite, device="cpu", progress=False)
    outs = {r: runner.outputs(r) for r in reqs}
    ctx = measure.Context(dimension=dim, suite=suite, model=None, opts={"seed": 0}, device="cpu", outputs=outs)
    n = 50
    fast = measure.replicates(dobj, ctx, n, seed=3)
    rng = measure.dimension_rng(3, dim, "bootstrap")
    splits = list(dict.fromkeys((r.split, len(o)) for r, o in outs.items()))
    idx = {key: index_matrix(rng, n, key[1]) for key in splits}  # split after split
    slow = []
    for b in range(n):
        taken = {r: o.take(idx[(r.split, len(o))][b]) for r, o in outs.items()}
        one = measure.Context(dimension=dim, suite=suite, model=None, opts={"seed": 0}, device="cpu", outputs=taken)
        slow.append(measure.value_of(dobj.compute(one)))
    assert np.std(fast) > 0
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-15)


def _synthetic(n=3000, k=10, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    y = np.where(rng.random(n) < 0.6, logits.argmax(1), rng.integers(0, k, n))
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True), rng


def test_class_balance_with_count_weights_is_the_metric_on_the_resample():
    from quba.metrics.balance import class_balance

    y, p, rng = _synthetic(k=7)
    W = np.stack([np.bincount(rng.integers(0, len(y), len(y) // 3), minlength=len(y)) for _ in range(5)])
    got = class_balance(y, p, sample_weight=W)
    for w, g in zip(W, got):
        idx = np.repeat(np.arange(len(y)), w)
        assert g == pytest.approx(class_balance(y[idx], p[idx]), abs=1e-12)
        assert class_balance(y, p, sample_weight=w) == pytest.approx(g, abs=1e-15)


def _outputs(y, p, name="val"):
    from quba.engine.outputs import SplitOutputs
    from quba.suites.base import DecisionMapping

    logits = np.log(np.clip(p, 1e-300, None))
    logits[p == 0] = -1e4  # softmax gives exactly 0 there
    return SplitOutputs(name=name, index=np.arange(len(y)), labels=y, preds=logits.argmax(1),
                        decisions=logits.argmax(1), logits=logits, meta={}, decision=DecisionMapping(name="id"))


@pytest.mark.parametrize("n,k,block", [(300, 7, 1 << 21), (120, 30, 500), (40, 25, 1 << 21)])
def test_calibration_bootstrap_is_the_metric_on_every_resample(n, k, block):
    """The count-weighted calibration bootstrap gives, resample by resample and for the same
    seed, what re-binning every resample gives (the way it was computed before): ties between
    probabilities, zero probabilities, fewer images than bins and class blocks included."""
    from quba.metrics.calibration import calibration_error

    y, p, rng = _synthetic(n=n, k=k, seed=3)
    p[:9] = np.round(p[:9], 1)  # ties (and zeros) across images
    p[:9] /= p[:9].sum(1, keepdims=True)
    W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(60)])
    from quba.metrics.calibration import _weighted_calibration_error

    fast = _weighted_calibration_error(y, p, W, block=block)
    np.testing.assert_allclose(calibration_error(y, p, sample_weight=W), fast, rtol=1e-12)  # the public form
    slow = [calibration_error(y[np.repeat(np.arange(n), w)], p[np.repeat(np.arange(n), w)]) for w in W]
    assert np.std(fast) > 0
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-15)
    once = _weighted_calibration_error(y, p, np.ones((1, n)), block=block)  # every image drawn once
    assert once[0] == pytest.approx(calibration_error(y, p), rel=1e-12)


@pytest.mark.parametrize("block", [1 << 19, 700])
def test_calibration_bootstrap_with_classes_that_have_no_images(block):
    """A 300-way model on images of 6 classes (a subset of ImageNet, say): the 294 classes without
    an image of their own take the closed form (their probability mass over their copies), the 6
    others the binned path; a class whose only images have p = 0 takes the closed form too. Every
    resample equals re-binning the resampled images."""
    from quba.metrics.calibration import _weighted_calibration_error, calibration_error

    rng = np.random.default_rng(11)
    n, k = 90, 300
    y = rng.integers(0, 6, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 2
    p = np.exp(logits)
    p[:, 7:20] = 0.0  # zero probabilities: not in those classes' bins
    p[y == 5, 5] = 0.0  # class 5's own images have p = 0: no image of its own in its bins
    p /= p.sum(1, keepdims=True)
    p[:10] = np.round(p[:10], 3)  # ties across images
    p[:10] /= p[:10].sum(1, keepdims=True)
    W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(40)])
    fast = _weighted_calibration_error(y, p, W, block=block)
    slow = [calibration_error(y[np.repeat(np.arange(n), w)], p[np.repeat(np.arange(n), w)]) for w in W]
    assert np.std(fast) > 0
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-15)
    from quba.kernels.calibration import binner

    on_torch = _weighted_calibration_error(y, p, W, block=block, binner=binner("cpu"))
    np.testing.assert_allclose(on_torch, slow, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n,k,block", [(300, 7, 1 << 19), (120, 30, 500), (40, 25, 1 << 19), (64, 3, 64)])
def test_calibration_torch_kernel_is_the_numpy_reference(n, k, block):
    """quba/kernels/calibration.py (the engine's: torch, batched over resamples and classes) gives the
    class errors of quba.metrics' numpy passes, class by class and resample by resample: ties, zero
    probabilities, fewer images than bins and blocks smaller than a class's column included."""
    from quba.kernels.calibration import binner
    from quba.metrics.calibration import _binned_classes

    y, p, rng = _synthetic(n=n, k=k, seed=4)
    p[:9] = np.round(p[:9], 1)
    p[:9] /= p[:9].sum(1, keepdims=True)
    W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(30)]).astype(float)
    classes = np.unique(y)
    ref = _binned_classes(y, p, W, classes, 15, block)
    got = binner()(y, p, W, classes, 15, block)
    assert np.isfinite(ref).all() and np.std(ref) > 0
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)


def test_calibration_interval_is_unchanged_for_the_same_seed():
    """Intervals equal those of the old bootstrap (compute on ctx.resampled(rng), n times) to float
    noise: same draws, same replicates."""
    y, p, _ = _synthetic(n=500, k=12, seed=5)
    out = _outputs(y, p)
    from quba.suites.base import SuiteOutline

    ctx = measure.Context(dimension="calibration_error", suite=SuiteOutline("t", ["val"]), model=None,
                          opts={"seed": 0}, device="cpu",
                          outputs={SplitRequest("val", outputs="logits"): out})
    dim = D.get("calibration_error")
    value = measure.value_of(dim.compute(ctx))
    rng = measure.dimension_rng(7, dim.name, "bootstrap")
    old = np.array([measure.value_of(dim.compute(ctx.resampled(rng))) for _ in range(200)])
    new = measure.replicates(dim, ctx, 200, 7)
    np.testing.assert_allclose(new, old, rtol=1e-12)
    lo, hi, _ = measure.bootstrap_interval(dim, ctx, 200, 7, value)
    shift = old.mean() - value
    assert (lo, hi) == pytest.approx(tuple(np.percentile(old - shift, [2.5, 97.5])), rel=1e-12)


def test_stratified_subset_is_fixed_and_shared_by_splits_with_the_same_labels():
    labels = np.repeat(np.arange(5), [10, 3, 8, 8, 9])
    idx = stratified_subset(labels, 4)
    assert np.array_equal(np.bincount(labels[idx]), [4, 3, 4, 4, 4])  # class 1 has only 3
    assert np.array_equal(idx, stratified_subset(labels.copy(), 4))
    assert len(np.unique(idx)) == len(idx)


def test_subset_is_used_and_recorded(quba_cache, tmp_path):
    suite = FakeSuite(n_per_class=10)
    rec = run(BrightnessNet(), suite, tmp_path, dims=["accuracy", "corruption"], subset=3, bootstrap=0)
    assert rec["forward_passes"]["val"] == 3 * K
    assert rec["splits"]["val"]["images"] == 3 * K
    assert rec["provenance"]["subset"] == 3
    full = run(BrightnessNet(), suite, tmp_path, dims=["accuracy"], bootstrap=0)  # not served from the subset
    assert full["forward_passes"]["val"] == 10 * K


def test_unreadable_images_are_skipped_and_counted_or_fail_with_strict(quba_cache, tmp_path):
    class Pre:  # forces the dataset path (a model with its own preprocess)
        def __call__(self, x):
            return x

    suite = FakeSuite(unreadable=(2, 5))
    model = E.resolve_model(BrightnessNet())
    model.preprocess = Pre()
    rec = run(model, suite, tmp_path, dims=["accuracy"], bootstrap=0)
    assert rec["splits"]["val"] == {**rec["splits"]["val"], "images": 4 * 10 - 2, "skipped": 2}
    assert rec["skipped_images"] == 2
    assert rec["forward_passes"]["val"] == 38
    with pytest.raises(QubaError, match="unreadable image in split 'val'"):
        run(model, FakeSuite(unreadable=(3,), seed=5), tmp_path, dims=["accuracy"], bootstrap=0, strict=True)


def test_interrupted_evaluation_resumes_from_cached_splits(quba_cache, tmp_path):
    suite = FakeSuite()
    model = BrightnessNet()
    calls = {"n": 0}

    def boom(module, args):
        calls["n"] += 1
        if calls["n"] == 6:  # dies on the sixth split
            raise KeyboardInterrupt

    h = model.register_forward_pre_hook(boom)
    # a Ctrl-C in an interactive session (where SIGINT is ignored, as in a background run, quba takes
    # a KeyboardInterrupt for the model's own: tests/e2e/test_reliability2.py)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(model, suite, tmp_path, dims=NON_ATTACK, bootstrap=0)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not (tmp_path / "results" / "fake" / "records" / "BrightnessNet.json").exists()
    h.remove()
    rec = run(model, suite, tmp_path, dims=NON_ATTACK, bootstrap=0)
    ran = [k for k, v in rec["forward_passes"].items() if v]
    cached = [k for k, v in rec["splits"].items() if v["cached"]]
    assert len(cached) == 5 and len(ran) == len(rec["splits"]) - 5


def test_a_model_that_leaves_eval_mode_is_refused(quba_cache, tmp_path):
    class Sneaky(BrightnessNet):
        def forward(self, x):
            self.train()
            return super().forward(x)

    with pytest.raises(QubaError, match="train mode"):
        run(Sneaky(), FakeSuite(), tmp_path, dims=["accuracy"], bootstrap=0)


@pytest.mark.parametrize("kw, match", [
    ({"dims": ["acuracy"]}, "unknown dimension 'acuracy'.*accuracy"),
    ({"subset": 0}, "--subset must be a whole number >= 1"),
    ({"subset": "many"}, "--subset must be a whole number"),
    ({"bootstrap": -1}, "--bootstrap"),
    ({"batch_size": 0}, "--batch-size"),
    ({"device": "tpu"}, "bad device 'tpu'"),
    ({"device": "cuda:x"}, "bad device"),
])
def test_bad_input_is_one_line_and_writes_nothing(quba_cache, tmp_path, kw, match):
    with pytest.raises(QubaError, match=match) as exc:
        run(BrightnessNet(), FakeSuite(), tmp_path, **kw)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "results").exists()
    assert not quba_cache.exists() or not any(quba_cache.rglob("*.npz"))


def test_missing_split_names_the_dimension(quba_cache, tmp_path):
    suite = FakeSuite()
    del suite._splits["bg/mixed_rand"]
    with pytest.raises(QubaError, match="object_focus.*bg/mixed_rand"):
        run(BrightnessNet(), suite, tmp_path)
    assert not (tmp_path / "results").exists()


def test_output_under_a_file_fails_before_work(quba_cache, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(QubaError, match="cannot write results.*not a folder"):
        run(BrightnessNet(), FakeSuite(), tmp_path, output=blocker / "out")
    assert not quba_cache.exists() or not any(quba_cache.rglob("*.npz"))


# --- the hook contract, as a further dimension would use it ---------------------------------
@pytest.fixture
def registered():
    added = []

    def add(dim):
        D.register(dim)
        added.append(dim.name)
        return dim

    yield add
    for name in added:
        D.unregister(name)


def test_a_further_dimension_plugs_in_with_a_reference_model(quba_cache, tmp_path, monkeypatch, registered):
    """A negative-flip-like dimension: reads a declared reference model's cached predictions."""
    import quba.zoo

    old_model = BrightnessNet(sharpness=60)
    with torch.no_grad():
        old_model.levels[1] += 0.05
    monkeypatch.setattr(quba.zoo, "load_model", lambda spec: E.resolve_model(old_model), raising=False)

    @dataclasses.dataclass(frozen=True)
    class FlipOptions:  # its options, declared: checked once, read as opts.options / ctx.options
        reference: str | None = None

    def needs(suite, opts):
        return [SplitRequest("val"), SplitRequest("val", model=opts.options.reference)]

    def compute(ctx):
        new, old = ctx.outputs("val"), ctx.outputs(SplitRequest("val", model=ctx.options.reference))
        assert np.array_equal(new.index, old.index)
        return {"value": float(np.mean(old.correct & ~new.correct)), "n": len(new)}

    registered(Dimension("test_flips", False, "Flips", "test", needs=needs, compute=compute, options=FlipOptions))
    rec = run(BrightnessNet(sharpness=60), FakeSuite(), tmp_path, dims=["test_flips"], bootstrap=30,
              options={"test_flips": {"reference": "old-model"}})
    v = rec["dimensions"]["test_flips"]
    assert 0 < v["value"] < 0.5 and v["lo"] <= v["value"] <= v["hi"] and v["details"]["n"] == 40
    assert rec["forward_passes"]["val[old-model]"] == 40


def test_a_dimension_that_uses_the_model_itself(quba_cache, tmp_path, registered):
    """An attribution-like dimension: no cached outputs, gradients through ctx.model on ctx.split images."""
    def compute(ctx):
        x = torch.from_numpy(ctx.split("val").images[:8]).float().div(255).requires_grad_(True)
        ctx.model.module(x).max(1).values.sum().backward()
        return float(x.grad.abs().mean())

    registered(Dimension("test_saliency", True, "Saliency", "test", needs=lambda s, o: [], compute=compute))
    rec = run(BrightnessNet(), FakeSuite(), tmp_path, dims=["test_saliency"], bootstrap=10)
    v = rec["dimensions"]["test_saliency"]
    assert v["value"] > 0
    assert v["lo"] is None and v["hi"] is None  # no outputs to resample and no own bootstrap: no interval


def test_a_dimension_without_hooks_is_refused(quba_cache, tmp_path, registered):
    registered(Dimension("test_nohooks", True, "None", "test"))
    with pytest.raises(QubaError, match="no engine hooks"):
        run(BrightnessNet(), FakeSuite(), tmp_path, dims=["test_nohooks"])


def test_full_nine_dimension_run_counts_one_pass_per_clean_image(quba_cache, tmp_path):
    suite, model = FakeSuite(), BrightnessNet(sharpness=60)
    rec = run(model, suite, tmp_path, bootstrap=20)
    assert list(rec["dimensions"]) == list(D.NINE)
    n = len(suite.split("val"))
    assert rec["forward_passes"]["val"] / n == 1
    for name, count in rec["forward_passes"].items():
        assert count == len(suite.split(name)), name
    # attacks are counted apart: FGSM one gradient pass + the final pass; PGD 10 steps + the final pass
    assert rec["attack_passes"] == {"val@fgsm": 2 * n, "val@pgd": 11 * n}
    for d, v in rec["dimensions"].items():
        assert v["value"] is not None and v["lo"] is not None and v["hi"] is not None, d
    adv = rec["dimensions"]["adversarial_robustness"]["details"]
    assert adv["acc_pgd"] <= adv["acc_fgsm"] + 0.05 and adv["acc_fgsm"] < adv["acc_clean"]


def test_placement_among_a_reference_leaderboard(tmp_path, monkeypatch):
    """z-scores against the reference's mean/std, contributions summing to QUBA, rank among the reference."""
    import pandas as pd

    from quba.ranking import placement as reference

    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"model": [f"m{i}" for i in range(6)], "suite": "mini"})
    for d in D.NINE:
        ref[d] = rng.uniform(0.2, 0.8, 6)
    path = tmp_path / "ref.csv"
    ref.to_csv(path, index=False)
    monkeypatch.setattr(reference, "reference_path", lambda suite: path if suite == "mini" else None)
    best = {d: (ref[d].max() + 0.1 if D.higher_is_better(d) else ref[d].min() - 0.1) for d in D.NINE}
    rec = {"model": "new", "suite": "mini", "dimensions": {d: {"value": v} for d, v in best.items()}}
    placed = reference.place(rec)
    assert placed["rank"] == 1 and placed["n"] == 7
    mu, sd = ref["accuracy"].mean(), ref["accuracy"].std(ddof=1)
    assert placed["z"]["accuracy"] == pytest.approx((best["accuracy"] - mu) / sd)
    assert placed["z"]["calibration_error"] > 0  # lower is better: oriented
    assert sum(placed["contribution"].values()) == pytest.approx(placed["quba"])
    # a reference model re-evaluated replaces its own row (not counted twice)
    again = reference.place({"model": "m0", "suite": "mini", "dimensions": rec["dimensions"]})
    assert again["n"] == 6 and again["rank"] == 1
    # missing dimensions: z-scores for what is there, no score, and why
    part = reference.place({"model": "new", "suite": "mini", "dimensions": {"accuracy": {"value": 0.5}}})
    assert part["quba"] is None and "missing" in part["note"]
    assert part["z"]["accuracy"] == pytest.approx((0.5 - mu) / sd)
    none = reference.place({"model": "x", "suite": "fake", "dimensions": {"accuracy": {"value": 0.5}}})
    assert none["quba"] is None and "no reference leaderboard" in none["note"]


def test_bootstrap_interval_is_corrected_for_the_resampling_bias():
    """Replicates that sit above the value (as ECE's do) give an interval around the value, not above it."""
    rng = np.random.default_rng(0)
    reps = 0.30 + 0.02 * rng.standard_normal(400)  # bias +0.1 over the value 0.2
    lo, hi = measure.interval(reps, value=0.2)
    assert lo < 0.2 < hi
    assert (lo, hi) == pytest.approx(tuple(np.percentile(reps - (reps.mean() - 0.2), [2.5, 97.5])))
    plain = measure.interval(reps)
    assert plain[0] > 0.2  # the uncorrected percentile interval misses the value
    # bounded: never outside the values the statistic took
    lo, hi = measure.interval(np.r_[np.ones(190), np.full(10, 0.9)], value=1.0)  # shifted up by 0.005
    assert hi == 1.0 and lo < 1.0
