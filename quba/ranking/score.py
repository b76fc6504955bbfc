"""The QUBA score: z-normalisation, weighting, missing values, filters.

    QUBA(m) = Σ_d w_d · s_d · (x_{m,d} − μ_d) / σ_d  /  Σ_d w_d

with s_d = +1 where higher is better and −1 otherwise (Hesse et al., "Beyond
Accuracy", Sec. 4; docs/metrics.md#quba-score). The *oriented z-score*
z_d = s_d (x_d − μ_d)/σ_d is positive when a model is better than the
reference population's mean; a dimension's *contribution* is w_d z_d / Σ w, so
the contributions of a model sum to its QUBA score.

μ_d, σ_d come from a reference population:
- ``"paper"``: the paper's fixed constants for the nine ImageNet dimensions
  (any other dimension: the leaderboard's mean and sample std); ImageNet suite only;
- ``"leaderboard"``: mean and sample std (ddof=1) of every loaded row of the suite
  being ranked, before filters (so filtering never moves the scale);
- a DataFrame or CSV path: mean and sample std of its rows of that suite.
The default is ``"paper"`` for the ImageNet suite and ``"leaderboard"`` otherwise.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quba import dimensions
from quba.errors import QubaError, closest
from quba.ranking import weights as weights_mod
from quba.ranking.leaderboard import as_leaderboard, dimension_columns

METADATA_FILTERS = ("architecture", "paradigm", "pretraining_data")


# --------------------------------------------------------------------------- reference
@dataclass
class Reference:
    """μ, σ per dimension and where each came from."""

    name: str
    mean: dict[str, float]
    std: dict[str, float]
    source: dict[str, str]

    def describe(self) -> str:
        by_src: dict[str, list[str]] = {}
        for d, s in self.source.items():
            by_src.setdefault(s, []).append(d)
        if len(by_src) == 1:
            return next(iter(by_src))
        return "; ".join(f"{s}: {', '.join(ds)}" for s, ds in by_src.items())


def population_stats(frame: pd.DataFrame, dim: str) -> tuple[float, float, int]:
    """Mean and sample standard deviation (ddof=1) of a column's non-missing values."""
    x = pd.to_numeric(frame[dim], errors="coerce").to_numpy(dtype=float) if dim in frame.columns else np.array([])
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, 0
    # computed on x / max|x| and scaled back: values near the float limit (parameters_m = 1e308)
    # would overflow the squares of the std (inf, a numpy warning) though mean and std are finite
    scale = float(np.abs(x).max()) or 1.0
    mean = float((x / scale).mean()) * scale
    std = float((x / scale).std(ddof=1)) * scale if len(x) >= 2 else math.nan
    return mean, std, len(x)


def resolve_reference(reference, population: pd.DataFrame, dims: list[str], suite: str) -> Reference:
    """μ/σ for `dims`. `population` is the loaded leaderboard (all rows of `suite`)."""
    from quba.suites.specs import paper_normalised_suites, spec

    if reference is None:
        s = spec(suite)
        reference = s.normalisation if s is not None else "leaderboard"
    mean, std, source = {}, {}, {}
    if isinstance(reference, str) and reference.strip().lower() == "paper":
        paper_suites = paper_normalised_suites()
        if suite not in [p.name for p in paper_suites]:
            raise QubaError(
                f"the paper's constants normalise the {', '.join(p.title for p in paper_suites)} suite, not {suite!r}; "
                "use --reference-population leaderboard (or a CSV of that suite)"
            )
        consts = weights_mod.paper_constants()
        for d in dims:
            if d in consts:
                mean[d], std[d], source[d] = consts[d]["mean"], consts[d]["std"], "paper constants"
            else:
                m, s, n = population_stats(population, d)
                mean[d], std[d], source[d] = m, s, f"leaderboard (n={n})"
        return Reference("paper", mean, std, source)
    if isinstance(reference, str) and reference.strip().lower() == "leaderboard":
        frame, name = population, "leaderboard"
    else:
        if isinstance(reference, pd.DataFrame):
            name = "dataframe"
        else:
            name = str(reference)
            if not Path(name).exists() and name.strip().lower() not in ("reference",):  # a pipe: refused by name
                raise QubaError(
                    f"reference {name!r} is neither 'paper', 'leaderboard' nor an existing CSV file"
                )
        frame = as_leaderboard(reference)
        frame = frame[frame["suite"] == suite]
        if frame.empty:
            raise QubaError(f"reference {name!r} has no rows of suite {suite!r}; give a reference of the same suite")
    for d in dims:
        m, s, n = population_stats(frame, d)
        mean[d], std[d], source[d] = m, s, f"{name} (n={n})"
    return Reference(name, mean, std, source)


