"""Calibration error: ECE, ACE and their geometric mean (QUBA dimension 5).

Hesse et al., "Beyond Accuracy" (QUBA), Sec. 3 (calibration error);
docs/metrics.md#calibration-error. ECE: Naeini et al. (2015), Guo et al.
(2017); ACE: Nixon et al., "Measuring Calibration in Deep Learning" (CVPR-W
2019), adaptive class-conditional binning.

One formula, two algorithms: the value is the definition (`expected_calibration_error`,
`adaptive_calibration_error`: every class's column sorted once); bootstrap replicates, given as
count weights, come from `_weighted_calibration_error`, which bins every resample over the full
sample's sort instead of sorting each resample anew (and which the engine runs in torch,
quba/kernels/calibration.py). The value stays on the definition so that the recorded number does
not depend on the device a run used; the two agree to float rounding on the identity resample and
on every resample (docs/metrics.md#bootstrap-intervals; tests/unit/test_metrics_calibration.py,
tests/engine/test_engine_core.py).
"""
from __future__ import annotations

import warnings

import numpy as np

from quba.errors import QubaError
from quba.metrics._checks import labels_1d, probabilities, sample_weights
from quba.metrics.classification import gmean


def _check_bins(n_bins: int) -> int:
    if int(n_bins) != n_bins or n_bins < 1:
        raise QubaError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def expected_calibration_error(y_true, probs, n_bins: int = 15) -> float:
    """Top-label expected calibration error with equal-width bins.

    ``ECE = Σ_b (n_b/N) |acc_b − conf_b|`` where ``conf_i = max_k p_ik``,
    ``acc_b`` is the fraction of correct top-1 predictions in bin b and
    ``conf_b`` the mean confidence in it (docs/metrics.md#calibration-error). Equivalently
    ``ECE = (1/N) Σ_b |Σ_{i∈b} (1[ŷ_i = y_i] − conf_i)|``.

    Bins: ``n_bins`` equal-width bins on [0, 1]; bin b is ``[b/B, (b+1)/B)``
    except the last, which is closed: ``[(B−1)/B, 1]``. A confidence of
    exactly 1.0 falls in the last bin.

    Difference from torchmetrics' ``MulticlassCalibrationError`` (l1, same
    n_bins): torchmetrics bins with ``bucketize(conf, linspace(0, 1, B+1),
    right=True) − 1``, which puts a confidence of exactly 1.0 into an extra
    (B+1)-th bin ``[1, ∞)`` of its own instead of the last bin. The two agree
    whenever no confidence equals 1.0 (they are cross-checked on random
    inputs); with saturated softmax outputs (conf == 1.0 in float32) they can
    differ, because torchmetrics keeps those images apart from the rest of
    the top bin.
    """
    n_bins = _check_bins(n_bins)
    y = labels_1d(y_true)
    p = probabilities(probs, y)
    if y.size == 0:
        return float("nan")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # [lo, hi) bins, then the last one closed at 1.0.
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    gap = np.bincount(idx, weights=correct - conf, minlength=n_bins)
    return float(np.abs(gap).sum() / y.size)


