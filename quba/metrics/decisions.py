"""Decision mappings and label spaces of the ImageNet suite.

Turn model outputs over the 1000 ImageNet-1k classes into decisions in a
split's label space (docs/metrics.md#decision-mappings):

- canonical label space: position of a WNID in the sorted list of the 1000
  ImageNet-1k WNIDs (``quba/data/imagenet_wnids.txt``, from timm's
  ``imagenet_synsets.txt``);
- 16-class decision (model-vs-human, Geirhos et al. 2021): mean of the
  softmax probabilities over each category's ImageNet indices, argmax over
  the 16 means;
- ImageNet-R (Hendrycks et al. 2021): argmax over the 200 IN-R classes only;
- ImageNet-9 (Backgrounds Challenge, Xiao et al. 2021): ImageNet argmax
  mapped to one of 9 classes, -1 when it has none (counts as wrong).

The mappings are constants read once from the package's data files.
"""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from quba.errors import QubaError
from quba.paths import data_file

NUM_IMAGENET_CLASSES = 1000


@lru_cache(maxsize=1)
def _mappings() -> dict:
    return json.loads(data_file("imagenet_mappings.json").read_text())


@lru_cache(maxsize=1)
def _wnids() -> tuple[str, ...]:
    wnids = tuple(data_file("imagenet_wnids.txt").read_text().split())
    assert len(wnids) == NUM_IMAGENET_CLASSES and list(wnids) == sorted(wnids), "corrupt imagenet_wnids.txt"
    return wnids


def canonical_wnids() -> list[str]:
    """The 1000 ImageNet-1k WNIDs in canonical (sorted) order: class index = position."""
    return list(_wnids())


@lru_cache(maxsize=1)
def wnid_to_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(_wnids())}


def _check_1000(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[1] != NUM_IMAGENET_CLASSES:
        raise QubaError(f"{name} must have shape [N, 1000] (ImageNet-1k classes), got {a.shape}")
    return a


# ---- 16-class (model-vs-human) -------------------------------------------------------------

def sixteen_class_names() -> list[str]:
    """The 16 model-vs-human categories in label order (alphabetical)."""
    return sorted(_mappings()["sixteen_class_imagenet_indices"])


@lru_cache(maxsize=1)
def _sixteen_matrix() -> np.ndarray:
    """[1000, 16] averaging matrix: column c has 1/|I_c| at category c's ImageNet indices."""
    idx = _mappings()["sixteen_class_imagenet_indices"]
    m = np.zeros((NUM_IMAGENET_CLASSES, 16))
    for c, name in enumerate(sixteen_class_names()):
        m[idx[name], c] = 1.0 / len(idx[name])
    return m


def sixteen_class_probs(probs_1000) -> np.ndarray:
    """``P16[:, c] = mean_{k ∈ I_c} p[:, k]`` — [N, 16] (docs/metrics.md#decision-mappings).

    ``I_c`` are category c's ImageNet indices (``imagenet_mappings.json``);
    the 16-class decision is the argmax of the result.
    """
    p = _check_1000(probs_1000, "probs_1000")
    return np.asarray(p, dtype=np.float64) @ _sixteen_matrix()


# ---- ImageNet-R (200 classes) ---------------------------------------------------------------

def imagenet_r_wnids() -> list[str]:
    """The 200 ImageNet-R WNIDs (sorted); IN-R label = position in this list."""
    return list(_mappings()["imagenet_r_wnids"])


@lru_cache(maxsize=1)
def _r_indices() -> np.ndarray:
    lookup = wnid_to_index()
    idx = np.array([lookup[w] for w in imagenet_r_wnids()], dtype=np.int64)
    idx.setflags(write=False)
    return idx


def imagenet_r_indices() -> np.ndarray:
    """ImageNet-1k indices (canonical order) of the 200 IN-R WNIDs, increasing."""
    return _r_indices().copy()


def imagenet_r_probs(probs_1000) -> np.ndarray:
    """``p[:, imagenet_r_indices()]`` — the 200 IN-R columns, not renormalised.

    Softmax is monotone and shared by all columns, so the argmax of the
    restricted probabilities equals the argmax of the restricted logits (the
    protocol's "argmax over the logits of the 200 IN-R WNIDs").
    """
    return _check_1000(probs_1000, "probs_1000")[:, _r_indices()]


def imagenet_r_predict(logits) -> np.ndarray:
    """IN-R class index 0..199: argmax over the logits of the 200 IN-R WNIDs (docs/metrics.md#decision-mappings)."""
    return np.asarray(imagenet_r_probs(logits)).argmax(axis=1)


# ---- ImageNet-9 (Backgrounds Challenge) --------------------------------------------------------

def in9_class_names() -> list[str]:
    """The 9 ImageNet-9 classes in label order (Dog, Bird, Vehicle, ...)."""
    return list(_mappings()["in9_classes"])


@lru_cache(maxsize=1)
def _in9_map() -> np.ndarray:
    m = np.full(NUM_IMAGENET_CLASSES, -1, dtype=np.int64)
    for k, v in _mappings()["imagenet_index_to_in9"].items():
        m[int(k)] = int(v)
    m.setflags(write=False)
    return m


def imagenet_index_to_in9() -> np.ndarray:
    """[1000] int array: ImageNet index → ImageNet-9 class, -1 where none."""
    return _in9_map().copy()


def in9_predict(preds_1000) -> np.ndarray:
    """ImageNet-9 class of each ImageNet-1k prediction (argmax index), -1 if it has none."""
    preds = np.asarray(preds_1000)
    if preds.size and (preds.min() < 0 or preds.max() >= NUM_IMAGENET_CLASSES
                       or not np.issubdtype(preds.dtype, np.integer)):
        raise QubaError("in9_predict takes ImageNet-1k class indices 0..999 (the argmax of the logits)")
    return _in9_map()[preds.astype(np.int64)]
