"""Recommendation: the best models under a user's priorities and constraints, explained.

`recommend` ranks the candidates (see `score.rank`), then for each of the top k
lists its strengths and weaknesses against the reference population
(dimensions whose oriented z-score is >= +1 or <= −1, i.e. at least one σ
better or worse than the reference mean), its trade-off against the most
accurate candidate (per dimension: what it gives up and what it gains), and
the weight-sensitivity result (Dirichlet draws around the weights).

`prefer`: entries ``DIM`` or ``DIM=w``. ``DIM=w`` sets the dimension's weight to
w; a bare ``DIM`` sets it to 3 × its weight in the preset (or 1 where the
preset gives it 0), on top of the preset (default: paper) and any --weights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from quba import dimensions
from quba.errors import QubaError
from quba.ranking import weights as weights_mod
from quba.ranking.score import Filters, Ranking, filters_of, rank

PREFER_FACTOR = 3.0


def apply_prefer(base: dict[str, float], prefer) -> tuple[dict[str, float], dict[str, float]]:
    """(new weights, {dim: new weight}) after the --prefer entries."""
    if isinstance(prefer, str):
        prefer = [prefer]
    out = dict(base)
    changed: dict[str, float] = {}
    for entry in prefer or ():
        text = str(entry).strip()
        if "=" in text:
            name, value = text.split("=", 1)
            dim = dimensions.canonical(name)
            w = weights_mod.parse_number(value, f"--prefer {name}")
            if w < 0:
                raise QubaError(f"--prefer {text}: weights must be >= 0")
        else:
            dim = dimensions.canonical(text)
            b = base.get(dim, 0.0)
            w = PREFER_FACTOR * b if b > 0 else 1.0
        if dim in changed:
            raise QubaError(f"--prefer names {dim} twice; give it once")
        out[dim] = w
        changed[dim] = w
    if not any(v > 0 for v in out.values()):
        raise QubaError("all weights are zero; give at least one dimension a positive weight")
    return out, changed


@dataclass
class Pick:
    rank: int
    model: str
    quba: float
    row: pd.Series
    strengths: list[tuple[str, float]]  # (dim, z), z >= 1, strongest first
    weaknesses: list[tuple[str, float]]  # (dim, z), z <= -1, weakest first
    tradeoff: list[dict] | None  # vs the most accurate candidate; None if it is that model


@dataclass
class Recommendation:
    ranking: Ranking
    picks: list[Pick]
    most_accurate: pd.Series | None
    prefer: dict[str, float]
    sensitivity: pd.DataFrame  # model, p_rank1, p_topk, mean_rank for every model with P(top-k) > 0
    notes: list[str] = field(default_factory=list)


def _strengths(row: pd.Series, dims: list[str]):
    zs = [(d, float(row[f"{d}_z"])) for d in dims if math.isfinite(row[f"{d}_z"])]
    strong = sorted([t for t in zs if t[1] >= 1], key=lambda t: -t[1])
    weak = sorted([t for t in zs if t[1] <= -1], key=lambda t: t[1])
    return strong, weak


def _tradeoff(row: pd.Series, ref: pd.Series, dims: list[str]) -> list[dict]:
    out = []
    for d in dims:
        a, b = row[d], ref[d]
        if not (math.isfinite(a) and math.isfinite(b)) or a == b:
            continue
        dz = row[f"{d}_z"] - ref[f"{d}_z"]
        better = (a > b) == dimensions.higher_is_better(d)
        out.append({"dimension": d, "value": float(a), "other": float(b), "delta": float(a - b),
                    "delta_z": float(dz) if math.isfinite(dz) else None, "better": bool(better)})
    return sorted(out, key=lambda t: -abs(t["delta_z"] or 0.0))


def recommend(
    leaderboard=None,
    *,
    prefer=(),
    preset: str | None = None,
    weights: str | dict | None = None,
    reference=None,
    filters: Filters | dict | None = None,
    renormalise: bool = False,
    top: int = 3,
    samples: int = 1000,
    concentration: float = 100.0,
    seed: int = 0,
    **legacy_filters,
) -> Recommendation:
    """Recommend the top `top` models under `prefer`/`preset`/`weights` and `filters` (a `Filters`).

    Same arguments as `rank` plus `prefer` (see the module docstring); weight
    sensitivity always runs (`samples` Dirichlet draws, top-k = `top`). The filters as keyword
    arguments (``max_params=50``) are deprecated, as in `rank`.
    """
    filters = filters_of(filters, legacy_filters, "recommend")
    base, label = weights_mod.resolve_weights(weights, preset)
    samples = int(samples) if isinstance(samples, (int, float)) and samples == int(samples) else samples
    if not isinstance(samples, int) or samples < 1:
        raise QubaError(f"--samples must be a whole number >= 1, got {samples!r}")
    _, changed = apply_prefer(base, prefer)
    spec = weights_mod.parse_spec(weights) if weights is not None else {}
    spec.update(changed)
    if preset is None and weights is None:
        preset = weights_mod.DEFAULT_PRESET
    r = rank(
        leaderboard, weights=spec or None, preset=preset, reference=reference, filters=filters,
        renormalise=renormalise, top=top,
        sensitivity=samples, concentration=concentration, seed=seed, top_k=top,
    )
    r.weights_label = label
    if changed:
        r.weights_label += " + prefer " + ", ".join(f"{d}={weights_mod._fmt_w(v)}" for d, v in changed.items())
    ranked = r.ranked
    notes = list(r.notes)
    most_acc = None
    if "accuracy" in ranked.columns and ranked["accuracy"].notna().any():
        most_acc = ranked.loc[ranked["accuracy"].idxmax()]
    else:
        notes.append("no accuracy values, so no trade-off against the most accurate model")
    picks = []
    for _, row in r.table.iterrows():
        strong, weak = _strengths(row, r.dims)
        trade = None
        if most_acc is not None and not (row["model"] == most_acc["model"]
                                         and row["leaderboard"] == most_acc["leaderboard"]):
            trade = _tradeoff(row, most_acc, r.dims)
        picks.append(Pick(int(row["rank"]), row["model"], float(row["quba"]), row, strong, weak, trade))
    sens = ranked.loc[ranked["p_topk"] > 0, ["model", "leaderboard", "p_rank1", "p_topk", "mean_rank"]]
    sens = sens.sort_values(["p_rank1", "p_topk"], ascending=False, kind="mergesort").reset_index(drop=True)
    return Recommendation(ranking=r, picks=picks, most_accurate=most_acc, prefer=changed, sensitivity=sens,
                          notes=notes)
