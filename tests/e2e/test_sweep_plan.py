"""`quba sweep --split-tasks` plans every task with quba.engine.plan (issue 20.1): the split tasks fill
exactly the cache entries the model task reads, whatever the protocol, precision and evaluation
transform, so the model task's record shows that its run cost no forward and no attack pass."""
from __future__ import annotations

import json

import pytest
from cli_run import cli

from quba.store.records import record_path

COLOUR_MODEL = """
import torch
from torch import nn


class Colour(nn.Module):
    \"\"\"imagenet_fixture.ColourCodeModel made differentiable (the attacks need gradients): the logit of
    class j falls with the distance of the image's mean colour from j's code (R + 256 G).\"\"\"

    def __init__(self):
        super().__init__()
        j = torch.arange(1000)
        self.register_buffer("code", torch.stack([j % 256, j // 256], 1).float())
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        rg = x.mean(dim=(2, 3))[:, :2] * 255.0
        return -self.scale * ((rg[:, None, :] - self.code[None]) ** 2).sum(-1)


def build():
    return Colour()
"""


@pytest.mark.slow
def test_split_tasks_leave_the_model_task_nothing_to_run(tmp_path, monkeypatch, capsys):
    """Paper protocol (its attacks: one unit of work), bf16, an --input-size override on an image-file
    suite (the model gets the evaluation transform in every task): before issue 20 the split tasks ran
    under the quba protocol, fp32 and no transform, and the model task redid all the work."""
    from imagenet_fixture import fake_imagenet_tree

    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    fake_imagenet_tree(tmp_path / "imagenet", splits=("val",))
    (tmp_path / "colour.py").write_text(COLOUR_MODEL)
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
    assert rec["dimensions"]["accuracy"]["value"] == 1.0  # every image's colour codes its class
    assert rec["dimensions"]["adversarial_robustness"]["value"] is not None
