"""Small TokenFormer ViTs for the mini zoo, and the growth study (architecture and `grow`:
quba/zoo/archs/tokenformer.py).

Architectures (4 × 4 patches of the 32 × 32 image: 64 tokens + a class token, width 64, depth 4,
4 heads; normalisation (x − 0.5) / 0.25 inside, via `MiniClassifier`):

  mini_tokenformer_s   parameter tokens per layer: query/key/value 16, projection 16,
                       feed-forward 64 (0.07 M parameters)
  mini_tokenformer_m   twice as many: 32, 32, 128 (0.14 M)

Sizes chosen for the training budget: the -m model from scratch trains 800 steps, and a step of
it costs 1.2 times one of the mini CNN (measured; at twice these token numbers 2.5 times, at the
mini ViT's width 96 more), so it trains in about twice the mini CNN's time.

Recipes (`quba.zoo.mini.train.fit`: AdamW, one-cycle, lr 3e-3, batch 64, 2-pixel translation
and flip, over the `train` split; ``DEFAULT_STEPS`` = 400, the budget of every mini recipe):

  tokenformer          from scratch for ``steps`` (``mini-tokenformer-s``)
  tokenformer_grown    the shipped ``mini-tokenformer-s`` grown by ``GROWTH`` (zero keys: the
                       same function), then ``steps`` further steps (seed + 1: a new data order)
                       with a fresh one-cycle schedule (``mini-tokenformer-m``)
  tokenformer_scratch  the -m architecture from scratch for 2 × ``steps`` — the grown model's
                       total (``mini-tokenformer-m-scratch``)

The grown model keeps the -s model's τ = √16 / √64 in its Pattentions (what keeps growth
exact); the scratch model has τ = √32 / √128. `docs/tokenformer-growth.md` compares the three.
"""
from __future__ import annotations

from torch import nn

from quba.errors import QubaError
from quba.zoo.mini import register_arch, register_recipe

WIDTH, DEPTH, HEADS = 64, 4, 4
SMALL = {"qkv": 16, "proj": 16, "ffn": 64}
GROWTH = {"qkv": 16, "proj": 16, "ffn": 64}  # -s + GROWTH = -m
BASE_ID = "mini-tokenformer-s"
DEFAULT_STEPS = 400


def _vit(num_classes: int, tokens: dict) -> nn.Module:
    from quba.zoo.archs.tokenformer import TokenFormerViT
    from quba.zoo.mini.models import MiniClassifier

    return MiniClassifier(TokenFormerViT(num_classes, img_size=32, patch_size=4, dim=WIDTH, depth=DEPTH, heads=HEADS,
                                         qkv_tokens=tokens["qkv"], proj_tokens=tokens["proj"],
                                         ffn_tokens=tokens["ffn"]))


@register_arch("mini_tokenformer_s")
def mini_tokenformer_s(num_classes: int = 12) -> nn.Module:
    return _vit(num_classes, SMALL)


@register_arch("mini_tokenformer_m")
def mini_tokenformer_m(num_classes: int = 12) -> nn.Module:
    return _vit(num_classes, {k: SMALL[k] + GROWTH[k] for k in SMALL})


def _fit(model, suite, steps: int, seed: int, progress: bool, desc: str):
    from quba.zoo.mini.train import fit

    tr = suite.split("train")
    fit(model, tr.images, tr.labels, steps=steps, seed=seed, progress=progress, desc=desc)


@register_recipe("tokenformer")
def tokenformer(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    _fit(model, suite, steps or DEFAULT_STEPS, seed, progress, "tokenformer")
    return {}


def grown_base(base_id: str = BASE_ID) -> nn.Module:
    """The shipped ``base_id`` model (the one ``mini-tokenformer-m`` grows from)."""
    from quba.zoo.mini import load, weights_path

    if not weights_path(base_id).exists():
        raise QubaError(f"mini-tokenformer-m grows {base_id!r}, which has no weights yet; "
                        f"run 'quba zoo train-mini {base_id}' first")
    return load(base_id).module


def grow_and_train(model, base: nn.Module, suite, *, seed: int = 0, steps: int | None = None,
                   progress: bool = True):
    """``model`` (the -m architecture) := ``base`` grown by ``GROWTH`` (zero keys: the same
    function; τ of ``base`` comes with it), then trained ``steps`` further steps with seed + 1."""
    from quba.zoo.archs.tokenformer import grow

    model.load_state_dict(grow(base, GROWTH, seed=seed).state_dict())
    _fit(model, suite, steps or DEFAULT_STEPS, seed + 1, progress, "tokenformer grown")
    return model


@register_recipe("tokenformer_grown")
def tokenformer_grown(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    grow_and_train(model, grown_base(), suite, seed=seed, steps=steps, progress=progress)
    return {}


@register_recipe("tokenformer_scratch")
def tokenformer_scratch(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, **_):
    _fit(model, suite, 2 * (steps or DEFAULT_STEPS), seed, progress, "tokenformer scratch")
    return {}
