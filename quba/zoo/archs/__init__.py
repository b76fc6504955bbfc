"""Architectures quba implements itself, written from their papers (CoDA-Nets, TokenFormer).

The modules here are plain `nn.Module`s, used by the mini zoo (quba/zoo/mini) and by the
ImageNet-scale catalog entries of quba/data/zoo_catalog_extra.csv, whose identifier
``quba:<name>(<config>)`` names a function of ``CONFIGS`` below: ``config -> Built`` (the
module without weights, its preprocessing and input handling). Those entries have no public
weights (their source is ``unavailable``); they build with ``pretrained=False`` or take your
own weights with ``--checkpoint``.
"""
from __future__ import annotations

import math
import re
from typing import Callable

from quba.errors import QubaError

CONFIGS: dict[str, Callable] = {}
_IDENT_RE = re.compile(r"^quba:(\w+)\((.*)\)$")


def config(name: str):
    def deco(fn):
        CONFIGS[name] = fn
        return fn

    return deco


def parse(identifier: str) -> tuple[Callable, str] | None:
    """(function, argument) of ``quba:<name>(<arg>)`` when ``name`` is a known configuration."""
    m = _IDENT_RE.match(identifier or "")
    if not m or m.group(1) not in CONFIGS:
        return None
    return CONFIGS[m.group(1)], m.group(2)


def build(identifier: str, model_id: str = ""):
    """The `Built` (quba.zoo.sources.common) of a ``quba:<name>(<arg>)`` identifier, without weights."""
    found = parse(identifier)
    if found is None:
        raise QubaError(f"{model_id or identifier!r} names no quba architecture ({identifier!r}); "
                        f"known: {', '.join(sorted(CONFIGS))}")
    fn, arg = found
    return fn(arg)


#: TokenFormer vision sizes: (width, depth, heads) of ViT-B/16 and ViT-L/16, the sizes the paper classifies
#: ImageNet-1k with (Sec. 4).
#: Parameter-token numbers follow the authors' released configs (configs/tokenformer/*.yml):
#: query/key/value and output projection = width, feed-forward = 4 × width.
TOKENFORMER_SIZES = {"B": (768, 12, 12), "L": (1024, 24, 16)}


@config("coda_net")
def coda_net(arg: str):
    """CoDA-Net: the authors' ImageNet configuration ``L`` (9L-L-CoDA-SQ-100000: squashing,
    T = 1e5, logit bias log(0.1/0.9)) with 1000 classes; eval transform Resize(256), CenterCrop(240)
    (experiments/Imagenet/final/experiment_parameters.py), input [x, 1 − x]."""
    from quba.zoo.archs.coda import CoDANet, config_l
    from quba.zoo.sources.common import Built, make_preprocess

    if arg != "L":
        raise QubaError(f"coda_net has configuration L only; got {arg!r}")
    net = CoDANet(config_l(1000), temperature=1e5, bias=math.log(0.1 / 0.9), norm="squash")
    return Built(net, make_preprocess(256, 240, "bilinear"), None, None, add_inverse=True)


@config("tokenformer_vit")
def tokenformer_vit(arg: str):
    """TokenFormer ViT ``B`` or ``L`` with 16 × 16 patches at 224 px; ImageNet mean/std,
    Resize(256, bicubic), CenterCrop(224) (the DeiT/ViT evaluation transform)."""
    from quba.zoo.archs.tokenformer import TokenFormerViT
    from quba.zoo.sources.common import IMAGENET_MEAN, IMAGENET_STD, Built, make_preprocess

    if arg not in TOKENFORMER_SIZES:
        raise QubaError(f"tokenformer_vit has sizes {', '.join(TOKENFORMER_SIZES)}; got {arg!r}")
    dim, depth, heads = TOKENFORMER_SIZES[arg]
    net = TokenFormerViT(1000, 224, 16, 3, dim, depth, heads, qkv_tokens=dim, proj_tokens=dim, ffn_tokens=4 * dim)
    return Built(net, make_preprocess(256, 224, "bicubic"), IMAGENET_MEAN, IMAGENET_STD)
