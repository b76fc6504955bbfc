"""Training recipes of the mini zoo and `main`, which rebuilds the shipped weights.

A recipe is registered with `@register_recipe(name)` and called as

    recipe(model, suite, *, seed: int, steps: int | None = None, progress: bool = True) -> dict

It trains `model` in place on QUBA-mini data (never on the evaluated `val` or
test splits; `suite` is the seed-0 suite the zoo is evaluated on) and returns a
dict, optionally with "clean_accuracy" (otherwise `main` measures top-1 on
`val`). `steps=None` means the recipe's documented default; a small number is a
smoke test.

Recipes here (all: AdamW, one-cycle learning rate, batch 64, random 2-pixel
translation and horizontal flip; every classifier sees 3000 training images
per pass, drawn with `MiniSuite.generate` in the recipe's texture/background
mode, or the canonical `train` split for the standard family):

  standard             train split (class-typical texture and background 85 %)
  shape_biased         textures and backgrounds uniform at random (shape is the only cue)
  texture_biased       class-typical texture on a random class's shape, 8x8
                       tiles shuffled; backgrounds random (only texture informs)
  background_robust    backgrounds uniform at random (85 % class textures)
  background_shortcut  background always the class's; textures random
  adversarial_fgsm     standard data, FGSM with random start (Wong et al. 2020,
                       "Fast is better than free", Alg. 3), eps = 8/255, step 10/255
  overconfident        memorises 20 train images per class (no augmentation, no
                       weight decay), logits then multiplied by 3 (baked)
  calibrated           the standard model temperature-scaled (Guo et al. 2017,
                       Sec. 4.2) on 1200 freshly generated train-distribution images

Known-answer checks of the variants: benchmarks/mini_zoo_properties.py.
"""
from __future__ import annotations

import csv
import io
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from quba.zoo.mini import CATALOG_PATH, RECIPES, build, catalog_rows, register_recipe, weights_path

BATCH = 64
DEFAULT_STEPS = 400
POOL = 3000
EPS = 8 / 255
CATALOG_FIELDS = ["id", "display_name", "arch", "recipe", "architecture", "paradigm", "pretraining_data",
                  "groups", "task", "clean_accuracy", "notes"]


# ---------------------------------------------------------------------------- helpers

def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to 2 px (reflect padding) and horizontal flip."""
    n = x.shape[0]
    pad = F.pad(x, (2, 2, 2, 2), mode="reflect")
    ox = torch.randint(0, 5, (n,), generator=gen)
    oy = torch.randint(0, 5, (n,), generator=gen)
    idx = torch.arange(32)
    rows = (oy[:, None] + idx[None, :])  # [n, 32]
    cols = (ox[:, None] + idx[None, :])
    out = pad[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def fit(model: nn.Module, images: torch.Tensor, labels, *, steps: int, seed: int, lr: float = 3e-3,
        weight_decay: float = 5e-4, adversarial: bool = False, augment: bool = True, progress: bool = True,
        desc: str = "train") -> nn.Module:
    """Train `model` on uint8 images [N,3,32,32] with cross-entropy (optionally FGSM-RS adversarial)."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    y_all = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    x_all = images
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.2)
    model.train()
    order = torch.randperm(len(y_all), generator=gen)
    pos = 0
    bar = tqdm(range(steps), desc=desc, disable=not progress, file=sys.stderr, leave=False)
    for _ in bar:
        if pos + BATCH > len(order):
            order, pos = torch.randperm(len(y_all), generator=gen), 0
        idx = order[pos:pos + BATCH]
        pos += BATCH
        x = x_all[idx].float().div_(255.0)
        if augment:
            x = _augment(x, gen)
        y = y_all[idx]
        if adversarial:
            delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * EPS
            delta.requires_grad_(True)
            loss = F.cross_entropy(model((x + delta).clamp(0, 1)), y)
            (g,) = torch.autograd.grad(loss, delta)
            delta = (delta.detach() + 1.25 * EPS * g.sign()).clamp(-EPS, EPS)
            x = (x + delta).clamp(0, 1)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()
    return model


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    model.eval()
    return torch.cat([model(images[i:i + batch].float().div(255.0)) for i in range(0, len(images), batch)])


def accuracy(model: nn.Module, split) -> float:
    return float((predict_logits(model, split.images).argmax(1).numpy() == split.labels).mean())


def fit_temperature(logits: torch.Tensor, labels) -> float:
    """Temperature T > 0 minimising the NLL of softmax(logits / T) (Guo et al. 2017, Sec. 4.2)."""
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def _pool(suite, seed: int, texture: str, background: str, steps: int | None = None):
    """POOL generated images (fewer for a short smoke run: enough for `steps` batches)."""
    n = POOL if steps is None else min(POOL, max(256, steps * BATCH))
    g = suite.generate(n, seed=seed, texture=texture, background=background)
    return g.images, g.labels


_BASE_CACHE: dict = {}


def _standard_base(model: nn.Module, suite, seed: int, steps: int | None, progress: bool) -> nn.Module:
    """Standard training; the result is memoised per process so that the standard and
    calibrated models share one trained network (same weights, only the logit scale
    differs)."""
    key = (type(model.backbone).__name__, suite.seed, seed, steps)
    if key not in _BASE_CACHE:
        tr = suite.split("train")
        fit(model, tr.images, tr.labels, steps=steps or DEFAULT_STEPS, seed=seed, progress=progress,
            desc="standard")
        _BASE_CACHE[key] = {k: v.clone() for k, v in model.state_dict().items()}
    else:
        model.load_state_dict(_BASE_CACHE[key])
    return model


