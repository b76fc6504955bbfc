"""Shape bias on cue-conflict images (QUBA dimension 8).

Geirhos et al., "ImageNet-trained CNNs are biased towards texture" (ICLR
2019); Hesse et al., "Beyond Accuracy" (QUBA), Sec. 3 (shape bias);
docs/metrics.md#shape-bias.
"""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Sequence

import numpy as np

from quba.errors import QubaError, closest
from quba.metrics._checks import labels_1d, same_length, sample_weights


def shape_bias(shape_labels, texture_labels, preds, sample_weight=None):
    """``#shape hits / (#shape hits + #texture hits)`` over cue-conflict images.

    Images whose shape and texture class agree are dropped first; a shape hit
    is a decision equal to the shape class, a texture hit one equal to the
    texture class (docs/metrics.md#shape-bias). Decisions that hit neither are
    ignored. nan when there is no hit at all (shape bias undefined).
    ``sample_weight`` (count weights [N] or [B, N]): hits counted with their weights.
    """
    s = labels_1d(shape_labels, "shape_labels")
    t = labels_1d(texture_labels, "texture_labels")
    d = labels_1d(preds, "preds")
    same_length(s, t, "shape_labels", "texture_labels")
    same_length(s, d, "shape_labels", "preds")
    conflict = s != t
    w = sample_weights(sample_weight, s.size)
    if w is not None:
        hs = w @ (conflict & (d == s)).astype(np.float64)
        ht = w @ (conflict & (d == t)).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(hs + ht > 0, hs / (hs + ht), np.nan)
        return float(out) if w.ndim == 1 else out
    shape_hits = int(np.sum(conflict & (d == s)))
    texture_hits = int(np.sum(conflict & (d == t)))
    if shape_hits + texture_hits == 0:
        return float("nan")
    return shape_hits / (shape_hits + texture_hits)


_TEXTURE = re.compile(r"-([A-Za-z]+)\d*$")


def texture_class_from_filename(name: str, class_names: Sequence[str]) -> str:
    """Texture class of a cue-conflict image from its file name.

    The stimuli are named ``<shape><n>-<texture><m>.png`` (texture-vs-shape)
    or with a prefix, e.g. ``..._dog10-bird2.png``: the texture class is the
    word after the last '-' with trailing digits and the extension removed
    (→ "bird"). It must be one of ``class_names``, else QubaError.
    """
    stem = PurePath(str(name)).stem
    m = _TEXTURE.search(stem)
    if not m:
        raise QubaError(f"cannot read a texture class from cue-conflict file name {name!r}; "
                        "expected '<shape><n>-<texture><m>.png', e.g. 'dog10-bird2.png'")
    texture = m.group(1).lower()
    names = {c.lower(): c for c in class_names}
    if texture not in names:
        raise QubaError(f"cue-conflict file {name!r} names texture {texture!r}, not one of the "
                        f"{len(names)} classes{closest(texture, list(names))}")
    return names[texture]
