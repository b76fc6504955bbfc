"""The grid pointing game: run a model's attributions over grids of images.

Protocol (docs/metrics.md#interpretability-grid-pointing-game; Böhle et al., CoDA-Nets CVPR 2021
Sec. 5.2 and B-cos Networks CVPR 2022 Sec. 5.2): from a split, keep the images
the model classifies correctly with a positive target logit, ranked per class by
confidence (`quba.metrics.pointing.select_candidates`); draw grids of n×n images
from n² distinct classes (`sample_grids`, seeded); feed each grid to the model as
one image; for every cell, attribute the cell's class and score the share of
positive attribution energy that falls inside that cell (`pointing_score`).

Defaults: ImageNet 3×3 grids, 500 grids, seed 42 (the papers' setting). QUBA-mini
(its `option_defaults`, quba/suites/mini.py): 3×3 grids — its 12 classes allow 9 distinct ones — and 100
grids, which keeps a run to seconds on 2 CPU cores; chance level is 1/9 either way.
Images are taken at the model's resolution and tiled, so the model sees an
n-times larger image (fine for convolutional models with global pooling). A model
that cannot take the larger input (fixed-size ViTs) gets the grid resized down to
its single-image size; the result says so (``grid_resized``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from quba.zoo.attribution import attribute, resolve_method
from quba.errors import QubaError
from quba.metrics.pointing import compose_grid, pointing_scores, pointing_summary, sample_grids, select_candidates

DEFAULTS = {"grid_size": 3, "n_grids": 500, "seed": 42, "per_class": None, "smooth": 0, "method": "auto"}
PIXEL_BUDGET = 64 * 96 * 96


def _to_float(x) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()


@torch.no_grad()
def predict_logits(module, images, batch_size: int = 128, device="cpu") -> np.ndarray:
    out = []
    for i in range(0, len(images), batch_size):
        out.append(module(_to_float(images[i:i + batch_size]).to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def run_pointing_game(module, images, labels, logits=None, *, grid_size: int = 3, n_grids: int = 500,
                      seed: int = 42, method: str = "auto", smooth: int = 0, per_class: int | None = None,
                      batch_grids: int | None = None, device="cpu", progress: bool = True) -> dict:
    """Grid pointing game of ``module`` on ``images`` (uint8 or float in [0, 1], [N, 3, H, W]; or any
    object whose ``images[idx]`` returns such an array for an index array, e.g. a lazy loader).

    ``logits`` [N, K] of the single images (e.g. from the prediction cache) pick the
    candidates; without them the model is run once over ``images``. Returns a dict:
    value (= mean), mean, q1, median, q3, n (cell scores), n_grids, grid_size, method
    (resolved), smooth, seed, n_candidate_classes, grid_resized, and ``scores``
    (float [n_grids, n²], for bootstrapping).
    """
    from tqdm import tqdm

    module.eval()
    labels = np.asarray(labels).reshape(-1)
    if torch.is_tensor(images) or isinstance(images, np.ndarray):
        images = images.cpu().numpy() if torch.is_tensor(images) else images
        if images.ndim != 4 or len(images) != len(labels):
            raise QubaError(f"pointing game needs images [N, C, H, W] with N labels; "
                            f"got {images.shape} and {labels.shape}")
    if logits is None:
        logits = predict_logits(module, images, device=device)
    resolved = resolve_method(module, method)
    cands = select_candidates(logits, labels, per_class=per_class)
    grid_idx, grid_cls = sample_grids(cands, n=grid_size, n_grids=n_grids, seed=seed)
    n2 = grid_size * grid_size
    h, w = np.asarray(images[grid_idx[0]]).shape[-2:]
    if batch_grids is None:  # about PIXEL_BUDGET input pixels per backward pass (7 grids of 3x3 at 32 px)
        batch_grids = max(1, PIXEL_BUDGET // (n2 * n2 * h * w))
    cells = np.tile(np.arange(n2), batch_grids)
    scores = np.empty((n_grids, n2), dtype=np.float64)
    resized = False
    bar = tqdm(total=n_grids, desc=f"pointing game ({grid_size}x{grid_size}, {resolved})", unit="grid",
               disable=not progress, leave=False)
    for g0 in range(0, n_grids, batch_grids):
        g1 = min(g0 + batch_grids, n_grids)
        grids = np.stack([compose_grid(images[grid_idx[g]], grid_size) for g in range(g0, g1)])
        x = _to_float(grids).to(device)
        if resized:
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        x = x.repeat_interleave(n2, dim=0)  # one copy of each grid per cell
        target = torch.as_tensor(grid_cls[g0:g1].reshape(-1), device=device)
        try:
            attr = attribute(module, x, target, resolved)
        except (RuntimeError, AssertionError, ValueError) as exc:
            if resized:
                raise
            # A model with a fixed input size: show it the grid at its single-image size.
            resized = True
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
            try:
                attr = attribute(module, x, target, resolved)
            except (RuntimeError, AssertionError, ValueError):
                raise QubaError(f"the model cannot take a {grid_size}x{grid_size} grid image, not even resized to "
                                f"{h}x{w}: {str(exc).splitlines()[0]}") from None
        if module.training:
            raise RuntimeError("model left eval mode during the pointing game")
        k = (g1 - g0) * n2
        scores[g0:g1] = pointing_scores(attr.cpu().numpy(), grid_size, cells[:k], smooth=smooth).reshape(g1 - g0, n2)
        bar.update(g1 - g0)
    bar.close()
    summary = pointing_summary(scores)
    return {
        "value": summary["mean"], **summary, "n_grids": int(n_grids), "grid_size": int(grid_size),
        "method": resolved, "smooth": int(smooth), "seed": int(seed), "n_candidate_classes": len(cands),
        "grid_resized": resized, "scores": scores,
    }


def bootstrap_grid_means(scores, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` bootstrap replicates of the mean pointing score, resampling whole grids."""
    s = np.asarray(scores, dtype=np.float64)
    s = s.reshape(len(s), -1).mean(axis=1)
    if n_boot <= 0 or len(s) == 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    return s[rng.integers(0, len(s), size=(n_boot, len(s)))].mean(axis=1)
