"""Pieces every loader shares: the normalising wrapper, preprocessing without
normalisation, safe checkpoint reading, weight caches and the one-line error
for weights that cannot be fetched."""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from quba.errors import QubaError


@dataclass
class Built:
    """What a catalog source builds, before the common wrapping (quba.zoo.sources.load_row):
    the library's model (normalised images -> logits), its preprocess without normalisation,
    the normalisation mean/std (None: the model normalises inside), the whole model's parameter
    count when it differs from the classifier's (CLIP), whether the B-cos [x, 1 - x]
    encoding is added in front, and the classes it predicts (ImageNet-1k's 1000 unless said)."""

    model: nn.Module
    preprocess: Callable | None = None
    mean: tuple | None = None
    std: tuple | None = None
    parameters_full_m: float | None = None
    add_inverse: bool = False
    num_classes: int = 1000


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Classifier(nn.Module):
    """[0, 1] images -> logits: normalises (x - mean) / std, or appends the
    inverse channels [x, 1 - x] for B-cos models, then runs `model`."""

    def __init__(self, model: nn.Module, mean=None, std=None, add_inverse: bool = False):
        super().__init__()
        self.model = model
        self.add_inverse = add_inverse
        if mean is not None:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        else:
            self.mean = self.std = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return self.forward_normalised(x)

    def forward_normalised(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of already normalised images (`--protocol paper` attacks in this space)."""
        if self.add_inverse:
            z = torch.cat([z, 1.0 - z], dim=1)
        return self.model(z)


class ToRGB:
    """PIL image -> RGB PIL image (greyscale / RGBA inputs are common)."""

    def __call__(self, img):
        return img.convert("RGB") if hasattr(img, "convert") and getattr(img, "mode", "RGB") != "RGB" else img

    def __repr__(self) -> str:
        return "ToRGB()"


def interpolation_mode(name: str):
    from torchvision.transforms import InterpolationMode

    try:
        return InterpolationMode(str(name).lower())
    except ValueError:
        raise QubaError(f"unknown interpolation {name!r}; use bilinear, bicubic or nearest") from None


def make_preprocess(resize, crop, interpolation="bilinear", resize_mode: str = "shortest"):
    """PIL -> float CHW tensor in [0, 1]: Resize, CenterCrop, ToTensor."""
    from torchvision import transforms as T

    interp = interpolation_mode(interpolation)
    if resize_mode == "squash":
        size = crop if isinstance(crop, (tuple, list)) else (crop, crop)
        resize_t = T.Resize(tuple(size), interpolation=interp, antialias=True)
    else:
        resize_t = T.Resize(resize, interpolation=interp, antialias=True)
    return T.Compose([ToRGB(), resize_t, T.CenterCrop(crop), T.ToTensor()])


def parse_preprocess(spec: str) -> dict:
    """'resize=256 crop=224 interpolation=bicubic mean=a,b,c std=a,b,c' -> dict.

    mean/std absent means the model takes [0, 1] inputs as they are."""
    out: dict = {}
    for item in spec.split():
        key, _, value = item.partition("=")
        if key in ("resize", "crop"):
            out[key] = int(value)
        elif key in ("mean", "std"):
            out[key] = tuple(float(v) for v in value.split(","))
        elif key in ("interpolation", "resize_mode"):
            out[key] = value
        else:
            raise ValueError(f"unknown preprocess key {key!r} in {spec!r}")
    return out


def split_normalize(compose):
    """A torchvision Compose -> (Compose without Normalize, mean, std)."""
    from torchvision import transforms as T

    mean = std = None
    kept = []
    for t in compose.transforms:
        if isinstance(t, T.Normalize):
            mean, std = tuple(float(v) for v in t.mean), tuple(float(v) for v in t.std)
        else:
            kept.append(t)
    return T.Compose([ToRGB()] + kept), mean, std


def crop_size_of(preprocess) -> tuple[int, int] | None:
    from torchvision import transforms as T

    size = None
    for t in getattr(preprocess, "transforms", []):
        if isinstance(t, T.CenterCrop):
            size = t.size
        elif isinstance(t, T.Resize) and isinstance(t.size, (tuple, list)) and len(t.size) == 2:
            size = t.size  # 'squash' resizing (SigLIP) has no crop
    return (int(size[0]), int(size[1])) if size is not None else None


def weights_dir(library: str) -> Path | None:
    """Where downloaded weights go: $QUBA_CACHE/weights/<library> when
    QUBA_CACHE is set, else None (the library's own cache)."""
    root = os.environ.get("QUBA_CACHE")
    if not root:
        return None
    path = Path(root) / "weights" / library
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def torch_hub_dir() -> Iterator[None]:
    """Point torch.hub's download cache into QUBA_CACHE for the duration."""
    target = weights_dir("torch")
    if target is None:
        yield
        return
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(target))
    try:
        yield
    finally:
        torch.hub.set_dir(old)


def unreachable(model_id: str, needed: str, exc: BaseException | str) -> QubaError:
    cause = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    cause = cause.replace("\n", " ")
    if len(cause) > 160:
        cause = cause[:157] + "..."
    return QubaError(
        f"cannot get the weights of {model_id!r} from {needed} ({cause}); pre-download them where there is "
        f"internet with 'quba zoo fetch {model_id}' and copy the cache (QUBA_CACHE=DIR keeps all weights under "
        "DIR/weights; unset, the libraries' own caches: HF_HOME, TORCH_HOME), or load a local file with "
        "--checkpoint PATH --arch NAME"
    )


_REACHABLE: dict[str, bool] = {}


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to host? (asked once per process)"""
    if host not in _REACHABLE:
        import socket

        try:
            with socket.create_connection((host, port), timeout=timeout):
                _REACHABLE[host] = True
        except OSError:
            _REACHABLE[host] = False
    return _REACHABLE[host]


@contextlib.contextmanager
def _hf_offline_if_unreachable() -> Iterator[None]:
    """Hugging Face hub downloads retry for about a minute when offline; when the
    hub cannot be reached, switch it to offline mode (cached files still load)."""
    try:
        import huggingface_hub.constants as hf_constants
    except ImportError:
        yield
        return
    if hf_constants.HF_HUB_OFFLINE or reachable("huggingface.co"):
        yield
        return
    hf_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE = False


class _DropRootErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


@contextlib.contextmanager
def quiet_root_errors() -> Iterator[None]:
    """Silence ERROR records logged on the root logger while weights are fetched.

    open_clip reports a failed download with `logging.error(...)`, which on an unconfigured
    root logger also calls `basicConfig()` and prints an extra "ERROR:root:..." line before
    quba's own one-line error; the failure reaches the user through that one line instead."""
    root = logging.getLogger()
    added = None
    if not root.handlers:  # keep logging.error() from installing a stderr handler (basicConfig)
        added = logging.NullHandler()
        root.addHandler(added)
    drop = _DropRootErrors()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
        if added is not None:
            root.removeHandler(added)


@contextlib.contextmanager
def fetching(model_id: str, needed: str, hf: bool = False) -> Iterator[None]:
    """Turn any failure while fetching weights into the one-line QubaError;
    with hf=True, fail fast (offline mode) when the Hugging Face hub is unreachable."""
    import socket

    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)  # a stalled download errors instead of hanging
    try:
        with quiet_root_errors():
            if hf:
                with _hf_offline_if_unreachable():
                    yield
            else:
                yield
    except QubaError:
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # network, hub, cache and file errors all look different
        raise unreachable(model_id, needed, exc) from exc
    finally:
        socket.setdefaulttimeout(old_timeout)


