"""Rank stability: how often does each model keep its rank when the test images are resampled?

Beside weight sensitivity (quba/ranking/sensitivity.py: the weights move), this
asks whether the images decide the order (docs/metrics.md#weight-sensitivity-and-rank-stability;
the paper's rank-stability check). For a leaderboard built from records
(`<output>/<suite>/leaderboard.csv` next to `<output>/<suite>/records/`), every
ranked model is re-measured from its cached per-image predictions (a split not
in the cache runs once) and each weighted dimension yields B bootstrap
replicates: its `compute` hook under count weights (`quba.engine.measure.replicates`),
the replicates the record's 95 % intervals come from. The draws are **paired**:
the generator depends only on the seed and the dimension, so replicate b
resamples the same images for every model (models
evaluated on the same splits and subset, as one leaderboard's are). Replicate b
of the leaderboard is scored with the ranking's own weights, reference μ/σ (held
fixed) and missing-value rule; ranks are min-ranks of the QUBA score, as in
`rank`. Reported per model: p_keep (share of replicates with the same rank as
measured), the 95 % range of its replicate ranks and its mean rank.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quba.errors import QubaError


def records_for(leaderboard) -> dict[str, dict]:
    """model -> record for the leaderboard CSV(s) written by quba (records/ beside each CSV)."""
    from quba.store.records import load_records

    paths = [leaderboard] if isinstance(leaderboard, (str, Path)) else list(leaderboard or [])
    out: dict[str, dict] = {}
    for p in paths:
        p = Path(str(p))
        folder = p.parent / "records"
        if str(p).strip().lower() in ("reference", "paper") or not folder.is_dir():
            raise QubaError(f"--stability needs a leaderboard built from records ({p} has no records/ folder "
                            "beside it); use the leaderboard.csv that 'quba evaluate' or 'quba leaderboard' "
                            "writes under DIR/<suite>/")
        for rec in load_records(p.parent.parent, p.parent.name):
            out[str(rec["model"])] = rec
    return out


def replicate_values(records: dict[str, dict], models: list[str], dims: list[str], samples: int, seed: int, *,
                     data_root=None, device="auto", progress=False) -> dict[str, dict[str, np.ndarray]]:
    """model -> dim -> [samples] bootstrap replicates, paired across models."""
    from quba.engine import load_suite, measure_model

    out = {}
    suites: dict[str, object] = {}
    setups = {(str(records[m]["suite"]), (records[m].get("provenance") or {}).get("subset"))
              for m in models if m in records}
    if len(setups) > 1:
        raise QubaError("rank stability resamples the same images for every model, but these records were "
                        f"measured on different suites or subsets ({', '.join(sorted(map(str, setups)))}); "
                        "evaluate them alike (same --suite and --subset)")
    for m in models:
        rec = records.get(m)
        if rec is None:
            raise QubaError(f"model {m!r} of the leaderboard has no record; evaluate it (quba evaluate {m})")
        prov = rec.get("provenance") or {}
        suite = rec["suite"]
        if suite not in suites:
            suites[suite] = load_suite(suite, data_root)
        adv = (rec.get("dimensions") or {}).get("adversarial_robustness") or {}
        protocol = (adv.get("setup") or {}).get("protocol") or prov.get("protocol") or "quba"
        reps: dict = {}
        measure_model(m, suites[suite], dims, subset=prov.get("subset"), bootstrap=samples, seed=seed,
                      batch_size=prov.get("batch_size") or 256, device=device, progress=progress,
                      protocol=protocol, precision=prov.get("precision") or "auto", replicates=reps)
        out[m] = reps
    return out


def rank_stability(ranking, leaderboard, samples: int, seed: int = 0, *, data_root=None, device="auto",
                   progress=False, values: dict | None = None) -> pd.DataFrame:
    """Per ranked model of `ranking` (a quba.ranking.Ranking of `leaderboard`): rank, p_keep,
    rank_lo, rank_hi (95 % of replicate ranks), mean_rank. `values` (model -> dim -> replicates)
    replaces re-measuring (tests, callers that have them)."""
    from quba.ranking.score import oriented_z, quba_scores

    if int(samples) != samples or samples < 2:
        raise QubaError(f"--stability needs a whole number of resamples >= 2, got {samples!r}")
    samples = int(samples)
    ranked = ranking.ranked
    models = list(ranked["model"])
    dims = list(ranking.weights)
    if values is None:
        values = replicate_values(records_for(leaderboard), models, dims, samples, seed, data_root=data_root,
                                  device=device, progress=progress)
    ranks = np.empty((samples, len(models)), dtype=np.int64)
    base = ranked[["model", *dims]].reset_index(drop=True)
    for b in range(samples):
        frame = base.copy()
        for i, m in enumerate(models):
            for d in dims:
                reps = values[m].get(d)
                if reps is not None and len(reps) == samples and np.isfinite(reps[b]):
                    frame.loc[i, d] = float(reps[b])
        z = oriented_z(frame, dims, ranking.reference)
        q, _, _ = quba_scores(z, ranking.weights, ranking.renormalise)
        key = pd.Series(np.where(np.isfinite(q), np.round(q.to_numpy(dtype=float), 12), -np.inf))
        ranks[b] = key.rank(method="min", ascending=False).astype(int).to_numpy()
    measured = ranked["rank"].to_numpy()
    lo, hi = np.percentile(ranks, [2.5, 97.5], axis=0)
    return pd.DataFrame({
        "model": models, "rank": measured, "p_keep": (ranks == measured[None, :]).mean(axis=0),
        "rank_lo": np.floor(lo).astype(int), "rank_hi": np.ceil(hi).astype(int), "mean_rank": ranks.mean(axis=0),
    })


def stability_text(table: pd.DataFrame, samples: int, seed: int) -> str:
    """The readable section `quba rank/recommend --stability` print."""
    lines = ["", f"Rank stability ({samples} paired resamples of the test images, seed {seed}): how often each "
                 "model keeps its rank", ""]
    w = max(5, *(len(str(m)) for m in table["model"]))
    lines.append(f"{'rank':>4}  {'model':<{w}}  {'keeps':>6}  {'95% range':>9}  {'mean':>5}")
    for r in table.itertuples():
        span = f"{r.rank_lo}-{r.rank_hi}" if r.rank_lo != r.rank_hi else f"{r.rank_lo}"
        lines.append(f"{r.rank:>4}  {r.model:<{w}}  {r.p_keep:>6.0%}  {span:>9}  {r.mean_rank:>5.1f}")
    return "\n".join(lines) + "\n"
