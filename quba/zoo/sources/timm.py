"""Source `timm`: identifier = timm architecture, pretrained_tag = timm tag."""
from __future__ import annotations

from quba.zoo.sources.common import Built, fetching, split_normalize, weights_dir


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


def load(row: dict, pretrained: bool, device="cpu") -> Built:
    model, pre, mean, std = load_timm(row, pretrained)
    return Built(model, pre, mean, std)


def check(row: dict) -> str | None:
    tagged = f"{row['identifier']}.{row['pretrained_tag']}"
    return None if tagged in pretrained_names() else f"timm has no pretrained {tagged}"


def available(row: dict) -> bool:
    return True


_PRETRAINED: set | None = None


def pretrained_names() -> set:
    """timm's `name.tag` entries with pretrained weights (listed once per process)."""
    global _PRETRAINED
    if _PRETRAINED is None:
        import timm

        _PRETRAINED = set(timm.list_models(pretrained=True))
    return _PRETRAINED
