"""MEt3R's summary over pairs and its record: the bootstrap interval of the mean over pairs, the
means per (kind, change level) of a suite's multiview pairs, and the record that `quba consistency
--record NAME` writes (dimension met3r, so a generator joins the leaderboard)."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from quba.metrics.resample import index_matrix

#: Order of a suite's multiview pair kinds in the groups table.
KIND_ORDER = {"consistent": 0, "content": 1, "pose": 2}


def bootstrap_pairs(means: np.ndarray, n: int, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean over pairs, resampling pairs (seeded).

    The draws are `quba.metrics.resample.index_matrix`'s (the engine's resamples); the mean of each
    resample is taken over the drawn values themselves rather than as count weights
    (`draw_counts`), which would round differently in the last bits and change published intervals."""
    m = np.asarray(means, dtype=np.float64)
    m = m[np.isfinite(m)]
    if m.size == 0 or n <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng([int(seed), 0x3E73])
    reps = m[index_matrix(rng, n, m.size)].mean(1)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return float(lo), float(hi)


def pair_groups(pairs: list[dict], levels=()) -> list[dict]:
    """Mean per (kind, change level) of a suite's multiview pairs (each with "kind", "change" and
    "mean"); a content change is rounded to the nearest of the suite's target `levels`."""
    groups: dict[tuple, list] = {}
    for p in pairs:
        level = min(levels, key=lambda t: abs(t - p["change"])) if p["kind"] == "content" and levels else p["change"]
        groups.setdefault((p["kind"], level), []).append(p["mean"])
    return [{"kind": k, "change": c, "pairs": len(v), "met3r": float(np.nanmean(v))}
            for (k, c), v in sorted(groups.items(), key=lambda kv: (KIND_ORDER.get(kv[0][0], 9), kv[0][1]))]


def met3r_record(result: dict, name: str, suite_name: str, *, limit, seed: int, bootstrap: int) -> dict:
    """The record of `name` (e.g. a generator) with dimension met3r from a `quba consistency`
    result (`quba.met3r.run.consistency`); its suite fingerprint names the pairs scored."""
    import quba
    from quba.store.schema import make_record

    fp = hashlib.sha256(json.dumps([p["pair"] for p in result["pairs"]]).encode()).hexdigest()[:16]
    return make_record(
        model=name, suite=suite_name,
        dimensions={"met3r": {"value": result["met3r"], "lo": result["lo"], "hi": result["hi"],
                              "details": {k: result[k] for k in ("forward", "backward", "pairs_count",
                                                                 "pairs_without_overlap", "features")}}},
        metadata={"source": "pairs"},
        provenance={"quba": quba.__version__, "suite": suite_name, "suite_fingerprint": f"pairs:{fp}",
                    "model_fingerprint": None, "subset": limit, "seed": seed, "bootstrap": bootstrap,
                    "pairs_source": str(result["source"]), "geometry": result["geometry"],
                    "features": result["features"]})
