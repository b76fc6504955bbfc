"""The quality dimensions quba knows, declared as data, and the engine's hook contract.

Each dimension has a canonical name (the leaderboard column), a direction and
a description. The ranking engine only needs names and directions. The engine
(`quba.engine`) measures a dimension through three hooks on the same object;
the nine QUBA dimensions get theirs in `quba/engine/measure.py`, and a further
dimension plugs in by registering one `Dimension` with its hooks.

The nine QUBA dimensions follow Hesse et al., "Beyond Accuracy" (Sec. 3) and
../shared/METRICS.md; further dimensions register themselves with `register`.

Hook contract
-------------
``needs(suite, opts) -> list[SplitRequest]``
    The model outputs the dimension reads. `suite` is the loaded suite
    (`quba.suites.base.Suite`), `opts` the evaluation options (a dict: "seed",
    "subset", "bootstrap", "device", "batch_size", "workers", "strict",
    "progress", plus anything the user passed for this dimension under its
    name, e.g. ``opts["negative_flips"]``: ``evaluate(..., options={...})``).
    A `SplitRequest` names a split of the suite and optionally
      - ``attack``: None (clean images), "fgsm" or "pgd", with ``params`` (a
        tuple of (key, value) pairs, part of the cache key; the engine fills
        in the METRICS.md defaults eps=8/255, alpha=2/255, steps=10,
        random_start=True and the seed);
      - ``model``: None (the model under evaluation) or a model spec
        understood by `quba.zoo.load_model` (e.g. a declared reference model
        for negative flips); the engine loads it, runs it and caches its
        outputs the same way;
      - ``outputs``: "logits" (default; logits of every image are kept) or
        "decisions" (only argmax and the split's mapped decision are kept,
        for large splits where only correctness matters).
    Raise `quba.errors.QubaError` if the suite cannot serve the dimension. A
    dimension that needs no model outputs returns []. The engine runs every
    distinct request once (the union over the selected dimensions), caches
    it on disk, and counts forward passes per request.

``compute(ctx) -> float | dict``
    The value. `ctx` (`quba.engine.measure.Context`) gives
      - ``ctx.outputs(request_or_split_name) -> SplitOutputs`` with
        ``.logits`` [N, C] float32 (None for "decisions"), ``.probs`` (softmax,
        computed once), ``.preds`` (argmax over the model's classes),
        ``.decisions`` (the split's decision mapping applied, -1 = outside the
        label space), ``.labels`` [N] (split label space), ``.correct``
        (decisions == labels), ``.index`` (image indices within the split;
        skipped or subset images are absent), ``.meta`` (per-image arrays
        aligned with `.index`), ``.decision`` (the DecisionMapping);
      - ``ctx.suite``, ``ctx.model`` (the `LoadedModel`, for dimensions that
        need the model itself, e.g. gradients for attributions),
        ``ctx.device``, ``ctx.opts`` and ``ctx.rng`` (a numpy Generator
        seeded from (seed, dimension name), the same whichever other
        dimensions run);
      - ``ctx.split(name)`` the suite split itself (images for dimensions
        that run the model themselves).
    Return a float, or a dict with key "value" (float) plus JSON-able
    details, which the record keeps under ``details[<dimension>]``.
    Metric arithmetic belongs in `quba.metrics` (pure functions); `compute`
    only routes cached predictions into them.

``bootstrap(ctx, n, rng) -> np.ndarray [n]`` (optional; ``(ctx, n)`` also accepted)
    `n` bootstrap replicates of the value; `rng` is a numpy Generator seeded
    from (seed, dimension name, "bootstrap"). Default (None): the engine calls
    `compute` on `ctx.resampled(rng)` n times, where every requested split is
    resampled with replacement over its images (requests on the same split —
    clean, attacked, other models — share the draws, so they stay paired).
    The interval is the 2.5/97.5 percentile of the replicates shifted by their
    bias (mean − value); see `quba.engine.measure.bootstrap_interval`. A
    dimension with no outputs and no `bootstrap` gets no interval. Provide `bootstrap` where `compute`
    touches the model (resampling predictions would not resample the work)
    or where a vectorised version is much faster. Return an empty array if
    the dimension has no sampling uncertainty (e.g. parameters).

A dimension that measures the model directly (no cached outputs), such as
interpretability, reads ``ctx.model``/``ctx.split`` in `compute` and should
cache its own expensive intermediates under ``quba.paths.cache_dir()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from quba.errors import QubaError, closest


@dataclass(frozen=True)
class SplitRequest:
    """One set of model outputs a dimension reads (see the hook contract above)."""

    split: str
    attack: str | None = None  # None | "fgsm" | "pgd"
    params: tuple = ()  # ((key, value), ...): attack parameters, part of the cache key
    model: str | None = None  # None: the model under evaluation; else a model spec
    outputs: str = "logits"  # "logits" | "decisions"

    @property
    def key(self) -> str:
        """Readable identity used in records: split, then attack and model if any."""
        k = self.split
        if self.attack:
            k += f"@{self.attack}"
        if self.model:
            k += f"[{self.model}]"
        return k


@dataclass(frozen=True)
class Dimension:
    name: str
    higher_is_better: bool
    title: str
    description: str
    source: str = "Hesse et al., Beyond Accuracy (QUBA), Sec. 3"
    paper: bool = False  # one of the nine QUBA dimensions
    aliases: tuple[str, ...] = ()
    # Engine hooks (see the module docstring): which outputs it needs, the metric
    # over them, and optionally its own bootstrap.
    needs: Callable[..., Any] | None = field(default=None, compare=False)
    compute: Callable[..., Any] | None = field(default=None, compare=False)
    bootstrap: Callable[..., Any] | None = field(default=None, compare=False)
    #: The values the definition allows, (low, high) inclusive; leaderboards with values
    #: outside are refused (`quba.ranking.leaderboard.prepare`). Unbounded by default.
    valid_range: tuple[float, float] = (float("-inf"), float("inf"))

    @property
    def measurable(self) -> bool:
        return self.needs is not None and self.compute is not None


_REGISTRY: dict[str, Dimension] = {}
_ALIASES: dict[str, str] = {}


def register(dim: Dimension, replace: bool = False) -> Dimension:
    """Add a dimension (or, with replace=True, attach engine hooks to one)."""
    if dim.name in _REGISTRY and not replace:
        raise ValueError(f"dimension {dim.name!r} is already registered")
    _REGISTRY[dim.name] = dim
    for a in (dim.name, *dim.aliases):
        _ALIASES[a.lower()] = dim.name
    return dim


def attach(name: str, *, needs=None, compute=None, bootstrap=None) -> Dimension:
    """Attach engine hooks to a registered dimension (keeps its name, direction, aliases)."""
    import dataclasses

    dim = _REGISTRY[canonical(name)]
    dim = dataclasses.replace(dim, needs=needs or dim.needs, compute=compute or dim.compute,
                              bootstrap=bootstrap or dim.bootstrap)
    _REGISTRY[dim.name] = dim
    return dim


def all_dimensions() -> dict[str, Dimension]:
    return dict(_REGISTRY)


def canonical(name: str) -> str:
    """Canonical name of a dimension, accepting aliases; QubaError if unknown."""
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise QubaError(
        f"unknown dimension {name!r}{closest(name, list(_ALIASES))}; "
        f"known: {', '.join(_REGISTRY)}"
    )


def get(name: str) -> Dimension:
    return _REGISTRY[canonical(name)]


def is_known(name: str) -> bool:
    return name.strip().lower() in _ALIASES


def higher_is_better(name: str) -> bool:
    return get(name).higher_is_better


_UNIT = (0.0, 1.0)  # a share or a rate
_NONNEG = (0.0, float("inf"))  # a count, or accuracy relative to clean accuracy (may exceed 1)
_NINE = [
    Dimension("accuracy", True, "Accuracy", "top-1 accuracy on the clean validation split", paper=True, aliases=("acc",),
              valid_range=_UNIT),
    Dimension("adversarial_robustness", True, "Adversarial robustness",
              "gmean of FGSM and PGD accuracy (eps=8/255) relative to clean accuracy", paper=True,
              aliases=("adv", "adversarial"), valid_range=_NONNEG),
    Dimension("corruption_robustness", True, "Corruption robustness",
              "mean over 15 corruptions x 5 severities of accuracy relative to clean accuracy", paper=True,
              aliases=("corruption", "c_robustness"), valid_range=_NONNEG),
    Dimension("ood_robustness", True, "OOD robustness",
              "gmean of relative accuracy on edge, silhouette, sketch, stylized and rendition splits", paper=True,
              aliases=("ood",), valid_range=_NONNEG),
    Dimension("calibration_error", False, "Calibration error", "gmean(ECE, ACE) on the clean validation split",
              paper=True, aliases=("calibration", "ece"), valid_range=_UNIT),
    Dimension("class_balance", True, "Class balance",
              "gmean(1 - std of per-class accuracy, 1 - mean within-class std of true-class probability)", paper=True,
              aliases=("fairness", "balance"), valid_range=_UNIT),
    Dimension("object_focus", True, "Object focus",
              "1 - (acc(mixed_same) - acc(mixed_rand)) / acc on the Backgrounds Challenge", paper=True,
              aliases=("background_robustness",)),
    Dimension("shape_bias", True, "Shape bias", "shape hits / (shape + texture hits) on cue-conflict images",
              paper=True, aliases=("shape",), valid_range=_UNIT),
    Dimension("parameters_m", False, "Parameters", "millions of parameters of what classifies an image",
              paper=True, aliases=("parameters", "params", "size"), valid_range=_NONNEG),
]
for _d in _NINE:
    register(_d)

#: The nine QUBA dimensions in the paper's order.
NINE: tuple[str, ...] = tuple(d.name for d in _NINE)


# -- Further dimension: certified information gain (segmentation; issue 7) -------------
# Hooks live in quba/engine/certify.py, imported only when the dimension is measured.
def _cig_needs(suite, opts):
    from quba.engine import certify

    return certify.hook_needs(suite, opts)


def _cig_compute(ctx):
    from quba.engine import certify

    return certify.hook_compute(ctx)


def _cig_bootstrap(ctx, n, rng):
    from quba.engine import certify

    return certify.hook_bootstrap(ctx, n, rng)


register(Dimension(
    "certified_information_gain", True, "Certified information gain",
    "adaptive hierarchical randomized-smoothing certification of a segmentation model: information of the "
    "certified-correct pixels, sum (log K - log |leaves(node)|) / (pixels * log K), in [0, 1]",
    source="Anani et al., Adaptive Hierarchical Certification for Segmentation, ICML 2024, Sec. 5; "
           "Fischer et al., SegCertify, ICML 2021",
    aliases=("cig",), valid_range=_UNIT, needs=_cig_needs, compute=_cig_compute, bootstrap=_cig_bootstrap))

# -- Further dimension: MEt3R multi-view consistency of generated image pairs (issue 7) --
# Measured on image pairs by `quba consistency PAIRS --record NAME` (quba/engine/met3r.py),
# not on classifier outputs, so it has no engine hooks; records carry it for the ranking.
register(Dimension(
    "met3r", False, "Multi-view inconsistency (MEt3R)",
    "mean 1 - cos of the two views' dense features rendered into one camera, over the pixels both cover, "
    "both directions averaged; in [0, 2], 0 = consistent",
    source="Asim et al., MEt3R: Measuring Multi-View Consistency in Generated Images, CVPR 2025, Sec. 3",
    aliases=("multiview_consistency", "met3r_score"), valid_range=(0.0, 2.0)))

# -- Further dimensions: interpretability, negative flips, teacher–student agreement (issue 6) --
# Hooks live in quba/engine/beyond.py, imported only when a dimension is measured.
def _beyond(name):
    def call(*args):
        from quba.engine import beyond

        return getattr(beyond, name)(*args)

    if name.endswith("_bootstrap"):  # the engine passes rng only to 3-parameter bootstraps
        def hook(ctx, n, rng):
            return call(ctx, n, rng)
    elif name.endswith("_needs"):
        def hook(suite, opts):
            return call(suite, opts)
    else:
        def hook(ctx):
            return call(ctx)
    hook.__name__ = name
    return hook


register(Dimension(
    "interpretability", True, "Interpretability (grid pointing game)",
    "mean share of positive attribution energy in the target cell of n x n grids of confidently and "
    "correctly classified images from distinct classes (chance = 1/n^2); input x gradient, B-cos models "
    "their contribution maps W(x)^T x",
    source="Boehle et al., B-cos Networks, CVPR 2022, Sec. 5.2; CoDA-Nets, CVPR 2021, Sec. 5.2",
    aliases=("pointing_game", "localisation", "localization"), valid_range=_UNIT,
    needs=_beyond("interpretability_needs"), compute=_beyond("interpretability_compute"),
    bootstrap=_beyond("interpretability_bootstrap")))
register(Dimension(
    "negative_flip_rate", False, "Negative flip rate",
    "share of val images the declared reference (legacy) model gets right and this model gets wrong "
    "(--reference-model ID); NFI, PFR, relative NFR and agreement in the record's details",
    source="Yan et al., Positive-Congruent Training, CVPR 2021; Zhao et al., ELODI, TPAMI 2023",
    aliases=("nfr", "negative_flips"), valid_range=_UNIT,
    needs=_beyond("negative_flips_needs"), compute=_beyond("negative_flips_compute")))
register(Dimension(
    "teacher_agreement", True, "Teacher-student agreement",
    "top-1 agreement with the declared teacher on val (--teacher ID)",
    source="Parchami-Araghi et al., Good Teachers Explain (e2KD), ECCV 2024, Sec. 5",
    aliases=("agreement", "top1_agreement"), valid_range=_UNIT,
    needs=_beyond("teacher_needs"), compute=_beyond("teacher_agreement_compute")))
register(Dimension(
    "explanation_similarity", True, "Explanation similarity to the teacher",
    "mean cosine of the teacher's and the model's input x gradient maps for the teacher's top-1 class on val "
    "(--teacher ID)",
    source="Parchami-Araghi et al., Good Teachers Explain (e2KD), ECCV 2024, Sec. 3, 5",
    aliases=("e2kd", "explanation_agreement"), valid_range=(-1.0, 1.0),
    needs=_beyond("teacher_needs"), compute=_beyond("explanation_similarity_compute"),
    bootstrap=_beyond("explanation_similarity_bootstrap")))
