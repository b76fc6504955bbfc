"""Zero-shot ImageNet heads for CLIP-family models (CLIP, SigLIP, MobileCLIP, ...).

The head follows Radford et al., "Learning Transferable Visual Models From
Natural Language Supervision" (2021), Sec. 3.1.4 (prompt ensembling):
for class c with templates t_1..t_K,

    w_c = normalise( mean_k normalise( text_encoder(t_k(name_c)) ) )

and an image x gets logits  s * <normalise(image_encoder(x)), w_c>  (+ b for
SigLIP, Zhai et al. 2023, Sec. 3) with s = exp(logit_scale) and b = logit_bias
of the model. Logits, never probabilities (the QUBA code applied softmax /
sigmoid inside the model; quba leaves that to the metrics).

Class names and templates are open_clip's own metadata
(`open_clip.IMAGENET_CLASSNAMES`, `OPENAI_IMAGENET_TEMPLATES` - the 80 OpenAI
templates the QUBA code used for every zero-shot model).
Heads are cached as safetensors in `quba.paths.cache_dir()/zeroshot/`.
"""
from __future__ import annotations

import hashlib
import re
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from quba.paths import atomic_write_bytes, cache_dir

TEMPLATE_SETS = ("openai", "simple")


def imagenet_classnames() -> list[str]:
    import open_clip

    return list(open_clip.IMAGENET_CLASSNAMES)


def templates(name: str = "openai") -> list[Callable[[str], str]]:
    import open_clip

    if name == "openai":
        return list(open_clip.OPENAI_IMAGENET_TEMPLATES)
    if name == "simple":
        return list(open_clip.SIMPLE_IMAGENET_TEMPLATES)
    raise ValueError(f"unknown template set {name!r}; one of {TEMPLATE_SETS}")


@torch.no_grad()
def build_head(
    encode_text: Callable[[torch.Tensor], torch.Tensor],
    tokenizer: Callable[[list[str]], torch.Tensor],
    classnames: Sequence[str],
    template_fns: Sequence[Callable[[str], str]],
    *,
    device="cpu",
    batch_classes: int = 8,
    progress: bool = True,
) -> torch.Tensor:
    """(num_classes, dim) matrix of unit-norm class embeddings (mean over templates)."""
    from tqdm import tqdm

    rows = []
    k = len(template_fns)
    steps = range(0, len(classnames), batch_classes)
    for start in tqdm(steps, desc="zero-shot head", unit="batch", disable=not progress, leave=False):
        names = classnames[start:start + batch_classes]
        texts = [t(n) for n in names for t in template_fns]
        emb = encode_text(tokenizer(texts).to(device)).float()
        emb = F.normalize(emb, dim=-1).view(len(names), k, -1).mean(dim=1)
        rows.append(F.normalize(emb, dim=-1))
    return torch.cat(rows).cpu()


class ZeroShotClassifier(nn.Module):
    """Image tower + fixed text-derived head -> logits (scale * cos + bias)."""

    def __init__(self, visual: nn.Module, head: torch.Tensor, logit_scale: float, logit_bias: float | None = None):
        super().__init__()
        self.visual = visual
        # a parameter (frozen) so that parameter counts include the head
        self.head = nn.Parameter(head.float(), requires_grad=False)
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)), persistent=True)
        self.register_buffer("logit_bias", torch.tensor(float(logit_bias or 0.0)), persistent=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = F.normalize(self.visual(x).float(), dim=-1)
        return self.logit_scale * feats @ self.head.t() + self.logit_bias


def head_cache_path(model_name: str, tag: str):
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model_name}-{tag}")
    return cache_dir() / "zeroshot" / f"{safe}.safetensors"


def _key(classnames: Sequence[str], template_set: str) -> str:
    h = hashlib.sha256(("\n".join(classnames) + "\n#" + template_set).encode()).hexdigest()
    return h[:16]


def cached_head(model_name: str, tag: str, compute: Callable[[], torch.Tensor], classnames: Sequence[str],
                template_set: str = "openai") -> torch.Tensor:
    """The head from disk when it was computed for the same classes and
    templates, else compute it and store it (atomically)."""
    from safetensors import safe_open
    from safetensors.torch import save

    import hashlib

    from quba.integrity import warn

    def digest(t: torch.Tensor) -> str:
        return hashlib.sha256(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()

    path = head_cache_path(model_name, tag)
    key = _key(classnames, template_set)
    if path.is_file():  # not exists(): opening a named pipe would block
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                if meta.get("key") == key:
                    head = fh.get_tensor("head")
                    if meta.get("sha256") == digest(head):
                        return head
                    warn(f"damaged zero-shot head cache {path} (checksum mismatch); recomputing it")
        except Exception as exc:  # noqa: BLE001 - unreadable cache: recompute
            warn(f"damaged zero-shot head cache {path} ({exc.__class__.__name__}); recomputing it")
    head = compute().contiguous()
    try:
        atomic_write_bytes(path, save({"head": head}, metadata={
            "key": key, "model": model_name, "tag": tag, "templates": template_set,
            "num_classes": str(len(classnames)), "sha256": digest(head)}))
    except OSError as exc:
        warn(f"could not write the zero-shot head cache {path} ({exc.strerror or exc.__class__.__name__}); "
             "it will be recomputed next time")
    return head
