"""A small B-cos CNN and its standard twin for the mini zoo.

B-cos layer (Böhle, Fritz, Schiele, "B-cos Networks: Alignment is All We Need for
Interpretability", CVPR 2022, Sec. 3.1, Eq. 3–4)::

    B-cos(x; w) = |cos(x, ŵ)|^(B−1) · ŵᵀx,   ŵ = w / ‖w‖,

applied per convolution window (the norm of x is taken over each window). No
biases, no normalisation layers; the input is encoded as [x, 1 − x] (Sec. 3.3) so
that every colour is representable by non-negative inputs. With the dynamic
scaling ``|cos|^(B−1)`` treated as constant (explanation mode) the network is a
linear map of its encoded input, ``f(x) = W(x)ᵀ x``, and the contribution map
``W(x)ᵀx`` (summed over the 6 input channels per pixel) adds up exactly to the
logit (minus the logit bias): see :meth:`BcosCNN.contribution`. We use B = 2 and no
MaxOut (as in B-cos v2, Böhle et al. TPAMI 2024), so the B-cos net and its
standard twin have the same widths and depth.

Standard twin (``mini_cnn_twin``): the same convolution stack with biases and
ReLU and the same global average pooling, trained by the same recipe.

Recipe ``bce`` (both models): binary cross-entropy on one-hot targets, as B-cos
networks are trained (Böhle et al. 2022, Sec. 4: with BCE a class's logit is driven
below 0 where its object is absent, which keeps other objects out of its
explanation), class bias initialised to the log-prior ``−log(K − 1)``; AdamW,
one-cycle learning rate, batch 64, ``DEFAULT_STEPS`` steps over the `train` split
with random 2-pixel translation and horizontal flips.
"""
from __future__ import annotations

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from quba.zoo.mini import register_arch, register_recipe

WIDTHS = (32, 64, 64)


