"""Grid pointing game (Böhle, Fritz, Schiele, "Convolutional Dynamic Alignment
Networks for Interpretable Classifications", CVPR 2021, Sec. 5.2; "B-cos Networks:
Alignment is All We Need for Interpretability", CVPR 2022, Sec. 5.2).

Protocol (docs/metrics.md#interpretability-grid-pointing-game):
1. keep the correctly classified images whose target logit is > 0, ranked per
   class by confidence (softmax probability) — :func:`select_candidates`;
2. build n×n grids of images from n² distinct classes (default 3×3, 500 grids,
   seed 42) — :func:`sample_grids`, :func:`compose_grid`;
3. for each cell's class, take the attribution map of the grid, sum it over
   channels, optionally smooth it, clamp it at 0; the score of that cell is
   ``E_cell / E_total`` with ``E = Σ max(0, a)`` (0 if ``E_total = 0``) —
   :func:`pointing_score`;
4. report the mean and quartiles of the scores — :func:`pointing_summary`.

A uniform attribution scores exactly 1/n²; a perfect localiser scores 1.
Pure functions: numpy arrays in, numbers out.
"""
from __future__ import annotations

import numpy as np

from quba.errors import QubaError


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def select_candidates(logits, labels, per_class: int | None = None) -> dict[int, np.ndarray]:
    """Images fit for a grid, per class, most confident first.

    Keeps image i when ``argmax logits_i = y_i`` and ``logits_i[y_i] > 0``; ranks each
    class's images by softmax confidence ``p_i[y_i]`` (ties: lower index first) and
    keeps at most ``per_class`` of them (all when None). Returns
    ``{class: int64 indices}``, only classes with at least one image.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if logits.ndim != 2 or len(logits) != len(labels):
        raise QubaError(f"pointing game needs logits [N, K] and labels [N]; got {logits.shape} and {labels.shape}")
    n_cls = logits.shape[1]
    valid = (labels >= 0) & (labels < n_cls)
    safe = np.where(valid, labels, 0)
    pred = logits.argmax(axis=1)
    target_logit = logits[np.arange(len(labels)), safe]
    ok = valid & (pred == labels) & (target_logit > 0)
    conf = softmax(logits)[np.arange(len(labels)), safe]
    out: dict[int, np.ndarray] = {}
    for c in np.unique(labels[ok]):
        idx = np.flatnonzero(ok & (labels == c))
        order = np.lexsort((idx, -conf[idx]))  # confidence desc, then index asc
        idx = idx[order]
        if per_class is not None:
            idx = idx[:per_class]
        out[int(c)] = idx.astype(np.int64)
    return out


def sample_grids(candidates: dict[int, np.ndarray], n: int = 3, n_grids: int = 500,
                 seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_grids`` grids of n² images from n² distinct classes.

    For each grid, n² classes are drawn without replacement from the classes that
    have candidates, and one image uniformly from each class's candidates
    (``np.random.default_rng(seed)``). Cell k sits at row ``k // n``, column ``k % n``.
    Returns ``(image_indices, classes)``, both int64 [n_grids, n²].
    """
    if n < 2:
        raise QubaError(f"a pointing-game grid needs n >= 2 (n×n cells); got n={n}")
    if n_grids < 1:
        raise QubaError(f"the pointing game needs at least one grid; got {n_grids}")
    classes = np.array(sorted(c for c, idx in candidates.items() if len(idx) > 0), dtype=np.int64)
    if len(classes) < n * n:
        raise QubaError(
            f"a {n}x{n} pointing-game grid needs {n * n} classes with a confidently and correctly "
            f"classified image, but only {len(classes)} have one; use a smaller --grid-size"
        )
    rng = np.random.default_rng(seed)
    images = np.empty((n_grids, n * n), dtype=np.int64)
    cls = np.empty((n_grids, n * n), dtype=np.int64)
    for g in range(n_grids):
        chosen = rng.choice(classes, size=n * n, replace=False)
        cls[g] = chosen
        for k, c in enumerate(chosen):
            pool = candidates[int(c)]
            images[g, k] = pool[rng.integers(0, len(pool))]
    return images, cls


def compose_grid(images, n: int) -> np.ndarray:
    """Tile n² images [n², C, H, W] into one grid image [C, n·H, n·W] (row-major cells)."""
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[0] != n * n:
        raise QubaError(f"compose_grid needs {n * n} images [n², C, H, W]; got shape {x.shape}")
    _, c, h, w = x.shape
    return x.reshape(n, n, c, h, w).transpose(2, 0, 3, 1, 4).reshape(c, n * h, n * w)


def cell_bounds(n: int, height: int, width: int, cell: int) -> tuple[slice, slice]:
    """Row and column slices of cell ``cell`` (row-major) in an n×n grid of size
    height×width (cell edges at ``round(i·height/n)``, so any size works)."""
    if not 0 <= cell < n * n:
        raise QubaError(f"cell {cell} is outside a {n}x{n} grid")
    r, c = divmod(cell, n)
    rows = slice(round(r * height / n), round((r + 1) * height / n))
    cols = slice(round(c * width / n), round((c + 1) * width / n))
    return rows, cols


def _box_smooth(a: np.ndarray, size: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return uniform_filter(a, size=size, mode="reflect")


def positive_energy_map(attribution, smooth: int = 0) -> np.ndarray:
    """Attribution [C, H, W] or [H, W] → summed over channels, box-smoothed with an
    odd window ``smooth`` (0 or 1: none; edges reflected, so a constant map stays
    constant), clamped at 0."""
    a = np.asarray(attribution, dtype=np.float64)
    if a.ndim == 3:
        a = a.sum(axis=0)
    if a.ndim != 2:
        raise QubaError(f"an attribution map must be [C, H, W] or [H, W]; got shape {a.shape}")
    if smooth and smooth > 1:
        a = _box_smooth(a, int(smooth))
    return np.maximum(a, 0.0)


def pointing_score(attribution, n: int, cell: int, smooth: int = 0) -> float:
    """Share of positive attribution energy inside the target cell:
    ``Σ_{cell} max(0, a) / Σ max(0, a)``, 0 when there is no positive energy
    (Böhle et al. 2021, Sec. 5.2)."""
    e = positive_energy_map(attribution, smooth)
    total = e.sum()
    if total <= 0:
        return 0.0
    rows, cols = cell_bounds(n, e.shape[0], e.shape[1], cell)
    return float(e[rows, cols].sum() / total)


def pointing_scores(attributions, n: int, cells, smooth: int = 0) -> np.ndarray:
    """:func:`pointing_score` for a stack of maps [K, C, H, W] or [K, H, W] and their target cells [K]."""
    a = np.asarray(attributions)
    cells = np.asarray(cells).reshape(-1)
    if len(a) != len(cells):
        raise QubaError(f"got {len(a)} attribution maps for {len(cells)} target cells")
    return np.array([pointing_score(a[i], n, int(cells[i]), smooth) for i in range(len(a))], dtype=np.float64)


def pointing_summary(scores) -> dict[str, float]:
    """Mean and quartiles of pointing-game scores: mean, q1, median, q3, n."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) == 0:
        raise QubaError("no pointing-game scores to summarise")
    q1, med, q3 = np.quantile(s, [0.25, 0.5, 0.75])
    return {"mean": float(s.mean()), "q1": float(q1), "median": float(med), "q3": float(q3), "n": int(len(s))}
