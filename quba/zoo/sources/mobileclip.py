"""Source `mobileclip` (a `hub` kind: identifier `mobileclip:<name>`, pretrained_tag = weights URL):
Apple's MobileCLIP-S0 as a zero-shot ImageNet classifier (needs Apple's mobileclip package)."""
from __future__ import annotations

import importlib.util

import torch

from quba.errors import QubaError
from quba.zoo import zeroshot
from quba.zoo.base import count_parameters_m
from quba.zoo.sources.common import Built, fetching, split_normalize
from quba.zoo.sources.open_clip import random_head


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
        from quba.zoo.sources.common import torch_hub_dir

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
        head = random_head(len(classnames), dim)
    full = count_parameters_m(model)
    scale = model.logit_scale.exp().item() if hasattr(model, "logit_scale") else 100.0
    clf = zeroshot.ZeroShotClassifier(model.image_encoder, head, scale, None)
    pre, mean, std = split_normalize(pre)
    return clf, pre, mean, std, full


def load(row: dict, pretrained: bool, device="cpu") -> Built:
    model, pre, mean, std, full = load_mobileclip(row, pretrained)
    return Built(model, pre, mean, std, parameters_full_m=full)


def check(row: dict) -> str | None:
    return None if row["pretrained_tag"].startswith("https://") else "mobileclip entry needs a weights URL"


def available(row: dict) -> bool:
    return importlib.util.find_spec("mobileclip") is not None
