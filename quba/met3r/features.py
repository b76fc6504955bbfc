"""MEt3R's dense features: a DINO-family ViT with local weights (`DinoFeatures`) or the
offline, seeded `ProceduralFeatures`; `make_features` picks one."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Protocol, Sequence

from quba.errors import QubaError


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
