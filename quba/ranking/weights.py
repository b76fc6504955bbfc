"""Named weights and presets for the QUBA score.

A weight spec is text like ``accuracy=1,calibration_error=2`` (names or their
aliases from `quba.dimensions`; a bare name means weight 1; values may be
decimals or fractions such as ``1/3``). A preset is a named weight set; when a
preset and a spec are both given, the spec's entries override the preset's and
the preset's other entries stay. A spec alone weights only what it names.

This module is pure Python (no pandas) so the CLI can build its help text from
it cheaply.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache

from quba import dimensions
from quba.errors import QubaError, closest
from quba.paths import data_file


@lru_cache(maxsize=1)
def paper_constants() -> dict:
    """The paper's normalisation constants and default weights, keyed by dimension:
    ``{dim: {"mean", "std", "higher_is_better", "default_weight"}}``."""
    raw = json.loads(data_file("quba_normalization.json").read_text())
    out = {}
    for i, dim in enumerate(raw["dimensions"]):
        out[dim] = {
            "mean": float(raw["mean"][i]),
            "std": float(raw["std"][i]),
            "higher_is_better": bool(raw["higher_is_better"][i]),
            "default_weight": float(raw["default_weight"][i]),
        }
    return out


def paper_weights() -> dict[str, float]:
    return {d: c["default_weight"] for d, c in paper_constants().items()}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    weights: dict[str, float]


def _presets() -> dict[str, Preset]:
    paper = paper_weights()
    nine = dimensions.NINE
    return {
        p.name: p
        for p in [
            Preset("paper", "the paper's default weights (the default preset)", paper),
            Preset("equal", "every one of the nine dimensions weighted 1", {d: 1.0 for d in nine}),
            Preset("robustness", "accuracy, the three robustness dimensions and object focus (robustness "
                   "to background changes), 1 each",
                   {"accuracy": 1.0, "adversarial_robustness": 1.0, "corruption_robustness": 1.0,
                    "ood_robustness": 1.0, "object_focus": 1.0}),
            Preset("trustworthy", "the paper's weights with calibration error and class balance doubled "
                   "and size ignored",
                   {**paper, "calibration_error": 2.0, "class_balance": 2.0, "parameters_m": 0.0}),
            Preset("efficient", "the paper's weights with size counting three times",
                   {**paper, "parameters_m": 3.0}),
            Preset("size-agnostic", "the paper's weights without size",
                   {**paper, "parameters_m": 0.0}),
            Preset("accuracy-only", "accuracy alone", {"accuracy": 1.0}),
        ]
    }


PRESETS: dict[str, Preset] = _presets()
DEFAULT_PRESET = "paper"


def get_preset(name: str) -> Preset:
    key = name.strip().lower().replace("_", "-")
    if key in PRESETS:
        return PRESETS[key]
    raise QubaError(f"unknown preset {name!r}{closest(key, list(PRESETS))}; known: {', '.join(PRESETS)}")


def _fmt_w(w: float) -> str:
    if not math.isfinite(w * 4):
        return f"{w:g}"
    for den in (2, 3, 4):
        if abs(w * den - round(w * den)) < 1e-9 and abs(w - round(w)) > 1e-9:
            return f"{round(w * den)}/{den}"
    return f"{w:g}"


def describe_weights(weights: dict[str, float]) -> str:
    """``accuracy=1, adversarial_robustness=1/3, ...`` (non-zero entries only)."""
    return ", ".join(f"{d}={_fmt_w(w)}" for d, w in weights.items() if w > 0)


def presets_help(width: int = 79) -> str:
    """Text block documenting every preset's weights (for --help)."""
    import textwrap

    lines = ["presets (weights; unlisted dimensions get 0):"]
    for p in PRESETS.values():
        lines += textwrap.wrap(describe_weights(p.weights), width, initial_indent=f"  {p.name:<14} ",
                               subsequent_indent=" " * 17, break_on_hyphens=False)
        lines += textwrap.wrap(p.description, width, initial_indent=" " * 17, subsequent_indent=" " * 17)
    return "\n".join(lines)


def parse_number(text: str, what: str) -> float:
    t = text.strip()
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(t)
    except (ValueError, ZeroDivisionError):
        raise QubaError(f"{what}: {text!r} is not a number; write e.g. accuracy=1,calibration_error=2") from None
    if not math.isfinite(value):
        raise QubaError(f"{what}: {text!r} is not a finite number")
    return value


def parse_spec(spec: str | dict) -> dict[str, float]:
    """Parse ``accuracy=1,calibration_error=2`` (or a dict) into canonical names -> weights.

    Raises QubaError for unknown names (with a suggestion), non-numeric, negative or
    repeated entries.
    """
    if isinstance(spec, dict):
        items = [(str(k), v) for k, v in spec.items()]
    else:
        if not str(spec).strip():
            raise QubaError("empty weight spec; write e.g. --weights accuracy=1,calibration_error=2")
        items = []
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" in part:
                name, value = part.split("=", 1)
            else:
                name, value = part, "1"
            items.append((name.strip(), value))
    out: dict[str, float] = {}
    for name, value in items:
        if not name:
            raise QubaError(f"weight spec {spec!r} has an entry without a dimension name")
        dim = dimensions.canonical(name)
        if isinstance(value, str):
            w = parse_number(value, f"weight of {name}")
        else:
            try:
                w = float(value)
            except (TypeError, ValueError):
                raise QubaError(f"weight of {name}: {value!r} is not a number") from None
            if not math.isfinite(w):
                raise QubaError(f"weight of {name}: {value!r} is not a finite number")
        if w < 0:
            raise QubaError(f"weight of {name} is negative ({w:g}); weights must be >= 0 (0 drops a dimension)")
        if dim in out:
            raise QubaError(f"dimension {dim} is weighted twice in {spec!r}; give it once")
        out[dim] = w
    return out


def resolve_weights(weights: str | dict | None = None, preset: str | None = None) -> tuple[dict[str, float], str]:
    """The weights to use and a label saying where they came from.

    - neither: the ``paper`` preset;
    - preset only: that preset;
    - spec only: exactly the spec (unnamed dimensions get 0);
    - both: the preset, with the spec's entries overriding it.
    Raises QubaError when all weights are zero.
    """
    spec = parse_spec(weights) if weights is not None else None
    if preset is None and spec is None:
        preset = DEFAULT_PRESET
    base = dict(get_preset(preset).weights) if preset is not None else {}
    label = f"preset {get_preset(preset).name}" if preset is not None else "custom"
    if spec is not None:
        base.update(spec)
        if preset is not None:
            label += " + overrides"
    if not any(w > 0 for w in base.values()):
        raise QubaError("all weights are zero; give at least one dimension a positive weight")
    return base, label
