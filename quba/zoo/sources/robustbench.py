"""Source `robustbench` (a `hub` kind: identifier `robustbench:<name>`): RobustBench's ImageNet
Linf models (needs the robustbench package, which pins timm 1.0.9: use a separate environment)."""
from __future__ import annotations

import importlib.util
import re

from quba.errors import QubaError
from quba.zoo.sources.common import Built, fetching, weights_dir


def load(row: dict, pretrained: bool, device="cpu") -> Built:
    ident = row["identifier"]
    if not available(row):
        raise QubaError(
            f"{row['id']!r} comes from RobustBench: pip install robustbench (it pins timm 1.0.9, so use a "
            "separate environment) or pass --checkpoint PATH --arch NAME")
    from robustbench.utils import load_model as rb_load  # type: ignore

    if not pretrained:
        raise QubaError(f"{row['id']!r}: RobustBench builds its models only with their weights")
    cache = weights_dir("robustbench")
    with fetching(row["id"], f"RobustBench ({ident})"):
        model = rb_load(model_name=ident.split(":", 1)[1], dataset="imagenet", threat_model="Linf",
                        model_dir=str(cache) if cache else "./models")
    return Built(model)  # RobustBench models normalise inside


def check(row: dict) -> str | None:
    ident = row["identifier"]
    return None if re.fullmatch(r"robustbench:\w+(_[\w-]+)+", ident) else f"bad robustbench id {ident}"


def available(row: dict) -> bool:
    return importlib.util.find_spec("robustbench") is not None
