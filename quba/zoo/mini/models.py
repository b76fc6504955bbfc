"""Architectures of the mini zoo: a small CNN and a small ViT for 32x32 QUBA-mini images.

Every model takes images in [0, 1] (NCHW float) and returns logits. Normalisation
((x - 0.5) / 0.25 per channel) happens inside, and every model carries a
`logit_scale` buffer (default 1) that multiplies its logits: the calibrated
variant stores 1/T of its fitted temperature T there, the over-confident
variant a sharpening factor > 1, so the property travels with the weights.
"""
from __future__ import annotations

import torch
from torch import nn

from quba.zoo.mini import register_arch

MEAN, STD = 0.5, 0.25


class MiniClassifier(nn.Module):
    """Normalise -> backbone -> logits * logit_scale."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.full((1, 3, 1, 1), MEAN))
        self.register_buffer("std", torch.full((1, 3, 1, 1), STD))
        self.register_buffer("logit_scale", torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_normalised((x - self.mean) / self.std)

    def forward_normalised(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of already normalised images (`--protocol paper` attacks in this space)."""
        return self.backbone(z) * self.logit_scale


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """Five 3x3 conv-BN-ReLU layers (32-48-64-96-128 channels, three stride-2),
    global average pooling, linear head (~0.2 M parameters)."""

    def __init__(self, num_classes: int = 12, widths=(32, 48, 64, 96, 128)):
        super().__init__()
        w = widths
        self.features = nn.Sequential(
            _conv_bn(3, w[0]), _conv_bn(w[0], w[1], 2), _conv_bn(w[1], w[2]),
            _conv_bn(w[2], w[3], 2), _conv_bn(w[3], w[4], 2),
        )
        self.head = nn.Linear(w[4], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


@register_arch("mini_cnn")
def mini_cnn(num_classes: int = 12) -> nn.Module:
    return MiniClassifier(SmallCNN(num_classes))


@register_arch("mini_vit")
def mini_vit(num_classes: int = 12) -> nn.Module:
    """timm VisionTransformer: 4x4 patches (64 tokens + class token), width 96,
    depth 4, 4 heads, MLP ratio 2 (~0.3 M parameters). Built locally, no download."""
    from timm.models.vision_transformer import VisionTransformer

    vit = VisionTransformer(img_size=32, patch_size=4, in_chans=3, num_classes=num_classes, embed_dim=96,
                            depth=4, num_heads=4, mlp_ratio=2.0, class_token=True, global_pool="token")
    return MiniClassifier(vit)
