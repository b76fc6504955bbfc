"""What a suite is, for every part of quba that consumes one.

A suite is a set of named splits (`val`, `corruption/<name>/<severity>`,
`ood/<name>`, `cue_conflict`, `bg/mixed_same`, ...). A split yields images in
[0, 1] (float, CHW) with integer labels and per-image metadata. Each split has
a *decision mapping* that turns model probabilities over the model's classes
into decisions in the split's label space (identity for QUBA-mini; the
16-class model-vs-human mapping, the ImageNet-R 200-class restriction or the
ImageNet-9 mapping for the ImageNet suite).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from quba.errors import QubaError


@dataclass
class DecisionMapping:
    """Maps softmax probabilities over the model's classes to the split's label space.

    `probs(p)` returns probabilities (or scores) per split class, shape [N, K];
    decisions are their argmax. `name` says which mapping (for records).
    Predictions that map outside the label space are returned as -1 by `predict`.
    """

    name: str = "identity"
    probs: Callable[[np.ndarray], np.ndarray] = field(default=lambda p: p)
    # Optional direct index map model-class -> split-class (-1: no class), used by
    # mappings defined on the argmax (ImageNet-9) rather than on probabilities.
    index_map: np.ndarray | None = None

    def predict(self, p: np.ndarray) -> np.ndarray:
        if self.index_map is not None:
            return self.index_map[np.asarray(p).argmax(axis=1)]
        return np.asarray(self.probs(p)).argmax(axis=1)


class PreprocessError(QubaError):
    """The model's preprocess failed on an image (one line; the runner adds the model and split)."""


def run_preprocess(preprocess: Callable, image, what: str):
    """`preprocess(image)`, any error of it (the model's own code) a PreprocessError naming `what`."""
    try:
        return preprocess(image)
    except QubaError:
        raise
    except SystemExit as exc:  # in a DataLoader worker it would end the worker: say it here
        raise PreprocessError(f"its preprocess called sys.exit({exc.code!r}) on {what}") from None
    except Exception as exc:  # noqa: BLE001 - the user's preprocess: any error becomes one line
        msg = (str(exc).strip().splitlines() or [""])[0][:300]
        raise PreprocessError(f"its preprocess raised {type(exc).__name__} on {what}: {msg}") from None


class Split(Protocol):
    name: str
    labels: np.ndarray  # int64 [N], in the split's label space
    meta: dict[str, np.ndarray]  # per-image arrays, each of length N
    decision: DecisionMapping

    def __len__(self) -> int: ...

    def dataset(self, preprocess: Callable | None = None):
        """A torch Dataset yielding (image float[3,H,W] in [0,1], index).

        `preprocess` (from the model's data config) is applied to each image;
        for an unreadable file the dataset yields (None, index) and the engine
        counts it as skipped.
        """
        ...


class Suite(Protocol):
    name: str  # "mini" or "imagenet"
    version: str
    class_names: Sequence[str]  # the model's label space for this suite

    def fingerprint(self) -> str:
        """Stable hash of what defines the suite's content (seed, sizes, version, data root)."""
        ...

    def split_names(self) -> list[str]: ...

    def split(self, name: str) -> Split: ...


#: Which splits serve which dimension role (`quba.dimensions.Dimension.roles`), for a suite that
#: names its splits the QUBA way; a suite with other names sets ``roles`` (same shape) itself.
DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "clean": ("val",),
    "corruption": tuple(f"corruption/{c}/{s}" for c in (
        "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
        "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression")
        for s in (1, 2, 3, 4, 5)),
    "ood": tuple(f"ood/{s}" for s in ("edge", "silhouette", "sketch", "stylized", "rendition")),
    "bg_same": ("bg/mixed_same",),
    "bg_rand": ("bg/mixed_rand",),
    "cue_conflict": ("cue_conflict",),
    "segmentation": ("segmentation",),
}


def role_splits(suite, role: str) -> tuple[str, ...]:
    """The split names that serve `role` on `suite`: its own ``roles`` mapping, else DEFAULT_ROLES."""
    roles = getattr(suite, "roles", None) or DEFAULT_ROLES
    if role not in roles:
        from quba.errors import QubaError

        raise QubaError(f"suite {getattr(suite, 'name', suite)!r} names no split for role {role!r}; "
                        f"its roles: {', '.join(roles)}")
    return tuple(roles[role])
