"""A synthetic ImageNet-layout tree of JPEGs for the throughput benchmarks (no data, no download).

`make_tree(root, ...)` writes the folders `quba evaluate --suite imagenet` reads (docs/imagenet-layout.md#layout): `val/<wnid>/*.JPEG` and, with `all_splits=True`, the 75 ImageNet-C
folders (hard links to the val files: same bytes, same decoding cost, no disk), ImageNet-R,
the four model-vs-human splits, cue-conflict and both Backgrounds Challenge splits. Images are
smooth random colour fields (JPEG-compressed like photographs, so decoding costs what it costs
on real photos of that size), seeded. Also `resnet(arch)`: a torchvision ResNet without weights
as a `LoadedModel` with the usual resize/crop preprocess, and `bare_loop`: an ImageFolder +
DataLoader + forward loop over the same JPEGs, the yardstick of every ratio.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np


def _image(rng: np.random.Generator, size: tuple[int, int]):
    from PIL import Image

    w, h = size
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    noise = rng.integers(-12, 13, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8))


def _write(path: Path, rng, size) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _image(rng, size).save(path, quality=85)
    return path


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def make_tree(root, n_wnids: int = 10, per_class: int = 20, size=(160, 120), all_splits: bool = False,
              seed: int = 0) -> Path:
    """Write the tree under `root` and return it. `size` (width, height) of every image."""
    from quba.metrics.decisions import canonical_wnids, imagenet_r_wnids, sixteen_class_names
    from quba.metrics.robustness import IMAGENET_C_CORRUPTIONS, SEVERITIES
    from quba.suites.imagenet import BG_CLASS_FOLDERS

    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = canonical_wnids()[:: max(1, 1000 // n_wnids)][:n_wnids]
    val = [_write(root / "val" / w / f"ILSVRC2012_val_{w}_{i:05d}.JPEG", rng, size)
           for w in wnids for i in range(per_class)]
    if not all_splits:
        return root
    for c in IMAGENET_C_CORRUPTIONS:
        for s in SEVERITIES:
            for f in val:
                _link(f, root / "imagenet-c" / c / str(s) / f.parent.name / f.name)
    for w in imagenet_r_wnids()[:n_wnids]:
        for i in range(per_class):
            _write(root / "imagenet-r" / w / f"art_{i}.jpg", rng, size)
    cats = sixteen_class_names()[: max(2, min(16, n_wnids))]
    for split in ("edge", "silhouette", "sketch", "stylized"):
        for c in cats:
            for i in range(max(1, per_class // 2)):
                _write(root / split / c / f"{c}{i + 1}.png", rng, size)
    for shape in cats:
        for texture in cats:
            if texture != shape:
                _write(root / "cue-conflict" / shape / f"{shape}1-{texture}2.png", rng, size)
    for kind in ("mixed_same", "mixed_rand"):
        for folder in BG_CLASS_FOLDERS:
            for i in range(max(1, per_class // 2)):
                _write(root / "bg_challenge" / kind / "val" / folder / f"{i}.JPEG", rng, size)
    return root


def preprocess(crop: int = 224, resize: int | None = None):
    """The usual evaluation transform: resize (shorter side), centre crop, ToTensor."""
    from torchvision import transforms as T

    resize = resize or int(round(crop * 256 / 224))
    return T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor()])


def resnet(arch: str = "resnet50", crop: int = 224):
    """A torchvision ResNet without weights (nothing downloaded) as a LoadedModel."""
    import torch
    import torchvision

    from quba.zoo.base import LoadedModel

    net = getattr(torchvision.models, arch)(weights=None)
    torch.manual_seed(0)
    for m in net.modules():  # deterministic, and not all-equal logits
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, std=0.05)

    class Normalised(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

        def forward(self, x):
            return self.inner((x - self.mean) / self.std)

    return LoadedModel(id=f"{arch}-random", module=Normalised(net).eval(), preprocess=preprocess(crop),
                       input_size=(3, crop, crop), num_classes=1000, source="python")


def bare_loop(loaded, folders, device="cpu", batch_size: int = 64, workers: int = 0, attacks=(),
              autocast: bool = False) -> tuple[float, int]:
    """(seconds, images): torchvision ImageFolder + DataLoader + forward (+ softmax to the host) over
    every folder in `folders`, plus FGSM/PGD on the first folder for each name in `attacks` —
    the same work an evaluation does, with nothing else."""
    import contextlib
    import zlib

    import torch
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    from quba.engine import attacks as A
    from quba.engine.runner import ATTACK_DEFAULTS

    module = loaded.module.to(device).eval()
    cast = (torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16) if autocast
            else contextlib.nullcontext())
    t0, n = time.perf_counter(), 0
    jobs = [(f, None) for f in folders] + [(folders[0], a) for a in attacks]
    for folder, attack in jobs:
        ds = ImageFolder(str(folder), transform=loaded.preprocess)
        dl = DataLoader(ds, batch_size=batch_size, num_workers=workers,
                        pin_memory=torch.device(device).type == "cuda")
        for start, (x, y) in enumerate(dl):
            x = x.to(device, non_blocking=True)
            if attack:
                kw = dict(ATTACK_DEFAULTS[attack])
                if attack == "pgd":
                    kw["generator"] = torch.Generator(device=device).manual_seed(zlib.crc32(str(start).encode()))
                with cast:
                    x = getattr(A, attack)(module, x, y.to(device), **kw)
            with torch.inference_mode(), cast:
                module(x).float().softmax(1).cpu().numpy()
            n += len(x)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, n
