"""The data pipeline and the attack batching (issue 15): decode once, persistent workers, attack
sub-batches chosen by memory and retried smaller on out-of-memory, shipped numbers unchanged."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import quba.api as A
import quba.engine as E
from quba.dimensions import SplitRequest
from quba.engine import runner as R
from quba.errors import QubaError

from engine_fakes import BrightnessNet, FakeSuite

ROOT = Path(__file__).resolve().parents[2]


class CountingSuite(FakeSuite):
    """FakeSuite whose datasets count every image they decode (in this process)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.reads = {}
        for name, sp in self._splits.items():
            sp.dataset = self._counting(name, sp.dataset)

    def _counting(self, name, make):
        suite = self

        def dataset(preprocess=None):
            inner = make(preprocess)

            class Counted:
                def __len__(self):
                    return len(inner)

                def __getitem__(self, i):
                    suite.reads[name] = suite.reads.get(name, 0) + 1
                    return inner[i]

            return Counted()

        return dataset


def _loaded(model=None):
    m = E.resolve_model(model or BrightnessNet(sharpness=60))
    m.preprocess = lambda x: x  # forces the image-folder (dataset) path
    return m


ATTACKS = [SplitRequest("val"), SplitRequest("val", "fgsm"), SplitRequest("val", "pgd")]


def test_val_fgsm_and_pgd_decode_each_image_once(quba_cache):
    suite = CountingSuite()
    run = R.Runner(_loaded(), suite, device="cpu", batch_size=16, progress=False)
    try:
        outs = [run.outputs(r) for r in ATTACKS]
    finally:
        run.close()
    n = len(suite.split("val"))
    assert suite.reads["val"] == n  # not 3n
    assert run._pipeline.decoded == n
    assert run.attack_passes == {"val@fgsm": 2 * n, "val@pgd": 11 * n}
    # nothing kept: every request decodes again, and the outputs are the same
    suite2 = CountingSuite()
    run2 = R.Runner(_loaded(), suite2, device="cpu", batch_size=16, progress=False, keep_decoded_bytes=0,
                    cache=R.PredictionCache(quba_cache / "other"))
    try:
        again = [run2.outputs(r) for r in ATTACKS]
    finally:
        run2.close()
    assert suite2.reads["val"] == 3 * n
    for a, b in zip(outs, again):
        assert np.array_equal(a.logits, b.logits) and np.array_equal(a.index, b.index)


def test_workers_start_once_for_all_splits_and_match_the_main_process(quba_cache):
    suite = FakeSuite()
    names = ["val", "cue_conflict", "bg/mixed_same", "bg/mixed_rand"]
    res = {}
    for workers in (0, 2):
        run = R.Runner(_loaded(), suite, device="cpu", batch_size=8, workers=workers, progress=False,
                       cache=R.PredictionCache(quba_cache / f"w{workers}"))
        run._splits.update({n: suite.split(n) for n in names})
        loaders = set()
        try:
            for n in names:
                res[workers, n] = run.outputs(SplitRequest(n))
                loaders.add(id(run._pipeline.loader))
        finally:
            run.close()
        if workers:
            assert len(loaders) == 1 and None not in loaders  # one DataLoader, persistent workers
            assert run._pipeline.loader is None  # shut down by close()
    for n in names:
        assert np.array_equal(res[0, n].logits, res[2, n].logits)


class FailsAboveBatch(torch.nn.Module):
    """The wrapped model, but a forward pass with gradients over more than `limit` images raises
    the allocator's out-of-memory error (as CUDA would)."""

    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit, self.failures = inner, limit, 0

    def forward(self, x):
        if torch.is_grad_enabled() and len(x) > self.limit:
            self.failures += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 22.00 GiB (injected)")
        return self.inner(x)


