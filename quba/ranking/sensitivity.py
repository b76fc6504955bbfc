"""Weight sensitivity: does a ranking survive small changes of the user's priorities?

Weight vectors are drawn from a Dirichlet distribution centred on the user's
normalised weights w̄ (over the dimensions with w > 0; dimensions weighted 0
stay 0):  w ~ Dir(c · w̄), so E[w] = w̄ and Var[w_d] = w̄_d (1 − w̄_d) / (c + 1).
A larger concentration c means smaller perturbations (c = 100 moves a weight of
1/3 by about ±0.05). For each draw every model is scored with the same
oriented z-scores; we report per model the share of draws in which it ranks
first, ranks in the top k, and its mean rank. Ties go to the model listed
first (the original ranking order).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quba.errors import QubaError


def dirichlet_weights(weights: dict[str, float], samples: int, concentration: float, seed: int) -> np.ndarray:
    """`samples` weight vectors (rows sum to 1) over the keys of `weights` with w > 0."""
    w = np.array([v for v in weights.values() if v > 0], dtype=float)
    if len(w) == 0:
        raise QubaError("all weights are zero; give at least one dimension a positive weight")
    w = w / w.max()  # scale first: a sum of huge weights (1e308) overflows
    alpha = concentration * w / w.sum()
    return np.random.default_rng(seed).dirichlet(alpha, size=samples)


def weight_sensitivity(
    z: pd.DataFrame,
    weights: dict[str, float],
    *,
    samples: int = 1000,
    concentration: float = 100.0,
    top_k: int = 5,
    seed: int = 0,
    renormalise: bool = False,
    chunk: int = 2000,
) -> pd.DataFrame:
    """Per row of `z` (oriented z-scores, columns = dimensions): p_rank1, p_topk, mean_rank.

    Rows missing a weighted value are scored over what they have when
    `renormalise`, else they must not be passed in.
    """
    try:
        concentration = float(concentration)
    except (TypeError, ValueError):
        raise QubaError(f"concentration must be a positive number, got {concentration!r}") from None
    if not (math.isfinite(concentration) and concentration > 0):
        raise QubaError(f"concentration must be a positive number, got {concentration!r}")
    if int(samples) != samples or samples < 1:
        raise QubaError(f"the number of sensitivity samples must be a whole number >= 1, got {samples!r}")
    if int(seed) != seed:
        raise QubaError(f"seed must be a whole number, got {seed!r}")
    dims = [d for d, v in weights.items() if v > 0]
    Z = z[dims].to_numpy(dtype=float)
    present = np.isfinite(Z)
    if not renormalise and not present.all():
        raise QubaError("weight sensitivity got rows with missing weighted values; drop them or renormalise")
    Z0 = np.where(present, Z, 0.0)
    n = len(Z)
    k = min(int(top_k), n)
    W = dirichlet_weights({d: weights[d] for d in dims}, int(samples), concentration, int(seed))
    first = np.zeros(n)
    in_top = np.zeros(n)
    rank_sum = np.zeros(n)
    for start in range(0, len(W), chunk):
        Wc = W[start:start + chunk]  # [s, D]
        with np.errstate(invalid="ignore", divide="ignore"):
            S = (Z0 @ Wc.T) / (present @ Wc.T)  # [n, s]; denominator = 1 for complete rows
        S = np.where(np.isfinite(S), S, -np.inf).T  # [s, n]
        order = np.argsort(-S, axis=1, kind="stable")
        ranks = np.empty_like(order)
        rows = np.arange(len(S))[:, None]
        ranks[rows, order] = np.arange(1, n + 1)[None, :]
        first += np.bincount(order[:, 0], minlength=n)
        in_top += (ranks <= k).sum(axis=0)
        rank_sum += ranks.sum(axis=0)
    m = len(W)
    return pd.DataFrame({"p_rank1": first / m, "p_topk": in_top / m, "mean_rank": rank_sum / m}, index=z.index)