def adaptive_calibration_error(y_true, probs, n_bins: int = 15) -> float:
    """Adaptive, class-conditional calibration error (Nixon et al. 2019).

    For every class j, take the images with ``p_ij > 0`` (n_j of them), sort
    them by ``p_ij`` and split them into ``n_bins`` equal-mass bins (contiguous
    runs of the sorted order whose sizes differ by at most one; with fewer
    images than bins some bins are empty and contribute nothing). Then
    ``CE_j = Σ_b (n_b/n_j) |mean_{i∈b} 1[y_i = j] − mean_{i∈b} p_ij|
          = (1/n_j) Σ_b |Σ_{i∈b} (1[y_i = j] − p_ij)|`` and
    ``ACE = mean_j CE_j`` over the classes with n_j > 0
    (docs/metrics.md#calibration-error). With softmax outputs every p_ij > 0, so every class counts.

    Ties: images with equal p_ij are ordered by ``1[y_i = j]`` (negatives
    first), so the value does not depend on the order of the images.
    """
    n_bins = _check_bins(n_bins)
    y = labels_1d(y_true)
    p = probabilities(probs, y)
    n, k = p.shape
    if n == 0:
        return float("nan")
    # Each image is a positive (y_i = j) in exactly one class column: sort every
    # column's probabilities once, take the probability sums per bin from a
    # cumulative sum, and place the (few) positives into their bins directly.
    true_p = p[np.arange(n), y]
    per_class = []
    block = max(1, int(1e7 // n))  # classes per block: bounds memory to ~10M entries
    for start in range(0, k, block):
        stop = min(k, start + block)
        s = np.sort(np.ascontiguousarray(p[:, start:stop].T), axis=1)  # [kb, n]
        kb = stop - start
        n_pos = np.count_nonzero(s > 0, axis=1)
        first = n - n_pos  # zeros sort first
        cs = np.zeros((kb, n + 1))
        np.cumsum(s, axis=1, dtype=np.float64, out=cs[:, 1:])
        q, r = np.divmod(n_pos, n_bins)
        b = np.arange(n_bins + 1)[None, :]
        edges = b * q[:, None] + np.minimum(b, r[:, None])  # [kb, B+1], offsets from `first`
        pos = first[:, None] + edges
        p_sums = np.diff(np.take_along_axis(cs, pos, axis=1), axis=1)  # [kb, B]
        hits = np.zeros((kb, n_bins))
        for j in np.unique(y[(y >= start) & (y < stop)]):
            v = np.sort(true_p[y == j])
            v = v[v > 0]
            if v.size == 0:
                continue
            row = j - start
            # equal values: negatives first, so tied positives take the last slots
            right = np.searchsorted(s[row], v, side="right")
            uniq, inv, counts = np.unique(v, return_inverse=True, return_counts=True)
            order_in_tie = np.arange(v.size) - np.searchsorted(v, v, side="left")
            t = right - counts[inv] + order_in_tie - first[row]
            qq, rr = q[row], r[row]
            big = rr * (qq + 1)
            bins = np.where(t < big, t // (qq + 1), rr + (t - big) // max(qq, 1))
            hits[row] += np.bincount(bins, minlength=n_bins)
        keep = n_pos > 0
        per_class.append(np.abs(hits - p_sums).sum(axis=1)[keep] / n_pos[keep])
    errs = np.concatenate(per_class)
    if errs.size == 0:
        return float("nan")
    return float(errs.mean())


def calibration_error(y_true, probs, n_bins: int = 15, sample_weight=None, *, binner=None):
    """QUBA calibration error ``gmean(ECE, ACE)`` (docs/metrics.md#calibration-error). Lower is better.

    Without weights: the definitions, `expected_calibration_error` and `adaptive_calibration_error`.
    ``sample_weight``: count weights [N] or [B, N] (row b: how often each image is drawn in
    resample b); the value of every row is that of the resampled images, computed without
    re-sorting them by the equivalent `_weighted_calibration_error` (why two algorithms: the module
    docstring; ``binner``: where its per-resample passes run, default numpy here)."""
    n_bins = _check_bins(n_bins)
    y = labels_1d(y_true)
    w = sample_weights(sample_weight, y.size)
    if w is not None:
        if w.size and np.any(w != np.round(w)):
            raise QubaError("calibration_error takes integer count weights (how often each image is drawn)")
        p = probabilities(probs, y)
        out = _weighted_calibration_error(y, p, np.atleast_2d(w), n_bins, binner=binner)
        return float(out[0]) if w.ndim == 1 else out
    return gmean([expected_calibration_error(y_true, probs, n_bins),
                  adaptive_calibration_error(y_true, probs, n_bins)])


def _weighted_calibration_error(y, p, counts, n_bins: int = 15, block: int = 1 << 19,
                                binner=None) -> np.ndarray:
    """gmean(ECE, ACE) of every resample given as a row of draw counts `counts` [n, N] (row b: how
    often each image is drawn), equal to `calibration_error(y[idx_b], p[idx_b])` up to float
    rounding (the order of summation differs). docs/metrics.md#calibration-error; Nixon et al. 2019 (ACE).

    ECE: an image's bin depends on its own confidence only, so ECE_b = Σ_bins |Σ_i w_bi (1[ŷ_i = y_i]
    − conf_i)| / N. ACE, class by class:
    - a class without an image of its own (no i with y_i = j and p_ij > 0) has only negative
      residuals −p_ij, so every bin's |Σ| is its probability sum and CE_j = Σ_i w_bi p_ij /
      Σ_i w_bi [p_ij > 0]: one matrix product for all such classes, no binning. (Most classes of a
      1000-way model evaluated on a few classes' images.)
    - any other class: a resample repeats image i w_bi times; in class j's order (by p_ij, ties:
      negatives first, as `adaptive_calibration_error`) the copies of an image are adjacent, so the
      resample's sorted column is the full sample's sorted column with every entry repeated. Its
      equal-mass bin edges t_k (positions among the n_j = Σ_i w_bi [p_ij > 0] copies) and the residual
      sums Σ (1[y = j] − p_j) up to them follow from two cumulative sums over the full sample's order
      (counts and count-weighted residuals), an edge inside a run of copies taking part of the run
      (`_binned_classes`). The columns are sorted once; each resample then costs a few passes over
      its column instead of a sort.
    `block`: entries (resamples x classes x images) handled at once; it bounds the memory (8 bytes
    each, a few arrays of that size) and keeps the passes in the CPU caches. `binner`: a function with
    the signature and result of `_binned_classes` that runs those passes elsewhere (the engine's:
    torch on all cores or the run's GPU, quba/kernels/calibration.py); default `_binned_classes`.
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

    ce = np.full((n, K), np.nan)
    own = np.zeros(K, dtype=bool)  # classes with an image of their own in their bins
    own[y[p[np.arange(N), y] > 0]] = True
    negatives_only = np.flatnonzero(~own)
    step = max(1, block // N)
    for lo in range(0, negatives_only.size, step):
        cols = negatives_only[lo:lo + step]
        pc = p[:, cols]
        mass, copies = W @ pc, W @ (pc > 0).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ce[:, cols] = np.where(copies > 0, mass / np.where(copies > 0, copies, 1.0), np.nan)
    binned = np.flatnonzero(own)
    if binned.size:
        ce[:, binned] = (binner or _binned_classes)(y, p, W, binned, n_bins, block)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any class: nan
        ace = np.nanmean(ce, axis=1)
    return gmean(np.stack([ece, ace], axis=1), axis=-1)


def _binned_classes(y, p, W, classes, n_bins: int, block: int) -> np.ndarray:
    """[n, len(classes)]: class j's calibration error in resample r, by the cumulative sums of
    `_weighted_calibration_error`, classes x images in blocks of about `block` entries (numpy; the
    engine runs the same passes in torch: quba/kernels/calibration.py)."""
    n, N = W.shape
    out = np.empty((n, classes.size))
    b = np.arange(n_bins + 1, dtype=np.float64)[None, :]
    for c0, order, resid, active in class_blocks(y, p, classes, block):
        m = order.shape[0]
        every = bool(active.all())
        rows = np.arange(m)[:, None]
        for r in range(n):
            w = W[r][order]  # [m, N] each image's count at its place in class j's order
            if not every:
                w = w * active
            C = np.cumsum(w, axis=1)  # copies among the first entries of each sorted column
            S = np.cumsum(w * resid, axis=1)  # their residual sums
            n_j = C[:, -1:]
            q = np.floor(n_j / n_bins)
            target = b * q + np.minimum(b, n_j - q * n_bins)  # [m, B+1] the resample's bin edges
            # the entry holding each edge's copy: one search over all rows, each row shifted past the
            # one before (counts are integers, so the shifted values are exact)
            shift = rows * (n_j.max() + 1.0)
            g = np.searchsorted((C + shift).ravel(), (target + shift).ravel(), side="left").reshape(m, -1)
            g = np.minimum(g - rows * N, N - 1)
            before = np.maximum(g - 1, 0)
            first = g == 0
            c0_ = np.where(first, 0.0, np.take_along_axis(C, before, axis=1))
            s0 = np.where(first, 0.0, np.take_along_axis(S, before, axis=1))
            at = s0 + (target - c0_) * np.take_along_axis(resid, g, axis=1)  # residual sum before each edge
            at[:, 0] = 0.0
            n_j = n_j[:, 0]
            with np.errstate(divide="ignore", invalid="ignore"):
                out[r, c0:c0 + m] = np.where(n_j > 0, np.abs(np.diff(at, axis=1)).sum(axis=1) / n_j, np.nan)
    return out


def class_blocks(y, p, classes, block: int):
    """(first, order, resid, active) for the classes in blocks of about `block` entries (classes x
    images): `first` is the block's offset in `classes`, the rest as `class_orders`."""
    step = max(1, min(classes.size, block // p.shape[0]))
    for c0 in range(0, classes.size, step):
        yield (c0, *class_orders(y, p, classes[c0:c0 + step]))


def class_orders(y, p, cols):
    """Class j's order for each class of `cols`: the images sorted by p_ij, ties negatives first
    (as `adaptive_calibration_error`). Returns order [m, N], the residuals 1[y = j] − p_ij in that
    order (0 where p_ij = 0) and which entries are in the bins (p_ij > 0). Non-negative floats order
    as their bits, so one integer key (bits, then the label bit) replaces a two-key lexsort."""
    pj = np.ascontiguousarray(p[:, cols].T, dtype=np.float64)  # [m, N]
    ind = y[None, :] == np.asarray(cols)[:, None]
    order = np.argsort((pj.view(np.int64) << 1) | ind, axis=1)
    ps = np.take_along_axis(pj, order, axis=1)
    active = ps > 0  # images with p_ij = 0 are not in class j's bins
    resid = np.where(active, np.take_along_axis(ind, order, axis=1) - ps, 0.0)
    return order, resid, active
