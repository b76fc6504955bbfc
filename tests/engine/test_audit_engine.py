"""Issue 10: cache key (2), checkpoints on the CLI (4), custom modules on image files (5), one-line errors (6)."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import quba
from quba.dimensions import SplitRequest
from quba.engine.cache import PredictionCache
from quba.engine.runner import Runner

from engine_fakes import BrightnessNet, FakeSuite
from cli_run import cli




# ------------------------------------------------------------------ 2. the cache key
def test_cache_key_holds_device_and_precision(tmp_path):
    suite, model = FakeSuite(), quba.engine.resolve_model(BrightnessNet())
    cpu = Runner(model, suite, device="cpu", progress=False, cache=PredictionCache(tmp_path))
    fields = cpu.cache_fields(SplitRequest("val"))
    assert fields["device"] == "cpu" and fields["precision"] == "fp32"
    bf16 = Runner(model, suite, device="cpu", precision="bf16", progress=False, cache=PredictionCache(tmp_path))
    assert cpu.cache.path(fields) != bf16.cache.path(bf16.cache_fields(SplitRequest("val")))
    cuda = Runner(model, suite, device="cpu", progress=False, cache=PredictionCache(tmp_path))
    cuda.device = torch.device("cuda")  # what the key would say on a GPU (no GPU needed to build it)
    assert cuda.cache_fields(SplitRequest("val"))["device"] == "cuda"
    assert cuda.cache.path(cuda.cache_fields(SplitRequest("val"))) != cpu.cache.path(fields)
    for r in (cpu, bf16, cuda):
        r.close()


def test_cache_key_holds_the_versions_of_the_stack(tmp_path, monkeypatch):
    """Predictions cached under one torch (or timm, Pillow, ...) are not served after an upgrade."""
    from quba.engine import keys as K

    suite, model = FakeSuite(), quba.engine.resolve_model(BrightnessNet())
    run = Runner(model, suite, device="cpu", progress=False, cache=PredictionCache(tmp_path))
    fields = run.cache_fields(SplitRequest("val"))
    assert fields["stack"]["torch"] == torch.__version__ and "timm" in fields["stack"] and "pillow" in fields["stack"]
    monkeypatch.setattr(K, "_STACK", {**fields["stack"], "torch": "0.0.1"})
    assert run.cache.path(run.cache_fields(SplitRequest("val"))) != run.cache.path(fields)
    run.close()


class LinearNet(nn.Module):
    """A linear read-out of the pixels (autocast runs matmuls in bfloat16, also on the CPU)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        return self.fc(x.flatten(1) * 7.0)


def test_bfloat16_outputs_are_not_reused_by_a_float32_run(quba_cache, tmp_path):
    suite, model = FakeSuite(), LinearNet()
    kw = dict(dims=["calibration"], bootstrap=0, progress=False, output=tmp_path / "res", device="cpu")
    bf = quba.evaluate(model, suite, precision="bf16", **kw)
    fp = quba.evaluate(model, suite, precision="fp32", **kw)
    assert fp["forward_passes"]["val"] == len(suite.split("val"))  # not served from the bf16 cache
    assert bf["splits"]["val"]["precision"] == "bf16" and fp["splits"]["val"]["precision"] == "fp32"
    assert bf["splits"]["val"]["device"] == "cpu" and fp["provenance"]["precision"] == "fp32"
    assert bf["provenance"]["autocast"] == "bfloat16" and fp["provenance"]["autocast"] is None
    assert bf["dimensions"]["calibration_error"]["value"] != fp["dimensions"]["calibration_error"]["value"]
    again = quba.evaluate(model, suite, precision="bf16", **kw)
    assert again["forward_passes"]["val"] == 0  # its own precision is served from the cache


# ------------------------------------------------------------------ 4. --checkpoint PATH --arch NAME
def _checkpoint(tmp_path):
    from safetensors.torch import save_file

    import timm

    torch.manual_seed(0)
    net = timm.create_model("test_resnet", pretrained=False, num_classes=12)
    path = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def test_checkpoint_and_arch_on_evaluate_and_leaderboard(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path)
    out_dir = tmp_path / "res"
    rc, out, err = cli(capsys, "evaluate", "--checkpoint", ckpt, "--arch", "timm:test_resnet", "--dims", "accuracy",
                       "--subset", "1", "--bootstrap", "0", "--no-progress", "--output", out_dir, "--format", "json")
    assert rc == 0, err
    (rec,) = json.loads(out)
    assert rec["metadata"]["source"] == "checkpoint" and rec["splits"]["val"]["images"] == 12
    assert 0.0 <= rec["dimensions"]["accuracy"]["value"] <= 1.0
    rc, out, err = cli(capsys, "leaderboard", "--suite", "mini", "--checkpoint", ckpt, "--arch", "timm:test_resnet",
                       "--dims", "accuracy", "--subset", "1", "--bootstrap", "0", "--no-progress",
                       "--output", tmp_path / "lb")
    assert rc == 0, err
    assert "test_resnet" in (tmp_path / "lb" / "mini" / "leaderboard.csv").read_text()


