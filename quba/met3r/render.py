"""MEt3R's scoring: z-buffered forward splatting of each view's featured points into both
cameras (`splat`), the score of one pair (`pair_score`) and of many (`evaluate_pairs`). The
formula itself (1 - cos over the overlap) is `quba.metrics.met3r`."""
from __future__ import annotations

import numpy as np

from quba.errors import QubaError
from quba.met3r.features import ProceduralFeatures
from quba.met3r.geometry import Geometry
from quba.metrics import met3r as mm


def splat(points, feats, K, T, size: tuple[int, int], pixel_centre: float = 0.5, depth_tol: float = 0.03,
          reach: float = 0.75):
    """Forward-splat points (camera-1 frame, [N, 3]) carrying `feats` [C, N] into the
    camera with intrinsics K and pose T (camera-1 coords -> this camera), z-buffered.

    Returns (features [C, H, W], depth [H, W] (inf where empty), covered bool [H, W]).
    """
    import torch

    H, W = size
    P = torch.as_tensor(np.asarray(points, dtype=np.float64)).reshape(-1, 3)
    Fe = torch.as_tensor(feats).reshape(feats.shape[0], -1).float()
    T = torch.as_tensor(np.asarray(T, dtype=np.float64))
    K = torch.as_tensor(np.asarray(K, dtype=np.float64))
    Xc = P @ T[:3, :3].T + T[:3, 3]
    z = Xc[:, 2]
    ok = torch.isfinite(Xc).all(1) & (z > 1e-6)
    idx = torch.nonzero(ok).squeeze(1)
    Xc, z = Xc[idx], z[idx]
    uv = (Xc @ K.T)[:, :2] / z[:, None] - pixel_centre  # continuous index coords (centres at integers)
    base = torch.floor(uv)
    cand_pix, cand_src, cand_z, cand_d = [], [], [], []
    for dy in (0, 1):
        for dx in (0, 1):
            pu = base[:, 0] + dx
            pv = base[:, 1] + dy
            inb = (pu >= 0) & (pu < W) & (pv >= 0) & (pv < H)
            inb &= ((uv[:, 0] - pu).abs() < reach) & ((uv[:, 1] - pv).abs() < reach)
            d2 = (uv[:, 0] - pu) ** 2 + (uv[:, 1] - pv) ** 2
            cand_pix.append((pv * W + pu)[inb].long())
            cand_src.append(idx[inb])
            cand_z.append(z[inb])
            cand_d.append(d2[inb])
    pix, src, cz, cd = (torch.cat(a) for a in (cand_pix, cand_src, cand_z, cand_d))
    C = Fe.shape[0]
    out = torch.zeros((C, H * W))
    depth = torch.full((H * W,), float("inf"), dtype=torch.float64)
    if pix.numel():
        depth.scatter_reduce_(0, pix, cz, reduce="amin")
        front = cz <= depth[pix] * (1 + depth_tol)
        key = torch.where(front, cd, torch.full_like(cd, float("inf")))
        best = torch.full((H * W,), float("inf"), dtype=torch.float64).scatter_reduce_(0, pix, key, reduce="amin")
        win = front & (key <= best[pix])
        # ties: the highest source index wins, deterministically
        chosen = torch.full((H * W,), -1, dtype=torch.long).scatter_reduce_(0, pix[win], src[win], reduce="amax")
        has = chosen >= 0
        out[:, has] = Fe[:, chosen[has]]
    covered = torch.isfinite(depth)
    return out.reshape(C, H, W), depth.reshape(H, W), covered.reshape(H, W)


def pair_score(f1, f2, geometry: Geometry, depth_tol: float = 0.03) -> dict:
    """MEt3R of one pair from dense features f1 [C, H1, W1], f2 [C, H2, W2] and its geometry.

    forward: both views rendered into camera 1; backward: into camera 2.
    """
    g = geometry
    H1, W1 = f1.shape[-2:]
    H2, W2 = f2.shape[-2:]
    if g.points1.shape[:2] != (H1, W1) or g.points2.shape[:2] != (H2, W2):
        raise QubaError(f"point maps {g.points1.shape[:2]}/{g.points2.shape[:2]} do not match the views' "
                        f"sizes {(H1, W1)}/{(H2, W2)}")
    eye = np.eye(4)
    out = {}
    for name, K, T, size in (("forward", g.K1, eye, (H1, W1)), ("backward", g.K2, g.T_21, (H2, W2))):
        a, _, ca = splat(g.points1, f1, K, T, size, g.pixel_centre, depth_tol)
        b, _, cb = splat(g.points2, f2, K, T, size, g.pixel_centre, depth_tol)
        both = (ca & cb).numpy()
        out[name] = mm.met3r_direction(a.numpy(), b.numpy(), both)
        out[f"overlap_{name}"] = float(both.mean())
    res = mm.combine_directions(out["forward"], out["backward"])
    res.update({k: v for k, v in out.items() if k.startswith("overlap")})
    return res


def _as_float_views(v) -> "torch.Tensor":
    import torch

    t = torch.as_tensor(np.asarray(v))
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    return t.float()


def evaluate_pairs(view1, view2, geometry, features=None, *, progress: bool = True, batch_size: int = 16,
                   desc: str = "met3r") -> dict:
    """MEt3R of every pair. `view1`, `view2`: [P, 3, H, W] (uint8 or float in [0, 1]) or
    sequences of [3, H, W]; `geometry`: a sequence of `Geometry` (one per pair) or a
    pairwise reconstructor called per pair; `features`: a FeatureExtractor
    (default: `ProceduralFeatures(seed=0)`).

    Returns {"pairs": [per-pair dict], "met3r": overall mean, "features": name, ...}.
    """
    from tqdm.auto import tqdm

    feats = features if features is not None else ProceduralFeatures(seed=0)
    P = len(view1)
    if len(view2) != P:
        raise QubaError(f"{P} first views but {len(view2)} second views")
    per = []
    bar = tqdm(total=P, desc=desc, unit="pair", disable=not progress, leave=False)
    try:
        for s in range(0, P, batch_size):
            idx = range(s, min(P, s + batch_size))
            v1 = [_as_float_views(view1[i]) for i in idx]
            v2 = [_as_float_views(view2[i]) for i in idx]
            f1 = _features_of(feats, v1)
            f2 = _features_of(feats, v2)
            for j, i in enumerate(idx):
                geo = geometry(v1[j], v2[j]) if callable(geometry) else geometry[i]
                if not isinstance(geo, Geometry):
                    raise QubaError(f"the geometry source returned {type(geo).__name__}, not a Geometry")
                with _one_thread():  # thousands of tiny ops: threads cost more than they give
                    r = pair_score(f1[j].numpy(), f2[j].numpy(), geo)
                r["index"] = i
                per.append(r)
                bar.update(1)
    finally:
        bar.close()
    summary = mm.summarize_pairs(np.array([r["mean"] for r in per]))
    summary["forward"] = float(np.nanmean([r["forward"] for r in per])) if per else float("nan")
    summary["backward"] = float(np.nanmean([r["backward"] for r in per])) if per else float("nan")
    summary["features"] = getattr(feats, "name", type(feats).__name__)
    summary["pairs_detail"] = per
    return summary


class _one_thread:
    def __enter__(self):
        import torch

        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.n)


def _features_of(extractor, views: list):
    """Features per view; views of one size are batched."""
    import torch

    if len({tuple(v.shape) for v in views}) == 1:
        return list(extractor(torch.stack(views)))
    return [extractor(v.unsqueeze(0))[0] for v in views]
