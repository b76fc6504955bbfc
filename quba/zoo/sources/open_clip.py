"""Source `open_clip`: identifier = open_clip model name, pretrained_tag = its pretrained tag; the
model becomes a zero-shot ImageNet classifier (quba.zoo.zeroshot)."""
from __future__ import annotations

import contextlib
import logging

import torch

from quba.errors import QubaError
from quba.zoo import zeroshot
from quba.zoo.base import count_parameters_m
from quba.zoo.sources.common import Built, fetching, split_normalize, weights_dir


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def random_head(num_classes: int, dim: int) -> torch.Tensor:
    """Architecture-only builds: a seeded unit-norm head of the right shape."""
    g = torch.Generator(device="cpu").manual_seed(0)
    head = torch.randn(num_classes, dim, generator=g)
    return torch.nn.functional.normalize(head, dim=-1)


def load_open_clip(row: dict, pretrained: bool, template_set: str = "openai", device="cpu"):
    """-> (ZeroShotClassifier, preprocess, mean, std, parameters_full_m)."""
    import open_clip

    name, tag = row["identifier"], row["pretrained_tag"]
    pcfg = open_clip.get_pretrained_cfg(name, tag) if tag else {}
    if tag and not pcfg:
        raise QubaError(f"open_clip has no pretrained tag {tag!r} for {name!r}")
    where = f"the Hugging Face hub ({pcfg.get('hf_hub') or pcfg.get('url')}) via open_clip"
    classnames = zeroshot.imagenet_classnames()
    if pretrained:
        cache = weights_dir("open_clip")
        with fetching(row["id"], where, hf=True):
            model, _, pre = open_clip.create_model_and_transforms(
                name, pretrained=tag, cache_dir=str(cache) if cache else None)
            tokenizer = open_clip.get_tokenizer(name, cache_dir=str(cache) if cache else None)
        model.eval()

        def compute():
            ctx = getattr(model, "context_length", None)
            tok = (lambda texts: tokenizer(texts, context_length=ctx)) if ctx else tokenizer
            return zeroshot.build_head(model.encode_text, tok, classnames, zeroshot.templates(template_set))

        head = zeroshot.cached_head(name, tag, compute, classnames, template_set)
    else:
        with _quiet_root_logger():  # open_clip warns that no weights were loaded: that is the point
            model, _, pre = open_clip.create_model_and_transforms(
                name, pretrained=None, device="meta" if str(device) == "meta" else "cpu",
                image_mean=pcfg.get("mean"), image_std=pcfg.get("std"),
                image_interpolation=pcfg.get("interpolation"), image_resize_mode=pcfg.get("resize_mode"))
        dim = open_clip.get_model_config(name)["embed_dim"]
        head = random_head(len(classnames), dim)
    full = count_parameters_m(model)
    scale = model.logit_scale.exp().item() if not model.logit_scale.is_meta else 100.0
    bias = getattr(model, "logit_bias", None)
    bias = None if bias is None or bias.is_meta else bias.item()
    clf = zeroshot.ZeroShotClassifier(model.visual, head.to(model.logit_scale.device), scale, bias)
    pre, mean, std = split_normalize(pre)
    return clf, pre, mean, std, full


def load(row: dict, pretrained: bool, device="cpu") -> Built:
    model, pre, mean, std, full = load_open_clip(row, pretrained, device=device)
    return Built(model, pre, mean, std, parameters_full_m=full)


def check(row: dict) -> str | None:
    import open_clip

    ident, tag = row["identifier"], row["pretrained_tag"]
    return None if (ident, tag) in open_clip.list_pretrained() else f"open_clip has no ({ident}, {tag})"


def available(row: dict) -> bool:
    return True
