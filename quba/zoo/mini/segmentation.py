"""A small segmentation model for QUBA-mini's `segmentation` split.

`mini_seg_fcn`: a two-level U-Net-style FCN (~93 k parameters) mapping
images in [0, 1] [N, 3, 32, 32] to logits [N, 13, 32, 32] over background +
the 12 QUBA-mini shape classes (label map convention of the split: 0
background, k + 1 for class k).

Recipe `seg_noise`: trained on the segmentation generator of QUBA-mini under
other suite seeds (1001, 1002, ...; never the evaluated seed-0 split), with
Gaussian noise augmentation (σ uniform in [0, 0.3] per image, half of every
batch clean) so that the randomized-smoothing certificate (`quba certify`) has
a base model that tolerates noise (Cohen et al., ICML 2019, Sec. 4).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from quba.zoo.mini import register_arch, register_recipe

NUM_SEG_CLASSES = 13  # background + 12 shapes
TRAIN_SEEDS = tuple(range(1001, 1007))


def _block(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class MiniSegFCN(nn.Module):
    """Encoder (32 -> 16 -> 8 px) with a dilated bottleneck, decoder with skip connections."""

    def __init__(self, num_classes: int = NUM_SEG_CLASSES, widths=(16, 32, 48)):
        super().__init__()
        w1, w2, w3 = widths
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))
        self.enc1 = _block(3, w1)
        self.enc2 = _block(w1, w2)
        self.mid = _block(w2, w3, dilation=2)
        self.dec2 = _block(w3 + w2, w2)
        self.dec1 = _block(w2 + w1, w1)
        self.head = nn.Conv2d(w1, num_classes, 1)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([F.interpolate(m, size=e2.shape[-2:], mode="nearest"), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="nearest"), e1], 1))
        return self.head(d1)


@register_arch("mini_seg_fcn")
def mini_seg_fcn(num_classes: int = NUM_SEG_CLASSES) -> nn.Module:
    return MiniSegFCN(num_classes)


def training_data(seeds=TRAIN_SEEDS):
    """(images uint8 [N, 3, H, W], label maps int64 [N, H, W]) from the segmentation
    generator under suite seeds disjoint from the evaluated one (seed 0)."""
    import numpy as np

    from quba.suites.mini import MiniSuite

    imgs, segs = [], []
    for s in seeds:
        sp = MiniSuite(seed=int(s)).split("segmentation")
        imgs.append(np.asarray(sp.images))
        segs.append(np.asarray(sp.meta["seg"]))
    return np.concatenate(imgs), np.concatenate(segs)


def pixel_accuracy(model: nn.Module, images, seg, batch_size: int = 128) -> float:
    """Share of pixels whose argmax equals the label map (background included)."""
    import numpy as np

    model.eval()
    hits = 0
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            x = torch.as_tensor(np.asarray(images[s:s + batch_size])).float() / 255.0
            pred = model(x).argmax(1).numpy()
            hits += int((pred == np.asarray(seg[s:s + batch_size])).sum())
    return hits / float(np.asarray(seg).size)


DEFAULT_EPOCHS = 16


@register_recipe("seg_noise")
def train_seg_noise(model: nn.Module, suite=None, *, seed: int = 0, steps: int | None = None, batch_size: int = 64,
                    max_sigma: float = 0.3, progress: bool = True, **_ignored) -> dict:
    """Train `model` in place: Adam with a one-cycle learning rate (max 3e-3), class-weighted
    cross-entropy (weights ∝ 1/sqrt(pixel frequency), so small objects count against the
    background), horizontal flips, Gaussian noise on half of every batch. `steps=None`:
    16 passes over the 1440 training images (~370 steps, about a minute of CPU).
    Returns {"clean_accuracy": pixel accuracy on the segmentation split of `suite`
    (seed 0 when None)}."""
    import numpy as np
    from tqdm.auto import tqdm

    from quba.suites.mini import MiniSuite

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    images, seg = training_data()
    x_all = torch.as_tensor(images)
    y_all = torch.as_tensor(seg)
    per_epoch = (len(x_all) + batch_size - 1) // batch_size
    total = int(steps) if steps is not None else DEFAULT_EPOCHS * per_epoch
    freq = torch.bincount(y_all.view(-1), minlength=model.num_classes).float()
    weight = (freq.sum() / (freq + 1)).sqrt()
    weight = weight / weight.mean()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=max(total, 1), pct_start=0.15)
    bar = tqdm(total=total, desc="train mini-seg", disable=not progress, leave=False)
    model.train()
    done = 0
    while done < total:
        order = torch.randperm(len(x_all), generator=gen)
        for s in range(0, len(order), batch_size):
            if done >= total:
                break
            idx = order[s:s + batch_size]
            x = x_all[idx].float() / 255.0
            y = y_all[idx]
            if torch.rand((), generator=gen) < 0.5:  # horizontal flip of the whole batch
                x, y = x.flip(-1), y.flip(-1)
            sig = torch.rand((len(idx), 1, 1, 1), generator=gen) * max_sigma
            sig[: len(idx) // 2] = 0.0
            x = x + sig * torch.randn(x.shape, generator=gen)
            loss = F.cross_entropy(model(x), y, weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            bar.update(1)
    bar.close()
    model.eval()
    eval_seed = suite.seed if suite is not None else 0
    sp = MiniSuite(seed=eval_seed).split("segmentation")
    return {"clean_accuracy": round(pixel_accuracy(model, sp.images, np.asarray(sp.meta["seg"])), 4)}
