"""The engine hooks of the nine QUBA dimensions, the measuring context and the bootstrap.

Importing this module attaches `needs`/`compute` (and where useful a
vectorised `bootstrap`) to the nine dimensions of `quba.dimensions`; see that
module's docstring for the contract. Every `compute` routes cached
predictions into the pure functions of `quba.metrics` (docs/metrics.md#the-nine-quba-dimensions).
"""
from __future__ import annotations

import math
import warnings
import zlib
from typing import Callable

import numpy as np

from quba import dimensions as D
from quba.dimensions import SplitRequest
from quba.engine.outputs import SplitOutputs
from quba.errors import QubaError

OOD_SPLITS = ("edge", "silhouette", "sketch", "stylized", "rendition")
VAL = SplitRequest("val")


def dimension_rng(seed: int, name: str, purpose: str = "compute") -> np.random.Generator:
    """A generator seeded from (seed, dimension, purpose): the same whichever other dimensions run."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode()), zlib.crc32(purpose.encode())])


def _loose(req: SplitRequest) -> tuple:
    return (req.split, req.attack, req.model)


class Context:
    """What a dimension's `compute` sees (see quba/dimensions.py)."""

    def __init__(self, *, dimension: str, suite, model, opts: dict, device, outputs: dict,
                 split_fn: Callable | None = None, rng: np.random.Generator | None = None):
        self.dimension = dimension
        self.suite = suite
        self.model = model
        self.opts = opts
        self.device = device
        self._outputs = outputs  # SplitRequest -> SplitOutputs
        self._loose = {_loose(r): o for r, o in outputs.items()}
        self._split_fn = split_fn or (lambda name: suite.split(name))
        self.rng = rng if rng is not None else dimension_rng(opts.get("seed", 0), dimension)

    def outputs(self, request: SplitRequest | str) -> SplitOutputs:
        if isinstance(request, str):
            request = SplitRequest(request)
        if request in self._outputs:
            return self._outputs[request]
        if _loose(request) in self._loose:
            return self._loose[_loose(request)]
        raise KeyError(f"dimension {self.dimension!r} reads {request.key!r}, which its needs() did not request")

    def split(self, name: str):
        return self._split_fn(name)

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
        """The same context with every split resampled with replacement over its images.

        Requests on the same split (clean, attacked, other models) share the
        indices, so paired comparisons stay paired."""
        draws = self.draws(rng)
        taken = {req: out.take(draws[req]) for req, out in self._outputs.items()}
        return Context(dimension=self.dimension, suite=self.suite, model=self.model, opts=self.opts,
                       device=self.device, outputs=taken, split_fn=self._split_fn, rng=self.rng)


def value_of(result) -> float:
    if isinstance(result, dict):
        return float(result["value"])
    return float(result)


def bootstrap_interval(dim: D.Dimension, ctx: Context, n: int, seed: int, value: float | None = None):
    """(lo, hi, replicates): a 95 % interval from `n` bootstrap replicates.

    With the point estimate `value`, the interval is bias-corrected: the 2.5/97.5 percentiles of
    the replicates shifted by the bootstrap bias estimate mean(replicates) − value. Statistics that
    resampling inflates (ECE: duplicated images add to every bin's gap) otherwise get a
    percentile interval that can lie entirely above the value; for unbiased ones (accuracy) the
    shift is Monte-Carlo noise. A statistic whose replicates and value all lie in [0, 1] (or are
    all >= 0) keeps its interval there. Without `value`: the plain percentile interval.

    Replicates are None when the dimension reads no outputs and has no own
    `bootstrap` (no interval), and empty when its `bootstrap` says it has no
    sampling uncertainty (a count: the interval is the value itself)."""
    if n <= 0:
        return float("nan"), float("nan"), np.zeros(0)
    rng = dimension_rng(seed, dim.name, "bootstrap")
    if dim.bootstrap is not None:
        reps = np.asarray(dim.bootstrap(ctx, n, rng) if _takes_rng(dim.bootstrap) else dim.bootstrap(ctx, n),
                          dtype=np.float64)
    elif not ctx._outputs:
        return float("nan"), float("nan"), None  # nothing to resample and no own bootstrap: no interval
    else:
        reps = np.empty(n)
        for b in range(n):
            try:
                reps[b] = value_of(dim.compute(ctx.resampled(rng)))
            except (ZeroDivisionError, FloatingPointError, QubaError):
                reps[b] = np.nan
    finite = reps[np.isfinite(reps)]
    if finite.size == 0:
        return float("nan"), float("nan"), reps
    shift = float(finite.mean() - value) if value is not None and np.isfinite(value) else 0.0
    lo, hi = np.percentile(finite - shift, [2.5, 97.5])
    if shift:  # keep a statistic that never left [0, 1] (or [0, inf)) inside it: no accuracy above 1
        every = np.append(finite, value)
        if every.min() >= 0:
            lo, hi = max(lo, 0.0), max(hi, 0.0)
            if every.max() <= 1:
                lo, hi = min(lo, 1.0), min(hi, 1.0)
    return float(lo), float(hi), reps