def test_attacks_retry_smaller_on_out_of_memory_with_the_same_result(quba_cache):
    suite = FakeSuite()
    torch.manual_seed(0)
    base = BrightnessNet(sharpness=60)
    plain = R.Runner(E.resolve_model(base), suite, device="cpu", batch_size=16, progress=False,
                     cache=R.PredictionCache(quba_cache / "a"))
    failing = FailsAboveBatch(base, limit=5)
    failing.quba_id = "BrightnessNet"
    small = R.Runner(E.resolve_model(failing), suite, device="cpu", batch_size=16, progress=False,
                     cache=R.PredictionCache(quba_cache / "b"))
    try:
        for r in ATTACKS[1:]:
            a, b = plain.outputs(r), small.outputs(r)
            assert np.array_equal(a.preds, b.preds)
            np.testing.assert_allclose(a.logits, b.logits, rtol=0, atol=1e-5)
    finally:
        plain.close()
        small.close()
    assert failing.failures > 0
    assert small.attack_batch == 4  # 16 -> 8 -> 4
    assert plain.attack_batch == 16


def test_out_of_memory_on_a_single_image_is_one_clear_error(quba_cache):
    failing = FailsAboveBatch(BrightnessNet(), limit=0)
    run = R.Runner(E.resolve_model(failing), FakeSuite(), device="cpu", batch_size=8, progress=False)
    try:
        with pytest.raises(QubaError, match="out of memory attacking a single image"):
            run.outputs(SplitRequest("val", "fgsm"))
    finally:
        run.close()


def test_other_errors_in_an_attack_are_not_retried(quba_cache):
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("shape mismatch")

    run = R.Runner(E.resolve_model(Broken()), FakeSuite(), device="cpu", batch_size=8, progress=False,
                   attack_batch=8)
    try:
        # not retried: the model's own error becomes one line at once (the batch size stays)
        with pytest.raises(QubaError, match="raised RuntimeError in the fgsm attack.*shape mismatch"):
            run.outputs(SplitRequest("val", "fgsm"))
    finally:
        run.close()
    assert run.attack_batch == 8


def test_attack_batch_is_chosen_by_memory():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(64 * 32 * 32, 10))
    x1 = torch.rand(1, 3, 32, 32)
    import contextlib

    big = R.choose_attack_batch(net, x1, torch.device("cpu"), 256, contextlib.nullcontext())
    assert big == 256  # 32x32 images: a full batch fits
    from unittest import mock

    from quba.engine import attack_pass

    with mock.patch.object(attack_pass, "free_bytes", return_value=3 * 2 * 64 * 32 * 32 * 4 * 10):
        assert 1 <= R.choose_attack_batch(net, x1, torch.device("cpu"), 256, contextlib.nullcontext()) < 10


def test_thread_control_in_the_main_process(quba_cache):
    """The main process runs with `threads` torch threads during the run only; with DataLoader
    workers and no `threads` it keeps torch's default (all cores: measured faster than leaving
    the workers cores of their own)."""
    before = torch.get_num_threads()
    for threads, workers, want in ((None, 2, before), (1, 0, 1), (1, 2, 1)):
        run = R.Runner(_loaded(), FakeSuite(), device="cpu", batch_size=16, workers=workers, threads=threads,
                       progress=False, cache=R.PredictionCache(quba_cache / f"t{workers}"))
        try:
            run.outputs(SplitRequest("val"))
            assert torch.get_num_threads() == want
        finally:
            run.close()
        assert torch.get_num_threads() == before
    with pytest.raises(QubaError, match="--threads must be a whole number >= 1"):
        A.evaluate(BrightnessNet(), FakeSuite(), ["accuracy"], threads=0, output=None, progress=False)


def test_precision_option():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert R.resolve_precision("auto", cpu) == "fp32" and R.resolve_precision("auto", cuda) == "bf16"
    assert R.resolve_precision("FP32", cuda) == "fp32" and R.resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(QubaError, match="bad precision 'fp8'"):
        R.resolve_precision("fp8", cpu)


