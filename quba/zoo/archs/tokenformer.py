"""TokenFormer: a vision transformer whose linear projections are token–parameter attention.

Wang et al., "TokenFormer: Rethinking Transformer Scaling with Tokenized Model Parameters",
ICLR 2025 (the paper below; the authors' code, Haiyang-W/TokenFormer, where it leaves a detail
open — that release is the language model; its vision models are not in it).

**Pattention** (Sec. 3): input tokens X [T, d₁] are queries, n learnable *key*
parameter tokens K_P [n, d₁] and *value* parameter tokens V_P [n, d₂] are keys and values:

    Pattention(X, K_P, V_P) = Θ(X K_Pᵀ) V_P,   Θ(A)ᵢⱼ = f(Aᵢⱼ · τ / ‖Aᵢ‖₂),  f = GELU,  τ = √n

— the "modified softmax": softmax's exp and L1 normalisation replaced by GELU and an L2
normalisation of each row (code: megatron/model/tokenformer.py `Pattention`,
`norm_activation_type: l2_norm_gelu`, the one every released config uses).

**Block** (Sec. 3; code: `ParallelTokenformerLayer`): pre-norm with *non-parametric* layer
norm (config `norm: layernorm_nonparam`), query/key/value by three Pattentions, standard
multi-head softmax self-attention among the input tokens (scale 1/√d_head), the output
projection a Pattention, and the feed-forward network a *single* Pattention (its Θ is the
non-linearity); residual connections around both. After the last block a parametric layer norm
(config `final_norm: layernorm`). Pattentions have no bias (config `use_bias_in_attn_linear: false`).

**Vision model** (Sec. 4: ImageNet-1k classification, compared with ViT-B/16 and ViT-L/16): patch
embedding, learned position embedding and a class token as in ViT; the classifier reads the
class token through the final norm and a linear head. The patch embedding and head stay linear, as the token
embedding and the output head of the authors' language model do. Initialisation as that code:
key tokens N(0, 0.02) (`init_method: normal`), value tokens N(0, 2 / (L·√d)) (`wang_init`).

**Growth** (Sec. 3, progressive model scaling): append new key–value parameter tokens to every
Pattention, ``K ← [K_old; K_new]``, ``V ← [V_old; V_new]``; initialising ``K_new`` with zeros, the
paper says, lets the grown model resume exactly the state of the small one. What makes that exact: a zero key gives
the score Aᵢⱼ = 0, GELU(0) = 0, and a zero entry leaves the row norm ‖Aᵢ‖₂ unchanged — so the
old tokens' weights and the output are untouched **provided τ is kept**: with the paper's
default τ = √n, recomputing τ from the grown n would scale every old score by √(n_new / n_old)
and change the function. quba's Pattention stores τ when it is built and `grow` keeps it
(exact preservation; `tests/unit/test_coda_tokenformer.py`). The standard softmax would not
preserve it either (exp(0) = 1 gives the new tokens weight). New value tokens get the value
initialisation (random): with zero keys they do not change the output, and non-zero values are
what gives the new keys a gradient. (The authors' incremental-training code initialises the new
keys randomly, not with zeros, and recomputes √n: close to, not exactly, the old function.)
"""
from __future__ import annotations

import copy
import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

ROLES = ("qkv", "proj", "ffn")


class Pattention(nn.Module):
    """Token–parameter attention (TokenFormer Sec. 3) with the modified softmax Θ."""

    def __init__(self, d_in: int, d_out: int, n_tokens: int, role: str = "ffn", *, key_std: float = 0.02,
                 value_std: float = 0.02, tau: float | None = None, eps: float = 1e-12):
        super().__init__()
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}; got {role!r}")
        self.d_in, self.d_out, self.role, self.eps = d_in, d_out, role, eps
        self.value_std = value_std
        self.key = nn.Parameter(torch.randn(n_tokens, d_in) * key_std)
        self.value = nn.Parameter(torch.randn(n_tokens, d_out) * value_std)
        # τ = √n of the size the layer was built at; kept when grown (see the module docstring)
        self.register_buffer("tau", torch.tensor(math.sqrt(n_tokens) if tau is None else float(tau)))

    @property
    def n_tokens(self) -> int:
        return self.key.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x @ self.key.t()
        a = a * (self.tau / a.norm(dim=-1, keepdim=True).clamp_min(self.eps))
        return F.gelu(a) @ self.value

    def extra_repr(self) -> str:
        return f"{self.d_in} -> {self.d_out}, tokens={self.n_tokens}, role={self.role}, tau={float(self.tau):.4g}"