def _takes_rng(fn) -> bool:
    import inspect

    try:
        return len(inspect.signature(fn).parameters) >= 3
    except (TypeError, ValueError):
        return False


# -- vectorised helpers ------------------------------------------------------------------
def _resample_means(correct: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean of `correct` over each row of an index matrix [n, N]."""
    return correct[idx].mean(axis=1) if correct.size else np.full(len(idx), np.nan)


def _index_matrix(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return rng.integers(0, size, (n, size)) if size else np.zeros((n, 0), np.int64)


def _gmean_rows(m: np.ndarray) -> np.ndarray:
    """Row-wise geometric mean with the same conventions as quba.metrics gmean (clip at 0, nan propagates)."""
    m = np.asarray(m, dtype=np.float64)
    out = np.exp(np.mean(np.log(np.clip(m, 1e-300, None)), axis=1))
    out[np.any(m <= 0, axis=1)] = 0.0
    out[np.any(np.isnan(m), axis=1)] = np.nan
    return out


def _relative(acc: np.ndarray, clean: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(clean > 0, acc / clean, np.nan)


# -- the nine QUBA dimensions ------------------------------------------------------------
def _acc(out: SplitOutputs) -> float:
    from quba.metrics.classification import accuracy

    return accuracy(out.labels, out.decisions)


def _require(suite, names, dimension):
    """QubaError naming the dimension (and, where the suite can, the expected path) if a split is missing."""
    if hasattr(suite, "require"):
        suite.require(list(names), dimension)
        return
    have = set(suite.split_names())
    missing = [n for n in names if n not in have]
    if missing:
        raise QubaError(f"dimension {dimension} needs split(s) {', '.join(missing[:3])}"
                        f"{' ...' if len(missing) > 3 else ''}, which suite {suite.name!r} does not have")


# 1. accuracy
def accuracy_needs(suite, opts):
    _require(suite, ["val"], "accuracy")
    return [VAL]


def accuracy_compute(ctx):
    return _acc(ctx.outputs(VAL))


def accuracy_bootstrap(ctx, n, rng):
    c = ctx.outputs(VAL).correct
    return _resample_means(c, _index_matrix(rng, n, len(c)))


# 2. adversarial robustness
FGSM, PGD = SplitRequest("val", "fgsm"), SplitRequest("val", "pgd")


#: `--protocol paper`: the authors' pipeline (quba/engine/paper_protocol.py), four outputs of one pass
PAPER_REQUESTS = tuple(SplitRequest("val", a) for a in ("paper_pgd_clean", "paper_pgd", "paper_fgsm_clean",
                                                        "paper_fgsm"))


def _protocol(opts) -> str:
    from quba.engine.paper_protocol import check_protocol

    return check_protocol((opts or {}).get("protocol"))


def adversarial_needs(suite, opts):
    _require(suite, ["val"], "adversarial_robustness")
    if _protocol(opts) == "paper":
        return list(PAPER_REQUESTS)
    return [VAL, FGSM, PGD]


def _paper_adversarial(ctx):
    from quba.metrics.classification import gmean

    pgd_clean, pgd, fgsm_clean, fgsm = (_acc(ctx.outputs(r)) for r in PAPER_REQUESTS)
    rel_pgd = pgd / pgd_clean if pgd_clean > 0 else float("nan")
    rel_fgsm = fgsm / fgsm_clean if fgsm_clean > 0 else float("nan")
    # eval.py: results["Adv. Rob."] = gmean([pgd, fgsm]), each adversarial / clean accuracy of its own loop
    return {"value": gmean([rel_pgd, rel_fgsm]), "protocol": "paper", "acc_clean_pgd_loop": pgd_clean,
            "acc_pgd": pgd, "acc_clean_fgsm_loop": fgsm_clean, "acc_fgsm": fgsm}


def adversarial_compute(ctx):
    from quba.metrics.robustness import adversarial_robustness

    if _protocol(ctx.opts) == "paper":
        return _paper_adversarial(ctx)
    clean, fgsm, pgd = (_acc(ctx.outputs(r)) for r in (VAL, FGSM, PGD))
    return {"value": adversarial_robustness(clean, fgsm, pgd), "acc_clean": clean, "acc_fgsm": fgsm,
            "acc_pgd": pgd}


def adversarial_bootstrap(ctx, n, rng):
    if _protocol(ctx.opts) == "paper":
        outs = [ctx.outputs(r) for r in PAPER_REQUESTS]  # the same images, paired
        idx = _index_matrix(rng, n, len(outs[0]))
        pc, p, fc, f = (_resample_means(o.correct, idx) for o in outs)
        return _gmean_rows(np.stack([_relative(p, pc), _relative(f, fc)], axis=1))
    outs = [ctx.outputs(r) for r in (VAL, FGSM, PGD)]
    if len({len(o) for o in outs}) != 1:  # not paired: fall back to the generic bootstrap
        return np.array([value_of(adversarial_compute(ctx.resampled(rng))) for _ in range(n)])
    idx = _index_matrix(rng, n, len(outs[0]))
    clean, fgsm, pgd = (_resample_means(o.correct, idx) for o in outs)
    return _gmean_rows(np.stack([_relative(fgsm, clean), _relative(pgd, clean)], axis=1))


# 3. corruption robustness
def _corruption_splits(suite=None) -> list[str]:
    """The 15 ImageNet-C corruptions x severities 1-5 (docs/metrics.md#corruption-robustness), every suite."""
    from quba.metrics.robustness import IMAGENET_C_CORRUPTIONS, SEVERITIES

    return [f"corruption/{c}/{s}" for c in IMAGENET_C_CORRUPTIONS for s in SEVERITIES]


def corruption_needs(suite, opts):
    _require(suite, ["val", *_corruption_splits()], "corruption_robustness")
    return [VAL] + [SplitRequest(s, outputs="decisions") for s in _corruption_splits()]


def _corruption_key(split: str) -> tuple[str, int]:
    _, name, sev = split.split("/")
    return name, int(sev)


def corruption_compute(ctx):
    from quba.metrics.robustness import corruption_robustness

    clean = _acc(ctx.outputs(VAL))
    accs = {_corruption_key(s): _acc(ctx.outputs(SplitRequest(s, outputs="decisions")))
            for s in _corruption_splits(ctx.suite)}
    value = corruption_robustness(clean, accs)
    per = {}
    for (name, _), a in accs.items():
        per.setdefault(name, []).append(a)
    return {"value": value, "acc_clean": clean, "splits": len(accs),
            "acc_per_corruption": {k: float(np.mean(v)) for k, v in per.items()}}


def corruption_bootstrap(ctx, n, rng):
    val = ctx.outputs(VAL)
    clean = _resample_means(val.correct, _index_matrix(rng, n, len(val)))
    rel = []
    for s in _corruption_splits(ctx.suite):
        c = ctx.outputs(SplitRequest(s, outputs="decisions")).correct
        rel.append(_relative(_resample_means(c, _index_matrix(rng, n, len(c))), clean))
    return np.mean(np.stack(rel, axis=1), axis=1)


# 4. OOD robustness
def ood_needs(suite, opts):
    names = ["ood/" + s for s in OOD_SPLITS]
    _require(suite, ["val", *names], "ood_robustness")
    return [VAL] + [SplitRequest(s) for s in names]


def ood_compute(ctx):
    from quba.metrics.robustness import ood_robustness

    clean = _acc(ctx.outputs(VAL))
    accs = {s: _acc(ctx.outputs("ood/" + s)) for s in OOD_SPLITS}
    return {"value": ood_robustness(clean, accs), "acc_clean": clean, "acc": accs}


def ood_bootstrap(ctx, n, rng):
    val = ctx.outputs(VAL)
    clean = _resample_means(val.correct, _index_matrix(rng, n, len(val)))
    rel = []
    for s in OOD_SPLITS:
        c = ctx.outputs("ood/" + s).correct
        rel.append(_relative(_resample_means(c, _index_matrix(rng, n, len(c))), clean))
    return _gmean_rows(np.stack(rel, axis=1))


# 5. calibration error
def calibration_needs(suite, opts):
    _require(suite, ["val"], "calibration_error")
    return [VAL]


def calibration_compute(ctx):
    from quba.metrics.calibration import adaptive_calibration_error, expected_calibration_error
    from quba.metrics.classification import gmean

    out = ctx.outputs(VAL)
    ece = expected_calibration_error(out.labels, out.probs)
    ace = adaptive_calibration_error(out.labels, out.probs)
    return {"value": gmean([ece, ace]), "ece": ece, "ace": ace}


def calibration_bootstrap(ctx, n, rng):
    """Bootstrap replicates of gmean(ECE, ACE), exactly the values `calibration_compute` gives on
    `ctx.resampled(rng)` (same draws, same order), without re-sorting every resample: a resample is
    a vector of draw counts, and `calibration_replicates` bins it over the full sample's sort."""
    out = ctx.outputs(VAL)
    req = next(r for r in ctx._outputs if _loose(r) == _loose(VAL)) if VAL not in ctx._outputs else VAL
    size = len(out)
    counts = np.zeros((n, size))
    for b in range(n):
        counts[b] = np.bincount(ctx.draws(rng)[req], minlength=size)
    return calibration_replicates(out.labels, out.probs, counts)


def calibration_replicates(y, p, counts, n_bins: int = 15, block: int = 1 << 19) -> np.ndarray:
    """gmean(ECE, ACE) of every resample given as a row of draw counts `counts` [n, N] (row b: how
    often each image is drawn), equal to `calibration_error(y[idx_b], p[idx_b])` up to float
    rounding (the order of summation differs). docs/metrics.md#calibration-error; Nixon et al. 2019 (ACE).

    ECE: an image's bin depends on its own confidence only, so ECE_b = Σ_bins |Σ_i w_bi (1[ŷ_i = y_i]
    − conf_i)| / N. ACE: a resample repeats image i w_bi times; in class j's order (by p_ij, ties:
    negatives first, as `adaptive_calibration_error`) the copies of an image are adjacent, so the
    resample's sorted column is the full sample's sorted column with every entry repeated. Its
    equal-mass bin edges t_k (positions among the n_j = Σ_i w_bi [p_ij > 0] copies) and the residual
    sums Σ (1[y = j] − p_j) up to them follow from two cumulative sums over the full sample's order
    (counts and count-weighted residuals), an edge inside a run of copies taking part of the run.
    The columns are sorted once; each resample then costs a few passes over [N, K] instead of a
    sort. `block`: entries (images x classes) handled at once: it bounds the memory, and blocks
    that fit in the CPU caches run ~2x faster than 16 MB ones.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    W = np.asarray(counts, dtype=np.float64)
    n, N = W.shape
    K = p.shape[1]
    if N == 0:
        return np.full(n, np.nan)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    eb = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    E = np.zeros((N, n_bins))
    E[np.arange(N), eb] = correct - conf
    ece = np.abs(W @ E).sum(axis=1) / N

    import torch  # the per-resample passes: torch's gather and cumsum are several times numpy's

    ce = np.full((n, K), np.nan)
    Wt = torch.from_numpy(W)
    b = torch.arange(n_bins + 1, dtype=torch.float64)[None, :]
    step = max(1, block // N)
    # resamples in parallel threads, each op single-threaded: no intra-op barriers to spin on
    # (on a busy machine 2 intra-op threads made this ~10x slower than 1)
    threads = torch.get_num_threads()
    pool = None
    if threads > 1 and n > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=min(threads, n))
    torch.set_num_threads(1)
    try:
        _calibration_blocks(y, p, Wt, b, ce, n, N, K, step, n_bins, pool)
    finally:
        torch.set_num_threads(threads)
        if pool is not None:
            pool.shutdown()
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any class: nan
        ace = np.nanmean(ce, axis=1)
    return _gmean_rows(np.stack([ece, ace], axis=1))


def _calibration_blocks(y, p, Wt, b, ce, n, N, K, step, n_bins, pool) -> None:
    """Fill ce[r, j] (class j's calibration error in resample r) block of classes by block."""
    import torch

    for start in range(0, K, step):
        stop = min(K, start + step)
        pj = np.ascontiguousarray(p[:, start:stop].T)  # [m, N]
        ind = y[None, :] == np.arange(start, stop)[:, None]
        order = np.lexsort((ind, pj), axis=1)
        ps = np.take_along_axis(pj, order, axis=1)
        active = ps > 0  # images with p_ij = 0 are not in class j's bins
        every = bool(active.all())
        resid = torch.from_numpy(np.where(active, np.take_along_axis(ind, order, axis=1) - ps, 0.0))
        active = torch.from_numpy(active)
        flat = torch.from_numpy(order.ravel())
        shape = (stop - start, N)

        def one(r, start=start, stop=stop, resid=resid, active=active, flat=flat, every=every, shape=shape):
            w = Wt[r].index_select(0, flat).view(shape)
            if not every:
                w = w * active
            C = torch.cumsum(w, 1)  # copies among the first entries of each sorted column
            S = torch.cumsum(w.mul_(resid), 1)  # their residual sums
            n_j = C[:, -1:]
            q = torch.div(n_j, n_bins, rounding_mode="floor")
            target = b * q + torch.minimum(b, n_j - q * n_bins)  # [m, B+1] the resample's bin edges
            g = torch.searchsorted(C, target, side="left").clamp_(max=N - 1)  # entry holding that copy
            before = (g - 1).clamp_(min=0)
            first = g == 0
            c0 = C.gather(1, before).masked_fill_(first, 0.0)
            s0 = S.gather(1, before).masked_fill_(first, 0.0)
            at = s0 + (target - c0) * resid.gather(1, g)  # residual sum before each edge
            at[:, 0] = 0.0
            n_j = n_j[:, 0].numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                ce[r, start:stop] = np.where(n_j > 0, at.diff(dim=1).abs_().sum(1).numpy() / n_j, np.nan)

        if pool is not None:
            list(pool.map(one, range(n)))
        else:
            for r in range(n):
                one(r)


# 6. class balance
def class_balance_needs(suite, opts):
    _require(suite, ["val"], "class_balance")
    return [VAL]


def class_balance_compute(ctx):
    from quba.metrics.balance import class_balance_parts
    from quba.metrics.classification import gmean

    out = ctx.outputs(VAL)
    parts = class_balance_parts(out.labels, out.probs, out.probs.shape[1])
    return {"value": gmean([parts["accuracy_part"], parts["probability_part"]]), **parts}


def class_balance_from_stats(y, correct, true_prob, k: int) -> float:
    """Class balance from per-image (label, top-1 correct, true-class probability): the same
    arithmetic as `quba.metrics.balance.class_balance` (a test holds them equal), without the
    [N, K] probabilities, so resamples are cheap."""
    counts = np.bincount(y, minlength=k).astype(np.float64)
    present = counts > 0
    c = int(present.sum())
    if c == 0:
        return float("nan")
    acc_c = np.bincount(y, weights=correct, minlength=k)[present] / counts[present]
    acc_std = float(np.std(acc_c, ddof=1)) if c > 1 else float("nan")
    mean_c = np.bincount(y, weights=true_prob, minlength=k) / np.maximum(counts, 1)
    var_c = np.bincount(y, weights=(true_prob - mean_c[y]) ** 2, minlength=k)[present] / counts[present]
    prob_std = float(np.mean(np.sqrt(var_c)))
    return float(_gmean_rows(np.array([[1.0 - acc_std, 1.0 - prob_std]]))[0])


def class_balance_bootstrap(ctx, n, rng):
    out = ctx.outputs(VAL)
    y, p = out.labels.astype(np.int64), out.probs
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    true_prob = p[np.arange(len(y)), y]
    reps = np.empty(n)
    for b in range(n):
        idx = rng.integers(0, len(y), len(y))
        reps[b] = class_balance_from_stats(y[idx], correct[idx], true_prob[idx], p.shape[1])
    return reps


# 7. object focus
SAME, RAND = SplitRequest("bg/mixed_same"), SplitRequest("bg/mixed_rand")


def object_focus_needs(suite, opts):
    _require(suite, ["val", "bg/mixed_same", "bg/mixed_rand"], "object_focus")
    return [VAL, SAME, RAND]


def object_focus_compute(ctx):
    from quba.metrics.robustness import object_focus

    clean, same, rand = (_acc(ctx.outputs(r)) for r in (VAL, SAME, RAND))
    return {"value": object_focus(clean, same, rand), "acc_clean": clean, "acc_mixed_same": same,
            "acc_mixed_rand": rand}


def object_focus_bootstrap(ctx, n, rng):
    outs = [ctx.outputs(r) for r in (VAL, SAME, RAND)]
    clean, same, rand = (_resample_means(o.correct, _index_matrix(rng, n, len(o))) for o in outs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(clean > 0, 1.0 - (same - rand) / clean, np.nan)


# 8. shape bias
CUE = SplitRequest("cue_conflict")


def shape_bias_needs(suite, opts):
    _require(suite, ["cue_conflict"], "shape_bias")
    return [CUE]


def shape_bias_compute(ctx):
    from quba.metrics.shape import shape_bias

    out = ctx.outputs(CUE)
    for key in ("shape", "texture"):
        if key not in out.meta:
            raise QubaError(f"split cue_conflict of suite {ctx.suite.name!r} lacks per-image {key!r} labels")
    shape, texture, dec = out.meta["shape"], out.meta["texture"], out.decisions
    used = shape != texture
    return {"value": shape_bias(shape, texture, dec), "images_used": int(used.sum()),
            "shape_hits": int(((dec == shape) & used).sum()), "texture_hits": int(((dec == texture) & used).sum())}


def shape_bias_bootstrap(ctx, n, rng):
    out = ctx.outputs(CUE)
    used = out.meta["shape"] != out.meta["texture"]
    s = ((out.decisions == out.meta["shape"]) & used).astype(np.float64)
    t = ((out.decisions == out.meta["texture"]) & used).astype(np.float64)
    idx = _index_matrix(rng, n, len(out))
    hs, ht = s[idx].sum(axis=1), t[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hs + ht > 0, hs / (hs + ht), np.nan)


# 9. parameters
def parameters_needs(suite, opts):
    return []


def parameters_compute(ctx):
    m = ctx.model
    if m is None or m.parameters_m is None or not math.isfinite(m.parameters_m):
        raise QubaError("the parameters dimension needs the model's parameter count (LoadedModel.parameters_m)")
    return {"value": float(m.parameters_m), "parameters_full_m": float(m.parameters_full_m or m.parameters_m)}


def parameters_bootstrap(ctx, n, rng):
    return np.zeros(0)  # a count, not an estimate: no sampling uncertainty


def _attach_all() -> None:
    D.attach("accuracy", needs=accuracy_needs, compute=accuracy_compute, bootstrap=accuracy_bootstrap)
    D.attach("adversarial_robustness", needs=adversarial_needs, compute=adversarial_compute,
             bootstrap=adversarial_bootstrap)
    D.attach("corruption_robustness", needs=corruption_needs, compute=corruption_compute,
             bootstrap=corruption_bootstrap)
    D.attach("ood_robustness", needs=ood_needs, compute=ood_compute, bootstrap=ood_bootstrap)
    D.attach("calibration_error", needs=calibration_needs, compute=calibration_compute,
             bootstrap=calibration_bootstrap)
    D.attach("class_balance", needs=class_balance_needs, compute=class_balance_compute,
             bootstrap=class_balance_bootstrap)
    D.attach("object_focus", needs=object_focus_needs, compute=object_focus_compute,
             bootstrap=object_focus_bootstrap)
    D.attach("shape_bias", needs=shape_bias_needs, compute=shape_bias_compute, bootstrap=shape_bias_bootstrap)
    D.attach("parameters_m", needs=parameters_needs, compute=parameters_compute, bootstrap=parameters_bootstrap)


_attach_all()
