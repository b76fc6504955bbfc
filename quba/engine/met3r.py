"""MEt3R for image pairs: geometry source, dense features, z-buffered splatting.

Pipeline per pair (Asim et al., CVPR 2025, Sec. 3; metric in `quba.metrics.met3r`):

1. **Geometry** (`Geometry`): both views' point maps in view 1's camera
   frame, the intrinsics of both cameras, and `T_21` (view-1 camera coords →
   view-2 camera coords, 4x4). Sources are pluggable:
   - `known_geometry(depth1, depth2, K1, K2, T_21)`: known z-depth, intrinsics and
     relative pose (synthetic renders such as QUBA-mini's `multiview` split);
   - a learned pairwise reconstructor, any callable
     `reconstructor(view1, view2) -> Geometry` (views float [3, H, W] in
     [0, 1]); see `PairwiseReconstructor` for how DUSt3R/MASt3R plug in.
2. **Features** (`FeatureExtractor`): dense [C, H, W] features of each view at
   image size. `DinoFeatures` wraps a DINO-family timm ViT whose weights are on
   disk (never downloaded); `ProceduralFeatures` is the offline fallback.
3. **Rendering** (`splat`): each view's points, carrying their features, are
   forward-splatted into a camera with a z-buffer: a point covers the 2x2
   pixels whose centres surround its projection; per pixel the nearest depth
   wins, and among points within 3 % of that depth the one whose projection is
   closest to the pixel centre. Rendering into camera c (c = 1, 2) gives
   F1→c, F2→c and their coverage; S = 1 − cos on pixels covered by both.
   Both views go through the same renderer, so its artefacts cancel.

Pixel convention: pixel (u, v) has its centre at (u + 0.5, v + 0.5) in the
coordinates K maps to (QUBA-mini's renderer; pass `pixel_centre=0.0` for
OpenCV-style intrinsics whose pixel centres sit at integers).
"""
from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from quba.errors import QubaError
from quba.metrics import met3r as mm


# --------------------------------------------------------------------------- geometry
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


# --------------------------------------------------------------------------- features
class FeatureExtractor(Protocol):
    name: str

    def __call__(self, images) -> "torch.Tensor":
        """Images float [N, 3, H, W] in [0, 1] -> features [N, C, H, W] at image size."""
        ...


class ProceduralFeatures:
    """Offline fallback: a fixed, seeded, multi-scale dense feature extractor.

    Per pixel, three groups: colour (RGB − 0.5, averaged over the finest
    scale's cells), Sobel gradients of the luminance and two seeded random 3x3
    conv layers (3 -> 16 -> 16, tanh), each on the image average-pooled by 2,
    4 and 8 and upsampled bilinearly to image size. Each group is brought to
    unit length per pixel with a floor (v / sqrt(|v|² + 0.05²)), so weak
    responses -- flat regions, uint8 quantisation -- stay small instead of
    becoming random directions. Coarse scales (like DINO's 14-px patches) make
    the features insensitive to the sub-pixel shifts of splatting. No learning
    and no weights: the same seed gives the same features everywhere. It
    compares local colour and texture, not semantics; use `DinoFeatures` for
    published-comparable numbers.
    """

    def __init__(self, seed: int = 0, scales: Sequence[int] = (2, 4, 8), width: int = 16):
        import torch

        g = torch.Generator().manual_seed(int(seed))
        self.name = f"procedural(seed={seed})"
        self.scales = tuple(int(s) for s in scales)
        self.floors = (0.05, 0.05, 0.05)
        self.w1 = torch.randn((width, 3, 3, 3), generator=g) / math.sqrt(27)
        self.b1 = 0.1 * torch.randn(width, generator=g)
        self.w2 = torch.randn((width, width, 3, 3), generator=g) / math.sqrt(9 * width)
        sob = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
        self.sobel = torch.stack([sob, sob.T]).unsqueeze(1)  # [2, 1, 3, 3]

    def __call__(self, images):
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(images).float()
        H, W = x.shape[-2:]

        def unit(t, floor):
            # soft unit length: weak responses (flat regions, quantisation noise) stay small
            return t / torch.sqrt((t * t).sum(dim=1, keepdim=True) + floor ** 2)

        grads, convs = [], []
        for s in self.scales:
            xs = F.avg_pool2d(x, s) if s > 1 else x
            lum = (0.299 * xs[:, 0:1] + 0.587 * xs[:, 1:2] + 0.114 * xs[:, 2:3])
            g = F.conv2d(F.pad(lum, (1, 1, 1, 1), mode="replicate"), self.sobel)
            h = torch.tanh(F.conv2d(F.pad(xs - 0.5, (1, 1, 1, 1), mode="replicate"), self.w1, self.b1) * 2)
            h = torch.tanh(F.conv2d(F.pad(h, (1, 1, 1, 1), mode="replicate"), self.w2) * 2)
            if s > 1:
                g = F.interpolate(g, size=(H, W), mode="bilinear", align_corners=False)
                h = F.interpolate(h, size=(H, W), mode="bilinear", align_corners=False)
            grads.append(g)
            convs.append(h)
        s0 = self.scales[0]
        colour = x - 0.5
        if s0 > 1:
            colour = F.interpolate(F.avg_pool2d(colour, s0), size=(H, W), mode="bilinear", align_corners=False)
        return torch.cat([unit(colour, self.floors[0]), unit(torch.cat(grads, 1), self.floors[1]),
                          unit(torch.cat(convs, 1), self.floors[2])], 1)


