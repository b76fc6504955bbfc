"""Certification on QUBA-mini: suite hierarchy, the mini segmentation model, `quba certify`, records."""
import json

import numpy as np
import pytest
import torch

from quba.cli import main
from quba.dimensions.certify import CertifyConfig, certify_segmentation, segmentation_data, suite_hierarchy
from quba.errors import QubaError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def suite():
    from quba.suites import load_suite

    return load_suite("mini", seed=0)


def test_suite_hierarchy_and_split(suite):
    h = suite_hierarchy(suite)
    assert h.levels == ["fine", "mid", "coarse"] and h.num_classes == 13
    assert h.class_names[0] == "background"
    for level in (1, 2):  # background is its own node at every level
        assert h.leaves[level][h.node_of[level, 0]] == 1
    circle, ellipse, square = (1 + suite.class_names.index(c) for c in ("circle", "ellipse", "square"))
    assert h.node_of[1, circle] == h.node_of[1, ellipse] != h.node_of[1, square]
    assert h.node_of[2, circle] != h.node_of[2, square]
    images, seg = segmentation_data(suite, images=3)
    assert images.shape == (3, 3, 32, 32) and images.dtype == np.uint8 and seg.shape == (3, 32, 32)
    assert seg.max() <= 12 and seg.min() == 0

    class NoSeg:
        name = "fake"

        def split_names(self):
            return ["val"]

    with pytest.raises(QubaError, match="segmentation"):
        segmentation_data(NoSeg())


CONSTANT = """
import torch
from torch import nn

class Constant(nn.Module):
    def forward(self, x):
        out = torch.zeros(x.shape[0], 13, *x.shape[2:])
        out[:, 0] = 4.0  # background everywhere
        return out

def build():
    return Constant()
"""


def run_cli(capsys, *args):
    code = main(["certify", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_constant_model_certifies_every_pixel_at_fine_level(tmp_path, capsys, suite):
    f = tmp_path / "const.py"
    f.write_text(CONSTANT)
    code, out, err = run_cli(capsys, f"{f}:build", "--images", "3", "--n0", "2", "--n", "60", "--sigma", "0.5",
                             "--no-record", "--bootstrap", "0", "--format", "json", "--no-progress")
    assert code == 0, err
    r = json.loads(out)
    _, seg = segmentation_data(suite, images=3)
    # everything certified as background at the fine level: CIG = pixel accuracy = background share
    assert r["value"] == pytest.approx((seg == 0).mean())
    d = r["details"]
    assert d["abstain_rate"] == 0.0 and d["per_level"]["fine"]["certified"] == seg.size
    assert d["per_level"]["mid"]["certified"] == 0 and d["config"]["images"] == 3


def test_cli_errors_exit_2(tmp_path, capsys):
    f = tmp_path / "const.py"
    f.write_text(CONSTANT)
    bad = tmp_path / "h.json"
    bad.write_text('{"circle": ["round"], "blob": ["round"]}')
    code, _, err = run_cli(capsys, f"{f}:build", "--hierarchy", str(bad), "--no-record")
    assert code == 2 and "blob" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, f"{f}:build", "--thresholds", "0.5", "--no-record")
    assert code == 2 and "thresholds" in err
    code, _, err = run_cli(capsys, f"{f}:build", "--tau", "1.5", "--no-record")
    assert code == 2 and "tau" in err
    code, _, err = run_cli(capsys, f"{f}:build", "--hierarchy", str(tmp_path / "nope.json"), "--no-record")
    assert code == 2 and "does not exist" in err


def test_cli_user_hierarchy_json(tmp_path, capsys, suite):
    f = tmp_path / "const.py"
    f.write_text(CONSTANT)
    curvy = {"circle", "ellipse", "ring", "heart", "crescent"}
    h = tmp_path / "h.json"
    h.write_text(json.dumps({c: ["curvy" if c in curvy else "angular"] for c in suite.class_names}))
    code, out, err = run_cli(capsys, f"{f}:build", "--hierarchy", str(h), "--images", "1", "--n0", "2", "--n",
                             "60", "--no-record", "--bootstrap", "0", "--no-progress")
    assert code == 0, err
    assert "fine > level1" in out and "level1" in out and "certified information gain" in out


@pytest.fixture(scope="module")
def seg_model():
    from quba.zoo import mini

    return mini.load("mini-seg-fcn")


@pytest.mark.slow
def test_mini_model_segments_and_certifies(seg_model, suite):
    images, seg = segmentation_data(suite, images=4)
    with torch.no_grad():
        pred = seg_model.module(torch.as_tensor(images).float() / 255).argmax(1).numpy()
    fg = seg > 0
    assert (pred == seg).mean() > 0.8 and (pred[fg] == seg[fg]).mean() > 0.4
    h = suite_hierarchy(suite)
    flat = {}
    for sigma in (0.12, 0.25, 0.5):
        r = certify_segmentation(seg_model.module, images, seg, h,
                                 CertifyConfig(sigma=sigma, n0=10, n=100, adaptive=False), progress=False)
        flat[sigma] = r.summary
        assert 0.0 <= r.summary["certified_information_gain"] <= 1.0
        assert r.summary["certified_information_gain"] == pytest.approx(r.summary["certified_accuracy"])
    ab = [flat[s]["abstain_rate"] for s in (0.12, 0.25, 0.5)]
    assert ab[0] < ab[1] < ab[2], ab
    ra = certify_segmentation(seg_model.module, images, seg, h, CertifyConfig(sigma=0.25, n0=10, n=100),
                              progress=False).summary
    assert ra["abstain_rate"] < flat[0.25]["abstain_rate"]
    relaxed = sum(ra["per_level"][lv]["certified"] for lv in ("mid", "coarse"))
    assert relaxed > 0
    certified = sum(v["certified"] for v in ra["per_level"].values())
    correct = sum(v["correct"] for v in ra["per_level"].values())
    assert correct / certified > 0.9  # certified pixels are right at their level


def test_cli_records_dimension_for_the_leaderboard(tmp_path, capsys, seg_model):
    out_dir = tmp_path / "results"
    code, out, err = run_cli(capsys, "mini-seg-fcn", "--images", "3", "--n", "60", "--sigma", "0.25",
                             "--bootstrap", "50", "--output", str(out_dir), "--format", "json", "--no-progress")
    assert code == 0, err
    r = json.loads(out)
    assert r["lo"] <= r["value"] <= r["hi"]
    rec = json.loads((out_dir / "mini" / "records" / "mini-seg-fcn.json").read_text())
    assert rec["dimensions"]["certified_information_gain"]["value"] == pytest.approx(r["value"])
    header = (out_dir / "mini" / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert "certified_information_gain" in header
    from quba import dimensions

    assert dimensions.higher_is_better("cig") and not dimensions.higher_is_better("met3r")
