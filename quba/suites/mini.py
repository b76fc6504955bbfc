"""QUBA-mini: a procedural, offline image-classification benchmark with ground truth.

Twelve shape classes (circle, square, triangle, star, cross, ring, hexagon,
heart, arrow, crescent, diamond, ellipse) rendered at 32x32 RGB. Class `k`
has a typical texture/colour (`texture_names[k]`) and a typical background
(`background_names[k]`): in `train` and `val` an image carries its class's
texture with probability 0.85 and its class's background with probability
0.85 (independently; otherwise uniform over all textures / all 13
backgrounds) -- deliberate shortcuts, as in ImageNet.

Splits (all deterministic from `seed`; generated lazily per split on first
use and cached as .npz under `quba.paths.cache_dir()/suites/mini-<version>-<seed>/`):

  train                      12 x 250 = 3000 images, i.i.d. with val
  val                        12 x 50 = 600 images (clean)
  corruption/<name>/<s>      15 ImageNet-C corruptions x severities 1-5, applied
                             with the `imagecorruptions` package functions to a
                             fixed stratified subset of val (the first 20 val
                             images of each class in val order: 240 images)
  ood/edge                   outline of the shape, black on white (model-vs-human edge)
  ood/silhouette             filled black shape on white (model-vs-human silhouette)
  ood/sketch                 two jittered pencil outlines on paper (model-vs-human sketch)
  ood/stylized               foreign texture on the object and another on the
                             background (Stylized-ImageNet)
  ood/rendition              flat-colour cartoon with a thick outline and a drop
                             shadow on pastel paper (ImageNet-R)
                             (each ood split: 12 x 20 = 240 images)
  cue_conflict               shape of class i with the texture of class j != i,
                             plain background; every ordered pair twice (264 images);
                             meta "shape" = label = i, "texture" = j (model-vs-human)
  bg/mixed_same              foreground (val-like) on a background drawn from the
                             same class's background distribution (12 x 25 = 300)
  bg/mixed_rand              the same foregrounds on a background drawn from a
                             random class's distribution (Backgrounds Challenge)
  segmentation               1-3 small objects per image on a random background;
                             meta "seg" int64 [N,H,W]: 0 background, k+1 for class k;
                             label = class with the most visible pixels (240 images)
  multiview                  120 pairs of 64x64 views of ray-cast textured 3D scenes
                             (planes and boxes) with depth, intrinsics and relative
                             pose: 40 consistent, 40 "content" (part of view 2's
                             scene texture replaced; change = fraction of view-2
                             pixels changed, targets .05/.1/.2/.4) and 40 "pose"
                             (view 2 rendered from a pose that differs from the
                             reported T_21 by a rotation of 1/2/4/8 degrees plus
                             0.02 units of translation per degree; change = degrees;
                             meta "T_21_true" is the pose view 2 was rendered from)

Per-image metadata of every classification split: "mask" bool [N,H,W]
(foreground, coverage >= 0.5), "shape", "texture", "background" (class ints;
-1 where the split has no such attribute, e.g. edge maps have no texture),
"pose" float32 [N,4] = (cx, cy, scale in px, angle in degrees).

Generation time (CPU seconds, one thread; benchmarks/mini_suite_timing.py on
the shared 2-core dev machine): train 4.5, val 0.9, the five ood splits 2.0,
cue_conflict + bg + segmentation 2.5, multiview 3.5, all 75 corruption splits
25 (zoom_blur and glass_blur ~5.5 each; glass_blur's numba kernel is compiled
once per machine and cached) -- about 40 s for everything, paid once per seed:
later uses read the cache (tens of milliseconds per split).

Code: this module holds the suite object and its splits; quba/suites/mini_build.py what the
suite is made of and the builders of its splits, quba/suites/mini_corrupt.py the corruption
splits, quba/suites/mini_cache.py the split cache and the parallel generation,
quba/suites/mini_render.py the rendering primitives.
"""
from __future__ import annotations

import hashlib
import json
from typing import Callable

import numpy as np
import torch

