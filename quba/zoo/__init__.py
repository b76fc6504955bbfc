"""Where models come from: the catalog (data) and loaders per source.

    load_model("ResNet50")                          # catalog id (the QUBA paper's 326 + the mini zoo)
    load_model("ResNet50", pretrained=False)        # the architecture only, offline
    load_model("ResNet50", checkpoint="w.safetensors")          # catalog architecture, your weights
    load_model("w.safetensors", arch="resnet50")                # any timm / torchvision:NAME architecture
    load_model("my_models.py:build")                # your own file: build() -> nn.Module
    catalog()                                       # every row, as dicts
"""
from __future__ import annotations

from pathlib import Path

from quba.zoo.catalog import catalog

__all__ = ["LoadedModel", "catalog", "load_model"]


def __getattr__(name):  # LoadedModel imports torch: only when asked for
    if name == "LoadedModel":
        from quba.zoo.base import LoadedModel

        return LoadedModel
    raise AttributeError(f"module 'quba.zoo' has no attribute {name!r}")

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def load_model(spec: str, *, pretrained: bool = True, checkpoint=None, arch: str | None = None,
               device="cpu") -> "LoadedModel":
    """A classifier ready to evaluate: [0, 1] images -> logits, with its preprocessing.

    spec: a catalog id, `path/to/file.py:function`, or a checkpoint path (with `arch`).
    pretrained: False builds the architecture without weights (no download).
    checkpoint: a local .safetensors / tensor-only torch file to load instead of the
        published weights (into `arch` when given, else into the catalog entry's architecture).
    arch: timm name, `timm:NAME` or `torchvision:NAME` for a checkpoint.
    device: where the module ends up; "meta" builds without allocating memory (for counting).
    """
    from quba.errors import QubaError
    from quba.zoo import loaders
    from quba.zoo.catalog import get

    spec = str(spec)
    if spec.lower().endswith(CHECKPOINT_SUFFIXES) and checkpoint is None:
        checkpoint, spec = spec, None
    if checkpoint is not None:
        if arch:
            return loaders.load_checkpoint(checkpoint, arch, model_id=spec, device=device)
        if spec is None:
            raise QubaError(f"checkpoint {str(checkpoint)!r} needs --arch NAME (a timm or torchvision:NAME architecture)")
        return loaders.load_into_row(get(spec), checkpoint, device=device)
    if arch:
        raise QubaError("--arch goes with --checkpoint PATH")
    if ".py:" in spec or (":" in spec and Path(spec.rpartition(":")[0]).suffix == ".py"):
        return loaders.load_custom(spec, device=device)
    row = get(spec)
    return loaders.load_row(row, pretrained=pretrained, device=device)