class BcosConv2d(nn.Module):
    """A B-cos convolution (B-cos v1 Eq. 3 per window, no bias)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, padding: int | None = None,
                 b: float = 2.0, eps: float = 1e-6):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.kernel_size, self.stride = kernel_size, stride
        self.padding = kernel_size // 2 if padding is None else padding
        self.b, self.eps = float(b), eps
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.explanation_mode = False
        self.register_buffer("_ones", torch.ones(1, 1, kernel_size, kernel_size), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w_hat = w / w.flatten(1).norm(dim=1).clamp_min(self.eps).view(-1, 1, 1, 1)
        lin = F.conv2d(x, w_hat, None, self.stride, self.padding)
        if self.b == 1.0:
            return lin
        window_norm = F.conv2d((x * x).sum(1, keepdim=True), self._ones, None, self.stride, self.padding)
        window_norm = (window_norm + self.eps).sqrt()
        scale = (lin / window_norm).abs()
        if self.b != 2.0:
            scale = scale.pow(self.b - 1.0)
        if self.explanation_mode:
            scale = scale.detach()
        return lin * scale

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, k={self.kernel_size}, s={self.stride}, B={self.b}"


class BcosCNN(nn.Module):
    """[x, 1−x] encoding → 3 B-cos convs → B-cos 1×1 class conv → global mean → logits.

    Logits are ``scale · mean_{h,w}(class map) + bias``; the fixed ``scale`` and the
    learned ``bias`` (a log-prior, as in B-cos) do not depend on the input, so the
    explanation is unaffected by them.
    """

    def __init__(self, num_classes: int = 10, widths=WIDTHS, b: float = 2.0, logit_scale: float = 100.0):
        super().__init__()
        chans = (6, *widths)
        strides = (1, 2, 2)
        self.features = nn.ModuleList(
            BcosConv2d(chans[i], chans[i + 1], 3, strides[i], b=b) for i in range(len(widths))
        )
        self.classifier = BcosConv2d(widths[-1], num_classes, 1, 1, 0, b=b)
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))
        self.bias = nn.Parameter(torch.zeros(num_classes))
        self.num_classes = num_classes

    @staticmethod
    def encode(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, 1.0 - x], dim=1)

    def forward_encoded(self, z: torch.Tensor) -> torch.Tensor:
        for layer in self.features:
            z = layer(z)
        z = self.classifier(z)
        return self.logit_scale * z.mean(dim=(2, 3)) + self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_encoded(self.encode(x))

    def contribution(self, x: torch.Tensor, target: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """Contribution maps ``W(x)ᵀx`` [N, 6, H, W] w.r.t. the encoded input, for class ``target``.

        Summed over channels and pixels, a map equals ``logit_target − bias_target``.
        """
        layers = [*self.features, self.classifier]
        before = [m.explanation_mode for m in layers]
        try:
            for m in layers:
                m.explanation_mode = True
            with torch.enable_grad():
                z = self.encode(x.detach()).requires_grad_(True)
                out = self.forward_encoded(z).gather(1, target.view(-1, 1).to(x.device)).sum()
                (g,) = torch.autograd.grad(out, z, create_graph=create_graph)
        finally:
            for m, b in zip(layers, before):
                m.explanation_mode = b
        return z.detach() * g


class TwinCNN(nn.Module):
    """The standard twin: the same convolution stack as :class:`BcosCNN` (3 input channels,
    biases, ReLU), normalising its [0, 1] input inside."""

    def __init__(self, num_classes: int = 10, widths=WIDTHS):
        super().__init__()
        chans = (3, *widths)
        strides = (1, 2, 2)
        layers = []
        for i in range(len(widths)):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 3, strides[i], 1), nn.ReLU(inplace=False)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(widths[-1], num_classes, 1)
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25))
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features((x - self.mean) / self.std)
        return self.classifier(z).mean(dim=(2, 3))


@register_arch("mini_bcos_cnn")
def mini_bcos_cnn(num_classes: int = 12) -> nn.Module:
    return BcosCNN(num_classes)


@register_arch("mini_cnn_twin")
def mini_cnn_twin(num_classes: int = 12) -> nn.Module:
    return TwinCNN(num_classes)


# ---------------------------------------------------------------------------- training

BATCH = 64
DEFAULT_STEPS = 400


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to 2 px (reflect padding) and horizontal flip, per image."""
    n, _, h, w = x.shape
    pad = F.pad(x, (2, 2, 2, 2), mode="reflect")
    oy = torch.randint(0, 5, (n,), generator=gen)
    ox = torch.randint(0, 5, (n,), generator=gen)
    rows = oy[:, None] + torch.arange(h)[None, :]
    cols = ox[:, None] + torch.arange(w)[None, :]
    out = pad[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def batches(images, labels, steps: int, seed: int):
    """``steps`` augmented batches (float [B,3,H,W] in [0,1], labels) drawn without
    replacement per pass, seeded; yields (step, x, y)."""
    gen = torch.Generator().manual_seed(seed)
    x_all = torch.as_tensor(np.asarray(images))
    y_all = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    order, pos = torch.randperm(len(y_all), generator=gen), 0
    for step in range(steps):
        if pos + BATCH > len(order):
            order, pos = torch.randperm(len(y_all), generator=gen), 0
        idx = order[pos:pos + BATCH]
        pos += BATCH
        x = x_all[idx].float()
        if x_all.dtype == torch.uint8:
            x = x / 255.0
        yield step, augment(x, gen), y_all[idx]


def optimiser(model: nn.Module, steps: int, lr: float = 3e-3, weight_decay: float = 5e-4):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    # (at least 10 scheduler steps: a short smoke run must not divide the warm-up into nothing)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 10), pct_start=0.2)
    return opt, sched


def train_steps(model: nn.Module, images, labels, loss_fn, *, steps: int, seed: int, progress: bool = True,
                desc: str = "train") -> nn.Module:
    """The shared optimisation loop of the B-cos and student recipes: AdamW + one-cycle over
    ``batches(images, labels, steps, seed)``, minimising ``loss_fn(x, y)``; leaves ``model`` in eval mode."""
    from tqdm.auto import tqdm

    opt, sched = optimiser(model, steps)
    model.train()
    bar = tqdm(total=steps, desc=desc, disable=not progress, file=sys.stderr, leave=False)
    for _, x, y in batches(images, labels, steps, seed):
        loss = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    model.eval()
    return model


def fit_bce(model: nn.Module, images, labels, *, steps: int, seed: int, progress: bool = True,
            desc: str = "bce") -> nn.Module:
    """Train with binary cross-entropy on one-hot targets (the B-cos recipe)."""
    torch.manual_seed(seed)
    k = int(model.num_classes)
    with torch.no_grad():  # log-prior bias: every class starts at p = 1/K
        bias = model.bias if isinstance(getattr(model, "bias", None), torch.Tensor) else model.classifier.bias
        bias.fill_(-math.log(max(k - 1, 1)))
    return train_steps(model, images, labels, lambda x, y: F.binary_cross_entropy_with_logits(
        model(x), F.one_hot(y, k).float()), steps=steps, seed=seed, progress=progress, desc=desc)


@register_recipe("bce")
def bce(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    """The B-cos recipe (binary cross-entropy) on the `train` split; used by the B-cos model and its twin."""
    tr = suite.split("train")
    fit_bce(model, tr.images, tr.labels, steps=steps or DEFAULT_STEPS, seed=seed, progress=progress,
            desc=type(model).__name__)
    return {}
