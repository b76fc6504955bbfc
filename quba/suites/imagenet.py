"""The ImageNet suite: the ImageNet-family datasets as folders under one data root.

Layout under ``--data-root DIR`` (docs/imagenet-layout.md#layout)::

    DIR/val/<wnid>/*                                   ImageNet-1k val          -> split "val"
    DIR/imagenet-c/<corruption>/<severity>/<wnid>/*    ImageNet-C               -> "corruption/<corruption>/<severity>"
    DIR/imagenet-r/<wnid>/*                            ImageNet-R (200 WNIDs)   -> "ood/rendition"
    DIR/edge|silhouette|sketch|stylized/<category>/*   model-vs-human (16 cat.) -> "ood/edge", ...
    DIR/cue-conflict/<shape category>/*-<texture><n>.png                        -> "cue_conflict"
    DIR/bg_challenge/mixed_same|mixed_rand/val/<NN_class>/*  Backgrounds Challenge -> "bg/mixed_same", ...

Labels (docs/metrics.md#decision-mappings): val, ImageNet-C — the position of the WNID in
the canonical sorted list of the 1000 ImageNet-1k WNIDs (never the position
among the folders present); ImageNet-R — 0..199, the position among the 200
IN-R WNIDs, decided by argmax over those 200 classes; model-vs-human splits —
0..15 in the 16-category space (alphabetical), decided by the 16-class
mapping (mean softmax over each category's ImageNet classes); cue-conflict —
the shape category (folder), with the texture category read from the file
name in ``meta["texture"]``; Backgrounds Challenge — the ImageNet-9 class
from the folder's number prefix (``00_dog`` -> 0), decided by mapping the
ImageNet argmax to ImageNet-9 (-1, no class, counts as wrong).

Images are opened with PIL and converted to RGB; the model's `preprocess`
(PIL -> float CHW tensor in [0, 1]) is applied, or plain ToTensor when it has
none. An unreadable file yields ``(None, index)``; the engine skips and counts
it (``--strict`` fails instead).

ImageNet-C can instead be generated on the fly from ``val`` with the
`imagecorruptions` functions (``ImageNetSuite(root, corruptions="generate")``,
docs/metrics.md#corruption-robustness): each val image is resized to 256, centre-cropped to
224 (as ImageNet-C was made), corrupted with a per-image seed, and handed to
the model's preprocess. Slow for the full val set; meant for ``--subset``.
"""
from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from quba.errors import QubaError, closest
from quba.metrics.decisions import (canonical_wnids, imagenet_index_to_in9, imagenet_r_probs, imagenet_r_wnids,
                                    in9_class_names, sixteen_class_names, sixteen_class_probs, wnid_to_index)
from quba.metrics.robustness import IMAGENET_C_CORRUPTIONS, SEVERITIES
from quba.metrics.shape import texture_class_from_filename
from quba.suites.base import DecisionMapping, Split, SplitInfo, Suite, quba_split_infos, run_preprocess

VERSION = "1"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
OOD_MVH = ("edge", "silhouette", "sketch", "stylized")
BG_SPLITS = ("mixed_same", "mixed_rand")
CORRUPTION_MODES = ("folders", "generate")
#: The Backgrounds Challenge class folders (label = the number prefix; the release spells them so).
BG_CLASS_FOLDERS = ("00_dog", "01_bird", "02_wheeled vehicle", "03_reptile", "04_carnivore", "05_insect",
                    "06_musical instrument", "07_primate", "08_fish")

#: Where each dataset comes from (used in missing-folder errors and docs/imagenet-layout.md).
SOURCES = {
    "val": "ImageNet-1k validation set (ILSVRC2012_img_val.tar from https://image-net.org), "
           "sorted into one folder per WNID",
    "imagenet-c": "ImageNet-C (Hendrycks & Dietterich 2019) from https://zenodo.org/record/2235448",
    "imagenet-r": "ImageNet-R (Hendrycks et al. 2021), imagenet-r.tar from https://github.com/hendrycks/imagenet-r",
    "mvh": "model-vs-human (Geirhos et al. 2021), the release archives of https://github.com/bethgelab/model-vs-human",
    "bg": "the Backgrounds Challenge (Xiao et al. 2021), backgrounds_challenge_data.tar.gz from "
          "https://github.com/MadryLab/backgrounds_challenge",
}


#: Every split the ImageNet suite can serve (the QUBA naming), with what it is.
SPLITS: dict[str, SplitInfo] = quba_split_infos(IMAGENET_C_CORRUPTIONS, SEVERITIES, (*OOD_MVH, "rendition"), BG_SPLITS)


def _family(split: str) -> str:
    info = SPLITS.get(split)
    return info.family if info is not None else ""