#: timm names of DINO-family backbones, and the weight file quba looks for in the HF cache.
DINO_DEFAULT = "vit_small_patch14_dinov2.lvd142m"


class DinoFeatures:
    """Patch features of a DINO-family timm ViT, upsampled bilinearly to image size.

    Weights come only from disk: `weights` (a .safetensors or .pth state
    dict), else $QUBA_DINO_WEIGHTS, else the Hugging Face cache of the timm
    model (looked up without network). The ViT is built at its native size
    with `dynamic_img_size` (position embeddings interpolated); images are
    resized to `input_size` (a multiple of the patch size) and normalised with
    the model's mean/std inside.
    """

    def __init__(self, model_name: str = DINO_DEFAULT, weights: str | Path | None = None,
                 input_size: int = 224, device: str = "cpu"):
        import timm
        import torch

        path = find_dino_weights(model_name, weights)
        if path is None:
            raise QubaError(f"no local weights for {model_name!r}; pass --dino-weights FILE (or set "
                            "QUBA_DINO_WEIGHTS), or use --features procedural (offline fallback)")
        try:  # native size (so published weights fit); positions interpolated to any input size
            model = timm.create_model(model_name, pretrained=False, num_classes=0, dynamic_img_size=True)
        except Exception as exc:  # noqa: BLE001 - unknown name, not a ViT, ...
            raise QubaError(f"timm cannot build {model_name!r} as a ViT ({exc}); pick a timm ViT name") from None
        state = _read_state_dict(path)
        try:
            missing, _ = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1].strip()
            raise QubaError(f"weights {str(path)!r} do not fit {model_name!r} ({first})") from None
        if len(missing) > 0.2 * len(model.state_dict()):
            raise QubaError(f"weights {str(path)!r} do not fit {model_name!r} ({len(missing)} tensors missing)")
        self.model = model.eval().to(device)
        self.device = device
        self.input_size = input_size
        self.patch = model.patch_embed.patch_size[0]
        self.prefix = getattr(model, "num_prefix_tokens", 1)
        cfg = model.pretrained_cfg or {}
        self.mean = torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1)
        self.name = f"{model_name}@{Path(path).name}"

    def __call__(self, images):
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(images).float()
        H, W = x.shape[-2:]
        xs = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        xs = ((xs - self.mean) / self.std).to(self.device)
        with torch.no_grad():
            tokens = self.model.forward_features(xs)[:, self.prefix:]
        g = self.input_size // self.patch
        f = tokens.transpose(1, 2).reshape(x.shape[0], -1, g, g).float().cpu()
        return F.interpolate(f, size=(H, W), mode="bilinear", align_corners=False)


def _read_state_dict(path: Path) -> dict:
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    return state


def find_dino_weights(model_name: str = DINO_DEFAULT, weights=None) -> Path | None:
    """A local weight file for `model_name`, or None. Never touches the network."""
    if weights:
        p = Path(weights)
        if not p.is_file():
            raise QubaError(f"DINO weights file {str(p)!r} does not exist")
        return p
    env = os.environ.get("QUBA_DINO_WEIGHTS")
    if env and Path(env).is_file():
        return Path(env)
    try:
        import timm
        from huggingface_hub import try_to_load_from_cache

        cfg = timm.models.get_pretrained_cfg(model_name)
        repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        if repo:
            for fname in ("model.safetensors", "pytorch_model.bin"):
                hit = try_to_load_from_cache(repo, fname)
                if isinstance(hit, str) and Path(hit).is_file():
                    return Path(hit)
    except Exception:  # noqa: BLE001 - no hub library or unknown model: no local weights
        return None
    return None


def make_features(kind: str = "auto", *, dino_model: str = DINO_DEFAULT, dino_weights=None,
                  seed: int = 0, device: str = "cpu"):
    """'dino' (local weights required), 'procedural', or 'auto' (DINO if its weights are on disk)."""
    if kind == "procedural":
        return ProceduralFeatures(seed=seed)
    if kind == "dino":
        return DinoFeatures(dino_model, dino_weights, device=device)
    if kind == "auto":
        if find_dino_weights(dino_model, dino_weights) is not None:
            return DinoFeatures(dino_model, dino_weights, device=device)
        return ProceduralFeatures(seed=seed)
    raise QubaError(f"unknown feature extractor {kind!r}; choose auto, dino or procedural")


# --------------------------------------------------------------------------- rendering
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


