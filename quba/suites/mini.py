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
"""
from __future__ import annotations

import hashlib
import json
import zlib
from typing import Callable

import numpy as np
import torch

from quba.errors import QubaError, closest
from quba.integrity import load_npz, save_npz
from quba.paths import cache_dir
from quba.suites import mini_render as R
from quba.suites.base import DecisionMapping, Split, SplitInfo, Suite, run_preprocess

VERSION = "2"
IMAGE_SIZE = 32
MULTIVIEW_SIZE = 64
# Classification images span the intensities [0.25, 0.75]: at full contrast the
# colour and shape cues are so far apart that eps = 8/255 (the QUBA attack budget)
# barely moves a standard model; at half contrast it is as damaging as on ImageNet.
CONTRAST = 0.5
P_TYPICAL = 0.85  # probability of the class-typical texture / background in train and val
SIZES = {
    "train_per_class": 250,
    "val_per_class": 50,
    "corruption_per_class": 20,
    "ood_per_class": 20,
    "cue_conflict_per_pair": 2,
    "bg_per_class": 25,
    "segmentation": 240,
    "multiview_per_level": 10,
}
CORRUPTIONS = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
]
SEVERITIES = [1, 2, 3, 4, 5]
OOD_NAMES = ["edge", "silhouette", "sketch", "stylized", "rendition"]
CONTENT_LEVELS = [0.05, 0.1, 0.2, 0.4]
POSE_LEVELS_DEG = [1.0, 2.0, 4.0, 8.0]
TEXTURE_MODES = ("class", "tied", "random", "scrambled")
BACKGROUND_MODES = ("class", "tied", "random")


def _split_infos() -> dict[str, SplitInfo]:
    infos = [SplitInfo("train", "train"), SplitInfo("val", "clean")]
    infos += [SplitInfo.corrupted(c, s) for c in CORRUPTIONS for s in SEVERITIES]
    infos += [SplitInfo.ood(o) for o in OOD_NAMES]
    infos += [SplitInfo("cue_conflict", "cue_conflict"), SplitInfo.background("mixed_same"),
              SplitInfo.background("mixed_rand"), SplitInfo("segmentation", "segmentation"),
              SplitInfo("multiview", "multiview")]
    return {i.name: i for i in infos}


#: Every split of QUBA-mini, in order, with what it is.
SPLITS: dict[str, SplitInfo] = _split_infos()


def _split_names() -> list[str]:
    return list(SPLITS)


def _seed_of(*parts) -> int:
    """A stable 32-bit seed from strings/ints (crc32 of their joined text)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0xFFFFFFFF


def _to_uint8_chw(imgs: np.ndarray, contrast: float | None = None) -> np.ndarray:
    """float [N,H,W,3] in [0,1] -> uint8 [N,3,H,W]. Classification images are compressed
    to the intensity range 0.5 +- CONTRAST/2 (see CONTRAST)."""
    c = CONTRAST if contrast is None else contrast
    imgs = 0.5 + (np.clip(imgs, 0, 1) - 0.5) * c
    return np.clip(np.round(imgs * 255.0), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2).copy()


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