def _dimension_of(split: str) -> str | None:
    """The dimension a split serves; None for val, which every dimension relative to clean accuracy reads."""
    return {"corruption": "corruption_robustness", "ood": "ood_robustness", "cue_conflict": "shape_bias",
            "background": "object_focus"}.get(_family(split))


def expected_split_names() -> list[str]:
    """Every split the ImageNet suite can serve, in the QUBA-mini naming."""
    return list(SPLITS)


def class_labels(split: str, present=()) -> dict[str, int]:
    """The class folder names split `split` accepts, with their labels (docs/imagenet-layout.md);
    for the Backgrounds Challenge also every `NN_name` spelling among `present` (folder names)."""
    family = _family(split)
    if family in ("clean", "corruption"):
        return wnid_to_index()
    if split == "ood/rendition":
        return {w: i for i, w in enumerate(imagenet_r_wnids())}
    if family in ("ood", "cue_conflict"):
        return {c: i for i, c in enumerate(sixteen_class_names())}
    if family == "background":
        known = {d: i for i, d in enumerate(BG_CLASS_FOLDERS)}
        n9 = len(in9_class_names())
        for d in present:  # accept any "NN_name" spelling of the nine classes
            head = d.split("_", 1)[0]
            if "_" in d and head.isdigit() and int(head) < n9:
                known[d] = int(head)
        return known
    raise QubaError(f"the imagenet suite has no split {split!r}{closest(split, expected_split_names())}")


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _subdirs(folder: Path) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))


def _images_in(folder: Path) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if _is_image(e.name) and e.is_file())


class _FolderDataset:
    """A torch-style Dataset: (image float [3,H,W] in [0,1] or None if unreadable, index)."""

    def __init__(self, paths: list[str], preprocess: Callable | None, corruption: tuple | None = None,
                 seed: int = 0):
        self.paths = paths
        self.preprocess = preprocess
        self.corruption = corruption  # (name, severity) to generate ImageNet-C on the fly
        self.seed = seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from PIL import Image

        try:
            with Image.open(self.paths[i]) as im:
                img = im.convert("RGB")
                img.load()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            return None, i
        if self.corruption is not None:
            img = self._corrupt(img, i)
        if self.preprocess is not None:
            return run_preprocess(self.preprocess, img, f"image {self.paths[i]}"), i
        from torchvision.transforms.functional import to_tensor

        return to_tensor(img), i

    def _corrupt(self, img, i: int):
        name, severity = self.corruption
        return imagenet_c_corrupt(imagenet_c_base(img), name, severity, imagenet_c_seed(self.seed, name, severity, i))


def imagenet_c_base(img):
    """ImageNet-C's geometry (Hendrycks & Dietterich 2019): shorter side resized to 256, centre crop 224."""
    from torchvision.transforms import CenterCrop, Resize

    return CenterCrop(224)(Resize(256)(img))


def imagenet_c_seed(suite_seed: int, name: str, severity: int, index: int) -> int:
    """The seed of generated corruption `name`/`severity` of val image number `index` (its position
    in the val split): the same in the suite's generate mode and in `quba data generate imagenet-c`."""
    return zlib.crc32(f"imagenet-c:{suite_seed}:{name}:{severity}:{index}".encode()) & 0xFFFFFFFF


def imagenet_c_corrupt(base, name: str, severity: int, seed: int):
    """`base` (PIL, from `imagenet_c_base`) corrupted by the `imagecorruptions` function, as a PIL image;
    numpy's global random state is left as it was."""
    from PIL import Image

    from quba.suites.mini import corrupt_one

    state = np.random.get_state()
    try:
        out = corrupt_one(np.asarray(base), name, int(severity), seed)
    finally:
        np.random.set_state(state)
    return Image.fromarray(np.clip(np.asarray(out), 0, 255).round().astype(np.uint8))


class ImageNetSplit(Split):
    """One split read from folders: `.labels` int64 [N], `.meta` per-image arrays, `.paths` (absolute).
    `.corruption`: (name, severity) when its images are corrupted on the fly from val's."""

    def __init__(self, name: str, folder: Path, paths: list[str], labels: np.ndarray, meta: dict,
                 decision: DecisionMapping, label_names: list[str], corruption: tuple | None = None,
                 seed: int = 0):
        self.name = name
        self.folder = folder
        self.paths = paths
        self.labels = np.asarray(labels, dtype=np.int64)
        self.meta = meta
        self.decision = decision
        self.label_names = label_names
        self.corruption = corruption
        self.seed = seed

    def dataset(self, preprocess: Callable | None = None):
        return _FolderDataset(self.paths, preprocess, self.corruption, self.seed)

    def __repr__(self) -> str:
        return f"ImageNetSplit({self.name!r}, n={len(self)}, folder={str(self.folder)!r})"


