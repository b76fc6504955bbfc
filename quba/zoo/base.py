"""What a loaded model is, for every part of quba that consumes one."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from quba.zoo.fingerprint import code_fingerprint, weights_fingerprint  # noqa: F401  (re-exported)


@dataclass
class LoadedModel:
    """A classifier ready to evaluate.

    `module` takes images in [0, 1] (float, NCHW) and returns **logits**; any
    mean/std normalisation happens inside it. `preprocess` turns a PIL image
    into a float CHW tensor in [0, 1] at the model's input size (resize, crop,
    ToTensor, no normalisation); None means the suite's tensors are fed as they
    are. `parameters_m` counts what classifies an image (CLIP-family: image
    tower + text-derived head); `parameters_full_m` counts everything.
    """

    id: str
    module: nn.Module
    preprocess: Callable | None = None
    input_size: tuple[int, int, int] | None = None  # (C, H, W)
    num_classes: int | None = None
    parameters_m: float | None = None
    parameters_full_m: float | None = None
    source: str = "custom"
    meta: dict[str, Any] = field(default_factory=dict)
    fingerprint_override: str | None = None

    def __post_init__(self) -> None:
        check_usable(None, self.preprocess, self.id)  # not the weights: device="meta" builds count parameters
        if self.parameters_m is None:
            self.parameters_m = count_parameters_m(self.module)
        if self.parameters_full_m is None:
            self.parameters_full_m = self.parameters_m

    def fingerprint(self) -> str:
        """Hash of the weights (or an explicit id + tag when given): the record's model_fingerprint."""
        if self.fingerprint_override:
            return self.fingerprint_override
        return weights_fingerprint(self.module)

    def code_fingerprint(self) -> str:
        """Hash of what besides the weights decides the logits: classes and their files, attributes,
        non-persistent buffers, the image transform, a custom model's file (quba/zoo/fingerprint.py)."""
        files = [self.meta["file"]] if self.source == "custom" and (self.meta or {}).get("file") else []
        return code_fingerprint(self.module, self.preprocess, files)


def check_usable(module: nn.Module | None, preprocess, name: str) -> None:
    """A QubaError (one line) for a module that cannot run (weights on the `meta` device: shapes
    without data) or a preprocess that is not callable (module None: the preprocess only)."""
    from quba.errors import QubaError

    if preprocess is not None and not callable(preprocess):
        raise QubaError(f"the preprocess of model {name!r} is of type {type(preprocess).__name__}, not a "
                        "function of an image; return (module, preprocess) with a callable preprocess, or the module alone")
    if module is None:
        return
    meta = next((n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta), None)
    if meta is not None:
        raise QubaError(f"model {name!r} has weights on the 'meta' device ({meta} has a shape but no data); build "
                        "it with real weights (e.g. load_state_dict(..., assign=True) after to_empty())")


def count_parameters_m(module: nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6