class MiniSuite(Suite):
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
        return _split_names()

    def split_info(self, name: str) -> SplitInfo:
        return SPLITS.get(name) or super().split_info(name)

    @property
    def cache_path(self):
        fixed = self.__dict__.get("_cache_path")  # a worker of prepare() writes where its parent reads
        if fixed is not None:
            from pathlib import Path

            return Path(fixed)
        return cache_dir() / "suites" / f"mini-{self.version}-{self.seed}"

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

    def prepare(self, names, processes: int | None = None, background: bool = False) -> list[str]:
        """Generate the splits of `names` that are not cached yet, in parallel across cores.

        Each split is generated by the same code from its own seed (`_rng(name)`, and per image
        `corruption_seed` for the corruptions), so which process makes it, and in what order,
        changes nothing: the arrays are bit-identical to `split(name)` one after another (tested).
        `val` comes first when a corruption split needs it. processes: worker processes (default:
        $QUBA_SUITE_WORKERS, else the CPUs this process may use; 1 = in this process). background: return at once and let
        `split(name)` wait for its own split only (the engine runs the model on `val` meanwhile);
        `finish()` ends the workers. Returns the names being generated."""
        import os

        wanted = list(dict.fromkeys(n for n in names if n in set(self.split_names())))
        missing = [n for n in wanted if n not in self._splits and not self._file(n).exists()]
        if not missing:
            return []
        if "val" in missing or any(SPLITS[n].family == "corruption" for n in missing):
            if "val" not in self._splits and not self._file("val").exists():
                missing = ["val"] + [n for n in missing if n != "val"]
            self.split("val")  # the corruption splits corrupt val's images
        rest = [n for n in missing if n != "val"]
        if processes is None and os.environ.get("QUBA_SUITE_WORKERS", "").strip().isdigit():
            processes = int(os.environ["QUBA_SUITE_WORKERS"])  # a knob for measuring (0 or 1: serial)
        if processes is None:
            try:
                processes = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):
                processes = os.cpu_count() or 1
        processes = max(1, min(int(processes), len(rest)))
        ctx = _worker_context()
        if ctx is None:
            processes = 1  # spawn would re-import the caller's __main__ script: stay serial there
        if processes == 1:
            for n in rest:
                self.split(n)
            return missing
        import concurrent.futures as cf

        # the slowest first (glass and zoom blur), so the last worker does not finish alone
        rest = sorted(rest, key=lambda n: not any(k in n for k in _SLOW_SPLITS))  # stable
        jobs = [(self.seed, n, str(self.cache_path)) for n in rest]
        self.finish()
        pool = cf.ProcessPoolExecutor(processes, mp_context=ctx)
        pending = {job[1]: pool.submit(_generate_into_cache, job) for job in jobs}
        if background:
            self.__dict__["_pool"], self.__dict__["_pending"] = pool, pending
            return missing
        try:
            for fut in pending.values():
                try:
                    fut.result()
                except Exception:  # noqa: BLE001 - a failed or dead worker: split() generates it here
                    pass
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return missing

    def finish(self) -> None:
        """End background generation started by `prepare(..., background=True)` (waits for running
        splits, drops queued ones; a later `split()` generates those itself)."""
        pool = self.__dict__.pop("_pool", None)
        self.__dict__.pop("_pending", None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _file(self, name: str):
        return self.cache_path / (name.replace("/", "__") + ".npz")

    def _load_cached(self, name: str) -> dict | None:
        # checksummed (quba.integrity): a damaged file is reported in one line and regenerated
        return load_npz(self._file(name), what="suite-cache file")

    def _save_cached(self, name: str, arrays: dict) -> None:
        save_npz(self._file(name), arrays, what="suite-cache file", compressed=True)

    @staticmethod
    def _wrap(name: str, arrays: dict) -> MiniSplit:
        meta = {k[len("meta__"):]: v for k, v in arrays.items() if k.startswith("meta__")}
        if name == "multiview":
            return MultiViewSplit(name, arrays["view1"], arrays["view2"], meta)
        return MiniSplit(name, arrays["images"], arrays["labels"], meta)

    def _rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, _seed_of("mini", VERSION, name)])

    def _generate(self, name: str) -> dict:
        if name == "train":
            return self._draw(SIZES["train_per_class"], self._rng(name), "class", "class")
        if name == "val":
            return self._draw(SIZES["val_per_class"], self._rng(name), "class", "class")
        info = SPLITS[name]
        if info.family == "corruption":
            return self._corruption(info.corruption, info.severity)
        if info.family == "ood":
            return self._ood(info.variant)
        if name == "cue_conflict":
            return self._cue_conflict()
        if info.family == "background":
            return self._backgrounds(info.variant)
        if name == "segmentation":
            return self._segmentation()
        if name == "multiview":
            return self._multiview()
        raise AssertionError(name)  # pragma: no cover

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
        rng = np.random.default_rng([self.seed, _seed_of("generate", VERSION), int(seed)])
        if classes is None:
            labels = np.arange(n) % self.num_classes
            labels = labels[rng.permutation(n)]
        else:
            labels = np.asarray(classes, dtype=np.int64)
            if labels.shape != (n,) or labels.min(initial=0) < 0 or labels.max(initial=0) >= self.num_classes:
                raise QubaError(f"classes must be {n} ints in [0, {self.num_classes})")
        arrays = self._draw_labels(labels, rng, texture, background)
        return self._wrap("generated", arrays)

    # -- generators -------------------------------------------------------
    def _pick(self, rng, label: int, mode: str, n_choices: int) -> int:
        if mode == "tied":
            return label
        if mode == "random":
            return int(rng.integers(n_choices))
        return label if rng.random() < P_TYPICAL else int(rng.integers(n_choices))

    def _draw(self, per_class: int, rng, texture: str, background: str) -> dict:
        n = per_class * self.num_classes
        labels = (np.arange(n) % self.num_classes)[rng.permutation(n)]
        return self._draw_labels(labels, rng, texture, background)

    def _draw_labels(self, labels: np.ndarray, rng, texture: str, background: str) -> dict:
        S = IMAGE_SIZE
        n = len(labels)
        imgs = np.empty((n, S, S, 3), np.float32)
        masks = np.empty((n, S, S), bool)
        tex = np.empty(n, np.int64)
        bgs = np.empty(n, np.int64)
        shapes = np.empty(n, np.int64)
        poses = np.empty((n, 4), np.float32)
        for i, y in enumerate(labels):
            y = int(y)
            shape = y
            if texture == "scrambled":
                t = y
                shape = int(rng.integers(self.num_classes))
            else:
                t = self._pick(rng, y, texture, len(self.texture_names))
            b = self._pick(rng, y, background, len(self.background_names))
            pose = R.random_pose(rng, S)
            alpha = R.shape_alpha(self.class_names[shape], S, *pose)
            img = R.composite(R.texture_image(t, S, rng), R.background_image(b, S, rng), alpha)
            if texture == "scrambled":  # shuffle image and mask with the same tiles
                both = R.scramble_tiles(np.concatenate([img, alpha[..., None]], axis=2), rng)
                img, alpha = both[..., :3], both[..., 3]
            imgs[i] = img + rng.normal(0, 0.015, size=img.shape)
            masks[i] = alpha >= 0.5
            tex[i], bgs[i], shapes[i], poses[i] = t, b, shape, pose
        return {"images": _to_uint8_chw(imgs), "labels": np.asarray(labels, np.int64),
                "meta__mask": masks, "meta__shape": shapes, "meta__texture": tex,
                "meta__background": bgs, "meta__pose": poses}

    def corruption_subset(self) -> np.ndarray:
        """Indices into val of the fixed stratified subset that corruption splits use:
        the first `corruption_per_class` val images of each class, in val order."""
        labels = self.split("val").labels
        k = SIZES["corruption_per_class"]
        return np.sort(np.concatenate([np.flatnonzero(labels == c)[:k] for c in range(self.num_classes)]))

    def _corruption(self, cname: str, severity: int) -> dict:
        from imagecorruptions import corrupt

        val = self.split("val")
        idx = self.corruption_subset()
        src = val.images.numpy()[idx].transpose(0, 2, 3, 1)
        out = np.empty_like(src)
        state = np.random.get_state()
        try:
            with _frost_file_cache():
                for k, i in enumerate(idx):
                    s = corruption_seed(self.seed, cname, severity, int(i))
                    out[k] = corrupt_one(src[k], cname, severity, s, corrupt)
        finally:
            np.random.set_state(state)
        arrays = {"images": out.transpose(0, 3, 1, 2).copy(), "labels": val.labels[idx].copy(),
                  "meta__val_index": idx.astype(np.int64)}
        for k, v in val.meta.items():
            arrays["meta__" + k] = v[idx].copy()
        return arrays

    def _ood(self, kind: str) -> dict:
        S = IMAGE_SIZE
        rng = self._rng("ood/" + kind)
        n = SIZES["ood_per_class"] * self.num_classes
        labels = (np.arange(n) % self.num_classes)[rng.permutation(n)]
        imgs = np.empty((n, S, S, 3), np.float32)
        masks = np.empty((n, S, S), bool)
        tex = np.full(n, -1, np.int64)
        bg_tex = np.full(n, -1, np.int64)
        poses = np.empty((n, 4), np.float32)
        for i, y in enumerate(labels):
            name = self.class_names[y]
            pose = R.random_pose(rng, S)
            alpha = R.shape_alpha(name, S, *pose)
            if kind == "edge":
                img = R.to_gray3(1.0 - R.edges_from_alpha(alpha))
            elif kind == "silhouette":
                img = R.to_gray3(1.0 - alpha)
            elif kind == "sketch":
                paper = rng.uniform(0.9, 0.98) + rng.normal(0, 0.015, size=(S, S))
                ink = np.zeros((S, S), np.float32)
                for _ in range(2):
                    jitter = pose + np.array([*rng.normal(0, 0.4, 2), 0.0, rng.normal(0, 3)], np.float32)
                    a = R.shape_alpha(name, S, *jitter, warp=R.smooth_warp(rng, 0.06))
                    ink = np.maximum(ink, R.edges_from_alpha(a) * rng.uniform(0.5, 0.8))
                img = R.to_gray3(np.clip(paper - ink, 0, 1))
            elif kind == "stylized":
                j = int(rng.choice([c for c in range(self.num_classes) if c != y]))
                k = int(rng.choice([c for c in range(self.num_classes) if c not in (y, j)]))
                fg = R.texture_image(j, S, rng)
                bg = 0.45 * R.texture_image(k, S, rng) + 0.25
                img = R.composite(fg, bg, alpha)
                tex[i], bg_tex[i] = j, k
            elif kind == "rendition":
                paper = R.hsv(rng.uniform(0, 360), 0.15, 0.95) * np.ones((S, S, 3), np.float32)
                shadow = np.roll(alpha, (1, 1), axis=(0, 1))
                paper = R.composite(np.full((S, S, 3), 0.6, np.float32), paper, 0.6 * shadow)
                outer = R.shape_alpha(name, S, pose[0], pose[1], pose[2] * 1.15, pose[3])
                fill = R.hsv(rng.uniform(0, 360), 0.65, 0.85) * np.ones((S, S, 3), np.float32)
                img = R.composite(np.zeros((S, S, 3), np.float32), paper, outer)
                img = R.composite(fill, img, alpha)
            else:  # pragma: no cover
                raise AssertionError(kind)
            imgs[i] = img
            masks[i] = alpha >= 0.5
            poses[i] = pose
        return {"images": _to_uint8_chw(imgs), "labels": labels.astype(np.int64), "meta__mask": masks,
                "meta__shape": labels.astype(np.int64), "meta__texture": tex,
                "meta__background": np.full(n, -1, np.int64), "meta__background_texture": bg_tex,
                "meta__pose": poses}

    def _cue_conflict(self) -> dict:
        S = IMAGE_SIZE
        rng = self._rng("cue_conflict")
        C = self.num_classes
        pairs = [(i, j) for i in range(C) for j in range(C) if i != j] * SIZES["cue_conflict_per_pair"]
        pairs = np.array(pairs)[rng.permutation(len(pairs))]
        n = len(pairs)
        imgs = np.empty((n, S, S, 3), np.float32)
        masks = np.empty((n, S, S), bool)
        poses = np.empty((n, 4), np.float32)
        for k, (i, j) in enumerate(pairs):
            pose = R.random_pose(rng, S)
            alpha = R.shape_alpha(self.class_names[i], S, *pose)
            img = R.composite(R.texture_image(int(j), S, rng),
                              R.background_image(R.PLAIN_BACKGROUND, S, rng), alpha)
            imgs[k] = img + rng.normal(0, 0.015, size=img.shape)
            masks[k] = alpha >= 0.5
            poses[k] = pose
        return {"images": _to_uint8_chw(imgs), "labels": pairs[:, 0].astype(np.int64), "meta__mask": masks,
                "meta__shape": pairs[:, 0].astype(np.int64), "meta__texture": pairs[:, 1].astype(np.int64),
                "meta__background": np.full(n, R.PLAIN_BACKGROUND, np.int64), "meta__pose": poses}

    def _backgrounds(self, kind: str) -> dict:
        """Same foregrounds (val-like texture) for both variants; backgrounds drawn from the
        class's own background distribution (mixed_same) or a random class's (mixed_rand)."""
        S = IMAGE_SIZE
        C = self.num_classes
        fg_rng = self._rng("bg/foreground")
        n = SIZES["bg_per_class"] * C
        labels = (np.arange(n) % C)[fg_rng.permutation(n)]
        fgs, alphas, tex, poses = [], [], np.empty(n, np.int64), np.empty((n, 4), np.float32)
        for i, y in enumerate(labels):
            tex[i] = self._pick(fg_rng, int(y), "class", len(self.texture_names))
            poses[i] = R.random_pose(fg_rng, S)
            alphas.append(R.shape_alpha(self.class_names[y], S, *poses[i]))
            fgs.append(R.texture_image(int(tex[i]), S, fg_rng))
        rng = self._rng("bg/" + kind)
        imgs = np.empty((n, S, S, 3), np.float32)
        bgs = np.empty(n, np.int64)
        src = np.empty(n, np.int64)
        for i, y in enumerate(labels):
            src[i] = y if kind == "mixed_same" else int(rng.integers(C))
            bgs[i] = self._pick(rng, int(src[i]), "class", len(self.background_names))
            img = R.composite(fgs[i], R.background_image(int(bgs[i]), S, rng), alphas[i])
            imgs[i] = img + rng.normal(0, 0.015, size=img.shape)
        return {"images": _to_uint8_chw(imgs), "labels": labels.astype(np.int64),
                "meta__mask": np.stack(alphas) >= 0.5, "meta__shape": labels.astype(np.int64),
                "meta__texture": tex, "meta__background": bgs, "meta__background_class": src,
                "meta__pose": poses}

    def _segmentation(self) -> dict:
        S = IMAGE_SIZE
        C = self.num_classes
        rng = self._rng("segmentation")
        n = SIZES["segmentation"]
        imgs = np.empty((n, S, S, 3), np.float32)
        segs = np.zeros((n, S, S), np.int64)
        labels = np.empty(n, np.int64)
        tex, bgs, nobj = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
        poses = np.empty((n, 4), np.float32)
        for i in range(n):
            bgs[i] = int(rng.integers(len(self.background_names)))
            img = R.background_image(int(bgs[i]), S, rng)
            k = int(rng.integers(1, 4))
            objs = []
            for _ in range(k):
                y = int(rng.integers(C))
                t = self._pick(rng, y, "class", len(self.texture_names))
                pose = R.random_pose(rng, S, small=True)
                alpha = R.shape_alpha(self.class_names[y], S, *pose)
                img = R.composite(R.texture_image(t, S, rng), img, alpha)
                segs[i][alpha >= 0.5] = y + 1
                objs.append((y, t, pose))
            counts = [(segs[i] == y + 1).sum() for y, _, _ in objs]
            best = int(np.argmax(counts))
            labels[i], tex[i], poses[i] = objs[best][0], objs[best][1], objs[best][2]
            nobj[i] = k
            imgs[i] = img + rng.normal(0, 0.015, size=img.shape)
        return {"images": _to_uint8_chw(imgs), "labels": labels, "meta__mask": segs > 0, "meta__seg": segs,
                "meta__shape": labels.copy(), "meta__texture": tex, "meta__background": bgs,
                "meta__n_objects": nobj, "meta__pose": poses}

    def _multiview(self) -> dict:
        S = MULTIVIEW_SIZE
        rng = self._rng("multiview")
        per = SIZES["multiview_per_level"]
        plan = [("consistent", 0.0)] * (per * len(CONTENT_LEVELS))
        plan += [("content", m) for m in CONTENT_LEVELS for _ in range(per)]
        plan += [("pose", m) for m in POSE_LEVELS_DEG for _ in range(per)]
        P = len(plan)
        K = R.intrinsics(S)
        v1 = np.empty((P, S, S, 3), np.float32)
        v2 = np.empty((P, S, S, 3), np.float32)
        d1 = np.empty((P, S, S), np.float32)
        d2 = np.empty((P, S, S), np.float32)
        T = np.empty((P, 4, 4), np.float32)
        T_true = np.empty((P, 4, 4), np.float32)
        change = np.empty(P, np.float32)
        for p, (kind, mag) in enumerate(plan):
            scene = R.random_scene(rng)
            Rm = R.rotation(rng.normal(size=3), rng.uniform(2.0, 8.0))
            t = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.15, 0.15), rng.uniform(-0.3, 0.3)])
            v1[p], d1[p], _ = R.render_view(scene, K, np.eye(3), np.zeros(3), S)
            R_true, t_true, alt = Rm, t, None
            if kind == "pose":
                dR = R.rotation(rng.normal(size=3), mag)
                dt = rng.normal(size=3)
                dt = dt / np.linalg.norm(dt) * 0.02 * mag
                R_true, t_true = dR @ Rm, dR @ t + dt
            if kind == "content":
                _, _, pts2 = R.render_view(scene, K, Rm, t, S, ss=1)
                pts2 = pts2.reshape(-1, 3)
                centre = pts2[int(rng.integers(len(pts2)))]
                dist = np.linalg.norm(pts2 - centre, axis=1)
                radius = float(np.quantile(dist, mag))
                alt = {"center": centre, "radius": radius, "surface": R._surface_params(rng)}
            v2[p], d2[p], pts = R.render_view(scene, K, R_true, t_true, S, alt=alt)
            if kind == "content":
                inside = np.linalg.norm(pts.reshape(-1, 3) - alt["center"], axis=1) <= alt["radius"]
                change[p] = inside.mean()
            else:
                change[p] = mag
            T[p] = np.eye(4)
            T[p, :3, :3], T[p, :3, 3] = Rm, t
            T_true[p] = np.eye(4)
            T_true[p, :3, :3], T_true[p, :3, 3] = R_true, t_true
        kinds = np.array([k for k, _ in plan])
        return {"view1": _to_uint8_chw(v1, 1.0), "view2": _to_uint8_chw(v2, 1.0), "meta__depth1": d1,
                "meta__depth2": d2, "meta__K": np.repeat(K[None].astype(np.float32), P, axis=0),
                "meta__T_21": T, "meta__T_21_true": T_true, "meta__consistent": kinds == "consistent", "meta__kind": kinds,
                "meta__change": change}


