"""Attribution maps for a classifier and a target class per image.

Model-side torch operations (no engine state): the engine's dimensions (pointing game,
interpretability, explanation similarity) and the mini zoo's e²KD training both use them, so
they live with the models, upstream of the engine.

Methods (``METHODS``):
- ``input_x_gradient`` (default for standard models): ``x ⊙ ∂f_t/∂x``
  (Shrikumar et al., "Not Just a Black Box", 2016);
- ``gradient``: ``∂f_t/∂x`` (Simonyan et al., "Deep Inside Convolutional Networks", 2014);
- ``integrated_gradients``: ``(x − x₀) ⊙ mean_{α} ∂f_t/∂x (x₀ + α(x − x₀))``, black
  baseline x₀ = 0, midpoint Riemann sum over ``steps`` α's (Sundararajan et al.,
  "Axiomatic Attribution for Deep Networks", ICML 2017, Sec. 3);
- ``grad_cam``: ``ReLU(Σ_k α_k A_k)``, ``α_k`` the spatial mean of ``∂f_t/∂A_k`` at the
  last 2-d convolution (or ``layer``), bilinearly upsampled to the input size; one
  channel (Selvaraju et al., "Grad-CAM", ICCV 2017, Sec. 3);
- ``bcos``: the dynamic linear contribution ``W(x)ᵀx`` of a B-cos network
  (Böhle et al., "B-cos Networks", CVPR 2022, Sec. 3.2), with every B-cos layer
  in explanation mode (dynamic scaling detached), so the map adds up to the
  logit (minus any logit bias). Found, in this order: the model's own
  ``contribution(x, target, create_graph=False)`` (quba's mini B-cos CNN); a
  model of the ``bcos`` package inside a wrapper (layers with
  ``set_explanation_mode``): input×gradient with respect to the input *of that
  model*, i.e. the encoded [x, 1 − x] image, 6 channels; otherwise layers with a
  boolean ``explanation_mode``: input×gradient with respect to x.
- ``coda``: the contribution map ``W(x) ⊙ x`` of a CoDA-Net (Böhle et al., "Convolutional
  Dynamic Alignment Networks", CVPR 2021, Sec. 3, Eq. 8): the same computation as ``bcos``
  (the model's own ``contribution``, or input×gradient w.r.t. the encoded input with the
  dynamic weights detached), so the map adds up to the logit minus the fixed logit bias (the
  temperature 1/T is part of the linear map).
``auto`` picks the method a model declares for itself (a submodule's ``attribution_method``
attribute, e.g. ``coda`` for quba's CoDA-Nets), else ``bcos`` for B-cos models and
``input_x_gradient`` otherwise.

Every method returns a float tensor [N, C', H, W] at the input resolution, on the
input's device. Gradients are taken with ``torch.autograd.grad`` with respect to the
input only (parameters' ``.grad`` are untouched); ``create_graph=True`` keeps the
graph so a training loss can depend on an explanation (e²KD). The model's
train/eval mode is left as it is.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from quba.errors import QubaError, closest

METHODS = ("auto", "input_x_gradient", "gradient", "grad_cam", "integrated_gradients", "bcos", "coda")
#: Methods that read a dynamic-linear model's own contribution map.
CONTRIBUTION_METHODS = ("bcos", "coda")
DEFAULT_METHOD = "auto"


def _flag_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(getattr(m, "explanation_mode", None), bool)]


def _switch_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if callable(getattr(m, "set_explanation_mode", None))]


def is_bcos(module: nn.Module) -> bool:
    """True when the model has ``contribution(x, target)`` or contains B-cos layers
    (quba's, with a boolean ``explanation_mode``, or the ``bcos`` package's, with
    ``set_explanation_mode``)."""
    if callable(getattr(module, "contribution", None)):
        return True
    return bool(_flag_layers(module) or _switch_layers(module))


def check_method(method: str | None) -> str:
    """The canonical name of an attribution method (aliases: ixg, grad, ig, gradcam,
    contribution); QubaError if unknown."""
    m = str(method or DEFAULT_METHOD).strip().lower().replace("-", "_")
    aliases = {"ixg": "input_x_gradient", "inputxgradient": "input_x_gradient", "grad": "gradient",
               "ig": "integrated_gradients", "gradcam": "grad_cam", "contribution": "bcos"}
    m = aliases.get(m, m)
    if m not in METHODS:
        raise QubaError(f"unknown attribution method {method!r}{closest(str(method), METHODS)}; "
                        f"known: {', '.join(METHODS)}")
    return m


def own_method(module: nn.Module) -> str | None:
    """The attribution method the model declares (``attribution_method`` on it or a submodule)."""
    for m in module.modules():
        name = getattr(type(m), "attribution_method", None)
        if isinstance(name, str) and name in METHODS:
            return name
    return None


def resolve_method(module: nn.Module, method: str) -> str:
    """The method to run for this model: ``auto`` resolved, ``bcos`` / ``coda`` checked."""
    m = check_method(method)
    if m == "auto":
        return own_method(module) or ("bcos" if is_bcos(module) else "input_x_gradient")
    if m in CONTRIBUTION_METHODS and not is_bcos(module):
        raise QubaError(f"attribution {m!r} needs a dynamic-linear model (B-cos or CoDA-Net: one with "
                        "contribution() or explanation-mode layers); use --attribution input_x_gradient "
                        "for this model")
    return m


def _in_explanation_mode(m: nn.Module) -> bool:
    state = getattr(m, "is_in_explanation_mode", None)  # a method or a property, depending on the class
    state = state() if callable(state) else state
    return bool(getattr(m, "detach", False) if state is None else state)


@contextlib.contextmanager
def explanation_mode(module: nn.Module, on: bool = True):
    """Put every B-cos layer of ``module`` in explanation mode (dynamic weights detached)
    and restore each layer's previous state afterwards."""
    flags = _flag_layers(module)
    switches = _switch_layers(module)
    before_flags = [m.explanation_mode for m in flags]
    before_switches = [_in_explanation_mode(m) for m in switches]
    try:
        for m in flags:
            m.explanation_mode = on
        for m in switches:
            m.set_explanation_mode(on)
        yield module
    finally:
        for m, b in zip(flags, before_flags):
            m.explanation_mode = b
        for m, b in zip(switches, before_switches):
            m.set_explanation_mode(b)