def _assert_close(got, want, where, rel=1e-6):
    """Equal structure; floats to `rel` (float32 kernels differ per CPU), everything else exactly."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), where
        for k in want:
            _assert_close(got[k], want[k], f"{where}.{k}", rel)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=rel), where
    else:
        assert got == want, where


def _check_shipped(rec, shipped, dims):
    # Values that read probabilities (calibration, class balance's probability part) depend on how
    # float32 convolution kernels round, which differs per CPU instruction set (oneDNN on AVX-512 vs
    # AVX2, or oneDNN off: calibration 0.0171242031, 0.0171242038, 0.0171242025 for this record): so
    # every number to 1e-6 relative, not bit for bit; values, details and intervals all checked.
    for d in dims:
        _assert_close(rec["dimensions"][d], shipped[d], d)


def test_shipped_mini_records_are_reproduced(quba_cache):
    """Numbers unchanged: a cold evaluation of a mini model gives the values, details and intervals of
    its shipped record (results/mini/records) to 1e-6 (bit for bit on the machine that wrote it);
    its FGSM accuracy too (PGD, 11 passes per image, was checked the same way by hand: too slow for
    every run). The intervals come from the engine's generic weighted bootstrap (one formula per
    metric), the shipped ones from the per-dimension bootstraps it replaced."""
    model = "mini-cnn-standard"
    shipped = json.loads((ROOT / "results" / "mini" / "records" / f"{model}.json").read_text())["dimensions"]
    dims = ["accuracy", "calibration_error", "class_balance", "ood_robustness", "object_focus", "shape_bias",
            "parameters_m"]
    rec = A.evaluate(model, "mini", dims, bootstrap=200, seed=0, batch_size=256, device="cpu", output=None,
                     progress=False)
    _check_shipped(rec, shipped, dims)
    from quba.suites import load_suite

    run = R.Runner(E.resolve_model(model), load_suite("mini"), device="cpu", batch_size=256, progress=False)
    try:
        fgsm = run.outputs(SplitRequest("val", "fgsm"))
    finally:
        run.close()
    assert float(np.mean(fgsm.correct)) == shipped["adversarial_robustness"]["details"]["acc_fgsm"]


@pytest.mark.slow
def test_shipped_mini_corruption_robustness_is_reproduced(quba_cache):
    """Numbers unchanged for the dimension with the most splits (val + 75 corruption splits, each
    resampled on its own draws): another model's shipped record, bit for bit."""
    model = "mini-cnn-shape"
    shipped = json.loads((ROOT / "results" / "mini" / "records" / f"{model}.json").read_text())["dimensions"]
    rec = A.evaluate(model, "mini", ["corruption_robustness", "accuracy"], bootstrap=200, seed=0, batch_size=256,
                     device="cpu", output=None, progress=False)
    _check_shipped(rec, shipped, ["corruption_robustness", "accuracy"])


def test_gpu_check_runs_small_on_cpu(tmp_path, capsys):
    """benchmarks/gpu_check.py is ready for a GPU machine: its --small run works on CPU."""
    import importlib.util

    path = ROOT / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "figures.json"
    assert mod.main(["--small", "--device", "cpu", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    for stage in ("decode", "forward fp32", "forward bf16", "fgsm", "pgd", "bare loop", "quba a+c+b", "quba adv",
                  "quba warm"):
        assert figures[stage]["images"] > 0 and figures[stage]["images_per_s"] > 0, stage
    assert figures["quba adv"]["images"] == 2 * figures["images"]  # FGSM and PGD over val
    assert "images/s" in capsys.readouterr().out


def test_evaluate_overhead_runs_small_rows(capsys):
    """benchmarks/evaluate_overhead.py measures the rows asked for (--rows), and refuses an unknown row."""
    import importlib.util

    path = ROOT / "benchmarks" / "evaluate_overhead.py"
    spec = importlib.util.spec_from_file_location("evaluate_overhead", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--small", "--rows", "calibration"]) == 0
    out = capsys.readouterr().out
    assert "accuracy+calibration+balance" in out and "ratio" in out
    assert "nine dimensions" not in out and "\naccuracy " not in out
    with pytest.raises(SystemExit) as err:
        mod.main(["--small", "--rows", "accuracy,speed"])
    assert err.value.code == 2