#: splits that take longest to generate (scheduled first by `MiniSuite.prepare`)
_SLOW_SPLITS = ("glass_blur", "zoom_blur", "multiview", "train")


def _worker_context():
    """The multiprocessing context of `MiniSuite.prepare`'s workers, or None (stay serial).

    Not plain fork: a child forked after OpenCV's (or torch's) thread pool ran in the parent
    inherits the pool's locks in whatever state they were, and hangs in `cv2.setNumThreads` /
    `pthread_cond_destroy` (issue 23.1). A forkserver forks the workers from a clean server
    process that only imported this module, so no thread pool ever ran there; the preload list
    leaves out `__main__`, so the caller's script is not re-imported (spawn would)."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return None
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def _generate_into_cache(job) -> str:
    """Worker of `MiniSuite.prepare`: generate one split into the suite's cache folder."""
    try:
        import cv2

        cv2.setNumThreads(1)  # one process per core already
    except Exception:  # noqa: BLE001 - OpenCV missing or without threading control
        pass
    from quba.integrity import silence_cache_write_failures

    silence_cache_write_failures()  # a full cache: the parent regenerates what is missing and warns once
    seed, name, folder = job
    suite = MiniSuite(seed)
    suite.__dict__["_cache_path"] = folder
    if suite._load_cached(name) is None:
        suite._save_cached(name, suite._generate(name))
    return name


