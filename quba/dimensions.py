"""The quality dimensions quba knows, declared as data.

Each dimension has a canonical name (the leaderboard column), a direction and
a description. The engine attaches what it needs to measure a dimension
(`needs`: the splits; `compute`: the metric over cached predictions); the
ranking engine only needs names and directions.

The nine QUBA dimensions follow Hesse et al., "Beyond Accuracy" (Sec. 3) and
../shared/METRICS.md; further dimensions register themselves with `register`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from quba.errors import QubaError, closest


@dataclass(frozen=True)
class Dimension:
    name: str
    higher_is_better: bool
    title: str
    description: str
    source: str = "Hesse et al., Beyond Accuracy (QUBA), Sec. 3"
    paper: bool = False  # one of the nine QUBA dimensions
    aliases: tuple[str, ...] = ()
    # Filled in by the engine: which splits a suite must run, and the metric.
    needs: Callable[..., Any] | None = field(default=None, compare=False)
    compute: Callable[..., Any] | None = field(default=None, compare=False)


_REGISTRY: dict[str, Dimension] = {}
_ALIASES: dict[str, str] = {}


def register(dim: Dimension, replace: bool = False) -> Dimension:
    """Add a dimension (or, with replace=True, attach engine hooks to one)."""
    if dim.name in _REGISTRY and not replace:
        raise ValueError(f"dimension {dim.name!r} is already registered")
    _REGISTRY[dim.name] = dim
    for a in (dim.name, *dim.aliases):
        _ALIASES[a.lower()] = dim.name
    return dim


def all_dimensions() -> dict[str, Dimension]:
    return dict(_REGISTRY)


def canonical(name: str) -> str:
    """Canonical name of a dimension, accepting aliases; QubaError if unknown."""
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise QubaError(
        f"unknown dimension {name!r}{closest(name, list(_ALIASES))}; "
        f"known: {', '.join(_REGISTRY)}"
    )


def get(name: str) -> Dimension:
    return _REGISTRY[canonical(name)]


def is_known(name: str) -> bool:
    return name.strip().lower() in _ALIASES


def higher_is_better(name: str) -> bool:
    return get(name).higher_is_better


_NINE = [
    Dimension("accuracy", True, "Accuracy", "top-1 accuracy on the clean validation split", paper=True, aliases=("acc",)),
    Dimension("adversarial_robustness", True, "Adversarial robustness",
              "gmean of FGSM and PGD accuracy (eps=8/255) relative to clean accuracy", paper=True,
              aliases=("adv", "adversarial")),
    Dimension("corruption_robustness", True, "Corruption robustness",
              "mean over 15 corruptions x 5 severities of accuracy relative to clean accuracy", paper=True,
              aliases=("corruption", "c_robustness")),
    Dimension("ood_robustness", True, "OOD robustness",
              "gmean of relative accuracy on edge, silhouette, sketch, stylized and rendition splits", paper=True,
              aliases=("ood",)),
    Dimension("calibration_error", False, "Calibration error", "gmean(ECE, ACE) on the clean validation split",
              paper=True, aliases=("calibration", "ece")),
    Dimension("class_balance", True, "Class balance",
              "gmean(1 - std of per-class accuracy, 1 - mean within-class std of true-class probability)", paper=True,
              aliases=("fairness", "balance")),
    Dimension("object_focus", True, "Object focus",
              "1 - (acc(mixed_same) - acc(mixed_rand)) / acc on the Backgrounds Challenge", paper=True,
              aliases=("background_robustness",)),
    Dimension("shape_bias", True, "Shape bias", "shape hits / (shape + texture hits) on cue-conflict images",
              paper=True, aliases=("shape",)),
    Dimension("parameters_m", False, "Parameters", "millions of parameters of what classifies an image",
              paper=True, aliases=("parameters", "params", "size")),
]
for _d in _NINE:
    register(_d)

#: The nine QUBA dimensions in the paper's order.
NINE: tuple[str, ...] = tuple(d.name for d in _NINE)
