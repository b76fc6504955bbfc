"""Source `torchvision`: identifier = builder name, pretrained_tag = weights enum member."""
from __future__ import annotations

from quba.errors import QubaError
from quba.zoo.sources.common import Built, ensure_url, fetching, make_preprocess, torch_hub_dir

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


def load(row: dict, pretrained: bool, device="cpu") -> Built:
    model, pre, mean, std = load_torchvision(row, pretrained)
    return Built(model, pre, mean, std)


def check(row: dict) -> str | None:
    import torchvision.models as tvm

    ident, tag = row["identifier"], row["pretrained_tag"]
    if ident not in tvm.list_models():
        return f"torchvision has no model {ident}"
    names = [w.name for w in tvm.get_model_weights(ident)]
    return None if tag in names else f"torchvision {ident} has no weights {tag}"


def available(row: dict) -> bool:
    return True