def _bcos_core(module: nn.Module) -> nn.Module | None:
    """The outermost proper submodule that holds all of the model's B-cos switch layers
    (e.g. a `bcos` package network inside quba's [x, 1 − x] wrapper), or None."""
    switches = set(map(id, _switch_layers(module)))
    if not switches:
        return None
    for name, m in module.named_modules():
        if m is module or not name:
            continue
        if switches <= set(map(id, _switch_layers(m))):
            return m
    return None


def _target_sum(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, target.view(-1, 1).to(logits.device)).sum()


def _input_grad(module, x, target, create_graph):
    x = x.detach().requires_grad_(True) if not (create_graph and x.requires_grad) else x
    with torch.enable_grad():
        out = _target_sum(module(x), target)
        (g,) = torch.autograd.grad(out, x, create_graph=create_graph)
    return x, g


def gradient(module, x, target, create_graph=False):
    return _input_grad(module, x, target, create_graph)[1]


def input_x_gradient(module, x, target, create_graph=False):
    xr, g = _input_grad(module, x, target, create_graph)
    return (xr if create_graph else xr.detach()) * g


def integrated_gradients(module, x, target, steps: int = 32, baseline: torch.Tensor | None = None,
                         create_graph=False):
    if steps < 1:
        raise QubaError(f"integrated gradients needs steps >= 1; got {steps}")
    x0 = torch.zeros_like(x) if baseline is None else baseline.to(x).expand_as(x)
    total = torch.zeros_like(x)
    for i in range(steps):
        alpha = (i + 0.5) / steps
        xi = (x0 + alpha * (x - x0)).detach()
        total = total + _input_grad(module, xi, target, create_graph)[1]
    return (x - x0).detach() * total / steps


