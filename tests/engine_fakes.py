"""Small, fast stand-ins for a suite and a model, for the engine tests.

The fake suite has K classes; an image of class c is a flat grey of
brightness (c + 1) / (K + 1) plus a per-image shift, so a model that reads the mean
brightness classifies it, and the harder splits (more noise) lower accuracy.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from quba.metrics.robustness import IMAGENET_C_CORRUPTIONS, SEVERITIES
from quba.suites.base import DecisionMapping, Split, Suite

K = 4
SIZE = 8


def _images(labels, noise, rng, texture=None):
    n = len(labels)
    level = (np.asarray(labels) + 1) / (K + 1)
    x = (level + noise * rng.standard_normal(n))[:, None, None, None] + 0.02 * rng.standard_normal((n, 3, SIZE, SIZE))
    if texture is not None:  # left half carries the "texture" class brightness
        tl = (np.asarray(texture) + 1) / (K + 1)
        x[:, :, :, : SIZE // 2] = tl[:, None, None, None]
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


class FakeSplit(Split):
    def __init__(self, name, labels, images, meta=None, unreadable=()):
        self.name = name
        self.labels = np.asarray(labels, dtype=np.int64)
        self.images = images
        self.meta = meta or {}
        self.decision = DecisionMapping()
        self.unreadable = set(unreadable)
        self.opened = 0

    def dataset(self, preprocess=None):
        split = self

        class _DS(torch.utils.data.Dataset):
            def __len__(self):
                return len(split)

            def __getitem__(self, i):
                split.opened += 1
                if i in split.unreadable:
                    return None, i
                x = torch.from_numpy(split.images[i]).float() / 255
                return (preprocess(x) if preprocess else x), i

        return _DS()


class FakeSuite(Suite):
    name = "fake"
    version = "1"

    def __init__(self, n_per_class=10, seed=0, unreadable=()):
        rng = np.random.default_rng(seed)
        self.class_names = [f"c{i}" for i in range(K)]
        self.seed = seed
        labels = np.repeat(np.arange(K), n_per_class)
        self._splits = {}

        def add(name, noise, texture=None, meta=None, lab=labels, bad=()):
            self._splits[name] = FakeSplit(name, lab, _images(lab, noise, rng, texture), meta, bad)

        add("val", 0.08, bad=unreadable)
        for c in IMAGENET_C_CORRUPTIONS:
            for s in SEVERITIES:
                add(f"corruption/{c}/{s}", 0.08 + 0.02 * s)
        for i, o in enumerate(("edge", "silhouette", "sketch", "stylized", "rendition")):
            add(f"ood/{o}", 0.1 + 0.02 * i)
        texture = (labels + 1 + rng.integers(0, K - 1, len(labels))) % K
        texture[::7] = labels[::7]  # a few agreeing pairs, which shape bias must drop
        add("cue_conflict", 0.02, texture=texture, meta={"shape": labels, "texture": texture})
        add("bg/mixed_same", 0.1)
        add("bg/mixed_rand", 0.16)

    def fingerprint(self):
        return hashlib.sha256(f"fake:{self.seed}:{sorted(self._splits)}".encode()).hexdigest()[:16]

    def split_names(self):
        return list(self._splits)

    def split(self, name):
        return self._splits[name]


class BrightnessNet(nn.Module):
    """Logits = -sharpness * (mean brightness - class level)^2 (+ a learnable bias)."""

    def __init__(self, sharpness=200.0, width=4):
        super().__init__()
        self.levels = nn.Parameter(torch.arange(1, K + 1, dtype=torch.float32) / (K + 1))
        self.sharpness = sharpness
        self.extra = nn.Linear(width, width)  # parameters to count

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))[:, None]
        return -self.sharpness * (m - self.levels[None, :]) ** 2
