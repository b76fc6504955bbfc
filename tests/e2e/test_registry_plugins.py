"""Every kind of registry entry plugs in through --plugin and is used from the CLI, with no edit of
quba: a suite evaluated, a model source loaded, an executor running a sweep (each the guide's own
code, extracted from docs/adding-a-*.md so the guides cannot rot), and one module that registers
a dimension, a model source, a suite and an executor at once, used together by a sweep whose
worker processes load it again. (A plugin dimension alone: tests/e2e/test_dimension_plugins.py.)"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def guide(name: str) -> tuple[dict[str, str], list[list[str]]]:
    """The files (python blocks whose first line is '# FILE.py') and the commands (lines of sh blocks
    starting with 'quba ') of a guide, as written there."""
    text = (DOCS / name).read_text(encoding="utf-8")
    files, commands = {}, []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        first = body.splitlines()[0] if body.strip() else ""
        if lang == "python" and (named := re.match(r"# ([\w.]+\.py)(\s|$)", first.strip())):
            files[named.group(1)] = body
        elif lang == "sh":
            commands += [shlex.split(line)[1:] for line in body.splitlines() if line.startswith("quba ")]
    return files, commands


def run_quba(args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "quba", *args], cwd=cwd, env=env, capture_output=True, text=True)


def run_guide(name: str, tmp_path: Path) -> list[subprocess.CompletedProcess]:
    files, commands = guide(name)
    assert files and commands, f"{name} has no example to run"
    for fname, body in files.items():
        (tmp_path / fname).write_text(body, encoding="utf-8")
    out = []
    for args in commands:
        res = run_quba(args, tmp_path)
        assert res.returncode == 0, f"quba {' '.join(args)}\n{res.stderr}"
        out.append(res)
    return out


def records(folder: Path) -> dict[str, dict]:
    return {r["model"]: r for r in (json.loads(p.read_text()) for p in sorted(folder.glob("*.json")))}


def test_the_guide_extractor_finds_files_and_commands():
    files, commands = guide("adding-a-suite.md")
    assert set(files) == {"toy_suite.py", "colour_model.py"}
    assert commands and commands[0][0] == "evaluate" and "--plugin" in commands[0]


@pytest.mark.slow
def test_adding_a_suite_guide_runs_and_its_suite_is_evaluated(tmp_path):
    run_guide("adding-a-suite.md", tmp_path)
    (rec,) = records(tmp_path / "results" / "toy" / "records").values()
    assert rec["suite"] == "toy" and rec["model"] == "colour_model.py:build"
    dims = rec["dimensions"]
    # the known answer: the brightest channel is the class on every clean patch; on the noisy ones
    # it is what the guide's own images say
    sys.path.insert(0, str(tmp_path))
    try:
        import toy_suite

        noisy = toy_suite.ToySuite().split("noisy")
        right = float(np.mean(noisy.images.float().mean(dim=(2, 3)).argmax(1).numpy() == noisy.labels))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("toy_suite", None)
    assert dims["accuracy"]["value"] == 1.0
    assert 0.3 < right < 1.0
    assert dims["corruption_robustness"]["value"] == pytest.approx(right, abs=1e-12)
    # grouped by the corruption the split declares (SplitInfo), not by a name parsed from the split
    assert dims["corruption_robustness"]["details"]["acc_per_corruption"] == {"gaussian_noise": pytest.approx(right)}
    lo, hi = dims["corruption_robustness"]["lo"], dims["corruption_robustness"]["hi"]
    assert lo < right < hi


@pytest.mark.slow
def test_adding_a_dimension_guide_runs_and_its_dimension_is_measured_and_ranked(tmp_path):
    _, rank = run_guide("adding-a-dimension.md", tmp_path)
    recs = records(tmp_path / "results" / "mini" / "records")
    assert sorted(recs) == ["mini-cnn-standard", "mini-cnn-texture"]
    for rec in recs.values():
        err, acc = rec["dimensions"]["top1_error"], rec["dimensions"]["accuracy"]
        assert err["value"] == pytest.approx(1.0 - acc["value"], abs=1e-12)  # the known answer
        assert err["lo"] < err["value"] < err["hi"]
    # equal weights on error (lower is better) and accuracy: the better model leads on both
    best = min(recs, key=lambda m: recs[m]["dimensions"]["top1_error"]["value"])
    other = next(m for m in recs if m != best)
    assert rank.stdout.index(best) < rank.stdout.index(other), rank.stdout


def test_adding_a_model_source_guide_runs_and_its_model_is_loaded(tmp_path):
    run_guide("adding-a-model-source.md", tmp_path)
    (rec,) = records(tmp_path / "results" / "mini" / "records").values()
    assert rec["model"] == "toy:constant3" and rec["metadata"]["source"] == "toy"
    assert rec["dimensions"]["accuracy"]["value"] == pytest.approx(1 / 12, abs=1e-12)  # balanced val, one class


@pytest.mark.slow
def test_adding_an_executor_guide_runs_a_sweep_equal_to_evaluate(tmp_path):
    import quba

    (first,) = run_guide("adding-an-executor.md", tmp_path)
    assert "executor threads" in first.stderr
    got = records(tmp_path / "results" / "mini" / "records")
    assert sorted(got) == ["mini-cnn-shape", "mini-cnn-standard"]
    for m, rec in got.items():
        want = quba.evaluate(m, "mini", ["accuracy", "calibration_error"], bootstrap=20, output=None, progress=False)
        assert rec["dimensions"] == want["dimensions"]  # values and intervals, exactly
    _, commands = guide("adding-an-executor.md")
    again = run_quba(commands[0], tmp_path)
    assert again.returncode == 0 and "0 to run, 2 up to date" in again.stderr


ALL_KINDS = textwrap.dedent('''
    """One plugin, four kinds: a suite, a model source, a dimension and an executor."""
    import hashlib

    import numpy as np
    import torch

    from quba.dimensions import Dimension, SplitRequest
    from quba.suites.base import DecisionMapping, Split, Suite
    from quba.sweep.executors import LocalExecutor
    from quba.zoo.sources.common import Built


    class TwoSplit(Split):
        def __init__(self, name, images, labels):
            self.name, self.images, self.labels = name, torch.from_numpy(images), labels
            self.meta, self.decision = {}, DecisionMapping()

        def dataset(self, preprocess=None):
            raise AssertionError("in memory: the engine slices .images")


    class TwoSuite(Suite):
        """Two classes: dark and bright images; only the clean role."""
        name = "two"
        class_names = ["dark", "bright"]
        roles = {"clean": ("val",)}

        def __init__(self, seed=0):
            self.seed = seed

        def fingerprint(self):
            return hashlib.sha256(b"two:1").hexdigest()[:16]

        def split_names(self):
            return ["val"]

        def split(self, name):
            labels = np.repeat([0, 1], 10)
            images = np.where(labels[:, None, None, None] == 1, 200, 50).astype(np.uint8) * np.ones((1, 3, 4, 4), np.uint8)
            return TwoSplit(name, images, labels)


    class Threshold(torch.nn.Module):
        def __init__(self, flip):
            super().__init__()
            self.flip = flip

        def forward(self, x):
            m = x.mean(dim=(1, 2, 3))[:, None]
            z = torch.cat([0.5 - m, m - 0.5], dim=1)
            return -z if self.flip else z


    def load(row, pretrained, device="cpu"):
        return Built(Threshold(row["identifier"] == "flipped"), num_classes=2)


    def check(row):
        return None


    def available(row):
        return True


    def needs(suite, opts):
        return [SplitRequest("val")]


    def compute(ctx):
        out = ctx.outputs(SplitRequest("val"))
        w = ctx.weight(SplitRequest("val"))
        wrong = (out.decisions != out.labels).astype(float)
        return float(wrong.mean()) if w is None else (w * wrong).sum(1) / w.sum(1)


    class Polite(LocalExecutor):
        """The local executor under another name (an executor subclassing quba's own)."""
        name = "polite"

        def describe(self):
            return "polite " + super().describe()


    SUITES = [TwoSuite]
    MODEL_SOURCES = {"thresh": "all_kinds"}
    DIMENSIONS = [Dimension("error_rate", False, "Error rate", "share wrong on val", source="a test",
                            valid_range=(0.0, 1.0), roles=("clean",), needs="all_kinds:needs",
                            compute="all_kinds:compute")]
    EXECUTORS = [Polite]
''')


@pytest.mark.slow
def test_one_plugin_adds_every_kind_and_sweep_workers_load_it(tmp_path):
    """A suite, a source, a dimension and an executor from one module, used together; the sweep's
    worker processes (spawned) import the plugin again and find all of them."""
    (tmp_path / "all_kinds.py").write_text(ALL_KINDS)
    res = run_quba(["sweep", "thresh:upright", "thresh:flipped", "--suite", "two", "--executor", "polite", "--dims",
                "error_rate", "accuracy", "--bootstrap", "10", "--no-progress", "--plugin", "all_kinds.py",
                "--output", "out"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "executor polite local, 1 worker(s)" in res.stderr
    got = records(tmp_path / "out" / "two" / "records")
    assert {m: r["dimensions"]["error_rate"]["value"] for m, r in got.items()} == {"thresh:upright": 0.0,
                                                                                  "thresh:flipped": 1.0}
    assert {m: r["dimensions"]["accuracy"]["value"] for m, r in got.items()} == {"thresh:upright": 1.0,
                                                                                "thresh:flipped": 0.0}


@pytest.mark.parametrize("args, what", [
    (["evaluate", "thresh:upright", "--suite", "mini"], "unknown model 'thresh:upright'"),
    (["evaluate", "mini-cnn-standard", "--suite", "two"], "unknown suite 'two'"),
    (["sweep", "mini-cnn-standard", "--executor", "polite"], "unknown executor 'polite'"),
])
def test_without_the_plugin_each_name_is_one_line(args, what, tmp_path, capsys):
    from quba.cli import main

    rc = main([*args, "--output", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2 and what in err and "--plugin" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "nowhere").exists()