def _last_conv(module: nn.Module) -> nn.Module:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise QubaError("Grad-CAM needs a 2-d convolution in the model (none found); use input_x_gradient")
    return convs[-1]


def grad_cam(module, x, target, layer: nn.Module | None = None, create_graph=False):
    layer = layer if layer is not None else _last_conv(module)
    store = {}

    def hook(_m, _inp, out):
        store["a"] = out

    h = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            out = _target_sum(module(xr), target)
            a = store["a"]
            (g,) = torch.autograd.grad(out, a, create_graph=create_graph)
    finally:
        h.remove()
    if a.ndim != 4:
        raise QubaError(f"Grad-CAM layer output must be [N, C, h, w]; got {tuple(a.shape)}")
    weights = g.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * a).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam if create_graph else cam.detach()


def bcos_contribution(module, x, target, create_graph=False):
    own = getattr(module, "contribution", None)
    if callable(own):
        return own(x, target, create_graph=create_graph)
    core = _bcos_core(module)
    if core is None:
        with explanation_mode(module):
            return input_x_gradient(module, x, target, create_graph=create_graph)
    seen = {}

    def grab(_m, args):
        seen["z"] = args[0]

    hook = core.register_forward_pre_hook(grab)
    try:
        with explanation_mode(module), torch.enable_grad():
            xr = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
            out = _target_sum(module(xr), target)
            z = seen["z"]
            (g,) = torch.autograd.grad(out, z, create_graph=create_graph)
    finally:
        hook.remove()
    return z * g if create_graph else z.detach() * g


def attribute(module: nn.Module, x: torch.Tensor, target, method: str = DEFAULT_METHOD, *,
              create_graph: bool = False, steps: int = 32, layer: nn.Module | None = None) -> torch.Tensor:
    """Attribution maps [N, C', H, W] of ``module`` for ``target`` (int tensor [N] or int) at ``x`` [N, C, H, W]."""
    if x.ndim != 4:
        raise QubaError(f"attribution needs images [N, C, H, W]; got shape {tuple(x.shape)}")
    if not torch.is_tensor(target):
        target = torch.full((x.shape[0],), int(target), dtype=torch.long)
    target = target.to(device=x.device, dtype=torch.long).view(-1)
    if len(target) != x.shape[0]:
        raise QubaError(f"got {len(target)} targets for {x.shape[0]} images")
    m = resolve_method(module, method)
    if m == "input_x_gradient":
        return input_x_gradient(module, x, target, create_graph)
    if m == "gradient":
        return gradient(module, x, target, create_graph)
    if m == "integrated_gradients":
        return integrated_gradients(module, x, target, steps=steps, create_graph=create_graph)
    if m == "grad_cam":
        return grad_cam(module, x, target, layer=layer, create_graph=create_graph)
    return bcos_contribution(module, x, target, create_graph)  # bcos, coda


def attribute_batched(module, images, targets, method: str = DEFAULT_METHOD, batch_size: int = 64,
                      device: str | torch.device = "cpu", **kw):
    """Attributions for many images (numpy or tensor [N, C, H, W] in [0, 1]) in batches;
    returns a float32 numpy array."""
    import numpy as np

    x_all = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    t_all = torch.as_tensor(np.asarray(targets) if not torch.is_tensor(targets) else targets).long()
    if x_all.dtype == torch.uint8:
        x_all = x_all.float() / 255.0
    outs = []
    for i in range(0, len(x_all), batch_size):
        x = x_all[i:i + batch_size].to(device=device, dtype=torch.float32)
        outs.append(attribute(module, x, t_all[i:i + batch_size].to(device), method, **kw).cpu().float().numpy())
    return np.concatenate(outs, axis=0) if outs else np.zeros((0,), np.float32)
