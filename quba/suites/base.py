"""What a suite is, for every part of quba that consumes one: the `Suite` and `Split` base classes.

A suite is a set of named splits (`val`, `corruption/<name>/<severity>`,
`ood/<name>`, `cue_conflict`, `bg/mixed_same`, ...). A split yields images in
[0, 1] (float, CHW) with integer labels and per-image metadata. Each split has
a *decision mapping* that turns model probabilities over the model's classes
into decisions in the split's label space (identity for QUBA-mini; the
16-class model-vs-human mapping, the ImageNet-R 200-class restriction or the
ImageNet-9 mapping for the ImageNet suite). What a split *is* (its family, the
corruption and severity) is `Suite.split_info`, never parsed from its name.
The base classes declare every member quba uses, with defaults; a new suite
subclasses them (docs/adding-a-suite.md) and registers (`quba.suites.register`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from quba.errors import QubaError
from quba.metrics.robustness import IMAGENET_C_CORRUPTIONS, SEVERITIES


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


@dataclass(frozen=True)
class SplitInfo:
    """What a split is, known without loading it (`Suite.split_info`): its family and, where it has
    them, the corruption and severity (an ImageNet-C split) or the variant (the OOD dataset, the
    background mix). Dimensions read these instead of parsing split names."""

    name: str
    #: "clean", "train", "corruption", "ood", "cue_conflict", "background", "segmentation",
    #: "multiview", or "" when the suite does not say
    family: str = ""
    corruption: str | None = None
    severity: int | None = None
    #: the split's own name within its family: the OOD dataset ("edge"), the background mix ("mixed_same")
    variant: str | None = None

    # The QUBA naming of splits, built here from its parts (and nowhere parsed back).
    @classmethod
    def corrupted(cls, corruption: str, severity: int) -> "SplitInfo":
        """ImageNet-C-style split `corruption/<corruption>/<severity>`."""
        return cls(f"corruption/{corruption}/{int(severity)}", "corruption", corruption, int(severity))

    @classmethod
    def ood(cls, variant: str) -> "SplitInfo":
        """Out-of-distribution split `ood/<variant>`."""
        return cls(f"ood/{variant}", "ood", variant=variant)

    @classmethod
    def background(cls, mix: str) -> "SplitInfo":
        """Backgrounds Challenge split `bg/<mix>` (mixed_same, mixed_rand)."""
        return cls(f"bg/{mix}", "background", variant=mix)


#: The corruptions, severities, OOD datasets and background mixes of the QUBA split names.
QUBA_CORRUPTIONS = IMAGENET_C_CORRUPTIONS
QUBA_SEVERITIES = SEVERITIES
QUBA_OOD = ("edge", "silhouette", "sketch", "stylized", "rendition")
QUBA_BACKGROUNDS = ("mixed_same", "mixed_rand")


def quba_split_infos(corruptions=QUBA_CORRUPTIONS, severities=QUBA_SEVERITIES, ood=QUBA_OOD,
                     backgrounds=QUBA_BACKGROUNDS, *, before=(("val", "clean"),),
                     after=(("cue_conflict", "cue_conflict"),)) -> dict[str, SplitInfo]:
    """{name: SplitInfo} of splits named the QUBA way, in order: `before` ((name, family) pairs),
    the corruption splits, the OOD splits, `after`, then the background splits."""
    infos = [SplitInfo(n, f) for n, f in before]
    infos += [SplitInfo.corrupted(c, s) for c in corruptions for s in severities]
    infos += [SplitInfo.ood(o) for o in ood]
    infos += [SplitInfo(n, f) for n, f in after]
    infos += [SplitInfo.background(b) for b in backgrounds]
    return {i.name: i for i in infos}


#: Every split name of the QUBA naming, with what it is (the default of `Suite.split_info`).
QUBA_SPLITS: dict[str, SplitInfo] = quba_split_infos(
    before=(("train", "train"), ("val", "clean")),
    after=(("cue_conflict", "cue_conflict"), ("segmentation", "segmentation"), ("multiview", "multiview")))


#: Which splits serve which dimension role (`quba.dimensions.Dimension.roles`), for a suite that
#: names its splits the QUBA way; a suite with other names sets ``roles`` (same shape) itself.
DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "clean": ("val",),
    "corruption": tuple(i.name for i in QUBA_SPLITS.values() if i.family == "corruption"),
    "ood": tuple(i.name for i in QUBA_SPLITS.values() if i.family == "ood"),
    "bg_same": (SplitInfo.background("mixed_same").name,),
    "bg_rand": (SplitInfo.background("mixed_rand").name,),
    "cue_conflict": ("cue_conflict",),
    "segmentation": ("segmentation",),
}


class Split(ABC):
    """One split of a suite: what every consumer of a split may use.

    A subclass sets ``name``, ``labels`` (int64 [N], in the split's label space), ``meta``
    (per-image arrays, each of length N) and ``decision`` (its `DecisionMapping`), and implements
    `dataset`. ``images`` (uint8 [N, 3, H, W], a tensor or an array) is set by a split held in
    memory, which the engine then slices directly when the model has no preprocess; ``paths``
    (one image file per index) by a split read from files, for messages about an image."""

    name: str
    labels: np.ndarray
    meta: dict
    decision: DecisionMapping
    #: uint8 [N, 3, H, W] in memory, or None (read through `dataset`)
    images = None
    #: the image file of each index, or None
    paths: Sequence[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def dataset(self, preprocess: Callable | None = None):
        """A torch Dataset yielding (image float[3,H,W] in [0,1], index).

        `preprocess` (from the model's data config) is applied to each image;
        for an unreadable file the dataset yields (None, index) and the engine
        counts it as skipped.
        """


class Suite(ABC):
    """A suite: named splits of images, labels and per-image metadata; the contract every part of
    quba that consumes one relies on (docs/adding-a-suite.md).

    A subclass sets ``name``, ``version`` and ``class_names`` (the model's label space) and
    implements `fingerprint`, `split_names` and `split`. Every other member has a default here,
    which a suite overrides where it differs; code outside this class uses the members directly,
    never probing for them. Its constructor takes ``seed=`` (a generated suite) or the data root
    as first argument (a suite read from disk, ``reads_data_root = True``).
    """

    name: str
    version: str = "1"
    class_names: Sequence[str]
    #: how people call it in messages (default: its name)
    title: str = ""
    #: whether it reads images under --data-root (False: generated, it takes a seed)
    reads_data_root: bool = False
    #: the seed of a generated suite (0 for one read from disk)
    seed: int = 0
    #: which of its splits serve which dimension role (`quba.dimensions.Dimension.roles`)
    roles: Mapping[str, tuple[str, ...]] = MappingProxyType(DEFAULT_ROLES)
    #: per-dimension option defaults it overrides, {dimension: {option: value}}
    option_defaults: Mapping[str, Mapping] = MappingProxyType({})
    #: class hierarchy {"levels": [...], "parents": {class: [ancestor per level]}} for certification; None: flat
    hierarchy: Mapping | None = None
    #: target content-change levels of its multiview pairs (MEt3R); empty when it has none
    content_levels: tuple = ()

    def __init__(self, seed: int = 0):
        """A generated suite's constructor (a suite read from disk takes its data root first)."""
        self.seed = int(seed)

    @abstractmethod
    def fingerprint(self) -> str:
        """Stable hash of what defines the suite's content (seed, sizes, version, data root)."""

    @abstractmethod
    def split_names(self) -> list[str]:
        """The splits it can serve now."""

    @abstractmethod
    def split(self, name: str) -> Split:
        """The split `name` (a QubaError naming the known ones for an unknown name)."""

    def split_info(self, name: str) -> SplitInfo:
        """What split `name` is (family, corruption and severity, variant), without loading it.
        Default: the QUBA naming (`QUBA_SPLITS`); a suite with other names overrides it."""
        return QUBA_SPLITS.get(name) or SplitInfo(name)

    def require(self, splits, dimension: str | None = None) -> None:
        """QubaError (one line, naming the dimension) if any of `splits` is missing. A suite read
        from disk overrides it to name the expected folder and where the data comes from."""
        if isinstance(splits, str):
            splits = [splits]
        have = set(self.split_names())
        missing = [n for n in splits if n not in have]
        if missing:
            who = f"dimension {dimension} needs" if dimension else "missing"
            raise QubaError(f"{who} split(s) {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}, "
                            f"which suite {self.name!r} does not have")

    def prepare(self, names, processes: int | None = None, background: bool = False) -> list[str]:
        """Make the splits of `names` ready before they are read (a generated suite generates the
        missing ones, in the background when asked); returns those being made. Default: nothing."""
        return []

    def finish(self) -> None:
        """End what `prepare(..., background=True)` started. Default: nothing."""


class SuiteOutline(Suite):
    """A suite known only by its name and split names (a record's): for asking dimensions which
    splits they read. It has no images."""

    def __init__(self, name: str, split_names, roles: Mapping | None = None):
        self.name, self._names = str(name), list(split_names)
        self.class_names = ()
        if roles is not None:
            self.roles = roles

    def fingerprint(self) -> str:
        return ""

    def split_names(self) -> list[str]:
        return list(self._names)

    def split(self, name: str) -> Split:
        raise QubaError(f"suite {self.name!r} is known here only by its split names (a record's)")


def role_splits(suite: Suite, role: str) -> tuple[str, ...]:
    """The split names that serve `role` on `suite` (its ``roles``)."""
    roles = suite.roles
    if role not in roles:
        raise QubaError(f"suite {suite.name!r} names no split for role {role!r}; its roles: {', '.join(roles)}")
    return tuple(roles[role])
