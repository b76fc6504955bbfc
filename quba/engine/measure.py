"""The measuring context, the score cache and the generic bootstrap of every dimension.

A dimension's `compute` (quba/dimensions/__init__.py has the hook contract) is
called twice: once for the value (``ctx.weight(...)`` is None) and once with count
weights [B, N] of B bootstrap resamples (`Context.weight`), where the pure
functions of `quba.metrics` return the B replicates: one formula for the value
and its interval. Dimensions that run the model themselves hand the engine their
per-unit scores (``scores`` hook), which are computed once, cached on disk
(checksummed, `quba.engine.cache.ScoreCache`) and resampled the same way.
"""
from __future__ import annotations

import zlib
from typing import Callable

import numpy as np

from quba import dimensions as D
from quba.dimensions import SplitRequest
from quba.engine.outputs import SplitOutputs
from quba.errors import QubaError
from quba.metrics.resample import draw_counts

VAL = SplitRequest("val")
SCORES = "scores"  # ctx.weight(SCORES): the weights over a dimension's per-unit scores


def dimension_rng(seed: int, name: str, purpose: str = "compute") -> np.random.Generator:
    """A generator seeded from (seed, dimension, purpose): the same whichever other dimensions run."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode()), zlib.crc32(purpose.encode())])


def _loose(req: SplitRequest) -> tuple:
    return (req.split, req.attack, req.model)


class Context:
    """What a dimension's hooks see (see quba/dimensions/__init__.py)."""

    def __init__(self, *, dimension: str, suite, model, opts: dict, device, outputs: dict,
                 split_fn: Callable | None = None, rng: np.random.Generator | None = None, scores=None):
        self.dimension = dimension
        self.suite = suite
        self.model = model
        self.opts = opts
        self.device = device
        self._outputs = outputs  # SplitRequest -> SplitOutputs
        self._loose: dict | None = None  # by (split, attack, model), made on the first inexact read
        self._split_fn = split_fn or (lambda name: suite.split(name))
        self.rng = rng if rng is not None else dimension_rng(opts.get("seed", 0), dimension)
        self._scores = scores
        #: False: the point value; True: `weight` gives count weights [B, N] of B resamples
        self.weighted = False
        self._n = 0
        self._draw_rng = None
        self._states: dict = {}  # (split, size) -> generator state before its draws: paired, cheap
        self._last: tuple | None = None  # the last weights handed out (key, array)
        #: {"model_fingerprint", "model_code"} of the model, hashed once by its runner (None: computed here)
        self.fingerprints: dict | None = None

    def outputs(self, request: SplitRequest | str) -> SplitOutputs:
        if isinstance(request, str):
            request = SplitRequest(request)
        if request in self._outputs:
            return self._outputs[request]
        if self._loose is None:
            self._loose = {_loose(r): o for r, o in self._outputs.items()}
        if _loose(request) in self._loose:
            return self._loose[_loose(request)]
        raise KeyError(f"dimension {self.dimension!r} reads {request.key!r}, which its needs() did not request")

    def split(self, name: str):
        return self._split_fn(name)

    def scores(self) -> D.Scores:
        """The dimension's per-unit scores (its ``scores`` hook, computed once and cached by the engine)."""
        if self._scores is None:
            raise KeyError(f"dimension {self.dimension!r} has no scores (declare a scores hook)")
        return self._scores

    @property
    def options(self):
        """The dimension's options dataclass, filled and checked once per evaluation by the plan
        (`quba.dimensions.options.HookOptions`); None when it declares none. A context made by hand
        with a plain `opts` dict: filled from opts[<dimension>]."""
        if hasattr(self.opts, "options"):
            return self.opts.options
        return D.get(self.dimension).parse_options(self.opts) if D.is_known(self.dimension) else None

    # -- resampling ----------------------------------------------------------
    def weight(self, what) -> np.ndarray | None:
        """None for the value; under `weighted_by`, count weights [B, N] over the images of a request
        (or over the scores, ``ctx.weight("scores")``). Requests on the same split share the draws
        (paired: clean, attacked, other models); each split's draws are made when first read, from
        the dimension's bootstrap generator, so they depend on the seed and the dimension only."""
        if not self.weighted:
            return None
        if isinstance(what, str) and what == SCORES:
            key = (SCORES, len(self.scores()))
        else:
            req = SplitRequest(what) if isinstance(what, str) else what
            key = (req.split, len(self.outputs(req)))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        if key in self._states:  # drawn before: the same draws again, from the saved state
            rng = np.random.default_rng()
            rng.bit_generator.state = self._states[key]
        else:
            self._states[key] = self._draw_rng.bit_generator.state
            rng = self._draw_rng
        w = draw_counts(rng, self._n, key[1])
        self._last = (key, w)
        return w

    def weighted_by(self, n: int, rng: np.random.Generator) -> "Context":
        """The same context whose `weight` gives the count weights of `n` resamples drawn from `rng`."""
        ctx = Context(dimension=self.dimension, suite=self.suite, model=self.model, opts=self.opts,
                      device=self.device, outputs=self._outputs, split_fn=self._split_fn, rng=self.rng,
                      scores=self._scores)
        ctx.weighted, ctx._n, ctx._draw_rng = True, int(n), rng
        return ctx

    def draws(self, rng: np.random.Generator) -> dict:
        """One resample's image positions per request (what `resampled` takes): drawn with
        replacement, once per split and shared by the requests on it, in request order."""
        by_split: dict[tuple, np.ndarray] = {}
        taken = {}
        for req, out in self._outputs.items():
            key = (req.split, len(out))
            if key not in by_split:
                by_split[key] = rng.integers(0, len(out), len(out)) if len(out) else np.zeros(0, np.int64)
            taken[req] = by_split[key]
        return taken

    def resampled(self, rng: np.random.Generator) -> "Context":
        """The same context with every split resampled with replacement over its images (one
        resample, as explicit images; `weighted_by` gives many at once as weights)."""
        draws = self.draws(rng)
        taken = {req: out.take(draws[req]) for req, out in self._outputs.items()}
        return Context(dimension=self.dimension, suite=self.suite, model=self.model, opts=self.opts,
                       device=self.device, outputs=taken, split_fn=self._split_fn, rng=self.rng,
                       scores=self._scores)


