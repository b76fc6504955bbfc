"""The reproduction report (quba/ranking/reproduction.py, `quba.reproduce`): records made for paper
model ids against the shipped paper leaderboard, and the mini zoo's shipped records against the mini
reference they were built from. The commands: tests/e2e/test_reproduce_cli.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from quba import reproduce
from quba.errors import QubaError
from quba.ranking import reproduction as R
from paper_records import DESCRIBED_VAL, SUBSET_OF_GENERATED
from paper_records import record as _record
from paper_records import val_and_corruptions as _val_and_corruptions
from paper_records import write as _write

ROOT = Path(__file__).resolve().parents[2]
#: The paper's row of ResNet50 (quba/data/quba_paper_results.csv).
PAPER_RESNET50 = {"accuracy": 0.7613, "adversarial_robustness": 0.0337, "corruption_robustness": 0.5146,
                  "calibration_error": 0.0021, "parameters_m": 25.6}


def _rows(report, model):
    return {r["dimension"]: r for r in report["rows"] if r["model"] == model}


def test_values_differences_and_inside_against_the_paper(tmp_path):
    out = _write(tmp_path, _record("ResNet50", {
        "accuracy": (0.7600, 0.7560, 0.7640),                # 0.7613 inside
        "corruption_robustness": (0.5300, 0.5250, 0.5350),   # 0.5146 outside: a real difference
        "calibration_error": (0.0030, 0.0022, 0.0038),       # 0.0021 outside by 0.0001
        "parameters_m": (25.557032, 25.557032, 25.557032),   # the paper prints 25.6: inside its rounding
    }))
    rep = reproduce(out, "imagenet")
    rows = _rows(rep, "ResNet50")
    assert set(rows) == {"accuracy", "corruption_robustness", "calibration_error", "parameters_m"}
    assert rows["accuracy"]["published"] == PAPER_RESNET50["accuracy"]
    assert rows["accuracy"]["difference"] == pytest.approx(0.7600 - 0.7613)
    assert rows["accuracy"]["inside"] is True
    assert rows["corruption_robustness"]["inside"] is False
    assert rows["corruption_robustness"]["difference"] == pytest.approx(0.5300 - 0.5146)
    assert rows["calibration_error"]["inside"] is False
    assert rows["parameters_m"]["inside"] is True and rows["parameters_m"]["difference"] == pytest.approx(-0.042968)
    assert all(r["like_for_like"] and not r["notes"] for r in rows.values())
    s = rep["summary"]
    assert (s["models"], s["values"], s["judged"], s["inside"], s["like_for_like"]) == (1, 4, 4, 2, 4)
    assert s["line"].startswith("2 of 4 published values inside the fresh 95% interval (2 of 4 like for like)")


def test_rounding_of_the_published_value_is_allowed_for_and_no_more():
    assert R.rounding_half_unit(0.7769) == pytest.approx(0.00005)
    assert R.rounding_half_unit(61.1) == pytest.approx(0.05)
    assert R.rounding_half_unit("25") == pytest.approx(0.5) and R.rounding_half_unit("0.80") == pytest.approx(0.005)
    assert R.rounding_half_unit("1.5e-05") == pytest.approx(0.5e-6)
    assert R.inside(25.6, 25.557, 25.557) is True       # 25.557 prints as 25.6
    assert R.inside(25.6, 25.54, 25.54) is False         # 25.54 prints as 25.5
    assert R.inside(0.7613, 0.76135, 0.77) is True       # 0.76125 .. 0.76135 is 0.7613
    assert R.inside(0.7613, 0.76136, 0.77) is False
    assert R.inside(0.7613, None, None) is None and R.inside(None, 0.1, 0.2) is None


def test_protocol_subset_incomplete_and_skipped_are_named_per_row(tmp_path):
    out = _write(
        tmp_path,
        _record("ResNet50", {"accuracy": (0.76, 0.75, 0.77), "adversarial_robustness": (0.30, 0.28, 0.32),
                             "corruption_robustness": (0.51, 0.50, 0.52), "parameters_m": (25.6, 25.6, 25.6)},
                protocol="quba", splits=_val_and_corruptions(complete=False, skipped=3)),
        _record("AlexNet", {"accuracy": (0.56, 0.50, 0.60), "adversarial_robustness": (0.03, 0.02, 0.05),
                            "parameters_m": (61.1, 61.1, 61.1)}, protocol="paper", subset=10),
    )
    rep = reproduce(out)
    r50, alex = _rows(rep, "ResNet50"), _rows(rep, "AlexNet")
    # the adversarial protocol: only where it differs from the paper's, only on that dimension
    assert any("quba protocol" in n and "--protocol paper" in n for n in r50["adversarial_robustness"]["notes"])
    assert not any("protocol" in n for n in r50["accuracy"]["notes"] + alex["adversarial_robustness"]["notes"])
    # an incomplete split and skipped images: on the dimension that reads those splits, not on the others
    notes = "; ".join(r50["corruption_robustness"]["notes"])
    assert "incomplete split corruption/snow/2 (1500 of 50000 images)" in notes
    assert "6 unreadable image(s) skipped" in notes  # fog 1 and fog 2, 3 each
    assert r50["accuracy"]["notes"] == [] and r50["accuracy"]["like_for_like"]
    assert r50["parameters_m"]["notes"] == []
    # a subset: every dimension but the parameter count
    assert all("subset: 10 images per class" in r["notes"] for d, r in alex.items() if d != "parameters_m")
    assert alex["parameters_m"]["notes"] == []
    s = rep["summary"]
    assert s["not_like_for_like"] == 2 + 2  # ResNet50 adversarial + corruption; AlexNet accuracy + adversarial


def test_how_the_data_root_was_made_is_read_from_what_the_data_commands_write(tmp_path):
    """provenance.data as quba.datasets.data_provenance writes it: a subset root is named on every row
    but the parameter count; generated ImageNet-C on corruption robustness only (the released files are
    JPEG, quba's PNG from its own corruption code); a root described by its own manifest on the
    dimensions that read the described split."""
    dims = {"accuracy": (0.76, 0.75, 0.77), "corruption_robustness": (0.51, 0.50, 0.52),
            "parameters_m": (25.6, 25.6, 25.6)}
    out = _write(tmp_path, _record("ResNet50", dims, data=SUBSET_OF_GENERATED),
                 _record("AlexNet", dims, data=DESCRIBED_VAL,
                         splits={"val": {"images": 6, "complete": True}}),
                 _record("VGG16", dims, data={"generated_imagenet_c": {"seed": 0, "on_the_fly": True}}))
    rep = reproduce(out)
    r50, alex, vgg = _rows(rep, "ResNet50"), _rows(rep, "AlexNet"), _rows(rep, "VGG16")
    subset = "data subset of 10 images per class (quba data subset, seed 0)"
    generated = ("ImageNet-C generated locally from val (quba data generate: PNG from quba's corruption code, "
                 "10 images per class), not the published ImageNet-C archive (JPEG)")
    assert r50["accuracy"]["notes"] == [subset]
    assert r50["corruption_robustness"]["notes"] == [subset, generated]
    assert r50["parameters_m"]["notes"] == [] and r50["parameters_m"]["like_for_like"]
    described = "data root described by its own manifest: val 6 images in 2 classes; published: 50000 in 1000"
    assert alex["accuracy"]["notes"] == [described] and not alex["accuracy"]["like_for_like"]
    assert alex["parameters_m"]["notes"] == []
    assert vgg["accuracy"]["notes"] == [] and vgg["accuracy"]["like_for_like"]
    assert vgg["corruption_robustness"]["notes"] == [
        "ImageNet-C generated locally on the fly from val (quba's corruption code), not the published ImageNet-C "
        "archive (JPEG)"]


def test_an_incomplete_split_is_named_with_the_counts_evaluate_records():
    entry = {"images": 5, "complete": False, "expected_images": 6, "found_images": 5}
    assert R._describe_short("ood/edge", entry) == "ood/edge (5 of 6 images)"
    assert R._describe_short("ood/edge", {"images": 5, "complete": False}) == "ood/edge"


def test_records_without_a_paper_row_are_listed_and_ids_match_case_insensitively(tmp_path):
    out = _write(tmp_path, _record("resnet50", {"accuracy": (0.76, 0.75, 0.77)}),
                 _record("tf_efficientnet_lite0@weights.pth", {"accuracy": (0.75, 0.70, 0.80)}))
    rep = reproduce(out)
    assert rep["models"] == ["resnet50"] and rep["rows"][0]["published_model"] == "ResNet50"
    assert rep["unmatched"] == ["tf_efficientnet_lite0@weights.pth"]
    assert "1 record(s) without a row in the paper's leaderboard" in rep["summary"]["line"]
    only = reproduce(out, models=["tf_efficientnet_lite0@weights.pth"])
    assert only["rows"] == [] and only["summary"]["line"].startswith("none of the 1 record(s) has a row")


def test_bootstrap_off_gives_no_verdict(tmp_path):
    out = _write(tmp_path, _record("ResNet50", {"accuracy": (0.7613, None, None)}))
    row = reproduce(out)["rows"][0]
    assert row["inside"] is None and row["difference"] == pytest.approx(0.0)
    assert "0 of 0 published values" in reproduce(out)["summary"]["line"]


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(QubaError, match="no records under .*evaluate models first"):
        reproduce(tmp_path)
    out = _write(tmp_path, _record("ResNet50", {"accuracy": (0.76, 0.75, 0.77)}))
    with pytest.raises(QubaError, match="no record of model 'ResNet5'.*ResNet50"):
        reproduce(out, models=["ResNet5"])
    with pytest.raises(QubaError, match="unknown suite"):
        reproduce(out, "imagenett")
    with pytest.raises(QubaError, match="not found"):
        reproduce(out, against=tmp_path / "nowhere.csv")
    with pytest.raises(QubaError, match="the paper's leaderboard is of suite imagenet"):
        reproduce(ROOT / "results", "mini", against="paper")


def test_against_a_leaderboard_csv(tmp_path):
    lb = tmp_path / "theirs.csv"
    lb.write_text("model,accuracy,calibration_error\nResNet50,0.80,0.002\n")
    out = _write(tmp_path / "results", _record("ResNet50", {"accuracy": (0.76, 0.75, 0.77),
                                                           "adversarial_robustness": (0.3, 0.2, 0.4)},
                                               protocol="quba"))
    rep = reproduce(out, against=lb)
    assert rep["against"] == "theirs.csv" and rep["protocol"] is None
    assert [r["dimension"] for r in rep["rows"]] == ["accuracy"]  # what both have
    assert rep["rows"][0]["published"] == 0.80 and rep["rows"][0]["inside"] is False


def test_the_shipped_mini_records_reproduce_the_mini_reference():
    """The mini reference was built from the shipped mini records: every value is inside its interval."""
    from quba.zoo.mini import catalog_rows

    n = sum(1 for r in catalog_rows() if (r.get("task") or "classification") == "classification")
    rep = reproduce(ROOT / "results", "mini")
    s = rep["summary"]
    assert n >= 13 and s["models"] == n and s["values"] == n * 9 and s["inside"] == s["judged"] == s["values"]
    assert all(abs(r["difference"]) < 1e-5 for r in rep["rows"])


def test_placement_among_the_paper_rows_is_not_comparable_on_described_or_incomplete_data():
    """What `quba evaluate` says under its table: data complete only as the root's own manifest describes it
    (a few photos as val) is not the published data, as an incomplete split is not."""
    from quba.ranking.placement import comparable, data_warnings

    dims = {"accuracy": (0.76, 0.75, 0.77)}
    assert comparable(_record("ResNet50", dims))
    assert not comparable(_record("ResNet50", dims, splits=_val_and_corruptions(complete=False)))
    described = _record("ResNet50", dims, data=DESCRIBED_VAL)
    assert not comparable(described)
    assert data_warnings(described, "paper's") == [
        "not comparable with the paper's rows: 1 split(s) were counted against the data root's own manifest, not "
        "the datasets' published counts (val)"]
    assert comparable(_record("ResNet50", dims, data=SUBSET_OF_GENERATED))  # a subset: wider intervals, same data
    rec = _record("ResNet50", {"corruption_robustness": (0.5, 0.4, 0.6)}, data=SUBSET_OF_GENERATED)
    assert any(w.startswith("corruption_robustness was measured on ImageNet-C generated by quba")
               for w in data_warnings(rec, "paper's"))
