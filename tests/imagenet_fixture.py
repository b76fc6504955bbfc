"""A tiny ImageNet-layout tree for tests, and a model whose prediction follows from the image.

Every image is a flat colour that encodes an ImageNet-1k class index k
(canonical sorted-WNID order): R = k % 256, G = k // 256, B = 77. PNG is
lossless, so `ColourCodeModel` reads k back exactly from any image and
returns logits peaked at k. A suite that labels images by the position of
their folder among the folders present (instead of the canonical WNID
index) therefore disagrees with the model, and a correct suite scores 1.0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from quba.metrics.decisions import _mappings, canonical_wnids, imagenet_index_to_in9


def colour_of(k: int) -> tuple[int, int, int]:
    return (k % 256, k // 256, 77)


def write_image(path: Path, k: int, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), colour_of(k), dtype=np.uint8)).save(path)
    return path


class ColourCodeModel(nn.Module):
    """Logits = `scale` at the ImageNet index encoded in the image's colour, 0 elsewhere."""

    def __init__(self, scale: float = 30.0):
        super().__init__()
        self.scale = scale
        self.dummy = nn.Parameter(torch.zeros(1))  # something to fingerprint

    def forward(self, x):
        rgb = torch.round(x.mean(dim=(2, 3)) * 255.0)
        k = (rgb[:, 0] + 256 * rgb[:, 1]).long().clamp(0, 999)
        return nn.functional.one_hot(k, 1000).float() * self.scale + self.dummy


def sixteen_index(category: str) -> int:
    """An ImageNet index of a model-vs-human category (its first one)."""
    return _mappings()["sixteen_class_imagenet_indices"][category][0]


def in9_index(in9_class: int) -> int:
    """An ImageNet index that maps to ImageNet-9 class `in9_class`."""
    return int(np.flatnonzero(imagenet_index_to_in9() == in9_class)[0])


def fake_imagenet_tree(root, wnids=("n01440764", "n02085620", "n15075141"), n_per_class: int = 2,
                       splits=("val",), corruptions=(("fog", 1),), r_wnids=None,
                       categories=("bear", "bird", "truck"), bg_classes=(0, 1, 8), size: int = 8) -> Path:
    """Write a tiny tree under `root` (docs/imagenet-layout.md#layout).

    splits: any of "val", "imagenet-c", "imagenet-r", "edge", "silhouette",
    "sketch", "stylized", "cue-conflict", "bg_challenge". Images encode the
    class the model should predict: the WNID's canonical index (val,
    ImageNet-C, ImageNet-R), the first ImageNet index of the category
    (model-vs-human), the shape category (cue-conflict: a shape-biased
    model), an ImageNet index of the IN-9 class (Backgrounds Challenge).
    """
    root = Path(root)
    index = {w: i for i, w in enumerate(canonical_wnids())}
    r_wnids = list(r_wnids) if r_wnids is not None else list(_mappings()["imagenet_r_wnids"][:2])

    def wnid_tree(folder: Path, ws):
        for w in ws:
            for n in range(n_per_class):
                write_image(folder / w / f"{w}_{n}.png", index[w], size)

    for s in splits:
        if s == "val":
            wnid_tree(root / "val", wnids)
        elif s == "imagenet-c":
            for c, sev in corruptions:
                wnid_tree(root / "imagenet-c" / c / str(sev), wnids)
        elif s == "imagenet-r":
            wnid_tree(root / "imagenet-r", r_wnids)
        elif s in ("edge", "silhouette", "sketch", "stylized"):
            for c in categories:
                for n in range(n_per_class):
                    write_image(root / s / c / f"{c}{n + 1}.png", sixteen_index(c), size)
        elif s == "cue-conflict":
            for shape in categories:
                for texture in categories:
                    write_image(root / "cue-conflict" / shape / f"{shape}1-{texture}2.png",
                                sixteen_index(shape), size)
        elif s == "bg_challenge":
            from quba.suites.imagenet import BG_CLASS_FOLDERS

            for kind in ("mixed_same", "mixed_rand"):
                for c in bg_classes:
                    for n in range(n_per_class):
                        write_image(root / "bg_challenge" / kind / "val" / BG_CLASS_FOLDERS[c] / f"{n}.JPEG.png",
                                    in9_index(c), size)
        else:
            raise ValueError(f"unknown fixture split {s!r}")
    return root