def value_of(result):
    """The value of a compute result: a float, or (under bootstrap weights) an array of replicates."""
    if isinstance(result, dict):
        result = result["value"]
    if np.ndim(result):
        return np.asarray(result, dtype=np.float64)
    return float(result)


def replicates(dim: D.Dimension, ctx: Context, n: int, seed: int) -> np.ndarray | None:
    """`n` bootstrap replicates of the dimension: its `compute` under count weights of `n` resamples
    (`Context.weighted_by`, generator seeded by (seed, dimension, "bootstrap"): paired across models).
    Empty for a dimension declared sampling=False; None when it reads neither outputs nor scores."""
    if not dim.sampling:
        return np.zeros(0)
    if not ctx._outputs and ctx._scores is None:
        return None
    rng = dimension_rng(seed, dim.name, "bootstrap")
    wctx = ctx.weighted_by(n, rng)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            reps = value_of(dim.compute(wctx))
    except (ZeroDivisionError, FloatingPointError, QubaError):
        return np.full(n, np.nan)
    if not wctx._states:  # its compute read no weights (a plugin that computes its own way):
        return _resampled_replicates(dim, ctx, n, dimension_rng(seed, dim.name, "bootstrap"))
    reps = np.asarray(reps, dtype=np.float64)
    if reps.shape != (n,):
        raise QubaError(f"dimension {dim.name}: compute under bootstrap weights [{n}, N] must return {n} "
                        f"replicates, got shape {reps.shape}; pass sample_weight=ctx.weight(...) to the metric")
    return reps


def _resampled_replicates(dim: D.Dimension, ctx: Context, n: int, rng) -> np.ndarray:
    """Replicates of a compute that takes no weights: compute on `n` explicit resamples
    (`Context.resampled`, the same paired draws per split). Slower; quba's own dimensions
    never need it."""
    reps = np.empty(n)
    for b in range(n):
        try:
            reps[b] = value_of(dim.compute(ctx.resampled(rng)))
        except (ZeroDivisionError, FloatingPointError, QubaError):
            reps[b] = np.nan
    return reps


def bootstrap_interval(dim: D.Dimension, ctx: Context, n: int, seed: int, value: float | None = None):
    """(lo, hi, replicates): a 95 % interval from `n` bootstrap replicates (`replicates`,
    `interval`). (nan, nan, None) when the dimension reads nothing to resample."""
    if n <= 0:
        return float("nan"), float("nan"), np.zeros(0)
    reps = replicates(dim, ctx, n, seed)
    if reps is None:
        return float("nan"), float("nan"), None
    lo, hi = interval(reps, value)
    return lo, hi, reps