def _renamed_checkpoint(tmp_path):
    """_checkpoint's tensors in the architecture's order under another code base's names, in a torch
    file (--remap-keys; safetensors would sort them by name)."""
    import timm

    _checkpoint(tmp_path)  # mine.safetensors: the same weights under timm's names
    torch.manual_seed(0)
    state = timm.create_model("test_resnet", pretrained=False, num_classes=12).state_dict()
    path = tmp_path / "renamed.pth"
    torch.save({f"_other{i}.{k.rsplit('.', 1)[-1]}": v for i, (k, v) in enumerate(state.items())}, str(path))
    return path


@pytest.mark.slow
def test_remap_keys_on_evaluate_leaderboard_and_sweep(tmp_path, capsys):
    """--remap-keys reaches the loader from every command that takes --checkpoint, and the renamed
    weights measure exactly as the original ones (same fingerprint: served from the same cache)."""
    renamed, plain = _renamed_checkpoint(tmp_path), tmp_path / "mine.safetensors"
    common = ["--arch", "timm:test_resnet", "--dims", "accuracy", "--subset", "1", "--bootstrap", "0", "--no-progress"]
    rc, out, err = cli(capsys, "evaluate", "--checkpoint", plain, *common, "--output", tmp_path / "a", "-f", "json")
    assert rc == 0, err
    want = json.loads(out)[0]
    rc, out, err = cli(capsys, "evaluate", "--checkpoint", renamed, *common, "--output", tmp_path / "b", "-f", "json")
    assert rc == 2 and "add --remap-keys" in err and len(err.strip().splitlines()) == 1
    rc, out, err = cli(capsys, "evaluate", "--checkpoint", renamed, "--remap-keys", *common, "--output", tmp_path / "b",
                       "-f", "json")
    assert rc == 0, err
    got = json.loads(out)[0]
    assert got["provenance"]["model_fingerprint"] == want["provenance"]["model_fingerprint"]
    assert got["dimensions"]["accuracy"] == want["dimensions"]["accuracy"] and got["forward_passes"]["val"] == 0
    rc, out, err = cli(capsys, "leaderboard", "--suite", "mini", "--checkpoint", renamed, "--remap-keys", *common,
                       "--output", tmp_path / "lb")
    assert rc == 0, err
    assert "test_resnet" in (tmp_path / "lb" / "mini" / "leaderboard.csv").read_text()
    rc, out, err = cli(capsys, "sweep", "mini-cnn-standard", "--suite", "mini", "--checkpoint", renamed,
                       "--remap-keys", *common, "--output", tmp_path / "sw", "--format", "json")
    assert rc == 0, err
    assert json.loads(out)["failed"] == {} and len(json.loads(out)["done"]) == 2  # the named model + the checkpoint
    recs = [json.loads(p.read_text()) for p in (tmp_path / "sw" / "mini" / "records").glob("*.json")]
    (rec,) = [r for r in recs if r["model"] == f"timm:test_resnet@{renamed}"]
    assert rec["provenance"]["model_fingerprint"] == want["provenance"]["model_fingerprint"]
    rc, out, err = cli(capsys, "sweep", "mini-cnn-standard", "--remap-keys", "--output", tmp_path / "sw2")
    assert rc == 2 and "--remap-keys goes with --checkpoint" in err and not (tmp_path / "sw2").exists()
    rc, out, err = cli(capsys, "evaluate", "--checkpoint", plain, "--remap-keys", *common, "--output", tmp_path / "c")
    assert rc == 2 and "does not keep (safetensors stores tensors sorted by name)" in err


@pytest.mark.parametrize("argv, match", [
    (["--remap-keys", "mini-cnn-standard"], "--remap-keys goes with --checkpoint"),
    (["--checkpoint", "{pth}", "--arch", "timm:resnet18", "--remap-keys"], "--remap-keys pairs tensors by order"),
    (["--arch", "timm:test_resnet"], "--arch NAME goes with --checkpoint"),
    (["--checkpoint", "{tmp}/missing.safetensors", "--arch", "timm:test_resnet"], "does not exist"),
    (["--checkpoint", "{ckpt}", "mini-cnn-standard", "mini-cnn-shape"], "exactly one"),
])
def test_checkpoint_misuse_is_one_line(tmp_path, capsys, argv, match):
    ckpt, pth = _checkpoint(tmp_path), _renamed_checkpoint(tmp_path)
    argv = [a.format(tmp=tmp_path, ckpt=ckpt, pth=pth) for a in argv]
    rc, out, err = cli(capsys, "evaluate", *argv, "--dims", "accuracy", "--output", tmp_path / "res")
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "res").exists()


# ------------------------------------------------------------------ 5. a plain nn.Module on image files
PLAIN = textwrap.dedent('''
    import torch
    from torch import nn

    class Plain(nn.Module):
        """Averages colours (any input size); 1000 logits peaked at the colour-coded index."""

        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            assert x.shape[-2:] == (SIZE, SIZE), x.shape
            rgb = torch.round(x.mean(dim=(2, 3)) * 255.0)
            k = (rgb[:, 0] + 256 * rgb[:, 1]).long().clamp(0, 999)
            return nn.functional.one_hot(k, 1000).float() * 30 + self.dummy

    def build():
        return Plain()
''')


