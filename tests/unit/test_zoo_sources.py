"""Model sources as a registry (quba/zoo/sources/): one module per source, each with load, check
and available; a new source is a module and one registration, with no dispatch code to edit."""
from __future__ import annotations

import sys

import pytest
import torch

from quba.errors import QubaError
import importlib
from quba.zoo import sources

cat = importlib.import_module("quba.zoo.catalog")  # (quba.zoo.catalog is also a function of quba.zoo)


def test_every_registered_source_has_load_check_available():
    assert {"timm", "torchvision", "open_clip", "bcos", "hub", "robustbench", "mobileclip", "mini", "checkpoint",
            "custom"} <= set(sources.REGISTRY)
    for name in sources.REGISTRY:
        mod = sources.get(name)
        assert all(callable(getattr(mod, f, None)) for f in ("load", "check", "available")), name


def test_every_catalog_source_is_registered():
    from quba.zoo.registry import row_sources

    assert {r["source"] for r in cat.catalog()} <= set(row_sources()) <= set(sources.REGISTRY)


def test_an_unknown_source_is_one_line_with_a_suggestion():
    with pytest.raises(QubaError, match="unknown model source 'timn'.*did you mean: timm"):
        sources.get("timn")


def test_hub_rows_name_their_own_source():
    rb = {"id": "x", "source": "hub", "identifier": "robustbench:Salman2020Do_R50", "pretrained_tag": ""}
    url = {"id": "y", "source": "hub", "identifier": "timm:resnet50.a1_in1k", "pretrained_tag": "https://x"}
    assert sources.source_of(rb) == "robustbench"
    assert sources.source_of(url) == "hub"
    assert sources.source_of({"source": "timm", "identifier": "resnet50"}) == "timm"
    assert sources.identifier_problem({**rb, "identifier": "robustbench:nope"}) == "bad robustbench id robustbench:nope"


def test_a_third_party_source_registers_without_editing_quba(tmp_path, monkeypatch):
    (tmp_path / "my_source_q11.py").write_text(
        "import torch\n"
        "from quba.zoo.sources.common import Built\n"
        "def load(row, pretrained, device='cpu'):\n"
        "    return Built(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 7)), mean=(0.5,) * 3,"
        " std=(0.25,) * 3)\n"
        "def check(row):\n"
        "    return None if row['identifier'] == 'seven' else 'only seven'\n"
        "def available(row):\n"
        "    return True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sources, "REGISTRY", sources.REGISTRY.copy())
    sources.register("mine", "my_source_q11")
    row = {"id": "my-model", "source": "mine", "identifier": "seven", "pretrained_tag": "", "preprocess": "",
           "notes": ""}
    loaded = sources.load_row(row, pretrained=False)
    assert loaded.source == "mine" and loaded.id == "my-model"
    assert loaded.module(torch.rand(2, 3, 4, 4)).shape == (2, 7)
    assert sources.identifier_problem(row) is None and sources.is_available(row)
    assert sources.identifier_problem({**row, "identifier": "six"}) == "only seven"
    sys.modules.pop("my_source_q11", None)


def test_the_two_kinds_of_recipe_have_distinct_names():
    from quba.zoo import mini
    from quba.zoo.sources import builders

    assert hasattr(builders, "BUILDERS") and not hasattr(builders, "RECIPES")
    assert "bagnet" in builders.BUILDERS and "bagnet" not in mini.RECIPES