def interval(reps: np.ndarray, value: float | None = None) -> tuple[float, float]:
    """The 95 % interval of bootstrap replicates.

    With the point estimate `value`, the interval is bias-corrected: the 2.5/97.5 percentiles of
    the replicates shifted by the bootstrap bias estimate mean(replicates) − value. Statistics that
    resampling inflates (ECE: duplicated images add to every bin's gap) otherwise get a
    percentile interval that can lie entirely above the value; for unbiased ones (accuracy) the
    shift is Monte-Carlo noise. A statistic whose replicates and value all lie in [0, 1] (or are
    all >= 0) keeps its interval there. Without `value`: the plain percentile interval. No
    replicates (a count: no sampling uncertainty) or none finite: (nan, nan)."""
    reps = np.asarray(reps, dtype=np.float64)
    finite = reps[np.isfinite(reps)]
    if finite.size == 0:
        return float("nan"), float("nan")
    shift = float(finite.mean() - value) if value is not None and np.isfinite(value) else 0.0
    lo, hi = np.percentile(finite - shift, [2.5, 97.5])
    if shift:  # keep a statistic that never left [0, 1] (or [0, inf)) inside it: no accuracy above 1
        every = np.append(finite, value)
        if every.min() >= 0:
            lo, hi = max(lo, 0.0), max(hi, 0.0)
            if every.max() <= 1:
                lo, hi = min(lo, 1.0), min(hi, 1.0)
    return float(lo), float(hi)


def score_fields(dim: D.Dimension, ctx: Context, request_fields: dict) -> dict:
    """What identifies a dimension's scores: the dimension, its options, the model, the suite and
    the cache fields of every output it reads (other models' fingerprints among them)."""
    import dataclasses

    opts = ctx.options
    fps = getattr(ctx, "fingerprints", None) or {}
    fp, code = fps.get("model_fingerprint"), fps.get("model_code")
    if fp is None and ctx.model is not None and hasattr(ctx.model, "fingerprint"):
        fp = ctx.model.fingerprint()
    if code is None and ctx.model is not None and hasattr(ctx.model, "code_fingerprint"):
        code = ctx.model.code_fingerprint()
    return {"dimension": dim.name, "options": dataclasses.asdict(opts) if opts is not None else None,
            "model_fingerprint": fp, "model_code": code, "suite": ctx.suite.name,
            "suite_version": str(ctx.suite.version),
            "suite_fingerprint": fps.get("suite_fingerprint") or ctx.suite.fingerprint(),
            "seed": ctx.opts.get("seed", 0),
            "requests": sorted([r.key, request_fields.get(r)] for r in ctx._outputs)
            if request_fields else sorted(r.key for r in ctx._outputs)}


def with_scores(dim: D.Dimension, ctx: Context, cache=None, request_fields: dict | None = None) -> Context:
    """The context with the dimension's per-unit scores: from the score cache, else from its
    ``scores`` hook once (then cached). A dimension without a scores hook: ctx unchanged."""
    if dim.scores is None:
        return ctx
    fields = score_fields(dim, ctx, request_fields or {})
    got = cache.load(fields) if cache is not None else None
    if got is None:
        got = dim.scores(ctx)
        if not isinstance(got, D.Scores):
            raise QubaError(f"dimension {dim.name}: its scores hook must return quba.dimensions.Scores, "
                            f"got {type(got).__name__}")
        if cache is not None:
            cache.save(fields, got)
    ctx._scores = got
    return ctx


def measure(dim: D.Dimension, ctx: Context, bootstrap: int, seed: int, *, cache=None,
            request_fields: dict | None = None):
    """(result, value, lo, hi, replicates) of one dimension: scores (cached), the value, its interval."""
    ctx = with_scores(dim, ctx, cache, request_fields)
    res = dim.compute(ctx)
    value = value_of(res)
    lo = hi = None
    reps = None
    if bootstrap > 0:
        lo, hi, reps = bootstrap_interval(dim, ctx, bootstrap, seed, value)
        if reps is not None and reps.size == 0 and np.isfinite(value):  # no sampling uncertainty (a count)
            lo = hi = value
    return res, value, lo, hi, reps