@pytest.mark.parametrize("extra, size, resize", [([], 224, 256), (["--input-size", "64", "--crop-pct", "0.5"], 64, 128)])
def test_plain_module_gets_the_imagenet_eval_transform(tmp_path, capsys, extra, size, resize):
    from imagenet_fixture import fake_imagenet_tree, write_image
    from quba.metrics.decisions import canonical_wnids

    root = fake_imagenet_tree(tmp_path / "imagenet", splits=("val",))
    w = "n02085620"
    write_image(root / "val" / w / f"{w}_big.png", canonical_wnids().index(w), size=40)  # sizes now differ
    (tmp_path / "plain.py").write_text(PLAIN.replace("SIZE", str(size)))
    rc, out, err = cli(capsys, "evaluate", f"{tmp_path / 'plain.py'}:build", "--suite", "imagenet", "--data-root",
                       root, "--dims", "accuracy", "--bootstrap", "0", "--no-progress", "--format", "json",
                       "--output", tmp_path / "res", *extra)
    assert rc == 0, err
    (rec,) = json.loads(out)
    assert rec["dimensions"]["accuracy"]["value"] == 1.0 and rec["splits"]["val"]["images"] == 7
    t = rec["provenance"]["transform"]
    assert f"Resize(size={resize}" in t and f"CenterCrop(size=({size}, {size}))" in t
    assert rec["provenance"]["transform_source"].startswith("ImageNet default")


def test_a_timm_modules_pretrained_cfg_wins_and_flags_override():
    import timm

    from quba.zoo.eval_transform import eval_transform

    net = timm.create_model("test_vit", pretrained=False)  # pretrained_cfg: 160 px, crop_pct 0.95, bicubic
    pre, source = eval_transform(net)
    assert source == "timm pretrained_cfg" and "CenterCrop(size=(160, 160))" in repr(pre) and "size=168" in repr(pre)
    pre, source = eval_transform(net, input_size=64, interpolation="bilinear", crop_pct=1.0)
    assert "CenterCrop(size=(64, 64))" in repr(pre) and "size=64, interpolation=bilinear" in repr(pre)
    assert source.endswith("+ overrides")


@pytest.mark.parametrize("argv, match", [(["--crop-pct", "1.5"], "--crop-pct"), (["--input-size", "2"], "--input-size")])
def test_bad_transform_options_are_one_line(tmp_path, capsys, argv, match):
    rc, out, err = cli(capsys, "evaluate", "mini-cnn-standard", "--dims", "accuracy", "--output", tmp_path / "r", *argv)
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ 6. one-line errors
NODIFF = textwrap.dedent('''
    import torch
    from torch import nn

    class Lookup(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.randn(256, 12))

        def forward(self, x):
            return self.table[(x.mean(dim=(1, 2, 3)) * 255).long().clamp(0, 255)]  # no gradient to x

    def build():
        return Lookup()
''')


def test_non_differentiable_model_under_attack_is_one_line(tmp_path, capsys):
    (tmp_path / "nd.py").write_text(NODIFF)
    rc, out, err = cli(capsys, "evaluate", f"{tmp_path / 'nd.py'}:build", "--dims", "adversarial_robustness",
                       "--subset", "1", "--bootstrap", "0", "--no-progress", "--output", tmp_path / "res")
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "not differentiable" in err and "Traceback" not in err


def test_output_under_proc_is_one_line(capsys):
    rc, out, err = cli(capsys, "evaluate", "mini-cnn-standard", "--dims", "accuracy", "--output", "/proc/x")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "/proc/x" in err and "--output" in err


def test_evaluate_help_names_only_real_models(capsys):
    from quba.zoo.catalog import ids

    rc, out, err = cli(capsys, "evaluate", "--help")
    assert rc == 0
    import re

    named = set(re.findall(r"quba evaluate (mini-[a-z0-9-]+)", out))
    assert named and named <= set(ids())
    assert "mini-standard" not in out.split()


@pytest.mark.slow
def test_offline_open_clip_failure_is_one_line(tmp_path):
    """open_clip logs the failed download with logging.error (an extra 'ERROR:root:' line); quba's own
    one-line error is the only thing on stderr. A subprocess: pytest's log capture would hide the line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "QUBA_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    p = subprocess.run([sys.executable, "-m", "quba", "evaluate", "CLIP-B16-Laion2B", "--dims", "accuracy",
                        "--output", str(tmp_path / "res")], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("quba: error: cannot get the weights"), p.stderr


def test_positional_checkpoint_with_arch(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path)
    rc, out, err = cli(capsys, "evaluate", ckpt, "--arch", "timm:test_resnet", "--dims", "accuracy", "--subset", "1",
                       "--bootstrap", "0", "--no-progress", "--output", tmp_path / "res", "--format", "json")
    assert rc == 0, err
    assert json.loads(out)[0]["metadata"]["source"] == "checkpoint"