def corruption_seed(seed: int, name: str, severity: int, index: int) -> int:
    """The numpy seed of one corruption call: crc32 of (suite seed, corruption, severity, val index)."""
    return _seed_of("mini-corruption", seed, name, severity, index)


def corrupt_one(image_hwc: np.ndarray, name: str, severity: int, seed: int, corrupt=None) -> np.ndarray:
    """Apply one ImageNet-C corruption with `imagecorruptions.corrupt`, deterministically.

    Seeds numpy's global RNG with `seed` (and passes `seed` to the functions
    that take their own: glass_blur, impulse_noise) -- the caller restores the
    global state if it cares.
    """
    if corrupt is None:
        from imagecorruptions import corrupt
    np.random.seed(seed)
    kw = {"seed": seed} if name in ("glass_blur", "impulse_noise") else {}
    return corrupt(image_hwc, severity=severity, corruption_name=name, **kw)


class _CachedFrostCv2:
    """Stands in for `cv2` inside `imagecorruptions.corruptions` while a corruption split
    is generated: `imread` (the frost photos, re-read from disk on every `frost` call)
    and `resize` of those photos are memoised; everything else is cv2 itself.
    Outputs are identical to the plain package call (tested); only the disk reads go."""

    def __init__(self, cv2):
        self._cv2 = cv2
        self._read: dict = {}
        self._resized: dict = {}

    def __getattr__(self, name):
        return getattr(self._cv2, name)

    def imread(self, path, *args):
        key = (str(path), args)
        if key not in self._read:
            img = self._cv2.imread(path, *args)
            img.setflags(write=False)
            self._read[key] = img
        return self._read[key]

    def resize(self, src, dsize=None, *args, **kwargs):
        if not any(src is v for v in self._read.values()):
            return self._cv2.resize(src, dsize, *args, **kwargs)
        key = (id(src), tuple(dsize), args, tuple(sorted(kwargs.items())))
        if key not in self._resized:
            out = self._cv2.resize(src, dsize, *args, **kwargs)
            out.setflags(write=False)
            self._resized[key] = out
        return self._resized[key]


_FROST_PROXY = None


class _frost_file_cache:
    def __enter__(self):
        global _FROST_PROXY
        from imagecorruptions import corruptions as C

        self._module = C
        self._orig = C.cv2
        if _FROST_PROXY is None or _FROST_PROXY._cv2 is not self._orig:
            _FROST_PROXY = _CachedFrostCv2(self._orig)
        C.cv2 = _FROST_PROXY
        _enable_glass_blur_cache(C)
        return self

    def __exit__(self, *exc):
        self._module.cv2 = self._orig
        return False


def _enable_glass_blur_cache(module) -> None:
    """glass_blur's numba kernel takes seconds to compile in every new process; ask
    numba to cache the compiled code on disk (same code, compiled once per machine)."""
    fn = getattr(module, "_shuffle_pixels_njit_glass_blur", None)
    if fn is None or getattr(fn, "_quba_cache_enabled", False):
        return
    try:
        fn.enable_caching()
        fn._quba_cache_enabled = True
    except Exception:  # read-only install or a numba without caching: compile in memory
        pass
