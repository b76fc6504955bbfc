"""The ImageNet evaluation transform a custom module gets when it brings none.

A module from `--model FILE.py:FUNCTION` (or an `nn.Module` from Python) may
return `(module, preprocess)`; one that returns a bare module gets, on a suite
of image files (`--suite imagenet`), the standard ImageNet evaluation
transform as timm's `validate.py` builds it (`timm.data.resolve_data_config`
+ `create_transform`, eval mode): resize the shorter side to
``floor(input_size / crop_pct)``, centre-crop ``input_size``, to a tensor in
[0, 1]. Defaults: 224, bicubic, crop_pct 0.875 (timm's). A timm model's own
``pretrained_cfg`` replaces these defaults (its input size, interpolation,
crop_pct); `--input-size`, `--interpolation` and `--crop-pct` override both,
as validate.py's flags do. The Normalize step is left out: quba modules take
[0, 1] images and normalise inside (see quba/zoo/base.py).
"""
from __future__ import annotations

from quba.errors import QubaError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def check_overrides(input_size=None, interpolation=None, crop_pct=None) -> dict:
    """The user's overrides, validated (one clear line on a bad value)."""
    out = {}
    if input_size is not None:
        try:
            size = int(input_size)
        except (TypeError, ValueError):
            size = 0
        if size < 8 or str(input_size).strip() != str(size):
            raise QubaError(f"--input-size must be a whole number of pixels >= 8, got {input_size!r}")
        out["input_size"] = (3, size, size)
    if interpolation is not None:
        name = str(interpolation).strip().lower()
        if name not in INTERPOLATIONS:
            raise QubaError(f"--interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
        out["interpolation"] = name
    if crop_pct is not None:
        try:
            pct = float(crop_pct)
        except (TypeError, ValueError):
            pct = float("nan")
        if not 0.0 < pct <= 1.0:
            raise QubaError(f"--crop-pct must be a fraction in (0, 1], got {crop_pct!r}")
        out["crop_pct"] = pct
    return out


def _timm_cfg_owner(module):
    """The module itself or the model it wraps, when it carries a timm pretrained_cfg."""
    for m in (module, getattr(module, "model", None)):
        if m is not None and isinstance(getattr(m, "pretrained_cfg", None), dict):
            return m
    return None


def eval_transform(module, input_size=None, interpolation=None, crop_pct=None):
    """(preprocess, source) for `module`: source is 'timm pretrained_cfg' or 'ImageNet default',
    with ' + overrides' when the user gave any."""
    from timm.data import create_transform, resolve_data_config

    from quba.zoo.sources.common import split_normalize

    overrides = check_overrides(input_size, interpolation, crop_pct)
    owner = _timm_cfg_owner(module)
    if owner is not None:
        cfg = resolve_data_config(dict(overrides), model=owner)
        source = "timm pretrained_cfg"
    else:
        cfg = resolve_data_config({"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 0.875,
                                   **overrides})
        source = "ImageNet default"
    cfg = {k: v for k, v in cfg.items() if k in ("input_size", "interpolation", "crop_pct", "crop_mode",
                                                  "mean", "std")}
    pre, _, _ = split_normalize(create_transform(**cfg, is_training=False))
    return pre, source + (" + overrides" if overrides else "")