def _layer_norm(x: torch.Tensor) -> torch.Tensor:
    """Non-parametric layer norm (the authors' `LayerNorm_NonParam`)."""
    return F.layer_norm(x, x.shape[-1:])


class TokenFormerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, qkv_tokens: int, proj_tokens: int, ffn_tokens: int, depth: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        v_std = 2.0 / (depth * math.sqrt(dim))  # the code's `wang_init` for value tokens
        self.query, self.key, self.value = (Pattention(dim, dim, qkv_tokens, "qkv", value_std=v_std)
                                            for _ in range(3))
        self.proj = Pattention(dim, dim, proj_tokens, "proj", value_std=v_std)
        self.ffn = Pattention(dim, dim, ffn_tokens, "ffn", value_std=v_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h = _layer_norm(x)
        q, k, v = (p(h).view(n, t, self.heads, d // self.heads).transpose(1, 2)
                   for p in (self.query, self.key, self.value))
        att = F.scaled_dot_product_attention(q, k, v)  # softmax(q kᵀ / √d_head) v among the input tokens
        x = x + self.proj(att.transpose(1, 2).reshape(n, t, d))
        return x + self.ffn(_layer_norm(x))


class TokenFormerViT(nn.Module):
    """Patch embedding + class token + position embedding → TokenFormer blocks → final layer
    norm → linear head on the class token. Takes images as given (normalise outside)."""

    def __init__(self, num_classes: int = 1000, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 dim: int = 768, depth: int = 12, heads: int = 12, qkv_tokens: int = 768,
                 proj_tokens: int = 768, ffn_tokens: int = 3072):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"image size {img_size} is not a multiple of the patch size {patch_size}")
        self.num_classes, self.img_size = num_classes, img_size
        self.patch_embed = nn.Conv2d(in_chans, dim, patch_size, patch_size)
        n_patches = (img_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n_patches + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(TokenFormerBlock(dim, heads, qkv_tokens, proj_tokens, ffn_tokens, depth)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.normal_(self.cls_token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.patch_embed(x).flatten(2).transpose(1, 2)
        z = torch.cat([self.cls_token.expand(len(z), -1, -1), z], dim=1) + self.pos_embed
        for blk in self.blocks:
            z = blk(z)
        return self.head(self.norm(z[:, 0]))


def pattention_layers(model: nn.Module) -> list[Pattention]:
    return [m for m in model.modules() if isinstance(m, Pattention)]


def slot_numbers(model: nn.Module) -> dict[str, int]:
    """The largest number of parameter tokens per Pattention role (``qkv``, ``proj``, ``ffn``)."""
    out: dict[str, int] = {}
    for p in pattention_layers(model):
        out[p.role] = max(out.get(p.role, 0), p.n_tokens)
    return out


def grow(model: nn.Module, new_tokens: int | Mapping[str, int], *, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with parameter tokens appended to every Pattention (TokenFormer Sec. 3).

    ``new_tokens``: how many per layer — one number for every Pattention, or per role
    ``{"qkv": n, "proj": n, "ffn": n}`` (a role left out grows by 0). New key tokens are zero
    (the function is preserved exactly: see the module docstring); new value tokens are drawn
    from the layer's value initialisation. Layer i's value tokens come from one stream seeded by
    (``seed``, i), token j from row j of it, so growth is reproducible and composes exactly:
    ``grow(grow(m, a), b)`` equals ``grow(m, a + b)`` parameter for parameter. τ is kept.
    ``model`` itself is not changed.
    """
    if isinstance(new_tokens, Mapping):
        unknown = set(new_tokens) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown Pattention role(s) {sorted(unknown)}; roles: {', '.join(ROLES)}")
        per_role = {r: int(new_tokens.get(r, 0)) for r in ROLES}
    else:
        per_role = dict.fromkeys(ROLES, int(new_tokens))
    if any(v < 0 for v in per_role.values()):
        raise ValueError(f"new_tokens must be >= 0; got {new_tokens}")
    grown = copy.deepcopy(model)
    layers = pattention_layers(grown)
    if not layers:
        raise ValueError("the model has no Pattention layer to grow")
    with torch.no_grad():
        for i, p in enumerate(layers):
            m, n = per_role[p.role], p.n_tokens
            if not m:
                continue
            k, v = p.key, p.value
            gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
            stream = torch.randn(n + m, p.d_out, generator=gen)[n:] * p.value_std
            p.key = nn.Parameter(torch.cat([k.detach(), torch.zeros(m, p.d_in, dtype=k.dtype, device=k.device)]))
            p.value = nn.Parameter(torch.cat([v.detach(), stream.to(dtype=v.dtype, device=v.device)]))
    return grown