class ImageNetSuite(Suite):
    """The ImageNet-family datasets on disk (see the module docstring for the layout)."""

    name = "imagenet"
    title = "ImageNet"
    version = VERSION
    reads_data_root = True

    def __init__(self, data_root, corruptions: str = "folders", seed: int = 0):
        if data_root is None:
            raise QubaError("the imagenet suite reads datasets from folders: pass --data-root DIR "
                            "(layout: docs/imagenet-layout.md#layout)")
        root = Path(data_root).expanduser()
        if not root.is_dir():
            raise QubaError(f"--data-root {str(root)!r} is not a folder; point it at the folder holding val/, "
                            "imagenet-c/, imagenet-r/, ... (layout: docs/imagenet-layout.md#layout)")
        if corruptions not in CORRUPTION_MODES:
            raise QubaError(f"corruptions must be one of {', '.join(CORRUPTION_MODES)}, got {corruptions!r}")
        self.root = root.resolve()
        self.corruptions = corruptions
        self.seed = int(seed)
        self.class_names = canonical_wnids()
        self._splits: dict[str, ImageNetSplit] = {}
        self._fingerprint: str | None = None

    def __repr__(self) -> str:
        return f"ImageNetSuite({str(self.root)!r}, corruptions={self.corruptions!r})"

    # -- where things are ---------------------------------------------------
    def folder(self, split: str) -> Path:
        """The folder a split is read from (whether or not it exists)."""
        r = self.root
        info = SPLITS.get(split) or SplitInfo(split)
        if split == "val":
            return r / "val"
        if info.family == "corruption":
            return r / "imagenet-c" / info.corruption / str(info.severity)
        if split == "ood/rendition":
            return r / "imagenet-r"
        if info.family == "ood":
            return r / info.variant
        if split == "cue_conflict":
            return r / "cue-conflict"
        if info.family == "background":
            return r / "bg_challenge" / info.variant / "val"
        raise QubaError(f"the imagenet suite has no split {split!r}{closest(split, expected_split_names())}")

    def source(self, split: str) -> str:
        family = _family(split)
        if family == "corruption":
            return SOURCES["imagenet-c"]
        if split == "ood/rendition":
            return SOURCES["imagenet-r"]
        if family in ("ood", "cue_conflict"):
            return SOURCES["mvh"]
        if family == "background":
            return SOURCES["bg"]
        return SOURCES["val"]

    def split_info(self, name: str) -> SplitInfo:
        return SPLITS.get(name) or super().split_info(name)

    def _generated(self, split: str) -> bool:
        return self.corruptions == "generate" and _family(split) == "corruption"

    def _present(self, split: str) -> bool:
        if self._generated(split):
            return (self.root / "val").is_dir()
        return self.folder(split).is_dir()

    def split_names(self) -> list[str]:
        """The splits whose folders are present (corruption splits: all 75 when generated from val)."""
        return [s for s in expected_split_names() if self._present(s)]

    def missing_message(self, split: str, dimension: str | None = None) -> str:
        dim = dimension or _dimension_of(split)
        need = "val" if self._generated(split) else split
        path = self.folder(need)
        hint = ""
        if _family(split) == "corruption" and not self._generated(split):
            hint = "; or generate them from val with ImageNetSuite(root, corruptions='generate')"
        what = f"dimension {dim} needs split {split!r}" if dim else f"split {split!r} (clean val images)"
        return (f"{what}: folder {path} is missing; it comes from "
                f"{self.source(need)}{hint} (layout: docs/imagenet-layout.md#layout)")

    def require(self, splits, dimension: str | None = None) -> None:
        """QubaError (one line: dimension, expected path, dataset source) if any split is missing."""
        if isinstance(splits, str):
            splits = [splits]
        for s in splits:
            if s not in expected_split_names():
                raise QubaError(f"the imagenet suite has no split {s!r}{closest(s, expected_split_names())}")
        missing = [s for s in splits if not self._present(s)]
        if missing:
            more = f" (and {len(missing) - 1} more missing split(s))" if len(missing) > 1 else ""
            raise QubaError(self.missing_message(missing[0], dimension) + more)

    # -- identity -------------------------------------------------------------
    def fingerprint(self) -> str:
        """Hash of the data root, the corruption mode and a cheap listing.

        The listing covers every present split folder: its class folders'
        names and modification times (a folder's mtime changes when files are
        added, removed or renamed in it), not every file. Computed once per
        suite object.
        """
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(json.dumps({"name": self.name, "version": self.version, "root": str(self.root),
                                 "corruptions": self.corruptions, "seed": self.seed}).encode())
            for s in expected_split_names():
                if self._generated(s) or not self._present(s):
                    continue
                folder = self.folder(s)
                h.update(s.encode())
                with os.scandir(folder) as it:
                    for e in sorted(it, key=lambda e: e.name):
                        if e.name.startswith("."):
                            continue
                        h.update(f"{e.name}:{e.stat().st_mtime_ns}:{e.is_dir()}".encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    # -- splits -----------------------------------------------------------------
    def split(self, name: str) -> ImageNetSplit:
        if name in self._splits:
            return self._splits[name]
        if name not in expected_split_names():
            raise QubaError(f"the imagenet suite has no split {name!r}{closest(name, expected_split_names())}; "
                            f"splits: val, corruption/<name>/<1-5>, ood/<edge|silhouette|sketch|stylized|rendition>, "
                            f"cue_conflict, bg/<mixed_same|mixed_rand>")
        self.require(name)
        info = SPLITS[name]
        if self._generated(name):
            val = self.split("val")
            sp = ImageNetSplit(name, val.folder, val.paths, val.labels, dict(val.meta), val.decision,
                               val.label_names, corruption=(info.corruption, info.severity), seed=self.seed)
        elif info.family in ("clean", "corruption"):
            sp = self._wnid_split(name, canonical_wnids(), wnid_to_index(), DecisionMapping(name="imagenet-1k"))
        elif name == "ood/rendition":
            r = imagenet_r_wnids()
            sp = self._wnid_split(name, r, {w: i for i, w in enumerate(r)},
                                  DecisionMapping(name="imagenet-r-200", probs=imagenet_r_probs))
        elif info.family in ("ood", "cue_conflict"):
            sp = self._sixteen_split(name)
        else:
            sp = self._bg_split(name)
        if len(sp) == 0:
            raise QubaError(f"split {name!r}: folder {sp.folder} holds no images "
                            f"({', '.join(sorted(IMAGE_EXTENSIONS))}); it should come from {self.source(name)}")
        self._splits[name] = sp
        return sp

    def _class_folders(self, name: str, folder: Path, known: dict[str, int], what: str) -> list[tuple[str, int]]:
        subs = _subdirs(folder)
        if not subs:
            loose = _images_in(folder)
            detail = (f"it holds {len(loose)} images directly; sort them into one folder per {what}"
                      if loose else f"it has no {what} folders")
            raise QubaError(f"split {name!r} expects {folder}/<{what}>/<images>, but "
                            f"{detail} (layout: docs/imagenet-layout.md#layout)")
        out = []
        for d in subs:
            if d not in known:
                raise QubaError(f"split {name!r}: folder {folder / d} is not a known {what}"
                                f"{closest(d, list(known))}; split {name!r} expects {folder}/<{what}>/<images>")
            out.append((d, known[d]))
        return out

    def _collect(self, folder: Path, classes: list[tuple[str, int]]):
        paths, labels, rel = [], [], []
        for d, label in classes:
            for f in _images_in(folder / d):
                paths.append(str(folder / d / f))
                rel.append(f"{d}/{f}")
                labels.append(label)
        return paths, np.asarray(labels, dtype=np.int64), np.asarray(rel, dtype=str)

    def _wnid_split(self, name: str, names: list[str], index: dict[str, int], decision) -> ImageNetSplit:
        folder = self.folder(name)
        classes = self._class_folders(name, folder, index, "WNID" if name != "ood/rendition" else "ImageNet-R WNID")
        paths, labels, rel = self._collect(folder, classes)
        return ImageNetSplit(name, folder, paths, labels, {"path": rel}, decision, list(names))

    def _sixteen_split(self, name: str) -> ImageNetSplit:
        folder = self.folder(name)
        cats = sixteen_class_names()
        classes = self._class_folders(name, folder, {c: i for i, c in enumerate(cats)}, "category")
        paths, labels, rel = self._collect(folder, classes)
        meta = {"path": rel}
        decision = DecisionMapping(name="model-vs-human-16", probs=sixteen_class_probs)
        if name == "cue_conflict":
            lookup = {c: i for i, c in enumerate(cats)}
            meta["shape"] = labels.copy()
            meta["texture"] = np.asarray([lookup[texture_class_from_filename(p, cats)] for p in rel],
                                         dtype=np.int64)
        return ImageNetSplit(name, folder, paths, labels, meta, decision, cats)

    def _bg_split(self, name: str) -> ImageNetSplit:
        folder = self.folder(name)
        in9 = in9_class_names()
        known = class_labels(name, _subdirs(folder))
        classes = self._class_folders(name, folder, known, "ImageNet-9 class (NN_name)")
        paths, labels, rel = self._collect(folder, classes)
        decision = DecisionMapping(name="imagenet-9", index_map=imagenet_index_to_in9())
        return ImageNetSplit(name, folder, paths, labels, {"path": rel}, decision, in9)
