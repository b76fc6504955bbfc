"""MEt3R's geometry source: both views' point maps in view 1's camera frame, the
intrinsics of both cameras and the relative pose `T_21` (`Geometry`), from known depth
(`known_geometry`) or a learned pairwise reconstructor (`PairwiseReconstructor`, plugged in
by `load_reconstructor`)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from quba.errors import QubaError


@dataclass
class Geometry:
    """Point maps of both views in view 1's camera frame, intrinsics, relative pose.

    points1: [H1, W1, 3] 3D point of each view-1 pixel (view-1 camera coords).
    points2: [H2, W2, 3] 3D point of each view-2 pixel, also in view-1 camera coords.
    K1, K2: [3, 3] intrinsics; T_21: [4, 4] view-1 camera coords -> view-2 camera coords.
    Non-finite points (sky, invalid depth) are left out.
    """

    points1: np.ndarray
    points2: np.ndarray
    K1: np.ndarray
    K2: np.ndarray
    T_21: np.ndarray
    pixel_centre: float = 0.5


def unproject(depth: np.ndarray, K: np.ndarray, pixel_centre: float = 0.5) -> np.ndarray:
    """Camera-frame points [H, W, 3] of a z-depth map: X = z K⁻¹ (u + c, v + c, 1)ᵀ.
    Depths ≤ 0 or non-finite give NaN points."""
    d = np.asarray(depth, dtype=np.float64)
    H, W = d.shape
    u, v = np.meshgrid(np.arange(W) + pixel_centre, np.arange(H) + pixel_centre, indexing="xy")
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(np.asarray(K, dtype=np.float64)).T
    pts = rays * d[..., None]
    pts[~(np.isfinite(d) & (d > 0))] = np.nan
    return pts


def known_geometry(depth1, depth2, K1, K2, T_21, pixel_centre: float = 0.5) -> Geometry:
    """Geometry from known z-depth of both views, intrinsics and T_21 (cam 1 -> cam 2)."""
    T = np.asarray(T_21, dtype=np.float64)
    if T.shape != (4, 4):
        raise QubaError(f"T_21 must be a 4x4 matrix, got shape {T.shape}")
    for name, K in (("K1", K1), ("K2", K2)):
        if np.asarray(K).shape != (3, 3):
            raise QubaError(f"{name} must be a 3x3 intrinsics matrix, got shape {np.asarray(K).shape}")
    p1 = unproject(depth1, K1, pixel_centre)
    p2_cam2 = unproject(depth2, K2, pixel_centre)
    Tinv = np.linalg.inv(T)
    p2 = p2_cam2 @ Tinv[:3, :3].T + Tinv[:3, 3]
    return Geometry(p1, p2, np.asarray(K1, np.float64), np.asarray(K2, np.float64), T, pixel_centre)


class PairwiseReconstructor(Protocol):
    """A learned pairwise 3D reconstructor as a geometry source (optional plug-in).

    `__call__(view1, view2) -> Geometry`, views float tensors [3, H, W] in
    [0, 1]. The returned point maps must be at the views' resolution (resize
    them if the network runs at another one). How DUSt3R / MASt3R fit:

    - run the pair through the network (`dust3r.inference.inference` on
      `make_pairs` of the two images, symmetric pair); `pred1["pts3d"]` is
      view 1's point map in view 1's frame -> `points1`;
      `pred2["pts3d_in_other_view"]` is view 2's point map in view 1's frame
      -> `points2` (MASt3R: the same keys);
    - intrinsics: a focal estimated from each point map
      (`dust3r.post_process.estimate_focal_knowing_depth`), principal point at
      the image centre -> `K1`, `K2` (with `pixel_centre=0.0`, DUSt3R's
      convention);
    - `T_21`: the inverse of view 2's camera-to-world pose from the pairwise
      global aligner (`global_aligner(..., mode=PairViewer).get_im_poses()`,
      world = view 1), or PnP of `points2` against view 2's pixel grid.

    Plug it in from the command line with `quba consistency PAIRS --geometry
    package.module:factory`, where `factory()` returns the reconstructor; or
    from Python, `evaluate_pairs(..., geometry=reconstructor)`. Neither
    DUSt3R nor its weights ship with quba; nothing here downloads.
    """

    def __call__(self, view1, view2) -> Geometry: ...


def load_reconstructor(spec: str) -> Callable:
    """Import `package.module:factory` and call the factory (user-named plug-in code)."""
    if ":" not in spec:
        raise QubaError(f"geometry source {spec!r} is neither 'known' nor 'module:factory' "
                        "(a Python factory returning a pairwise reconstructor)")
    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise QubaError(f"cannot import geometry plug-in module {mod_name!r} ({exc}); install it or fix "
                        "--geometry") from None
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise QubaError(f"module {mod_name!r} has no callable {attr!r} for --geometry")
    return factory()