# ---------------------------------------------------------------------------- recipes

@register_recipe("standard")
def standard(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    _standard_base(model, suite, seed, steps, progress)
    return {}


@register_recipe("shape_biased")
def shape_biased(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    x, y = _pool(suite, 1000 + seed, "random", "random", steps)
    fit(model, x, y, steps=steps or DEFAULT_STEPS, seed=seed, progress=progress, desc="shape-biased")
    return {}


@register_recipe("texture_biased")
def texture_biased(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    x, y = _pool(suite, 2000 + seed, "scrambled", "random", steps)
    fit(model, x, y, steps=steps or DEFAULT_STEPS, seed=seed, progress=progress, desc="texture-biased")
    return {}


@register_recipe("background_robust")
def background_robust(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    x, y = _pool(suite, 3000 + seed, "class", "random", steps)
    fit(model, x, y, steps=steps or DEFAULT_STEPS, seed=seed, progress=progress, desc="bg-robust")
    return {}


@register_recipe("background_shortcut")
def background_shortcut(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    x, y = _pool(suite, 4000 + seed, "random", "tied", steps)
    fit(model, x, y, steps=steps or DEFAULT_STEPS, seed=seed, progress=progress, desc="bg-shortcut")
    return {}


@register_recipe("adversarial_fgsm")
def adversarial_fgsm(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    tr = suite.split("train")
    fit(model, tr.images, tr.labels, steps=steps or DEFAULT_STEPS, seed=seed, adversarial=True,
        progress=progress, desc="adversarial")
    return {}


OVERCONFIDENT_PER_CLASS = 20
OVERCONFIDENT_SHARPEN = 3.0


@register_recipe("overconfident")
def overconfident(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    """Memorise a small training set (the first 20 train images per class, ~100 epochs,
    no augmentation, no weight decay), then sharpen the logits x3: near-certain
    predictions at ~87 % accuracy."""
    tr = suite.split("train")
    idx = np.concatenate([np.flatnonzero(tr.labels == c)[:OVERCONFIDENT_PER_CLASS]
                          for c in range(len(suite.class_names))])
    fit(model, tr.images[idx], tr.labels[idx], steps=steps or DEFAULT_STEPS, seed=seed, weight_decay=0.0,
        augment=False, progress=progress, desc="over-confident")
    model.logit_scale.fill_(OVERCONFIDENT_SHARPEN)
    return {}


@register_recipe("calibrated")
def calibrated(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    _standard_base(model, suite, seed, steps, progress)
    held = suite.generate(1200, seed=5000 + seed, texture="class", background="class")
    model.logit_scale.fill_(1.0)
    t = fit_temperature(predict_logits(model, held.images), held.labels)
    model.logit_scale.fill_(1.0 / t)
    return {"temperature": t}


# ---------------------------------------------------------------------------- main

def write_catalog(rows: list[dict]) -> None:
    """Rewrite catalog.csv atomically, keeping the column order and any extra columns."""
    from quba.paths import atomic_write_text

    fields = list(CATALOG_FIELDS)
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in fields})
    atomic_write_text(CATALOG_PATH, buf.getvalue())


# Architectures whose weights ship in float16 (halves the package; accuracy is
# measured on the stored weights, so the catalog number is what users get).
HALF_PRECISION_ARCHS = {"mini_cnn", "mini_vit", "mini_coda", "mini_tokenformer_s", "mini_tokenformer_m"}


def save_weights(model: nn.Module, model_id: str, half: bool = False) -> None:
    from safetensors.torch import save

    from quba.paths import atomic_write_bytes

    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v.contiguous()
    atomic_write_bytes(weights_path(model_id), save(state))


def main(ids: list[str] | None = None, steps: int | None = None, seed: int = 0) -> int:
    """Retrain the given mini models (all catalog rows when `ids` is empty), save
    their weights and write their clean accuracy on `val` into catalog.csv."""
    from quba.errors import QubaError, closest
    from quba.suites.mini import MiniSuite
    from quba.zoo.mini import _load_modules

    _load_modules()
    torch.set_num_threads(1)  # tiny convs gain little from threads; shared machines lose a lot
    rows = catalog_rows()
    known = [r["id"] for r in rows]
    wanted = list(ids) if ids else known
    for i in wanted:
        if i not in known:
            raise QubaError(f"unknown mini model {i!r}{closest(i, known)}; see 'quba zoo list --group mini'")
    suite = MiniSuite(seed=0)
    for row in rows:
        if row["id"] not in wanted:
            continue
        if row["recipe"] not in RECIPES:
            raise QubaError(f"mini model {row['id']!r} names recipe {row['recipe']!r}, which no module registers")
        t0 = time.time()
        torch.manual_seed(seed)  # initial weights depend on the seed only
        model = build(row["id"])
        out = RECIPES[row["recipe"]](model, suite, seed=seed, steps=steps) or {}
        model.eval()
        save_weights(model, row["id"], half=row["arch"] in HALF_PRECISION_ARCHS)
        acc = out.get("clean_accuracy")
        if acc is None:  # measured on the stored weights, as users load them
            from quba.zoo.mini import load

            acc = accuracy(load(row["id"]).module, suite.split("val"))
        # re-read: other rows may have changed meanwhile
        current = catalog_rows()
        for r in current:
            if r["id"] == row["id"]:
                r["clean_accuracy"] = f"{acc:.4f}"
        write_catalog(current)
        print(f"{row['id']}: clean accuracy {acc:.4f} ({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0
