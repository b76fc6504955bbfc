"""A small CoDA-Net for the mini zoo (architecture: quba/zoo/archs/coda.py).

``mini_coda``: four CoDA layers (out, rank, kernel, stride) = (16, 8, 3, 2), (32, 8, 3, 1),
(64, 8, 3, 2), (12, 8, 1, 1) on the [x, 1 − x] encoded 32 × 32 image, L2-normalised dynamic
weights, sum pooling over the final 8 × 8 map, temperature ``TEMPERATURE`` = 1000 and the fixed
logit bias −log(K − 1) (the authors' log(0.1 / 0.9) for K = 10). T = 1000 is the authors'
evaluated CIFAR-10 model (9L-S-CoDA-SQ-1000, whose last map is 8 × 8 too). Their nine-layer
network (``config_s``, ranks 32–64, 7.6 M parameters) is far beyond the mini budget; this one
keeps its design — DAU layers only, a 1 × 1 class layer, two stride-2 layers — at 0.23 M
parameters, the size of the mini CNN (0.21 M); a training step costs about 2.4 times one of the
mini CNN. The temperature does what the paper's temperature ablation shows, measured on this
network after the 400-step recipe (val accuracy / grid pointing game, 30 grids):
T = 10: 0.883 / 0.24, T = 100: 0.872 / 0.67, T = 1000: 0.843 / 0.74.

Training: the ``bce`` recipe of the B-cos model (quba/zoo/mini/bcos.py): binary cross-entropy
as the authors train CoDA-Nets (code: modules/losses.py `LogitsBCE`), AdamW, one-cycle,
400 steps of batch 64 over the `train` split with 2-pixel translations and flips.
"""
from __future__ import annotations

import math

from torch import nn

from quba.zoo.mini import register_arch

LAYERS = ((16, 8, 3, 2), (32, 8, 3, 1), (64, 8, 3, 2))
RANK_OUT = 8
TEMPERATURE = 1000.0


@register_arch("mini_coda")
def mini_coda(num_classes: int = 12) -> nn.Module:
    from quba.zoo.archs.coda import CoDAClassifier, CoDANet

    layers = [*LAYERS, (num_classes, RANK_OUT, 1, 1)]
    return CoDAClassifier(CoDANet(layers, temperature=TEMPERATURE, bias=-math.log(max(num_classes - 1, 1)),
                                  norm="l2"))