def ensure_url(url: str, model_id: str) -> None:
    """Fail fast when `url` is neither in torch.hub's cache nor reachable."""
    from urllib.parse import urlparse

    with torch_hub_dir():
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    if not cached.exists() and not reachable(urlparse(url).hostname or ""):
        raise unreachable(model_id, url, f"{urlparse(url).hostname} cannot be reached")


def url_state_dict(url: str, model_id: str) -> dict:
    """Download (or reuse) a checkpoint by URL and read it without running code."""
    ensure_url(url, model_id)
    with fetching(model_id, url):
        with torch_hub_dir():
            state = torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True,
                                                       check_hash=False, weights_only=True)
    return unwrap_state_dict(state, url)


def read_checkpoint(path) -> dict:
    """A state dict from a local file: safetensors, or torch.load(weights_only=True).

    Pickles that would construct arbitrary objects (and so run code) are refused."""
    from quba.integrity import why_not_a_file

    path = Path(path)
    if not path.is_file():
        raise QubaError(f"checkpoint {str(path)!r} {why_not_a_file(path)}; pass the path of a .safetensors or "
                        ".pt/.pth file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except Exception as exc:
            raise QubaError(f"cannot read safetensors file {str(path)!r}: {exc}") from exc
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, AttributeError, ValueError, EOFError) as exc:
            raise QubaError(
                f"refused to load {str(path)!r}: it is not a plain tensor checkpoint (torch.load with "
                "weights_only=True rejected it, which protects against pickles that run code); "
                "save a plain state_dict or convert it to .safetensors"
            ) from exc
    return unwrap_state_dict(state, str(path))


def unwrap_state_dict(state, where: str = "checkpoint") -> dict:
    if isinstance(state, dict):
        for key in ("state_dict", "model", "model_state_dict", "module"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise QubaError(f"{where} holds no state dict of tensors; save model.state_dict()")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def remap_by_order(state: dict, model: nn.Module, where: str) -> dict:
    """`state` under the names of `model`'s own state dict, paired by order (`--remap-keys`).

    For checkpoints of another code base that registers the same tensors in the same order
    under other names (EfficientNet-PyTorch's `_blocks.0._depthwise_conv.weight` for timm's
    `blocks.0.0.conv_dw.weight`). The pairing is timm's own (`timm.models._helpers.
    remap_state_dict`, no reshaping); before it, every pair is checked here -- same count,
    same shape -- so a checkpoint of another architecture is refused with one line naming the
    first pair that does not fit, instead of loading tensors into the wrong layers."""
    from timm.models._helpers import remap_state_dict

    mine = model.state_dict()
    if len(mine) != len(state):
        raise QubaError(f"{where}: --remap-keys pairs tensors by order, but the checkpoint holds {len(state)} "
                        f"tensors and the architecture {len(mine)}; it is not this architecture (check --arch)")
    for i, ((ka, va), (kb, vb)) in enumerate(zip(mine.items(), state.items()), 1):
        if tuple(va.shape) != tuple(vb.shape):
            raise QubaError(f"{where}: --remap-keys pairs tensors by order, but tensor {i} of {len(state)} "
                            f"({kb!r}, shape {tuple(vb.shape)}) does not fit {ka!r} (shape {tuple(va.shape)}); "
                            "the checkpoint's layers are not in the order of this architecture (check --arch)")
    return remap_state_dict(state, model, allow_reshape=False)


def load_into(model: nn.Module, state: dict, where: str, hint: str = "check --arch") -> None:
    """load_state_dict(strict) with a one-line error naming a few mismatches (and `hint`)."""
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()
        raise QubaError(f"{where} does not fit the architecture: {first[-1].strip() if first else exc}; {hint}") from exc
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        raise QubaError(
            f"{where} does not fit the architecture: {len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]}); {hint}"
        )
