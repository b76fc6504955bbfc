"""`quba zoo` commands."""
import csv
import io
import json
import sys

import pytest

from quba.cli import main


def run(capsys, *argv):
    code = main(["zoo", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_and_csv(capsys):
    code, out, _ = run(capsys, "list", "--group", "ViL", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and rows and all("ViL" in r["groups"].split(";") for r in rows)
    assert {"id", "source", "identifier", "pretrained_tag", "parameters_m", "available"} <= set(rows[0])
    code, out, _ = run(capsys, "list", "--source", "unavailable", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and table and all(r["source"] == "unavailable" and r["notes"] for r in table)
    assert all(r["available"] == "False" for r in table)


def test_list_table_and_available(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "ResNet50" in out and "clip-vit-b-16" in out
    code, out, _ = run(capsys, "list", "--available", "--format", "json")
    assert code == 0 and all(r["available"] and r["source"] != "unavailable" for r in json.loads(out))


def test_unknown_group_and_id_exit_2(capsys):
    code, _, err = run(capsys, "list", "--group", "Transformers")
    assert code == 2 and "unknown group" in err
    code, _, err = run(capsys, "show", "ResNet05")
    assert code == 2 and "did you mean" in err and "ResNet50" in err


def test_show_json_with_and_without_build(capsys):
    code, out, _ = run(capsys, "show", "ResNet50", "--format", "json")
    info = json.loads(out)
    assert code == 0 and info["id"] == "ResNet50" and info["source"] == "torchvision"
    assert info["identifier"] == "resnet50" and info["parameters_m"] == info["parameters_full_m"] == 25.6
    code, out, _ = run(capsys, "show", "clip-vit-b-16", "--build", "--format", "json")
    info = json.loads(out)
    assert code == 0 and info["built"] and info["input_size"] == [3, 224, 224]
    assert info["parameters_full_m"] == pytest.approx(149.6, rel=0.02)  # the paper's count: whole CLIP
    assert info["parameters_m"] < info["parameters_full_m"]  # image tower + zero-shot head
    code, out, _ = run(capsys, "show", "BagNet33")
    assert code == 0 and "bagnet32-2ddd53ed" in out


def test_fetch_rejects_unknown_ids_before_downloading(capsys):
    code, _, err = run(capsys, "fetch", "ResNet50", "NoSuchNet")
    assert code == 2 and "NoSuchNet" in err


def test_train_mini_calls_the_mini_trainer(capsys, monkeypatch):
    import types

    calls = []
    fake = types.ModuleType("quba.zoo.mini.train")
    fake.main = lambda ids, steps=None, seed=0: calls.append((ids, steps, seed)) or 0
    monkeypatch.setitem(sys.modules, "quba.zoo.mini.train", fake)
    code, _, _ = run(capsys, "train-mini", "mini-a", "mini-b", "--steps", "7", "--seed", "3")
    assert code == 0 and calls == [(["mini-a", "mini-b"], 7, 3)]
    run(capsys, "train-mini")
    assert calls[-1] == (None, None, 0)


def test_extra_architectures_list_build_and_refuse_weights_in_one_line(capsys, tmp_path):
    """CoDA-Net and TokenFormer at ImageNet scale: listed under 'extra', built without weights by
    'zoo show --build', and 'quba evaluate' of one says in one line that no weights exist (exit 2)."""
    code, out, _ = run(capsys, "list", "--group", "extra", "--format", "json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == {"CoDA-Net-L", "TokenFormer-B-16", "TokenFormer-L-16"}
    assert all(r["source"] == "unavailable" and not r["available"] for r in rows.values())
    code, out, _ = run(capsys, "show", "TokenFormer-B-16", "--build", "--format", "json")
    info = json.loads(out)
    assert code == 0 and info["built"] and info["input_size"] == [3, 224, 224] and info["parameters_m"] > 100
    code = main(["evaluate", "CoDA-Net-L", "--suite", "mini", "--output", str(tmp_path), "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "is unavailable: no public weights" in err
    assert not (tmp_path / "mini").exists()
