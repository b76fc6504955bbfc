"""The calibration bootstrap's per-resample passes in torch (docs/metrics.md#bootstrap-intervals).

`binner(device)` returns a function with the signature and result of
`quba.metrics.calibration._binned_classes`, for `calibration_error(..., binner=...)`: the same
gather, cumulative sums and bin-edge search, batched over resamples and classes, run by torch on all
CPU cores (about twice as fast as numpy on 2) or on `device`.
"""
from __future__ import annotations

import numpy as np
import torch

from quba.metrics.calibration import class_blocks


def binner(device=None):
    """A `_binned_classes` that runs on `device` (default: the CPU)."""
    dev = torch.device(device or "cpu")

    def run(y, p, W, classes, n_bins: int, block: int) -> np.ndarray:
        # a GPU wants few large launches: 16 M entries a block (a few hundred MB of device memory)
        return binned_classes(y, p, W, classes, n_bins, max(block, 1 << 24) if dev.type == "cuda" else block, dev)

    return run


def binned_classes(y, p, W, classes, n_bins: int, block: int, device) -> np.ndarray:
    """[n, len(classes)]: class j's calibration error in resample r (count weights W [n, N]), for
    resamples x classes x images in blocks of about `block` entries. Counts are gathered as float32
    where that is exact (N < 2**24); the residual sums are float64."""
    n, N = W.shape
    out = np.empty((n, classes.size))
    Wt = torch.from_numpy(np.ascontiguousarray(W)).to(device, torch.float32 if N < (1 << 24) else torch.float64)
    b = torch.arange(n_bins + 1, dtype=torch.float64, device=device)
    for c0, order, resid_np, active in class_blocks(y, p, classes, block):
        m = order.shape[0]
        every = bool(active.all())
        resid = torch.from_numpy(resid_np).to(device)
        act = torch.from_numpy(active).to(device, Wt.dtype)
        flat = torch.from_numpy(order.reshape(-1)).to(device)
        rstep = max(1, block // (m * N))
        for r0 in range(0, n, rstep):
            w = Wt[r0:r0 + rstep].index_select(1, flat).view(-1, m, N)  # each image's count at its place
            if not every:
                w = w * act
            C = torch.cumsum(w, 2, dtype=torch.float64)  # copies among the first entries of each sorted column
            S = torch.cumsum(w * resid, 2)  # their residual sums
            n_j = C[..., -1:]
            q = torch.floor(n_j / n_bins)
            target = b * q + torch.minimum(b, n_j - q * n_bins)  # [R, m, B+1] the resample's bin edges
            g = torch.searchsorted(C, target, side="left").clamp_(max=N - 1)  # the entry holding each edge's copy
            before = (g - 1).clamp_(min=0)
            first = g == 0
            c_before = torch.where(first, 0.0, torch.gather(C, 2, before))
            s_before = torch.where(first, 0.0, torch.gather(S, 2, before))
            at = s_before + (target - c_before) * torch.gather(resid.expand(w.shape[0], -1, -1), 2, g)
            at[..., 0] = 0.0  # residual sum before each edge
            n_j = n_j[..., 0]
            err = (at[..., 1:] - at[..., :-1]).abs().sum(-1) / n_j
            out[r0:r0 + rstep, c0:c0 + m] = torch.where(n_j > 0, err, float("nan")).cpu().numpy()
    return out
