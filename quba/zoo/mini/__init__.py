"""The mini zoo: small models trained on QUBA-mini by quba's own recipes.

Rows of the mini zoo are data (`catalog.csv` beside this file); architectures
and training recipes are registered by the modules of this package with
`@register_arch(name)` and `@register_recipe(name)`; weights ship as
`weights/<id>.safetensors` and are rebuilt by `quba zoo train-mini`.

catalog.csv columns:
  id            model id, always `mini-...`
  display_name  human name
  arch          registered architecture name (builder(num_classes) -> nn.Module taking [0,1] images)
  recipe        registered training recipe name
  architecture  family: CNN | Transformer | B-cos | Segmentation
  paradigm      names the recipe in words (e.g. "Standard", "Shape-biased (random textures)")
  pretraining_data  QUBA-mini train
  groups        ';'-separated groups; always contains `mini`
  task          classification | segmentation
  clean_accuracy  documented clean accuracy on `val` (filled by the recipe)
  notes         free text (what property the variant is built to have)
"""
from __future__ import annotations

import csv
import importlib
import pkgutil
from pathlib import Path
from typing import Callable

from quba.errors import QubaError, closest

HERE = Path(__file__).resolve().parent
CATALOG_PATH = HERE / "catalog.csv"
WEIGHTS_DIR = HERE / "weights"

ARCHS: dict[str, Callable] = {}
RECIPES: dict[str, Callable] = {}


def register_arch(name: str):
    def deco(fn):
        if name in ARCHS and ARCHS[name] is not fn:
            raise ValueError(f"mini architecture {name!r} registered twice")
        ARCHS[name] = fn
        return fn

    return deco


def register_recipe(name: str):
    def deco(fn):
        if name in RECIPES and RECIPES[name] is not fn:
            raise ValueError(f"mini recipe {name!r} registered twice")
        RECIPES[name] = fn
        return fn

    return deco


_loaded = False


def _load_modules() -> None:
    """Import every module of this package so their registrations run."""
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules([str(HERE)]):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


def catalog_rows() -> list[dict]:
    if not CATALOG_PATH.exists():
        return []
    with open(CATALOG_PATH, newline="") as fh:
        return [row for row in csv.DictReader(fh) if row.get("id")]


def list_ids() -> list[str]:
    return [r["id"] for r in catalog_rows()]


def row(model_id: str) -> dict:
    rows = {r["id"]: r for r in catalog_rows()}
    if model_id not in rows:
        raise QubaError(f"unknown mini model {model_id!r}{closest(model_id, rows)}; see 'quba zoo list --group mini'")
    return rows[model_id]


def weights_path(model_id: str) -> Path:
    return WEIGHTS_DIR / f"{model_id}.safetensors"


def build(model_id: str, num_classes: int | None = None):
    """The architecture of a mini model, randomly initialised."""
    _load_modules()
    r = row(model_id)
    if r["arch"] not in ARCHS:
        raise QubaError(f"mini model {model_id!r} names architecture {r['arch']!r}, which no module registers")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return ARCHS[r["arch"]](**kwargs)
