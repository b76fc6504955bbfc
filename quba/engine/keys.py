"""What a cached output's key is made of besides the plan's own fields (`quba.engine.plan.cache_fields`):
the versions of the stack that computes logits, a stable description of a model's image transform,
an attack's full parameters, and the fixed stratified subset of `--subset`.

Split out of quba/engine/runner.py (issue 20.5); `quba.engine.runner` re-exports every name here.
"""
from __future__ import annotations

import numpy as np

from quba.dimensions import SplitRequest
from quba.errors import QubaError

#: docs/metrics.md#adversarial-robustness attack settings (pixel space [0, 1]).
ATTACK_DEFAULTS: dict[str, dict] = {
    "fgsm": {"eps": 8 / 255},
    "pgd": {"eps": 8 / 255, "alpha": 2 / 255, "steps": 10, "random_start": True},
}


_STACK: dict | None = None


def stack_versions() -> dict:
    """The versions of what computes the logits (torch, torchvision, timm, open_clip, Pillow): part of
    the cache key, so an upgrade recomputes instead of serving numbers of the old stack under the new
    one's provenance."""
    global _STACK
    if _STACK is None:
        from importlib import metadata

        import torch

        out = {"torch": torch.__version__}
        for dist in ("torchvision", "timm", "open_clip_torch", "pillow"):  # from metadata: importing them is slow
            try:
                out[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                out[dist] = None
        _STACK = out
    return dict(_STACK)


def stratified_subset(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of a fixed, stratified subset: `per_class` images of every label
    (all of a class that has fewer), chosen by a permutation seeded by (seed,
    class) only, so splits that share labels (val and its corruptions) get the
    same images. Sorted."""
    labels = np.asarray(labels)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        perm = np.random.default_rng([seed, int(c) & 0xFFFFFFFF]).permutation(len(idx))
        chosen.append(idx[np.sort(perm[:per_class])])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def describe_preprocess(preprocess) -> str | None:
    """A stable description of a model's image transform (part of the cache key and the record):
    torchvision/timm transforms by their repr, anything else by its qualified name."""
    if preprocess is None:
        return None
    desc = getattr(preprocess, "quba_description", None)
    if desc:
        return str(desc)
    mod = type(preprocess).__module__ or ""
    if mod.startswith(("torchvision", "timm", "quba")) or hasattr(preprocess, "transforms"):
        return " ".join(repr(preprocess).split())
    return f"{mod}.{getattr(preprocess, '__qualname__', type(preprocess).__qualname__)}"


def attack_params(request: SplitRequest, seed: int, batch_size: int) -> dict:
    """The full, cache-relevant parameters of an attacked request."""
    if request.attack is None:
        return {}
    from quba.engine import paper_protocol

    if paper_protocol.is_paper(request.attack):
        return paper_protocol.params(request, seed, batch_size)
    if request.attack not in ATTACK_DEFAULTS:
        raise QubaError(f"unknown attack {request.attack!r}; known: {', '.join(ATTACK_DEFAULTS)}")
    params = {**ATTACK_DEFAULTS[request.attack], **dict(request.params)}
    if request.attack == "pgd" and params.get("random_start", True):
        # the random start is drawn per batch from (seed, batch start)
        params.update(seed=seed, batch_size=batch_size)
    return params