# --------------------------------------------------------------------------- inputs
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
GEOMETRY_FILE = "geometry.npz"


def _find_view(folder: Path, stem: str) -> Path | None:
    for suf in IMAGE_SUFFIXES:
        for cand in (folder / f"{stem}{suf}", folder / f"{stem}{suf.upper()}"):
            if cand.is_file():
                return cand
    return None


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise QubaError(f"cannot read image {str(path)!r} ({exc.__class__.__name__}); replace or remove it") from None
    return arr.transpose(2, 0, 1).copy()


def _read_geometry(path: Path, shape1, shape2) -> Geometry:
    try:
        with np.load(path, allow_pickle=False) as z:
            g = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise QubaError(f"cannot read {str(path)!r} as .npz ({exc.__class__.__name__}); see 'quba consistency "
                        "--help' for its arrays") from None
    missing = [k for k in ("depth1", "depth2", "T_21") if k not in g]
    if "K" not in g and not ("K1" in g and "K2" in g):
        missing.append("K (or K1 and K2)")
    if missing:
        raise QubaError(f"{str(path)!r} lacks {', '.join(missing)}; it needs depth1, depth2, K (or K1, K2), T_21")
    K1 = g.get("K1", g.get("K"))
    K2 = g.get("K2", g.get("K"))
    for name, d, shape in (("depth1", g["depth1"], shape1), ("depth2", g["depth2"], shape2)):
        if d.shape != tuple(shape):
            raise QubaError(f"{str(path)!r}: {name} has shape {d.shape} but its view is {tuple(shape)}")
    centre = float(g["pixel_centre"]) if "pixel_centre" in g else 0.5
    return known_geometry(g["depth1"], g["depth2"], K1, K2, g["T_21"], pixel_centre=centre)


def load_pair_folder(root, need_geometry: bool = True):
    """Pairs from a folder: one subfolder per pair (sorted by name) holding
    `view1.<ext>`, `view2.<ext>` and, for the known-geometry source,
    `geometry.npz` (depth1 [H1,W1], depth2 [H2,W2] z-depth, K [3,3] or K1/K2,
    T_21 [4,4] camera-1 -> camera-2, optional pixel_centre).

    Returns (ids, views1 list of uint8 [3,H,W], views2, geometries or None).
    """
    root = Path(root)
    if not root.is_dir():
        raise QubaError(f"pairs folder {str(root)!r} does not exist; give a folder of pair subfolders or 'mini'")
    ids, v1s, v2s, geos = [], [], [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        a, b = _find_view(sub, "view1"), _find_view(sub, "view2")
        if a is None and b is None:
            continue
        if a is None or b is None:
            raise QubaError(f"pair {sub.name!r} has {'view1' if a else 'view2'} but no "
                            f"{'view2' if a else 'view1'} image")
        v1, v2 = _read_image(a), _read_image(b)
        ids.append(sub.name)
        v1s.append(v1)
        v2s.append(v2)
        if need_geometry:
            gfile = sub / GEOMETRY_FILE
            if not gfile.is_file():
                raise QubaError(f"pair {sub.name!r} has no {GEOMETRY_FILE}; add depth/intrinsics/pose or use a "
                                "learned reconstructor (--geometry module:factory)")
            geos.append(_read_geometry(gfile, v1.shape[1:], v2.shape[1:]))
    if not ids:
        raise QubaError(f"no pairs in {str(root)!r}: expected subfolders with view1.png and view2.png")
    return ids, v1s, v2s, (geos if need_geometry else None)


def suite_pairs(suite: str, seed: int = 0):
    """A suite's multiview split as (ids, view1 uint8 [P,3,H,W], view2, geometries, meta)."""
    from quba.suites import load_suite

    suite_obj = load_suite(suite, seed=seed)
    if "multiview" not in suite_obj.split_names():
        raise QubaError(f"suite {suite!r} has no multiview split; give a folder of pairs")
    sp = suite_obj.split("multiview")
    m = sp.meta
    v1, v2 = np.asarray(sp.view1), np.asarray(sp.view2)
    geos = [known_geometry(m["depth1"][i], m["depth2"][i], m["K"][i], m["K"][i], m["T_21"][i])
            for i in range(len(v1))]
    ids = [f"{suite}-{i:03d}" for i in range(len(v1))]
    return ids, v1, v2, geos, m


def content_levels(suite: str) -> tuple:
    """The target content-change levels of a suite's multiview pairs (empty if it declares none)."""
    from quba.suites import load_suite

    return tuple(load_suite(suite).content_levels)


def bootstrap_pairs(means: np.ndarray, n: int, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean over pairs, resampling pairs (seeded)."""
    m = np.asarray(means, dtype=np.float64)
    m = m[np.isfinite(m)]
    if m.size == 0 or n <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng([int(seed), 0x3E73])
    reps = m[rng.integers(0, m.size, size=(n, m.size))].mean(1)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return float(lo), float(hi)
