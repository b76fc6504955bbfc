"""`quba sweep --split-tasks` plans every task with quba.engine.plan (issue 20.1): the split tasks fill
exactly the cache entries the model task reads, whatever the protocol, precision and evaluation
transform, so the model task's record shows that its run cost no forward and no attack pass."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from quba.cli import main
from quba.store.records import record_path

TESTS = Path(__file__).resolve().parents[1]


def cli(capsys, *argv):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.slow
def test_split_tasks_leave_the_model_task_nothing_to_run(tmp_path, monkeypatch, capsys):
    """Paper protocol (its attacks: one unit of work), bf16, an --input-size override on an image-file
    suite (the model gets the evaluation transform in every task): before issue 20 the split tasks ran
    under the quba protocol, fp32 and no transform, and the model task redid all the work."""
    from imagenet_fixture import fake_imagenet_tree

    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    fake_imagenet_tree(tmp_path / "imagenet", splits=("val",))
    (tmp_path / "colour.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
        "from imagenet_fixture import ColourCodeModel\n\ndef build():\n    return ColourCodeModel()\n")
    rc, _, err = cli(capsys, "sweep", "colour.py:build", "--suite", "imagenet", "--data-root", "imagenet",
                     "--dims", "accuracy", "adversarial_robustness", "--split-tasks", "--protocol", "paper",
                     "--precision", "bf16", "--input-size", "16", "--bootstrap", "10", "--no-progress",
                     "--output", "res")
    assert rc == 0, err
    split_lines = [line for line in err.splitlines() if line.startswith("split  colour.py:build")]
    assert len(split_lines) == 2, err  # val (clean, bf16) and the paper protocol's attacks (one run)
    assert any("attack passes" in line for line in split_lines), err  # the attacks ran in a split task
    rec = json.loads(record_path(tmp_path / "res", "imagenet", "colour.py:build").read_text())
    prov = rec["provenance"]
    assert prov["protocol"] == "paper" and prov["precision"] == "bf16"
    assert prov["transform_overrides"] == {"input_size": 16} and prov["transform_source"] is not None
    cost = prov["cost"]
    assert cost["forward_passes"] == 0 and cost["attack_passes"] == 0, cost
    assert cost["splits_from_cache"] == cost["splits"] >= 2, cost
    assert rec["dimensions"]["accuracy"]["value"] == 1.0
    assert rec["dimensions"]["adversarial_robustness"]["value"] is not None
