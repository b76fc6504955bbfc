"""CoDA-Nets: Convolutional Dynamic Alignment Networks.

Böhle, Fritz, Schiele, "Convolutional Dynamic Alignment Networks for Interpretable
Classifications", CVPR 2021 (the paper below; the authors' code, moboehle/CoDA-Nets, where
the paper leaves a detail open).

A **Dynamic Alignment Unit** (Sec. 3) maps an input patch x to

    DAU(x) = g(a(x))ᵀ x,   a(x) = B A x + b   (A: rank r × d, B: d × r, bias b ∈ ℝᵈ)

where g bounds the norm of the dynamic weight vector: L2 rescaling g(u) = u / ‖u‖ or squashing
g(u) = ‖u‖² / (1 + ‖u‖²) · u / ‖u‖ (code: modules/norms.py `L2Norm`, `Squashing`).
Since ‖g(·)‖ ≤ 1, a unit's output is largest when its weight *aligns* with the input.
A **CoDA layer** is a convolution of DAUs: one DAU per output channel, applied to
every k × k patch; in the authors' code (modules/DAUs.py) A is a k × k convolution to r
channels, B a 1 × 1 convolution from r to out · in · k² channels with bias b, the patch is
zero-padded. A **CoDA-Net** stacks CoDA layers with no other non-linearity,
sum-pools the last map (code: `AdaptiveSumPool2d`) and divides by a temperature T (the paper's
temperature scaling: large T forces stronger alignment), plus a fixed logit bias (code: `FinalLayer`,
log(0.1 / 0.9) = −log(K − 1) for CIFAR-10). The input is the image encoded as [x, 1 − x]
(code: `AddInverse`: every colour representable with non-negative channels).

Because every layer is an input-dependent linear map, the whole network is ``f(x) = W(x)ᵀ x``
and the **contribution map** ``W(x) ⊙ x`` sums exactly to ``(logit − bias)`` (the
paper's linear decomposition, Eq. 8): treat the dynamic weights as constants and take input × gradient w.r.t. the encoded
input (the code's `explanation_mode`, which detaches the weights).

Implementation: instead of materialising the out · in · k² dynamic weights per position, as
the authors' code does, the layer uses the factorisation

    wₒ(p)ᵀ u(p) = Σ_r a_r(p) · (Bₒ,ᵣ ∗ x)(p) + (bₒ ∗ x)(p)
    ‖wₒ(p)‖²   = a(p)ᵀ Gₒ a(p) + 2 hₒᵀ a(p) + ‖bₒ‖²,   Gₒ = Bₒᵀ Bₒ,  hₒ = Bₒᵀ bₒ

(∗: the same k × k convolution), which is the same function with r times fewer per-position
numbers than in · k². `tests/unit/test_coda_tokenformer.py` checks it against the direct formula.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("l2", "squash")


class DAUConv2d(nn.Module):
    """A convolutional layer of Dynamic Alignment Units (CoDA-Nets Sec. 3).

    Parameters as in the authors' `DAUWeights`: ``a`` (k × k conv, in → rank, no bias), ``b_weight``
    (the 1 × 1 conv rank → out · in · k², stored as [out, rank, in, k, k]) and ``b_bias``
    ([out, in, k, k]); default PyTorch conv initialisation, as theirs.
    """

    def __init__(self, in_ch: int, out_ch: int, rank: int, kernel_size: int = 3, stride: int = 1,
                 padding: int | None = None, norm: str = "l2", eps: float = 1e-12):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}; got {norm!r}")
        self.in_ch, self.out_ch, self.rank = in_ch, out_ch, rank
        self.kernel_size, self.stride = kernel_size, stride
        self.padding = (kernel_size - 1) // 2 if padding is None else padding
        self.norm, self.eps = norm, eps
        self.a = nn.Conv2d(in_ch, rank, kernel_size, stride, self.padding, bias=False)
        self.b_weight = nn.Parameter(torch.empty(out_ch, rank, in_ch, kernel_size, kernel_size))
        self.b_bias = nn.Parameter(torch.empty(out_ch, in_ch, kernel_size, kernel_size))
        bound = 1.0 / math.sqrt(rank)  # nn.Conv2d's default for the 1x1 conv of fan-in `rank`
        nn.init.uniform_(self.b_weight, -bound, bound)
        nn.init.uniform_(self.b_bias, -bound, bound)
        self.explanation_mode = False  # dynamic weights detached: the layer is linear in its input

    # the `bcos` package's switch, so quba's attribution finds these layers inside any wrapper
    def set_explanation_mode(self, on: bool = True) -> None:
        self.explanation_mode = bool(on)

    def is_in_explanation_mode(self) -> bool:
        return self.explanation_mode

    def dynamic_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The raw dynamic weights a(x) = B A x + b per output position, [N, out, in·k², H', W']
        (the authors' `DAUWeights.forward` before normalisation; for tests and inspection)."""
        act = self.a(x)
        w = torch.einsum("orc,nrhw->nochw", self.b_weight.flatten(2), act)
        return w + self.b_bias.flatten(1)[None, :, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s, p, o = self.kernel_size, self.stride, self.padding, self.out_ch
        act = self.a(x)  # [N, r, H', W']
        n, r, h, w = act.shape
        z = F.conv2d(x, self.b_weight.reshape(o * r, self.in_ch, k, k), None, s, p).view(n, o, r, h * w)
        zb = F.conv2d(x, self.b_bias, None, s, p)  # bₒ * x
        b_flat, bias_flat = self.b_weight.flatten(2), self.b_bias.flatten(1)  # [o, r, in·k²], [o, in·k²]
        gram = torch.einsum("orc,osc->ors", b_flat, b_flat).reshape(o, r * r)
        cross = torch.einsum("orc,oc->or", b_flat, bias_flat)
        af = act.view(n, r, h * w)
        outer = (af[:, :, None] * af[:, None]).reshape(n, r * r, h * w)
        sq = (torch.einsum("ok,nkp->nop", gram, outer) + 2 * torch.einsum("or,nrp->nop", cross, af)
              + bias_flat.pow(2).sum(1)[None, :, None])  # ‖wₒ(p)‖²
        sq = sq.clamp_min(self.eps).view(n, o, h, w)
        scale = sq.rsqrt() if self.norm == "l2" else sq.sqrt() / (1.0 + sq)  # L2 / squashing
        if self.explanation_mode:
            af, scale = af.detach(), scale.detach()
        lin = torch.einsum("norp,nrp->nop", z, af).view(n, o, h, w) + zb  # a(x)ᵀ applied to the patch
        return lin * scale

    def extra_repr(self) -> str:
        return (f"{self.in_ch}, {self.out_ch}, rank={self.rank}, k={self.kernel_size}, s={self.stride}, "
                f"norm={self.norm}")


class CoDANet(nn.Module):
    """CoDA layers → sum pooling → / T + bias (CoDA-Nets Sec. 3; code: models/simple_coda.py).

    Takes the *encoded* image [x, 1 − x] (6 channels); `CoDAClassifier` (mini zoo) or quba's
    catalog wrapper (`add_inverse`) does the encoding. ``layers``: (out, rank, kernel, stride)
    per CoDA layer, the last one's ``out`` = number of classes. ``bias``: the fixed logit bias.
    ``attribution_method``: what quba's ``--attribution auto`` picks for a model containing it.
    """

    attribution_method = "coda"

    def __init__(self, layers, in_ch: int = 6, temperature: float = 1000.0, bias: float = -math.log(9.0),
                 norm: str = "l2"):
        super().__init__()
        mods, c = [], in_ch
        for out, rank, k, stride in layers:
            mods.append(DAUConv2d(c, out, rank, k, stride, norm=norm))
            c = out
        self.layers = nn.ModuleList(mods)
        self.num_classes = c
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.register_buffer("bias", torch.full((c,), float(bias)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            z = layer(z)
        return z.sum(dim=(2, 3)) / self.temperature + self.bias


def encode(x: torch.Tensor) -> torch.Tensor:
    """[x, 1 − x] (the authors' `AddInverse`)."""
    return torch.cat([x, 1.0 - x], dim=1)


class CoDAClassifier(nn.Module):
    """[0, 1] images → [x, 1 − x] → `CoDANet` → logits, with the model's own attribution:
    :meth:`contribution`, the CoDA contribution map."""

    def __init__(self, net: CoDANet):
        super().__init__()
        self.net = net
        self.num_classes = net.num_classes

    @property
    def bias(self):
        """The fixed logit bias (a buffer of the net; quba's BCE recipe sets it to −log(K − 1))."""
        return self.net.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(encode(x))

    def contribution(self, x: torch.Tensor, target: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """Contribution maps ``W(x) ⊙ x̂`` [N, 6, H, W] w.r.t. the encoded input x̂ = [x, 1 − x],
        for class ``target`` per image; summed over channels and pixels a map equals
        ``logit_target − bias_target`` (CoDA-Nets, Eq. 8)."""
        layers = list(self.net.layers)
        before = [m.explanation_mode for m in layers]
        try:
            for m in layers:
                m.explanation_mode = True
            with torch.enable_grad():
                z = encode(x if create_graph else x.detach())
                if not create_graph:
                    z = z.requires_grad_(True)
                out = self.net(z).gather(1, target.view(-1, 1).to(x.device)).sum()
                (g,) = torch.autograd.grad(out, z, create_graph=create_graph)
        finally:
            for m, b in zip(layers, before):
                m.explanation_mode = b
        return z * g if create_graph else z.detach() * g


#: The authors' configurations (out, rank, kernel, stride) per layer.
#: S: experiments/CIFAR10/final/experiment_parameters.py `9L-S-CoDA-SQ-*` (32 px, 10 classes);
#: L: experiments/Imagenet/final/experiment_parameters.py `9L-L-CoDA-SQ-100000` (240 px crops of
#: the first 100 ImageNet classes; quba builds it with `num_classes` outputs).
def config_s(num_classes: int = 10):
    outs = (16, 16, 32, 32, 32, 64, 64, 64, num_classes)
    ranks = (32, 32, 64, 64, 64, 64, 64, 64, 64)
    kernels, strides = (3,) * 8 + (1,), (1, 1, 2, 1, 1, 2, 1, 1, 1)
    return list(zip(outs, ranks, kernels, strides))


def config_l(num_classes: int = 1000):
    outs = (16, 32, 32, 64, 64, 64, 64, 64, num_classes)
    ranks = (64,) * 3 + (128,) * 3 + (256,) * 3
    kernels, strides = (7,) + (3,) * 8, (3, 1, 1, 2, 1, 1, 2, 1, 1)
    return list(zip(outs, ranks, kernels, strides))
