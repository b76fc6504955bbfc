"""Loaders for the libraries quba depends on: timm, torchvision, bcos.

Each `load_*` returns (inner model, preprocess without normalisation, mean, std);
`quba.zoo.loaders.load_row` wraps the model so it takes [0, 1] images.
"""
from __future__ import annotations

from quba.errors import QubaError
from quba.zoo.loaders.common import (
    ensure_url,
    fetching,
    make_preprocess,
    split_normalize,
    torch_hub_dir,
    weights_dir,
)

# ---------------------------------------------------------------- timm


def timm_preprocess(model):
    """timm's own eval transform for the model's pretrained_cfg, minus Normalize."""
    from timm.data import create_transform, resolve_data_config

    cfg = resolve_data_config({}, model=model)
    return split_normalize(create_transform(**cfg))


def timm_create(name: str, *, pretrained: bool, model_id: str, **kwargs):
    import timm

    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs)
    cache = weights_dir("timm")
    cfg = timm.models.get_pretrained_cfg(name)
    hub_id = (getattr(cfg, "hf_hub_id", None) or getattr(cfg, "url", None) or name) if cfg else name
    with fetching(model_id, f"the Hugging Face hub ({hub_id}) via timm", hf=True):
        return timm.create_model(name, pretrained=True, cache_dir=str(cache) if cache else None, **kwargs)


def load_timm(row: dict, pretrained: bool):
    name = f"{row['identifier']}.{row['pretrained_tag']}" if row["pretrained_tag"] else row["identifier"]
    model = timm_create(name, pretrained=pretrained, model_id=row["id"])
    pre, mean, std = timm_preprocess(model)
    return model, pre, mean, std


# ---------------------------------------------------------------- torchvision

# kwargs torchvision's builders set themselves when given weights; repeated so
# that an architecture built without weights is the same network.
_TV_NO_WEIGHTS_KWARGS = {
    "googlenet": dict(transform_input=True, aux_logits=False, init_weights=False),
    "inception_v3": dict(transform_input=True, aux_logits=True, init_weights=False),
}


def torchvision_weights(builder: str, tag: str):
    import torchvision.models as tvm

    try:
        enum = tvm.get_model_weights(builder)
    except (ValueError, KeyError):
        raise QubaError(f"torchvision has no model {builder!r}") from None
    try:
        return enum[tag]
    except KeyError:
        raise QubaError(f"torchvision {builder} has no weights {tag!r}; it has {[w.name for w in enum]}") from None


def torchvision_preprocess(weights):
    t = weights.transforms()
    interp = t.interpolation.value
    resize = list(t.resize_size) if t.resize_size else t.crop_size
    pre = make_preprocess(resize[0] if len(resize) == 1 else resize, t.crop_size[0], interp)
    return pre, tuple(t.mean), tuple(t.std)


def load_torchvision(row: dict, pretrained: bool):
    import torchvision.models as tvm

    builder, tag = row["identifier"], row["pretrained_tag"] or "DEFAULT"
    weights = torchvision_weights(builder, tag)
    if pretrained:
        ensure_url(weights.url, row["id"])
        with fetching(row["id"], weights.url), torch_hub_dir():
            model = tvm.get_model(builder, weights=weights)
    else:
        kwargs = dict(_TV_NO_WEIGHTS_KWARGS.get(builder, {}))
        model = tvm.get_model(builder, weights=None, num_classes=len(weights.meta["categories"]), **kwargs)
    pre, mean, std = torchvision_preprocess(weights)
    return model, pre, mean, std


# ---------------------------------------------------------------- bcos


def load_bcos(row: dict, pretrained: bool):
    try:
        import bcos.models.pretrained as bp
    except ImportError:
        raise QubaError(f"{row['id']!r} needs the B-cos package: pip install bcos") from None
    entry = row["identifier"]
    if entry not in bp.list_available():
        raise QubaError(f"bcos has no pretrained entry {entry!r}")
    fn = getattr(bp, entry)
    if pretrained:
        with fetching(row["id"], "the B-cos v2 GitHub release (bcos package)"), torch_hub_dir():
            model = fn(pretrained=True, progress=True)
    else:
        model = fn(pretrained=False)
    # the package's eval transform: Resize(256), CenterCrop(224), to [0, 1], AddInverse (done in the module)
    pre = make_preprocess(256, 224, "bilinear")
    return model, pre, None, None
