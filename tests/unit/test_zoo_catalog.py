"""The zoo catalog: integrity against the paper's data, identifiers against the
installed libraries, groups, selection and the mini-zoo merge."""
import csv
import importlib
import importlib.util
from pathlib import Path

import pytest

from quba.errors import QubaError
from quba.paths import data_file
# the module, not quba.zoo.catalog() the function that quba.zoo exports under the same name
cat = importlib.import_module("quba.zoo.catalog")

ROOT = Path(__file__).resolve().parents[2]


def paper():
    with open(data_file("quba_paper_results.csv"), newline="") as fh:
        return {r["model"]: r for r in csv.DictReader(fh)}


def test_every_paper_model_once_with_its_metadata():
    rows = cat.catalog(include_mini=False, include_extra=False)
    p = paper()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(p) == 326
    assert set(ids) == set(p)
    for r in rows:
        src = p[r["id"]]
        for col in ("display_name", "architecture", "paradigm", "pretraining_data", "paper_title"):
            assert r[col] == src[col], (r["id"], col)
        if src["parameters_m"]:
            assert r["parameters_m"] == pytest.approx(float(src["parameters_m"]))
        else:
            assert r["parameters_m"] is None
    # mini rows never collide with paper ids
    all_ids = cat.ids()
    assert len(all_ids) == len(set(all_ids))


def test_groups_follow_the_paper_columns():
    """Rules (documented in tools/build_zoo_catalog.py): architecture -> CNN/TRA/ViL/Bcos,
    paradigm -> SL/SELF_SL/SEMISL/AT/A1/A2/A3, pretraining data -> IN1k/IN21k/BD, plus ALL."""
    arch = {"CNN": "CNN", "Transformer": "TRA", "Vision-language": "ViL", "B-cos": "Bcos"}
    para = {"Supervised learning": "SL", "Self-supervised learning": "SELF_SL",
            "Semi-supervised learning": "SEMISL", "Adversarial training": "AT", "A1": "A1", "A2": "A2", "A3": "A3"}
    p = paper()
    for r in cat.catalog(include_mini=False, include_extra=False):
        g = cat.groups_of(r)
        src = p[r["id"]]
        data = {"ImageNet-1k": "IN1k", "ImageNet-21k": "IN21k"}.get(src["pretraining_data"], "BD")
        assert sorted(g) == sorted([arch[src["architecture"]], para[src["paradigm"]], data, "ALL"]), r["id"]
        assert set(g) <= set(cat.PAPER_GROUPS)
    # every paper group is populated
    populated = {g for r in cat.catalog(include_mini=False, include_extra=False) for g in cat.groups_of(r)}
    assert populated == set(cat.PAPER_GROUPS)


def test_every_identifier_exists_in_the_installed_libraries():
    from quba.zoo.sources import identifier_problem

    problems = [(r["id"], identifier_problem(r)) for r in cat.catalog()]
    assert [p for p in problems if p[1]] == []


def test_shipped_csv_is_what_the_builder_makes():
    spec = importlib.util.spec_from_file_location("build_zoo_catalog", ROOT / "tools" / "build_zoo_catalog.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.render(mod.build_rows()) == data_file("zoo_catalog.csv").read_text()
    assert mod.render(mod.build_extra_rows()) == data_file("zoo_catalog_extra.csv").read_text()


def test_sources_and_reasons():
    rows = cat.catalog(include_mini=False)
    from quba.zoo.registry import row_sources

    assert {r["source"] for r in rows} <= set(row_sources())
    for r in rows:
        if r["source"] == "unavailable":  # the paper's unreleased fine-tunes; or an architecture quba builds
            assert r["notes"] and (not r["identifier"] or r["identifier"].startswith("quba:"))
        else:
            assert r["identifier"], r["id"]
        if r["architecture"] == "Vision-language" and r["source"] == "open_clip":
            assert r["pretrained_tag"]
    # the paper's OpenAI CLIP models use the activation their weights were trained with
    assert cat.get("clip-vit-b-16")["identifier"].endswith("-quickgelu")
    assert cat.get("ResNet50")["source"] == "torchvision" and cat.get("ResNet50")["pretrained_tag"] == "IMAGENET1K_V1"
    assert (cat.get("ResNet50-A2")["identifier"], cat.get("ResNet50-A2")["pretrained_tag"]) == ("resnet50", "a2_in1k")


def test_get_and_closest():
    assert cat.get("resnet50")["id"] == "ResNet50"  # case-insensitive fallback
    with pytest.raises(QubaError, match="did you mean: ResNet50"):
        cat.get("ResNt50")


def test_select_by_group_source_and_availability():
    vil = cat.select(group="vil")
    assert vil and all(r["architecture"] == "Vision-language" for r in vil)
    assert len(vil) == sum(1 for r in paper().values() if r["architecture"] == "Vision-language")
    tv = cat.select(source="torchvision", group="CNN")
    assert tv and all(r["source"] == "torchvision" and "CNN" in cat.groups_of(r) for r in tv)
    from quba.zoo.sources import is_available

    avail = [r for r in cat.select() if is_available(r)]
    assert avail and not any(r["source"] == "unavailable" for r in avail)
    with pytest.raises(QubaError, match="unknown group"):
        cat.select(group="CNNs-please")
    with pytest.raises(QubaError, match="unknown source"):
        cat.select(source="tim")


def test_mini_rows_are_merged_with_source_mini(monkeypatch):
    from quba.zoo import mini

    fake = [{"id": "mini-fake", "display_name": "Fake", "arch": "mini_cnn", "recipe": "standard",
             "architecture": "CNN", "paradigm": "Standard", "pretraining_data": "QUBA-mini train",
             "groups": "mini", "task": "classification", "clean_accuracy": "0.5", "notes": "n"}]
    monkeypatch.setattr(mini, "catalog_rows", lambda: fake)
    row = cat.get("mini-fake")
    assert row["source"] == "mini" and row["identifier"] == "mini_cnn" and row["pretrained_tag"] == "standard"
    assert row["task"] == "classification" and "mini" in cat.groups_of(row)
    assert [r["id"] for r in cat.select(group="mini")] == ["mini-fake"]
    assert len(cat.catalog(include_extra=False)) == 327  # the paper's 326 + the fake
    assert len(cat.catalog()) == len(cat.catalog(include_mini=False)) + 1
