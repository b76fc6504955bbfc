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

Recipe contract (see train.py): `recipe(model, suite, *, seed, steps=None,
progress=True, **kw) -> dict` trains `model` in place; the dict may carry
"clean_accuracy" (else `train.main` measures top-1 on `val` from the stored
weights). `load(model_id)` returns a `quba.zoo.base.LoadedModel`.
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


def load(model_id: str):
    """A shipped mini model with its weights, as a `quba.zoo.base.LoadedModel`.

    The module takes [0, 1] images (3x32x32; normalisation inside) and returns
    logits; weights come from `weights/<id>.safetensors` (no code executed).
    """
    from safetensors.torch import load_file

    from quba.zoo.base import LoadedModel

    r = row(model_id)
    path = weights_path(model_id)
    if not path.exists():
        raise QubaError(f"mini model {model_id!r} has no weights at {path}; run 'quba zoo train-mini {model_id}'")
    module = build(model_id)
    try:
        state = load_file(str(path))
        module.load_state_dict(state, strict=True)
    except Exception as exc:  # wrong or damaged file
        raise QubaError(f"weights of mini model {model_id!r} do not fit its architecture {r['arch']!r} "
                        f"({type(exc).__name__}); rebuild them with 'quba zoo train-mini {model_id}'") from None
    module.eval()
    return LoadedModel(
        id=model_id,
        module=module,
        preprocess=None,
        input_size=(3, 32, 32),
        num_classes=int(getattr(module, "num_classes", 0) or _num_outputs(module)),
        source="mini",
        meta={k: r.get(k, "") for k in ("display_name", "arch", "recipe", "architecture", "paradigm",
                                         "pretraining_data", "groups", "task", "clean_accuracy", "notes")},
    )


def _num_outputs(module) -> int:
    import torch

    with torch.no_grad():
        out = module(torch.zeros(1, 3, 32, 32))
    return int(out.shape[1])


def build(model_id: str, num_classes: int | None = None):
    """The architecture of a mini model, randomly initialised."""
    _load_modules()
    r = row(model_id)
    if r["arch"] not in ARCHS:
        raise QubaError(f"mini model {model_id!r} names architecture {r['arch']!r}, which no module registers")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return ARCHS[r["arch"]](**kwargs)
