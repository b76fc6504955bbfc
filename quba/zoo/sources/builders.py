"""Builders of the `hub` source: public weights assembled into the classifiers the QUBA paper
evaluated, without running any downloaded code.

Each builder is `builder(arg, urls, pretrained, model_id) -> nn.Module` taking normalised
images; the catalog names it as `quba:<builder>(<arg>)` with the weight URLs (';'-separated)
in `pretrained_tag`. (The mini zoo's *training recipes*, quba.zoo.mini.RECIPES, are another
thing: how a mini model is trained.)
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from quba.errors import QubaError
from quba.zoo.sources.common import load_into, url_state_dict

BUILDERS: dict[str, Callable] = {}


def builder(name: str):
    def deco(fn):
        BUILDERS[name] = fn
        return fn

    return deco


# ------------------------------------------------------------------ BagNet
# Brendel & Bethge, "Approximating CNNs with Bag-of-local-Features models works
# surprisingly well on ImageNet" (ICLR 2019): a ResNet-50 whose 3x3 convolutions
# are 1x1 except in the first k blocks of each stage, all unpadded, so that
# each output sees a q x q patch (q = 9, 17, 33). Parameter names follow the
# authors' release so that its weights load.


class _BagBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, kernel_size: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size, stride=stride, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        if shortcut.shape[-1] != out.shape[-1]:  # unpadded 3x3 shrinks the map: crop the shortcut
            d = shortcut.shape[-1] - out.shape[-1]
            shortcut = shortcut[:, :, :-d, :-d]
        return self.relu(out + shortcut)


class BagNet(nn.Module):
    def __init__(self, kernel3=(1, 1, 0, 0), layers=(3, 4, 6, 3), strides=(2, 2, 2, 1), num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 1, bias=False)
        self.conv2 = nn.Conv2d(64, 64, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=0.001)
        self.relu = nn.ReLU(inplace=True)
        for i, (planes, n, s, k3) in enumerate(zip((64, 128, 256, 512), layers, strides, kernel3), start=1):
            setattr(self, f"layer{i}", self._stage(planes, n, s, k3))
        self.fc = nn.Linear(512 * 4, num_classes)

    def _stage(self, planes, blocks, stride, kernel3):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        mods = [_BagBottleneck(self.inplanes, planes, stride, downsample, 3 if kernel3 > 0 else 1)]
        self.inplanes = planes * 4
        mods += [_BagBottleneck(self.inplanes, planes, kernel_size=3 if kernel3 > i else 1) for i in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv2(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3)))


_BAGNET_KERNEL3 = {9: (1, 1, 0, 0), 17: (1, 1, 1, 0), 33: (1, 1, 1, 1)}


@builder("bagnet")
def bagnet(arg: str, urls: list[str], pretrained: bool, model_id: str) -> nn.Module:
    q = int(arg)
    if q not in _BAGNET_KERNEL3:
        raise QubaError(f"BagNet patch size must be one of {sorted(_BAGNET_KERNEL3)}")
    model = BagNet(_BAGNET_KERNEL3[q])
    if pretrained:
        load_into(model, url_state_dict(urls[0], model_id), f"BagNet-{q} weights")
    return model


# ------------------------------------------------------------------ ViT helpers


def _vit_last_blocks(vit: nn.Module, x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """Token sequences after the last n blocks, each through the final norm
    (DINO's / DINOv2's `get_intermediate_layers`), on a timm VisionTransformer."""
    x = vit.patch_embed(x)
    x = vit._pos_embed(x)
    x = vit.patch_drop(x)
    x = vit.norm_pre(x)
    outs = []
    depth = len(vit.blocks)
    for i, blk in enumerate(vit.blocks):
        x = blk(x)
        if i >= depth - n:
            outs.append(vit.norm(x))
    return outs


def _timm(name: str, pretrained: bool, model_id: str, **kwargs) -> nn.Module:
    from quba.zoo.sources.timm import timm_create

    return timm_create(name, pretrained=pretrained, model_id=model_id, **kwargs)


def _linear_head(state: dict, in_features: int, where: str) -> nn.Linear:
    weight = [v for k, v in state.items() if k.endswith("weight")]
    bias = [v for k, v in state.items() if k.endswith("bias")]
    if len(weight) != 1 or len(bias) != 1 or weight[0].shape[1] != in_features:
        raise QubaError(f"{where} is not a linear head on {in_features} features")
    head = nn.Linear(in_features, weight[0].shape[0])
    head.load_state_dict({"weight": weight[0], "bias": bias[0]})
    return head


# ------------------------------------------------------------------ DINO (Caron et al. 2021)


class DinoLinear(nn.Module):
    """DINO linear evaluation (eval_linear.py of the official code): [CLS] of
    the last n blocks, plus (avgpool) the mean patch token of the last block,
    interleaved exactly as the official code concatenates them."""

    def __init__(self, vit: nn.Module, head: nn.Linear, n: int, avgpool: bool):
        super().__init__()
        self.vit, self.head, self.n, self.avgpool = vit, head, n, avgpool

    def forward(self, x):
        outs = _vit_last_blocks(self.vit, x, self.n)
        feats = torch.cat([o[:, 0] for o in outs], dim=-1)
        if self.avgpool:
            patch_mean = outs[-1][:, self.vit.num_prefix_tokens:].mean(dim=1)
            feats = torch.cat((feats.unsqueeze(-1), patch_mean.unsqueeze(-1)), dim=-1).reshape(feats.shape[0], -1)
        return self.head(feats)


@builder("dino_linear")
def dino_linear(arg: str, urls: list[str], pretrained: bool, model_id: str) -> nn.Module:
    vit = _timm(arg, pretrained, model_id, num_classes=0)
    dim = vit.embed_dim
    # official settings: ViT-B/16 uses n=1 with avgpool, ViT-S/16 n=4 without (both 1536-d)
    n, avgpool = (1, True) if dim == 768 else (4, False)
    if pretrained:
        head = _linear_head(url_state_dict(urls[0], model_id), dim * (n + int(avgpool)), "DINO linear weights")
    else:
        head = nn.Linear(dim * (n + int(avgpool)), 1000)
    return DinoLinear(vit, head, n, avgpool)


@builder("dino_resnet50_linear")
def dino_resnet50_linear(arg: str, urls: list[str], pretrained: bool, model_id: str) -> nn.Module:
    import torchvision.models as tvm

    model = tvm.get_model(arg, weights=None)
    if pretrained:
        backbone = url_state_dict(urls[0], model_id)
        head = _linear_head(url_state_dict(urls[1], model_id), model.fc.in_features, "DINO ResNet-50 linear weights")
        backbone = {k: v for k, v in backbone.items() if not k.startswith("fc.")}
        backbone.update({"fc.weight": head.weight.data, "fc.bias": head.bias.data})
        load_into(model, backbone, "DINO ResNet-50 weights")
    return model


# ------------------------------------------------------------------ MAE (He et al. 2022)


@builder("mae_finetuned")
def mae_finetuned(arg: str, urls: list[str], pretrained: bool, model_id: str) -> nn.Module:
    """The official fine-tuned MAE ViT: global average pool + fc_norm + head."""
    arch = arg.split(".")[0]
    model = _timm(arch, False, model_id, num_classes=1000, global_pool="avg", fc_norm=True)
    if pretrained:
        load_into(model, url_state_dict(urls[0], model_id), "MAE fine-tuned checkpoint")
    return model


# ------------------------------------------------------------------ DINOv2 (Oquab et al. 2024)


def dinov2_interpolate_pos(patch_pos: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """The official DINOv2 run-time resampling of the patch position embedding
    (1, M*M, D) to a grid_h x grid_w grid: bicubic, scale factor (grid + 0.1) / M,
    no antialiasing (`interpolate_pos_encoding` with interpolate_offset=0.1)."""
    m = int(math.isqrt(patch_pos.shape[1]))
    dim = patch_pos.shape[-1]
    if m * m == patch_pos.shape[1] and (grid_h, grid_w) == (m, m):
        return patch_pos
    grid = patch_pos.float().reshape(1, m, m, dim).permute(0, 3, 1, 2)
    out = F.interpolate(grid, scale_factor=((grid_h + 0.1) / m, (grid_w + 0.1) / m), mode="bicubic",
                        antialias=False)
    if out.shape[-2:] != (grid_h, grid_w):
        raise ValueError(f"position grid {tuple(out.shape[-2:])} != {(grid_h, grid_w)}")
    return out.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim).to(patch_pos.dtype)


class Dinov2Linear4(nn.Module):
    """DINOv2 `_lc` classifier with 4 layers: [CLS] of the last 4 blocks and the
    mean patch token (registers excluded) of the last block -> linear.

    The backbone keeps its 518-px (37 x 37) position embedding, as the released
    model does, and resamples it per input size like the official code."""

    def __init__(self, vit: nn.Module, head: nn.Linear):
        super().__init__()
        self.vit, self.head = vit, head
        vit.patch_embed.strict_img_size = False

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.vit
        ph, pw = vit.patch_embed.patch_size
        gh, gw = x.shape[-2] // ph, x.shape[-1] // pw
        x = vit.patch_embed(x)
        if x.ndim == 4:  # NHWC
            x = x.flatten(1, 2)
        num_patches = vit.patch_embed.num_patches
        prefix_pos = vit.pos_embed.shape[1] - num_patches
        pos = torch.cat([vit.pos_embed[:, :prefix_pos],
                         dinov2_interpolate_pos(vit.pos_embed[:, prefix_pos:], gh, gw)], dim=1)
        prefix = [vit.cls_token.expand(x.shape[0], -1, -1)]
        if getattr(vit, "reg_token", None) is not None:
            prefix.append(vit.reg_token.expand(x.shape[0], -1, -1))
        if vit.no_embed_class:
            x = torch.cat(prefix + [x + pos], dim=1)
        else:
            x = torch.cat(prefix + [x], dim=1) + pos
        return vit.norm_pre(x)

    def forward(self, x):
        x = self._tokens(x)
        outs = []
        depth = len(self.vit.blocks)
        for i, blk in enumerate(self.vit.blocks):
            x = blk(x)
            if i >= depth - 4:
                outs.append(self.vit.norm(x))
        cls = [o[:, 0] for o in outs]
        patch_mean = outs[-1][:, self.vit.num_prefix_tokens:].mean(dim=1)
        return self.head(torch.cat(cls + [patch_mean], dim=1))


@builder("dinov2_linear4")
def dinov2_linear4(arg: str, urls: list[str], pretrained: bool, model_id: str) -> nn.Module:
    vit = _timm(arg if pretrained else arg.split(".")[0], pretrained, model_id, num_classes=0)
    if pretrained:
        head = _linear_head(url_state_dict(urls[0], model_id), 5 * vit.embed_dim, "DINOv2 linear4 head")
    else:
        head = nn.Linear(5 * vit.embed_dim, 1000)
    return Dinov2Linear4(vit, head)