def oriented_z(frame: pd.DataFrame, dims: list[str], ref: Reference) -> pd.DataFrame:
    """z_d = s_d (x_d − μ_d)/σ_d per row; NaN where a value or σ is missing or σ is 0."""
    out = {}
    for d in dims:
        sign = 1.0 if dimensions.higher_is_better(d) else -1.0
        mu, sigma = ref.mean.get(d, math.nan), ref.std.get(d, math.nan)
        if not (math.isfinite(sigma) and sigma > 0 and math.isfinite(mu)):
            out[d] = pd.Series(math.nan, index=frame.index)
        else:
            out[d] = sign * (frame[d].astype(float) - mu) / sigma
    return pd.DataFrame(out, index=frame.index)


def quba_scores(z: pd.DataFrame, w: dict[str, float], renormalise: bool = False):
    """QUBA per row from oriented z-scores and weights (only w > 0 count).

    Returns (quba, contributions, missing) where `missing` lists, per row, the
    weighted dimensions without a value. Without `renormalise` a row missing any
    weighted dimension scores NaN; with it, the row is scored over the weighted
    dimensions it has (Σ w over those in the denominator).
    """
    dims = [d for d, v in w.items() if v > 0]
    W = np.array([w[d] for d in dims], dtype=float)
    W = W / W.max()  # scale-free; huge weights (1e308) would overflow in the sum and products
    Z = z[dims].to_numpy(dtype=float)
    present = np.isfinite(Z)
    denom = (present * W).sum(axis=1) if renormalise else np.full(len(Z), W.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        contrib = np.where(present, Z * W, 0.0) / denom[:, None]
    quba = contrib.sum(axis=1)
    complete = present.all(axis=1)
    ok = complete | (renormalise & present.any(axis=1))
    quba = np.where(ok, quba, np.nan)
    contrib = np.where(ok[:, None], contrib, np.nan)
    missing = [[d for d, p in zip(dims, row) if not p] for row in present]
    return (
        pd.Series(quba, index=z.index),
        pd.DataFrame(contrib, index=z.index, columns=dims),
        pd.Series(missing, index=z.index, dtype=object),
    )


# --------------------------------------------------------------------------- filters
def _as_tuple(v) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    return tuple(v)


def match_values(query: str, values: list[str]) -> list[str]:
    """Which of `values` a filter `query` selects, case-insensitively: the value
    equal to it if there is one, else the values starting with it, else those
    containing it."""
    q = query.strip().lower()
    low = {v: str(v).lower() for v in values}
    for test in (lambda s: s == q, lambda s: s.startswith(q), lambda s: q in s):
        hits = [v for v, s in low.items() if test(s)]
        if hits:
            return hits
    return []


@dataclass
class Filters:
    """Which rows are candidates, for `rank`, `recommend` and `correlate` alike
    (``filters=Filters(max_params=50, architecture=["cnn", "transformer"])``; the CLI's
    filter options build one). Metadata filters are repeatable (OR within a filter, AND
    across filters); see `match_values` for how a value matches. `name`: shell globs of
    model names (case-insensitive). `suite`: the suite whose rows are ranked (needed when
    the leaderboards mix suites). `exclude_missing`: drop rows missing any dimension in
    play (every dimension of the leaderboard; for `correlate`, the correlated ones)."""

    max_params: float | None = None
    architecture: tuple[str, ...] = ()
    paradigm: tuple[str, ...] = ()
    pretraining_data: tuple[str, ...] = ()
    name: tuple[str, ...] = ()
    suite: str | None = None
    exclude_missing: bool = False

    def __post_init__(self):
        for f in (*METADATA_FILTERS, "name"):
            setattr(self, f, _as_tuple(getattr(self, f)))
        if self.max_params is not None:
            try:
                self.max_params = float(self.max_params)
            except (TypeError, ValueError):
                raise QubaError(f"--max-params {self.max_params!r} is not a number (millions of parameters)") from None
            if not (math.isfinite(self.max_params) and self.max_params > 0):
                raise QubaError(f"--max-params must be a positive number of millions, got {self.max_params:g}")

    def describe(self) -> str:
        parts = []
        if self.suite:
            parts.append(f"suite {self.suite}")
        if self.max_params is not None:
            parts.append(f"<= {self.max_params:g} M parameters")
        for f in METADATA_FILTERS:
            if getattr(self, f):
                parts.append(f"{f.replace('_', ' ')} {' or '.join(getattr(self, f))}")
        if self.name:
            parts.append(f"name {' or '.join(self.name)}")
        if self.exclude_missing:
            parts.append("complete rows only")
        return ", ".join(parts)

    def select_suite(self, lb: pd.DataFrame) -> tuple[pd.DataFrame, str]:
        suites = sorted(lb["suite"].unique())
        if self.suite:
            s = self.suite.strip().lower()
            if s not in suites:
                raise QubaError(f"no rows of suite {self.suite!r}{closest(s, suites)}; suites here: {', '.join(suites)}")
            return lb[lb["suite"] == s], s
        if len(suites) > 1:
            raise QubaError(
                f"the leaderboards mix suites ({', '.join(suites)}), whose scores are not comparable; "
                "choose one with --suite"
            )
        return lb, suites[0]

    def apply(self, lb: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
        """Rows passing every filter (rows with unknown size pass --max-params here;
        the ranking excludes them with a reason)."""
        keep = pd.Series(True, index=lb.index)
        if self.max_params is not None:
            if "parameters_m" not in lb.columns:
                raise QubaError("--max-params needs a parameters_m column, which this leaderboard lacks")
            p = lb["parameters_m"]
            keep &= p.isna() | (p <= self.max_params)
        for f in METADATA_FILTERS:
            queries = getattr(self, f)
            if not queries:
                continue
            if f not in lb.columns:
                raise QubaError(f"--{f.replace('_', '-')} needs a {f} column, which this leaderboard lacks")
            values = sorted(str(v) for v in lb[f].dropna().unique())
            chosen: set[str] = set()
            for q in queries:
                hits = match_values(q, values)
                if not hits:
                    raise QubaError(
                        f"no {f.replace('_', ' ')} matches {q!r}{closest(q, values)}; values: {', '.join(values)}"
                    )
                chosen.update(hits)
            keep &= lb[f].astype(str).isin(chosen)
        if self.name:
            names = lb["model"].str.lower()
            hit = pd.Series(False, index=lb.index)
            for g in self.name:
                hit |= names.map(lambda n, g=g.lower(): fnmatch.fnmatchcase(n, g))
            keep &= hit
        if self.exclude_missing:
            keep &= lb[dims].notna().all(axis=1)
        return lb[keep]


#: The fields of `Filters`: before `Filters` was one object, rank/recommend/correlate took them as
#: keyword arguments, which still work for one release (deprecated; `filters_of`).
FILTER_FIELDS = ("max_params", *METADATA_FILTERS, "name", "suite", "exclude_missing")


def filters_of(filters, legacy: dict, caller: str) -> Filters:
    """The `Filters` of a `rank`, `recommend` or `correlate` call: ``filters`` (a Filters, a dict of its
    fields, or None for none), or, deprecated (they work for one more release, then go), the
    fields given as keyword arguments (``rank(max_params=50)``: one DeprecationWarning naming the
    new form). A keyword that is no filter is the TypeError Python gives for it."""
    unknown = [k for k in legacy if k not in FILTER_FIELDS]
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    if legacy:
        given = ", ".join(f"{k}=..." for k in legacy)
        if filters is not None:
            raise TypeError(f"{caller}(): give the filters once, as filters=Filters(...), not also as {given}")
        import warnings

        warnings.warn(f"{caller}({given}) is deprecated and will be removed after the next release; pass "
                      f"filters=Filters({given}) (quba.ranking.Filters)", DeprecationWarning, stacklevel=3)
        return Filters(**legacy)
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    if isinstance(filters, dict):
        bad = [k for k in filters if k not in FILTER_FIELDS]
        if bad:
            raise QubaError(f"unknown filter {bad[0]!r}{closest(bad[0], list(FILTER_FIELDS))}; "
                            f"filters: {', '.join(FILTER_FIELDS)}")
        return Filters(**filters)
    raise QubaError(f"filters must be a quba.ranking.Filters (or a dict of its fields), got {type(filters).__name__}")


# --------------------------------------------------------------------------- ranking
#: What would rank a model that is not ranked, by `Ranking.excluded["remedy"]`: the hint `quba rank` prints
#: under each group of "Not ranked" and (the "page" wording) the one `quba report` shows.
REMEDIES = {
    "renormalise": {"cli": "--renormalise scores them over the weighted dimensions they have",
                    "page": "tick Renormalise to score them over the weighted dimensions they have"},
    "parameters": {"cli": "no parameter count, which --max-params needs (renormalising does not help); "
                          "drop --max-params to rank them",
                   "page": "no parameter count, which the max-parameters filter needs (Renormalise does not "
                           "help); clear that filter to rank them"},
    "weights": {"cli": "no value for any weighted dimension; weight dimensions they have",
                "page": "no value for any weighted dimension; weight dimensions they have"},
}


def remedy_hint(remedies, wording: str = "cli") -> str:
    """One hint for a group of not-ranked models from their remedies: the remedy's text, or 'k: text' per
    remedy where the group mixes them (a reason such as "missing accuracy" can, under --max-params)."""
    counts = pd.Series(list(remedies), dtype=object).value_counts(sort=False)
    if counts.empty:
        return ""
    if len(counts) == 1:
        return REMEDIES[counts.index[0]][wording]
    return "; ".join(f"{n}: {REMEDIES[k][wording]}" for k, n in counts.items())


@dataclass
class Ranking:
    """The result of `rank`. `ranked` holds every ranked model (best first),
    `table` its first `top` rows. Both have columns rank, model, quba,
    renormalised, leaderboard, suite, metadata, then per dimension `<dim>`,
    `<dim>_z`, `<dim>_contribution` (and p_rank1, p_topk, mean_rank with sensitivity)."""

    table: pd.DataFrame
    ranked: pd.DataFrame
    excluded: pd.DataFrame  # model, leaderboard, reason, remedy (a key of REMEDIES)
    weights: dict[str, float]  # the positive weights used, as given (not normalised)
    weights_label: str
    dims: list[str]  # every dimension column of the leaderboard
    reference: Reference
    suite: str
    n_loaded: int
    n_candidates: int
    filters: Filters
    renormalise: bool = False
    notes: list[str] = field(default_factory=list)
    sensitivity: dict | None = None  # samples, concentration, seed, top_k

    @property
    def normalised_weights(self) -> dict[str, float]:
        top = max(self.weights.values())  # scale first: a sum of huge weights overflows
        total = sum(w / top for w in self.weights.values())
        return {d: (w / top) / total for d, w in self.weights.items()}

    @property
    def metadata_columns(self) -> list[str]:
        skip = {"rank", "model", "quba", "renormalised", "leaderboard", "suite", "p_rank1", "p_topk", "mean_rank"}
        dimset = set(self.dims)
        return [
            c for c in self.ranked.columns
            if c not in skip and c not in dimset and not any(c == f"{d}_{s}" for d in self.dims
                                                              for s in ("z", "contribution", "lo", "hi"))
        ]


def _check_positive_int(value, what: str, allow_zero: bool = False) -> int | None:
    if value is None:
        return None
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise QubaError(f"{what} must be a whole number, got {value!r}") from None
    if v != value or v < (0 if allow_zero else 1):
        raise QubaError(f"{what} must be a whole number >= {0 if allow_zero else 1}, got {value!r}")
    return v


def rank(
    leaderboard=None,
    *,
    weights: str | dict | None = None,
    preset: str | None = None,
    reference=None,
    filters: Filters | dict | None = None,
    renormalise: bool = False,
    top: int | None = None,
    sensitivity: int = 0,
    concentration: float = 100.0,
    seed: int = 0,
    top_k: int | None = None,
    **legacy_filters,
) -> Ranking:
    """Rank models by the QUBA score.

    leaderboard: None (the paper's), a CSV path, a list of paths, or a DataFrame.
    weights/preset: see `quba.ranking.weights.resolve_weights` (default: preset paper).
    reference: "paper" | "leaderboard" | DataFrame | CSV path (default: paper for
      ImageNet, leaderboard otherwise); see the module docstring.
    filters: a `Filters` (max_params in millions, architecture/paradigm/pretraining_data
      case-insensitive: exact value, else prefix, else substring, several = OR; name
      globs; suite; exclude_missing: drop rows missing any dimension, weighted or not).
      Its fields as keyword arguments (``max_params=50``) are deprecated (`filters_of`).
    renormalise: score models missing a weighted dimension over what they have.
    top: keep the best `top` rows in `.table` (all are in `.ranked`).
    sensitivity: number of Dirichlet weight samples (0: none); concentration,
      seed and top_k (default `top`, else 10) configure it.
    """
    top = _check_positive_int(top, "--top")
    sensitivity = _check_positive_int(sensitivity or 0, "--sensitivity", allow_zero=True)
    if sensitivity > 1_000_000:  # each draw ranks every model: more would only exhaust memory
        raise QubaError(f"--sensitivity must be at most 1000000 weight draws, got {sensitivity}")
    filters = filters_of(filters, legacy_filters, "rank")
    w_all, label = weights_mod.resolve_weights(weights, preset)
    explicit = set(weights_mod.parse_spec(weights)) if weights is not None else set()

    lb_all = as_leaderboard(leaderboard, filters.suite)
    lb, suite_name = filters.select_suite(lb_all)
    dims = dimension_columns(lb)
    dims = [d for d in dims if lb[d].notna().any()] or dims
    notes: list[str] = []

    # Weighted dimensions must be columns; preset entries for absent ones are dropped (noted).
    w = {}
    for d, v in w_all.items():
        if v <= 0:
            continue
        if d not in dims:
            if d in explicit:
                raise QubaError(
                    f"dimension {d} is weighted but the leaderboard has no values for it; "
                    f"its dimensions: {', '.join(dims)}"
                )
            notes.append(f"{d} is not in the leaderboard; its preset weight is dropped")
            continue
        w[d] = float(v)
    if not w:
        raise QubaError(
            f"none of the weighted dimensions is in the leaderboard (it has: {', '.join(dims)}); "
            "weight some of those with --weights"
        )

    ref = resolve_reference(reference, lb, dims, suite_name)
    for d in w:
        s = ref.std.get(d, math.nan)
        if not (math.isfinite(s) and s > 0):
            why = ("has no spread" if s == 0 else "has values too large to normalise (their spread overflows "
                   "a float); fix them" if math.isinf(s) else "has fewer than 2 values")
            raise QubaError(
                f"dimension {d} {why} in the reference population ({ref.source[d]}), so it cannot be "
                "z-normalised; give it weight 0 or choose another --reference-population"
            )

    cand = filters.apply(lb, dims)
    if cand.empty:
        raise QubaError(
            f"no model is left after the filters ({filters.describe() or 'none'}) out of {len(lb)}; relax them"
        )
    z = oriented_z(cand, dims, ref)
    quba, contrib, missing = quba_scores(z, w, renormalise)

    reasons = pd.Series("", index=cand.index, dtype=object)
    unscored = quba.isna()
    reasons[unscored] = "missing " + missing[unscored].map(", ".join)
    if len(w) > 1:
        reasons[unscored & (missing.map(len) == len(w))] = f"missing all {len(w)} weighted dimensions"
    no_size = cand["parameters_m"].isna() if filters.max_params is not None else pd.Series(False, index=cand.index)
    reasons[~unscored & no_size] = "parameter count unknown (needed by --max-params)"
    bad = reasons != ""
    # What would rank each one (REMEDIES): a model with no weighted value at all needs other weights; one
    # without a parameter count stays out under --max-params even renormalised; the rest, --renormalise.
    has_any = missing.map(len) < len(w)
    remedy = pd.Series("renormalise", index=cand.index, dtype=object)
    remedy[no_size] = "parameters"
    remedy[unscored & ~has_any] = "weights"
    excluded = pd.DataFrame({
        "model": cand.loc[bad, "model"], "leaderboard": cand.loc[bad, "leaderboard"], "reason": reasons[bad],
        "remedy": remedy[bad],
    }).reset_index(drop=True)

    ok = cand.index[~bad]
    if len(ok) == 0:
        raise QubaError(
            f"no model can be ranked: all {len(cand)} candidates miss a weighted dimension "
            f"(e.g. {excluded['reason'].iloc[0]}); use --renormalise or change the weights"
        )
    out = cand.loc[ok].copy()
    out["quba"] = quba[ok]
    out["renormalised"] = [bool(missing[i]) for i in ok]
    for d in dims:
        out[f"{d}_z"] = z.loc[ok, d]
        out[f"{d}_contribution"] = contrib.loc[ok, d] if d in contrib.columns else 0.0
        if d in contrib.columns:
            out.loc[out[f"{d}_z"].isna(), f"{d}_contribution"] = np.nan
    # Scores equal up to rounding noise (1e-12) share a rank and are listed by name.
    key = out["quba"].round(12)
    out = out.assign(_key=key).sort_values(["_key", "model"], ascending=[False, True], kind="mergesort")
    out.insert(0, "rank", out["_key"].rank(method="min", ascending=False).astype(int))
    out = out.drop(columns="_key")
    meta = [c for c in out.columns if c not in {"rank", "model", "quba", "renormalised", "leaderboard", "suite"}
            and c not in set(dims) and not c.endswith(("_z", "_contribution"))]
    meta_plain = [c for c in meta if not any(c == f"{d}_{b}" for d in dims for b in ("lo", "hi"))]
    bounds = [c for c in meta if c not in meta_plain]
    per_dim = [c for d in dims for c in (d, f"{d}_z", f"{d}_contribution")]
    out = out[["rank", "model", "quba", "renormalised", "leaderboard", "suite", *meta_plain, *per_dim, *bounds]]
    out = out.reset_index(drop=True)

    sens_info = None
    if sensitivity:
        from quba.ranking.sensitivity import weight_sensitivity

        k = top_k if top_k is not None else (top if top is not None else 10)
        k = _check_positive_int(k, "top-k")
        zmat = out[[f"{d}_z" for d in w]].rename(columns=lambda c: c[:-2])
        sens = weight_sensitivity(zmat, w, samples=sensitivity, concentration=concentration,
                                  top_k=k, seed=seed, renormalise=renormalise)
        out = pd.concat([out, sens.reset_index(drop=True)], axis=1)
        sens_info = {"samples": sensitivity, "concentration": float(concentration), "seed": int(seed),
                     "top_k": min(k, len(out))}

    table = out.head(top) if top is not None else out
    return Ranking(
        table=table.reset_index(drop=True), ranked=out, excluded=excluded, weights=w, weights_label=label,
        dims=dims, reference=ref, suite=suite_name, n_loaded=len(lb), n_candidates=len(cand),
        filters=filters, renormalise=renormalise, notes=notes, sensitivity=sens_info,
    )
