"""Source `checkpoint`: your own weights from a local file (safetensors, or a tensor-only torch
file, read with weights_only=True) in a timm / torchvision:NAME architecture, or in a catalog
entry's architecture. Not a catalog source: `quba.zoo.load_model(PATH, arch=NAME)` or
`load_model(ID, checkpoint=PATH)` use it; `remap_keys=True` (`--remap-keys`) pairs the
checkpoint's tensors with the architecture's by order instead of by name, for weights saved by
another code base (`quba.zoo.sources.common.remap_by_order`).

The image transform is the architecture's own: a timm name gets timm's eval transform for its
pretrained_cfg (e.g. tf_efficientnet_lite0: resize 256 bicubic, centre crop 224, mean = std =
0.5 -- the TensorFlow EfficientNet-Lite normalisation), a torchvision name its weights' transform."""
from __future__ import annotations

import re

from quba.errors import QubaError
from quba.zoo.base import LoadedModel
from quba.zoo.sources.common import Classifier, crop_size_of, load_into, read_checkpoint, remap_by_order

from quba.zoo import CHECKPOINT_SUFFIXES as SUFFIXES


def build_arch(arch: str, num_classes: int | None = None):
    """An architecture by name, without weights: `timm:NAME`, `torchvision:NAME`,
    or a bare timm name. -> (model, preprocess, mean, std)."""
    kind, _, name = arch.partition(":") if ":" in arch else ("timm", "", arch)
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if kind == "timm":
        import timm

        from quba.zoo.sources.timm import timm_preprocess

        if not timm.is_model(name.split(".")[0]):
            raise QubaError(f"timm has no architecture {name!r}{_closest_timm(name)}")
        model = timm.create_model(name, pretrained=False, **kwargs)
        return (model, *timm_preprocess(model))
    if kind == "torchvision":
        import torchvision.models as tvm

        from quba.zoo.sources.torchvision import torchvision_preprocess

        if name not in tvm.list_models():
            from quba.errors import closest

            raise QubaError(f"torchvision has no model {name!r}{closest(name, tvm.list_models())}")
        model = tvm.get_model(name, weights=None, **kwargs)
        weights = tvm.get_model_weights(name).DEFAULT
        return (model, *torchvision_preprocess(weights))
    raise QubaError(f"--arch {arch!r}: use a timm name, timm:NAME or torchvision:NAME")


def _closest_timm(name: str) -> str:
    import timm

    from quba.errors import closest

    return closest(name, timm.list_models())


def _num_classes_of(state: dict, remap_keys: bool = False) -> int | None:
    """Classes of a checkpoint: rows of its last 2-D weight named like a head (with remap_keys,
    whatever the names: its last 2-D tensor, the classifier of a by-order checkpoint)."""
    for key in reversed(list(state)):
        if re.search(r"(^|\.)(head|fc|classifier|last_linear)(\.fc)?\.weight$", key) and state[key].ndim == 2:
            return int(state[key].shape[0])
    if remap_keys:
        last = next((v for v in reversed(list(state.values())) if v.ndim == 2), None)
        return int(last.shape[0]) if last is not None else None
    return None


#: A checkpoint whose names do not fit may be the same tensors in another code base's naming.
_RENAMED_HINT = ("check --arch; if the checkpoint holds the same tensors under another code base's names, in the "
                 "same order, add --remap-keys")


def _check_order_kept(path, remap_keys: bool) -> None:
    """--remap-keys needs the tensors in the order the saving code registered them: a torch file
    keeps it (a pickled dict), a safetensors file does not (it stores them sorted by name)."""
    if remap_keys and str(path).lower().endswith(".safetensors"):
        raise QubaError(f"--remap-keys pairs tensors by their order in the file, which {str(path)!r} does not keep "
                        "(safetensors stores tensors sorted by name); give the original torch file (.pth, .pt, "
                        ".bin), or rename the keys to the architecture's")


def _load_state(target, state: dict, where: str, remap_keys: bool) -> None:
    if remap_keys:
        state = remap_by_order(state, target, where)
    load_into(target, state, where, hint="check --arch" if remap_keys else _RENAMED_HINT)


def load(path, arch: str, *, model_id: str | None = None, device="cpu", remap_keys: bool = False) -> LoadedModel:
    """A local checkpoint (safetensors, or a tensor-only torch file) in `arch`; remap_keys: its
    tensors are paired with the architecture's by order, not by name (`remap_by_order`)."""
    _check_order_kept(path, remap_keys)
    state = read_checkpoint(path)
    model, pre, mean, std = build_arch(arch, _num_classes_of(state, remap_keys))
    _load_state(model, state, f"checkpoint {str(path)!r}", remap_keys)
    module = Classifier(model, mean, std).eval().to(device)
    crop = crop_size_of(pre)
    return LoadedModel(id=model_id or f"{arch}@{path}", module=module, preprocess=pre,
                       input_size=(3, *crop) if crop else None,
                       num_classes=getattr(model, "num_classes", None), source="checkpoint",
                       meta={"checkpoint": str(path), "arch": arch, "remap_keys": remap_keys})


def load_into_row(row: dict, path, device="cpu", remap_keys: bool = False) -> LoadedModel:
    """A catalog entry's architecture with the weights of a local checkpoint."""
    from quba.zoo.sources import load_row

    _check_order_kept(path, remap_keys)
    loaded = load_row(row, pretrained=False, device="cpu")
    state = read_checkpoint(path)
    target = loaded.module.model
    _load_state(target, state, f"checkpoint {str(path)!r} for {row['id']!r}", remap_keys)
    loaded.module.to(device)
    loaded.meta["checkpoint"] = str(path)
    loaded.meta["remap_keys"] = remap_keys
    loaded.fingerprint_override = None
    return loaded


def check(arch: str) -> str | None:
    """None when `arch` names an architecture this installation can build, else why not."""
    kind, _, name = arch.partition(":") if ":" in arch else ("timm", "", arch)
    if kind == "timm":
        import timm

        return None if timm.is_model(name.split(".")[0]) else f"timm has no architecture {name!r}"
    if kind == "torchvision":
        import torchvision.models as tvm

        return None if name in tvm.list_models() else f"torchvision has no model {name!r}"
    return f"--arch {arch!r}: use a timm name, timm:NAME or torchvision:NAME"


def available(path) -> bool:
    """Whether `path` looks like a checkpoint file this source reads."""
    return str(path).lower().endswith(SUFFIXES)