from quba.errors import QubaError, closest
from quba.suites import mini_render as R
from quba.suites.base import DecisionMapping, Split, SplitInfo, Suite, run_preprocess
from quba.suites.mini_build import (BACKGROUND_MODES, CONTENT_LEVELS, CONTRAST, CORRUPTIONS,  # noqa: F401
                                    IMAGE_SIZE, MULTIVIEW_SIZE, OOD_NAMES, P_TYPICAL, POSE_LEVELS_DEG, SEVERITIES,
                                    SIZES, SPLITS, TEXTURE_MODES, VERSION, build, draw_labels, seed_of,
                                    split_names)
from quba.suites.mini_cache import MiniCache
from quba.suites.mini_corrupt import corrupt_one, corrupt_split, corruption_seed, corruption_subset  # noqa: F401


class _ImageDataset(torch.utils.data.Dataset):
    """(float image [3,H,W] in [0,1], index) over a uint8 tensor."""

    def __init__(self, images: torch.Tensor, preprocess: Callable | None = None):
        self.images = images
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.images[i].float().div_(255.0)
        if self.preprocess is not None:
            x = run_preprocess(self.preprocess, x, f"image {i}")
        return x, i


class MiniSplit(Split):
    """One split: `.images` uint8 [N,3,H,W], `.labels` int64 [N], `.meta` per-image arrays."""

    def __init__(self, name: str, images: np.ndarray, labels: np.ndarray, meta: dict[str, np.ndarray]):
        self.name = name
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = np.asarray(labels, dtype=np.int64)
        self.meta = meta
        self.decision = DecisionMapping()

    def dataset(self, preprocess: Callable | None = None):
        return _ImageDataset(self.images, preprocess)

    def __repr__(self) -> str:
        return f"MiniSplit({self.name!r}, n={len(self)})"


class MultiViewSplit(MiniSplit):
    """Pairs of views: `.view1`, `.view2` uint8 [P,3,H,W]; meta depth1/depth2/K/T_21/
    consistent/kind/change. `.images` is view 1 and `.labels` is `consistent` as int."""

    def __init__(self, name: str, view1: np.ndarray, view2: np.ndarray, meta: dict[str, np.ndarray]):
        super().__init__(name, view1, meta["consistent"].astype(np.int64), meta)
        self.view1 = self.images
        self.view2 = torch.from_numpy(np.ascontiguousarray(view2))

    def dataset(self, preprocess: Callable | None = None, view: int = 1):
        return _ImageDataset(self.view1 if view == 1 else self.view2, preprocess)


