"""Where models come from: the catalog (data, catalog.py) and one module per source (sources/).

    load_model("ResNet50")                          # catalog id (the QUBA paper's 326 + the mini zoo)
    load_model("ResNet50", pretrained=False)        # the architecture only, offline
    load_model("ResNet50", checkpoint="w.safetensors")          # catalog architecture, your weights
    load_model("w.safetensors", arch="resnet50")                # any timm / torchvision:NAME architecture
    load_model("w.pth", arch="tf_efficientnet_lite0", remap_keys=True)  # other names, same order
    load_model("my_models.py:build")                # your own file: build() -> nn.Module
    load_model("timm:resnet18.a1_in1k")             # SOURCE:IDENTIFIER, a registered source without a catalog row
    catalog()                                       # every row, as dicts
"""
from __future__ import annotations

from quba.zoo.catalog import catalog

__all__ = ["LoadedModel", "catalog", "load_model"]

#: File endings `load_model` reads as checkpoints (quba/zoo/sources/checkpoint.py).
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def __getattr__(name):  # LoadedModel imports torch: only when asked for
    if name == "LoadedModel":
        from quba.zoo.base import LoadedModel

        return LoadedModel
    raise AttributeError(f"module 'quba.zoo' has no attribute {name!r}")



def load_model(spec: str, *, pretrained: bool = True, checkpoint=None, arch: str | None = None,
               device="cpu", remap_keys: bool = False) -> "LoadedModel":
    """A classifier ready to evaluate: [0, 1] images -> logits, with its preprocessing.

    spec: a catalog id, `path/to/file.py:function`, a checkpoint path (with `arch`), or
        `SOURCE:IDENTIFIER` (an identifier of a registered model source, `quba.zoo.registry`).
    pretrained: False builds the architecture without weights (no download).
    checkpoint: a local .safetensors / tensor-only torch file to load instead of the
        published weights (into `arch` when given, else into the catalog entry's architecture).
    arch: timm name, `timm:NAME` or `torchvision:NAME` for a checkpoint.
    remap_keys: pair the checkpoint's tensors with the architecture's by order, not by name (a
        checkpoint of another code base; shapes are checked pair by pair).
    device: where the module ends up; "meta" builds without allocating memory (for counting).
    """
    from quba.errors import QubaError
    from quba.zoo import sources
    from quba.zoo.catalog import get, resolve

    checkpoint_source, custom_source = sources.get("checkpoint"), sources.get("custom")

    spec = str(spec)
    if checkpoint_source.available(spec) and checkpoint is None:
        checkpoint, spec = spec, None
    if checkpoint is not None:
        if arch:
            return checkpoint_source.load(checkpoint, arch, model_id=spec, device=device, remap_keys=remap_keys)
        if spec is None:
            raise QubaError(f"checkpoint {str(checkpoint)!r} needs --arch NAME (a timm or torchvision:NAME architecture)")
        return checkpoint_source.load_into_row(get(spec), checkpoint, device=device, remap_keys=remap_keys)
    if arch:
        raise QubaError("--arch goes with --checkpoint PATH")
    if remap_keys:
        raise QubaError("--remap-keys goes with --checkpoint PATH (it renames the checkpoint's tensors)")
    if custom_source.available(spec):
        return custom_source.load(spec, device=device)
    return sources.load_row(resolve(spec), pretrained=pretrained, device=device)
