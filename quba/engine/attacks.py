"""In-house FGSM and PGD attacks (QUBA dimension 2, adversarial robustness).

Protocol (docs/metrics.md#adversarial-robustness; Hesse et al., "Beyond
Accuracy", Sec. 3): untargeted, cross-entropy on the model's **logits**,
L∞ ball of radius ``eps`` in [0, 1] pixel space, images clamped to [0, 1],
model in ``eval()`` mode — checked before and after every batch (the
published QUBA code left models in train mode after attacks).

- FGSM (Goodfellow et al. 2015): ``x' = clip_[0,1](x + eps · sign ∇_x CE(f(x), y))``;
  one forward and one backward pass per batch.
- PGD (Madry et al. 2018): optional uniform random start in the eps-ball
  (seeded ``torch.Generator``), then ``steps`` iterations of
  ``x ← clip_[0,1](Π_{B∞(x0, eps)}(x + alpha · sign ∇_x CE(f(x), y)))``;
  ``steps`` forward and ``steps`` backward passes per batch.

Both return the adversarial images only; the engine runs (and counts) the
final forward pass. Gradients are taken w.r.t. the input alone
(``torch.autograd.grad``), so the model's parameter ``.grad`` stay untouched.
Pass an :class:`AttackStats` to count the passes an attack makes, or use
:func:`attack_passes`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from quba.errors import QubaError

EPS = 8 / 255
ALPHA = 2 / 255
STEPS = 10


@dataclass
class AttackStats:
    """Counts of what an attack did (added to on every call it is passed to)."""

    batches: int = 0
    images: int = 0
    forward: int = 0  # forward passes over a batch
    backward: int = 0  # backward passes over a batch


def attack_passes(name: str, steps: int = STEPS) -> dict[str, int]:
    """Forward/backward passes per batch that attack `name` makes (excluding the engine's final forward)."""
    if name == "fgsm":
        return {"forward": 1, "backward": 1}
    if name == "pgd":
        return {"forward": int(steps), "backward": int(steps)}
    raise QubaError(f"unknown attack {name!r}; known: fgsm, pgd")


def _training_modules(model: nn.Module) -> list[str]:
    return [name or type(model).__name__ for name, m in model.named_modules() if m.training]


def _require_eval(model: nn.Module, when: str) -> None:
    bad = _training_modules(model)
    if bad:
        raise QubaError(f"model is in train mode {when} (module {bad[0]!r}"
                        f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); adversarial robustness is "
                        "measured in eval() mode: call model.eval() and keep forward() from switching modes")


def not_differentiable(model_id: str | None, exc: BaseException) -> QubaError:
    """One line for a model whose logits carry no gradient to its input (detached, no_grad, argmax ...)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    who = f"model {model_id!r}" if model_id else "the model"
    return QubaError(f"{who} is not differentiable with respect to its input ({first}); adversarial "
                     "robustness attacks it with gradients: make forward() differentiable, or leave "
                     "adversarial_robustness out (--dims ...)")


def _check_inputs(x: torch.Tensor, y: torch.Tensor, eps: float) -> None:
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise QubaError("attack images must be a float tensor in [0, 1]")
    # A little overshoot (bicubic resizing) is tolerated and clamped away; values far
    # outside [0, 1] mean the images were normalised outside the model.
    if x.numel() and (float(x.min()) < -0.5 or float(x.max()) > 1.5):
        raise QubaError(f"attack images must lie in [0, 1] pixel space (got {float(x.min()):.3g}.."
                        f"{float(x.max()):.3g}); normalisation belongs inside the model")
    if y.ndim != 1 or len(y) != len(x):
        raise QubaError(f"attack labels must be a 1-D tensor of {len(x)} class indices, got shape {tuple(y.shape)}")
    if not eps >= 0:
        raise QubaError(f"attack eps must be >= 0, got {eps}")


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor, stats: AttackStats | None) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    logits = model(x)
    if not torch.is_tensor(logits) or logits.ndim != 2:
        raise QubaError(f"the model must return logits [batch, classes] to be attacked, "
                        f"got {type(logits).__name__} {tuple(getattr(logits, 'shape', ()))}")
    # Sum, not mean: each image's gradient sign is unaffected by the batch size and
    # small gradients do not underflow under reduced precision.
    loss = F.cross_entropy(logits.float(), y, reduction="sum")
    try:
        (grad,) = torch.autograd.grad(loss, x)
    except RuntimeError as exc:
        raise not_differentiable(None, exc) from None
    if stats is not None:
        stats.forward += 1
        stats.backward += 1
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = EPS,
         stats: AttackStats | None = None) -> torch.Tensor:
    """FGSM adversarial images ``clip_[0,1](x + eps · sign ∇_x CE(model(x), y))`` (docs/metrics.md#adversarial-robustness)."""
    _check_inputs(x, y, eps)
    _require_eval(model, "before the FGSM attack")
    with torch.enable_grad():
        grad = _input_grad(model, x, y, stats)
    x_adv = (x.detach() + eps * grad.sign()).clamp_(0.0, 1.0)
    _require_eval(model, "after an FGSM batch")
    if stats is not None:
        stats.batches += 1
        stats.images += len(x)
    return x_adv.detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = EPS, alpha: float = ALPHA,
        steps: int = STEPS, random_start: bool = True, generator: torch.Generator | None = None,
        stats: AttackStats | None = None, start_noise: torch.Tensor | None = None) -> torch.Tensor:
    """L∞ PGD adversarial images (docs/metrics.md#adversarial-robustness: eps=8/255, alpha=2/255, 10 steps, random start).

    The random start ``x0 + U(−eps, eps)`` (then clamped to [0, 1]) draws
    from `generator`, which must be given (seeded) when `random_start` is on,
    so the attack is reproducible. The generator may live on the CPU or on
    the images' device. `start_noise` (U(0, 1), the images' shape) replaces that draw: the
    engine draws it for a whole batch and attacks it in sub-batches with the same result.
    """
    _check_inputs(x, y, eps)
    if int(steps) != steps or steps < 0:
        raise QubaError(f"PGD steps must be a whole number >= 0, got {steps!r}")
    if not alpha >= 0:
        raise QubaError(f"PGD alpha must be >= 0, got {alpha}")
    _require_eval(model, "before the PGD attack")
    x0 = x.detach().clamp(0.0, 1.0)
    lo, hi = (x0 - eps).clamp(min=0.0), (x0 + eps).clamp(max=1.0)
    if random_start:
        if start_noise is not None:
            if tuple(start_noise.shape) != tuple(x0.shape):
                raise QubaError(f"PGD start_noise must have the images' shape {tuple(x0.shape)}, "
                                f"got {tuple(start_noise.shape)}")
            noise = start_noise
        elif generator is None:
            raise QubaError("PGD with a random start needs a seeded torch.Generator (generator=...)")
        else:
            noise = torch.rand(x0.shape, generator=generator, device=generator.device, dtype=torch.float32)
        x_adv = x0 + (noise.to(device=x0.device, dtype=x0.dtype) * 2 - 1) * eps
        x_adv = torch.max(torch.min(x_adv, hi), lo)
    else:
        x_adv = x0.clone()
    with torch.enable_grad():
        for _ in range(int(steps)):
            grad = _input_grad(model, x_adv, y, stats)
            x_adv = x_adv.detach() + alpha * grad.sign()
            # project onto the eps-ball around x0 intersected with [0, 1]
            x_adv = torch.max(torch.min(x_adv, hi), lo)
    _require_eval(model, "after a PGD batch")
    if stats is not None:
        stats.batches += 1
        stats.images += len(x)
    return x_adv.detach()