class MiniSuite(MiniCache, Suite):
    """QUBA-mini (see the module docstring for splits, sizes and timing)."""

    name = "mini"
    title = "QUBA-mini"
    version = VERSION
    image_size = IMAGE_SIZE
    multiview_size = MULTIVIEW_SIZE
    content_levels = tuple(CONTENT_LEVELS)  # target content changes of the multiview pairs
    class_names = list(R.SHAPE_NAMES)
    texture_names = list(R.TEXTURE_NAMES)
    background_names = list(R.BACKGROUND_NAMES)
    corruption_names = list(CORRUPTIONS)
    #: per-dimension option defaults this suite overrides (its 12 classes and 2 cores: 100 grids
    #: keep the pointing game to seconds; docs/metrics.md#interpretability-grid-pointing-game)
    option_defaults = {"interpretability": {"n_grids": 100}}
    hierarchy = {"levels": ["fine", "mid", "coarse"],
                 "parents": {k: list(v) for k, v in R.SHAPE_PARENTS.items()}}

    def __init__(self, seed: int = 0):
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise QubaError(f"QUBA-mini seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.num_classes = len(self.class_names)
        self._splits: dict[str, MiniSplit] = {}

    # -- identity ---------------------------------------------------------
    def fingerprint(self) -> str:
        spec = {"name": self.name, "version": self.version, "seed": self.seed, "sizes": SIZES,
                "image_size": IMAGE_SIZE, "multiview_size": MULTIVIEW_SIZE, "p_typical": P_TYPICAL,
                "contrast": CONTRAST}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    def split_names(self) -> list[str]:
        return split_names()

    def split_info(self, name: str) -> SplitInfo:
        return SPLITS.get(name) or super().split_info(name)

    def __repr__(self) -> str:
        return f"MiniSuite(seed={self.seed}, version={self.version!r})"

    # -- splits -----------------------------------------------------------
    def split(self, name: str) -> MiniSplit:
        if name in self._splits:
            return self._splits[name]
        names = self.split_names()
        if name not in names:
            raise QubaError(f"QUBA-mini has no split {name!r}{closest(name, names)}; "
                            f"see MiniSuite().split_names()")
        pending = self.__dict__.get("_pending") or {}
        if name in pending:  # being generated by prepare(background=True): wait for this one only
            fut = pending.pop(name)
            try:
                if not fut.cancelled():
                    fut.result()
            except Exception:  # noqa: BLE001 - a worker that failed or died: generate it here instead
                pass
            if not pending:
                self.finish()
        arrays = self._load_cached(name)
        if arrays is None:
            arrays = self._generate(name)
            self._save_cached(name, arrays)
        self._splits[name] = sp = self._wrap(name, arrays)
        return sp

    @staticmethod
    def _wrap(name: str, arrays: dict) -> MiniSplit:
        meta = {k[len("meta__"):]: v for k, v in arrays.items() if k.startswith("meta__")}
        if name == "multiview":
            return MultiViewSplit(name, arrays["view1"], arrays["view2"], meta)
        return MiniSplit(name, arrays["images"], arrays["labels"], meta)

    def _generate(self, name: str) -> dict:
        info = self.split_info(name)
        if info.family == "corruption":  # val's images, corrupted
            val = self.split("val")
            return corrupt_split(self.seed, val.images.numpy(), val.labels, val.meta, self.corruption_subset(),
                                 info.corruption, info.severity)
        return build(self.seed, name)

    # -- training-time generator -----------------------------------------
    def generate(self, n: int, seed: int, texture: str = "class", background: str = "class",
                 classes=None) -> MiniSplit:
        """Draw `n` fresh labelled images (for training recipes), deterministic in `seed`.

        texture:    "class"     class-typical texture with p=0.85 (as train), else uniform;
                    "tied"      always the class-typical texture (texture shortcut);
                    "random"    uniform over textures, independent of the class (shape-biased);
                    "scrambled" the class-typical texture on a shape of a *random* class,
                                then 8x8 tiles shuffled and rotated (texture-biased:
                                only texture identifies the label).
        background: "class" (p=0.85, as train), "tied" (always the class's background:
                    background shortcut) or "random" (uniform over the 13 backgrounds).
        classes:    optional labels to draw (array of n ints); default balanced and shuffled.
        Returns a MiniSplit named "generated" (not cached).
        """
        if texture not in TEXTURE_MODES:
            raise QubaError(f"unknown texture mode {texture!r}{closest(texture, TEXTURE_MODES)}; "
                            f"choose one of {', '.join(TEXTURE_MODES)}")
        if background not in BACKGROUND_MODES:
            raise QubaError(f"unknown background mode {background!r}{closest(background, BACKGROUND_MODES)}; "
                            f"choose one of {', '.join(BACKGROUND_MODES)}")
        rng = np.random.default_rng([self.seed, seed_of("generate", VERSION), int(seed)])
        if classes is None:
            labels = np.arange(n) % self.num_classes
            labels = labels[rng.permutation(n)]
        else:
            labels = np.asarray(classes, dtype=np.int64)
            if labels.shape != (n,) or labels.min(initial=0) < 0 or labels.max(initial=0) >= self.num_classes:
                raise QubaError(f"classes must be {n} ints in [0, {self.num_classes})")
        arrays = draw_labels(labels, rng, texture, background)
        return self._wrap("generated", arrays)

    def corruption_subset(self) -> np.ndarray:
        """Indices into val of the fixed stratified subset that corruption splits use:
        the first `corruption_per_class` val images of each class, in val order."""
        return corruption_subset(self.split("val").labels)
