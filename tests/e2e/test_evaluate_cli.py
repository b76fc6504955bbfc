"""`quba evaluate` and `quba leaderboard` end to end: outputs, the ImageNet layout, every bad-input path."""
from __future__ import annotations

import json
import shutil
import textwrap

import pandas as pd
import pytest

from cli_run import cli

MODEL_PY = textwrap.dedent('''
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(8, 12))

    class ColourCode(nn.Module):
        """Reads the ImageNet index encoded in a flat colour (tests/imagenet_fixture.py)."""

        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            rgb = torch.round(x.mean(dim=(2, 3)) * 255.0)
            k = (rgb[:, 0] + 256 * rgb[:, 1]).long().clamp(0, 999)
            return nn.functional.one_hot(k, 1000).float() * 30 + self.dummy

    def colour_code():
        return ColourCode()
''')


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One cache for the module (the mini suite is generated once); tests clear predictions as needed."""
    import os

    path = tmp_path_factory.mktemp("cli-cache")
    old = os.environ.get("QUBA_CACHE")
    os.environ["QUBA_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("QUBA_CACHE", None)
    else:
        os.environ["QUBA_CACHE"] = old


@pytest.fixture
def cold(shared_cache):
    shutil.rmtree(shared_cache / "predictions", ignore_errors=True)
    return shared_cache


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "models.py"
    p.write_text(MODEL_PY)
    return p


def test_evaluate_prints_values_intervals_and_writes_the_record(cold, model_file, tmp_path, capsys):
    out_dir = tmp_path / "res"
    rc, out, err = cli(capsys, "evaluate", "--model", f"{model_file}:build", "--dims", "accuracy", "shape_bias",
                       "--bootstrap", "30", "--output", out_dir)
    assert rc == 0, err
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
    assert "accuracy" in lines and "shape_bias" in lines
    assert "[" in lines["accuracy"] and "]" in lines["accuracy"]  # the interval
    assert "QUBA score" in out
    assert "val" in err and "cue_conflict" in err  # tqdm progress per split, on stderr
    recs = list((out_dir / "mini" / "records").glob("*.json"))
    assert len(recs) == 1
    rec = json.loads(recs[0].read_text())
    assert "forward_passes" not in rec  # run data lives in the run log beside the record
    (run,) = [json.loads(line) for line in recs[0].with_name(recs[0].stem + ".runs.jsonl").read_text().splitlines()]
    assert run["forward_passes"] == {"val": 600, "cue_conflict": 264}
    lb = pd.read_csv(out_dir / "mini" / "leaderboard.csv")
    assert list(lb.columns[:4]) == ["model", "suite", "accuracy", "shape_bias"]


def test_second_evaluate_with_other_dims_does_no_forward_pass(cold, model_file, tmp_path, capsys):
    out_dir = tmp_path / "res"
    assert cli(capsys, "evaluate", "--model", f"{model_file}:build", "--dims", "accuracy", "--bootstrap", "0",
               "--output", out_dir, "--no-progress")[0] == 0
    rc, out, err = cli(capsys, "evaluate", "--model", f"{model_file}:build", "--dims", "calibration,balance",
                       "--bootstrap", "0", "--output", out_dir, "--format", "json", "--no-progress")
    assert rc == 0, err
    (rec,) = json.loads(out)
    assert rec["forward_passes"] == {"val": 0} and rec["splits"]["val"]["cached"]
    assert set(rec["dimensions"]) == {"calibration_error", "class_balance"}
    assert "reference" in rec
    on_disk = json.loads(next((out_dir / "mini" / "records").glob("*.json")).read_text())
    assert set(on_disk["dimensions"]) == {"accuracy", "calibration_error", "class_balance"}


def test_imagenet_layout_gets_canonical_labels_through_the_cli(cold, model_file, tmp_path, capsys):
    """Only three WNID folders are present; labels are still canonical indices, so the colour-code
    model (whose prediction follows from the image) is right on every image."""
    from imagenet_fixture import fake_imagenet_tree

    root = fake_imagenet_tree(tmp_path / "imagenet", splits=("val", "cue-conflict", "bg_challenge"))
    out_dir = tmp_path / "res"
    rc, out, err = cli(capsys, "evaluate", "--model", f"{model_file}:colour_code", "--suite", "imagenet",
                       "--data-root", root, "--dims", "accuracy", "object_focus", "shape_bias", "--bootstrap", "10",
                       "--output", out_dir, "--format", "json", "--no-progress")
    assert rc == 0, err
    (rec,) = json.loads(out)
    assert rec["dimensions"]["accuracy"]["value"] == 1.0
    assert rec["dimensions"]["object_focus"]["value"] == 1.0
    assert rec["dimensions"]["shape_bias"]["value"] == 1.0  # the images carry the shape category
    assert rec["suite"] == "imagenet" and rec["reference"]["reference"] == "paper"
    assert (out_dir / "imagenet" / "leaderboard.csv").exists()


def _no_results(out_dir):
    return not out_dir.exists()  # not even an empty folder


@pytest.mark.parametrize("argv, match", [
    (["evaluate"], "no model given"),
    (["evaluate", "mini-no-such-model"], "unknown"),
    (["evaluate", "{model}:build", "--dims", "acuracy"], "unknown dimension 'acuracy'"),
    (["evaluate", "{model}:build", "--suite", "minii"], "unknown suite 'minii'"),
    (["evaluate", "{model}:build", "--suite", "imagenet"], "--data-root"),
    (["evaluate", "{model}:build", "--suite", "imagenet", "--data-root", "{tmp}/nowhere"], "nowhere"),
    (["evaluate", "{model}:colour_code", "--suite", "imagenet", "--data-root", "{imagenet}", "--dims", "shape"],
     "shape_bias.*cue-conflict"),
    (["evaluate", "{model}:colour_code", "--suite", "imagenet", "--data-root", "{imagenet}", "--dims", "ood"],
     "ood_robustness"),
    (["evaluate", "{model}:build", "--subset", "0"], "--subset"),
    (["evaluate", "{model}:build", "--subset", "-2"], "--subset"),
    (["evaluate", "{model}:build", "--subset", "many"], "--subset"),
    (["evaluate", "{model}:build", "--bootstrap", "-1"], "--bootstrap"),
    (["evaluate", "{model}:build", "--device", "tpu"], "bad device"),
    (["evaluate", "{model}:build", "--output", "{tmp}/afile/sub"], "cannot write results"),
    (["evaluate", "{model}:nothing_here"], "nothing_here"),
    (["leaderboard", "--models", "no-such-group"], "unknown model or group"),
    (["leaderboard", "--suite", "imagenet"], "--models"),
    (["leaderboard", "--records-only", "--output", "{tmp}/empty"], "no records"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(shared_cache, model_file, tmp_path, capsys, argv,
                                                            match):
    from imagenet_fixture import fake_imagenet_tree

    import re

    (tmp_path / "afile").write_text("a file, not a folder")
    imagenet = fake_imagenet_tree(tmp_path / "imagenet", splits=("val",))
    out_dir = tmp_path / "res"
    subs = {"{model}": str(model_file.with_suffix("")) + ".py", "{tmp}": str(tmp_path), "{imagenet}": str(imagenet)}
    args = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        args.append(a)
    if "--output" not in args:
        args += ["--output", str(out_dir)]
    rc, out, err = cli(capsys, *args)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in err
    assert _no_results(out_dir)


def test_leaderboard_writes_correlations_and_plots(cold, model_file, tmp_path, capsys):
    out_dir = tmp_path / "res"
    records = out_dir / "mini" / "records"
    records.mkdir(parents=True)
    # three records (as evaluate writes them) with made-up values for the report
    for i, name in enumerate(["a", "b", "c", "d"]):
        dims = {"accuracy": 0.5 + 0.1 * i, "shape_bias": 0.2 + 0.05 * (i % 3), "calibration_error": 0.05 - 0.01 * i}
        rec = {"model": name, "suite": "mini", "dimensions": {k: {"value": v, "lo": v - 0.01, "hi": v + 0.01}
                                                            for k, v in dims.items()},
               "metadata": {"architecture": "CNN"}, "provenance": {"quba": "0.1.0"}}
        (records / f"{name}.json").write_text(json.dumps(rec))
    rc, out, err = cli(capsys, "leaderboard", "--suite", "mini", "--records-only", "--output", out_dir)
    assert rc == 0, err
    lb = pd.read_csv(out_dir / "mini" / "leaderboard.csv")
    assert lb["model"].tolist() == ["a", "b", "c", "d"]
    corr = pd.read_csv(out_dir / "mini" / "correlations.csv")
    row = corr[(corr["dim_a"] == "accuracy") & (corr["dim_b"] == "calibration_error")]
    assert row["rho"].iloc[0] == pytest.approx(-1.0)
    plots = sorted(p.name for p in (out_dir / "mini" / "plots").glob("*.png"))
    assert plots == ["correlation_heatmap.png", "radar_a.png", "radar_b.png", "radar_c.png", "radar_d.png"]
    assert all((out_dir / "mini" / "plots" / p).stat().st_size > 5000 for p in plots)


def test_leaderboard_evaluates_the_models_it_is_given(cold, model_file, tmp_path, capsys):
    out_dir = tmp_path / "res"
    rc, out, err = cli(capsys, "leaderboard", "--suite", "mini", "--models", f"{model_file}:build",
                       "--dims", "accuracy", "--bootstrap", "0", "--output", out_dir, "--no-progress")
    assert rc == 0, err
    lb = pd.read_csv(out_dir / "mini" / "leaderboard.csv")
    assert len(lb) == 1 and lb["accuracy"].notna().all()
    assert "no correlations" in out  # one model, one dimension: said, not failed


def test_unreadable_image_files_are_skipped_and_counted_or_fail_with_strict(cold, model_file, tmp_path, capsys):
    from imagenet_fixture import fake_imagenet_tree

    root = fake_imagenet_tree(tmp_path / "imagenet", splits=("val",), n_per_class=3)
    bad = root / "val" / "n02085620" / "broken.png"
    bad.write_bytes(b"not an image")
    base = ["evaluate", "--model", f"{model_file}:colour_code", "--suite", "imagenet", "--data-root", root,
            "--dims", "accuracy", "--bootstrap", "0", "--no-progress", "--loader-workers", "1", "--batch-size", "2"]
    rc, out, err = cli(capsys, *base, "--output", tmp_path / "strict", "--strict")
    errors = [ln for ln in err.strip().splitlines() if not ln.startswith("quba: warning: incomplete data")]
    assert rc == 2 and len(errors) == 1 and "broken.png" in err and "--strict" in err  # (10 of 50,000 images)
    assert not (tmp_path / "strict" / "imagenet" / "records").exists() or \
        not any((tmp_path / "strict" / "imagenet" / "records").iterdir())
    rc, out, err = cli(capsys, *base, "--output", tmp_path / "res", "--format", "json")
    assert rc == 0, err
    (rec,) = json.loads(out)
    assert rec["splits"]["val"]["images"] == 9 and rec["splits"]["val"]["skipped"] == 1
    assert rec["skipped_images"] == 1 and rec["forward_passes"]["val"] == 9
    assert rec["dimensions"]["accuracy"]["value"] == 1.0
    # --strict still fails when the predictions come from the cache
    rc, out, err = cli(capsys, *base, "--output", tmp_path / "strict", "--strict")
    assert rc == 2 and "broken.png" in err
