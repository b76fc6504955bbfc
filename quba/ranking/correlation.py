"""Spearman rank correlation between every pair of dimensions (the paper's Sec. 5 analysis).

For each pair (a, b) we use the rows that have both values (pairwise-complete)
and report ρ and the two-sided p-value of `scipy.stats.spearmanr`, with n.
By default the raw values are correlated (so calibration error and size, where
lower is better, keep their sign); with `oriented=True` those two are negated
first, so a positive ρ always means "better in one goes with better in the other".
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from quba import dimensions
from quba.errors import QubaError
from quba.ranking.leaderboard import as_leaderboard, dimension_columns
from quba.ranking.score import Filters, filters_of


def spearman_pairs(frame: pd.DataFrame, dims: list[str], oriented: bool = False) -> pd.DataFrame:
    """Long table dim_a, dim_b, rho, p_value, n over all pairs a < b (in `dims` order)."""
    from scipy.stats import spearmanr

    rows = []
    for i, a in enumerate(dims):
        for b in dims[i + 1:]:
            x = frame[a].to_numpy(dtype=float)
            y = frame[b].to_numpy(dtype=float)
            if oriented:
                x = x if dimensions.higher_is_better(a) else -x
                y = y if dimensions.higher_is_better(b) else -y
            both = np.isfinite(x) & np.isfinite(y)
            n = int(both.sum())
            rho = p = math.nan
            if n >= 3 and np.ptp(x[both]) > 0 and np.ptp(y[both]) > 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = spearmanr(x[both], y[both])
                rho, p = float(res.statistic), float(res.pvalue)
            rows.append({"dim_a": a, "dim_b": b, "rho": rho, "p_value": p, "n": n})
    return pd.DataFrame(rows, columns=["dim_a", "dim_b", "rho", "p_value", "n"])


def correlate(
    leaderboard=None,
    *,
    dims=None,
    oriented: bool = False,
    filters: Filters | dict | None = None,
    **legacy_filters,
) -> pd.DataFrame:
    """Spearman ρ and p-value for every pair of dimensions of a leaderboard.

    Returns a long DataFrame (dim_a, dim_b, rho, p_value, n). `dims` restricts
    the dimensions (names or aliases); `filters` (a `Filters`) choose the rows as in `rank`
    (its ``exclude_missing``: rows with a value for every correlated dimension; the
    keyword forms are deprecated, as in `rank`). Pairs with fewer than 3 complete rows,
    or a constant column, get NaN.
    """
    filters = filters_of(filters, legacy_filters, "correlate")
    lb, _ = filters.select_suite(as_leaderboard(leaderboard, filters.suite))
    present = [d for d in dimension_columns(lb) if lb[d].notna().any()]
    if dims:
        wanted = [dimensions.canonical(d) for d in dims]
        for d in wanted:
            if d not in present:
                raise QubaError(f"dimension {d} has no values in the leaderboard; it has: {', '.join(present)}")
        present = list(dict.fromkeys(wanted))
    if len(present) < 2:
        raise QubaError(f"correlation needs at least two dimensions with values; the leaderboard has {present}")
    cand = filters.apply(lb, present)
    if len(cand) < 3:
        raise QubaError(f"only {len(cand)} models left after the filters; correlation needs at least 3")
    return spearman_pairs(cand, present, oriented)
