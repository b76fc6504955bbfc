"""open_clip models as zero-shot ImageNet classifiers (and Apple's MobileCLIP-S0)."""
from __future__ import annotations

import contextlib
import logging

import torch

from quba.errors import QubaError
from quba.zoo import zeroshot
from quba.zoo.base import count_parameters_m
from quba.zoo.loaders.common import fetching, split_normalize, weights_dir


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _random_head(num_classes: int, dim: int) -> torch.Tensor:
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
        head = _random_head(len(classnames), dim)
    full = count_parameters_m(model)
    scale = model.logit_scale.exp().item() if not model.logit_scale.is_meta else 100.0
    bias = getattr(model, "logit_bias", None)
    bias = None if bias is None or bias.is_meta else bias.item()
    clf = zeroshot.ZeroShotClassifier(model.visual, head.to(model.logit_scale.device), scale, bias)
    pre, mean, std = split_normalize(pre)
    return clf, pre, mean, std, full


def load_mobileclip(row: dict, pretrained: bool, template_set: str = "openai"):
    """Apple's MobileCLIP package (github apple/ml-mobileclip), as the QUBA code used it."""
    try:
        import mobileclip  # type: ignore
    except ImportError:
        raise QubaError(
            f"{row['id']!r} needs Apple's `mobileclip` package (open_clip 3.3 lacks MobileCLIP-S0): "
            "pip install git+https://github.com/apple/ml-mobileclip"
        ) from None
    name = row["identifier"].split(":", 1)[1]
    url = row["pretrained_tag"]
    path = None
    if pretrained:
        from quba.zoo.loaders.common import torch_hub_dir

        with fetching(row["id"], url), torch_hub_dir():
            import os

            path = os.path.join(torch.hub.get_dir(), "checkpoints", url.rsplit("/", 1)[-1])
            if not os.path.exists(path):
                torch.hub.download_url_to_file(url, path)
    model, _, pre = mobileclip.create_model_and_transforms(name, pretrained=path)
    model.eval()
    tokenizer = mobileclip.get_tokenizer(name)
    classnames = zeroshot.imagenet_classnames()
    if pretrained:
        head = zeroshot.cached_head(name, "apple", lambda: zeroshot.build_head(
            model.encode_text, tokenizer, classnames, zeroshot.templates(template_set)), classnames, template_set)
    else:
        with torch.no_grad():
            dim = model.encode_text(tokenizer(["a photo"])).shape[-1]
        head = _random_head(len(classnames), dim)
    full = count_parameters_m(model)
    scale = model.logit_scale.exp().item() if hasattr(model, "logit_scale") else 100.0
    clf = zeroshot.ZeroShotClassifier(model.image_encoder, head, scale, None)
    pre, mean, std = split_normalize(pre)
    return clf, pre, mean, std, full
