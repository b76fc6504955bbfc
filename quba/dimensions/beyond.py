"""Hooks of the further dimensions of issue 6, and what `quba compare` shares with them (`paired`,
`select_images`, `explanation_cosines_for`).

Dimensions (declared in quba/dimensions/builtin.py; docs/metrics.md#further-dimensions):

  interpretability ↑        grid pointing game (quba/dimensions/pointing_game.py); candidates
                            picked from the cached `val` logits, attributions computed here
                            (per-grid scores: the engine caches and resamples them)
  negative_flip_rate ↓      NFR of the evaluated (new) model against a declared reference
                            ("legacy") model on `val`, from both models' cached outputs;
                            option ``reference_model`` (CLI: --reference-model ID)
  teacher_agreement ↑       top-1 agreement with a declared teacher on `val`, from cached
                            outputs; option ``teacher`` (CLI: --teacher ID)
  explanation_similarity ↑  mean cosine of the teacher's and the model's attribution maps for
                            the teacher's top-1 class, on `val` images (at most ``max_images``,
                            a fixed seeded selection); option ``teacher``

Each hook reads its dimension's options, filled and checked once per evaluation, as
``ctx.options`` (``opts.options`` in ``needs``; the dataclasses of quba/dimensions/options.py).
One ``--teacher`` (or ``options={"teacher": ID}``) sets both teacher dimensions' option.
"""
from __future__ import annotations


import numpy as np

from quba.dimensions import SplitRequest
from quba.errors import QubaError

SPLIT = "val"
EXPLANATION_DEFAULTS = {"method": "input_x_gradient", "max_images": 1000, "batch_size": 64}


def _given(options, defaults: dict) -> dict:
    """`defaults` with the fields of an options dataclass that were given (not None)."""
    out = dict(defaults)
    for k in out:
        v = getattr(options, k, None) if options is not None else None
        if v is not None:
            out[k] = v
    return out


# ---------------------------------------------------------------------------- images

class SplitImages:
    """Images of a split by index, as float32 [k, 3, H, W] in [0, 1]: from the in-memory
    uint8 array when the split has one and the model needs no preprocessing, else
    through ``split.dataset(preprocess)`` (unreadable images raise)."""

    def __init__(self, split, preprocess=None):
        self.split = split
        self.preprocess = preprocess
        self._array = split.images if preprocess is None else None
        self._dataset = None

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, idx) -> np.ndarray:
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        if self._array is not None:
            x = np.asarray(self._array[idx])
            return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if self._dataset is None:
            self._dataset = self.split.dataset(self.preprocess)
        out = []
        for i in idx:
            img, _ = self._dataset[int(i)]
            if img is None:
                raise QubaError(f"image {int(i)} of split {self.split.name!r} is unreadable; fix or remove it")
            out.append(np.asarray(img, dtype=np.float32))
        return np.stack(out)


# ---------------------------------------------------------------------------- interpretability

def pointing_options(suite, options) -> dict:
    """The pointing game's settings: its defaults, the suite's (QUBA-mini: fewer grids; no branching
    on suite names here), then the options given (`PointingOptions`)."""
    from quba.dimensions.pointing_game import DEFAULTS

    base = _given(options, {**DEFAULTS, **suite.option_defaults.get("interpretability", {})})
    from quba.zoo.attribution import check_method

    base["method"] = check_method(base["method"])
    return base


def interpretability_needs(suite, opts):
    pointing_options(suite, opts.options)
    return [SplitRequest(SPLIT)]


def interpretability_scores(ctx):
    """Scores hook: the pointing game's per-grid cell scores [grids, n x n], run once (the engine
    caches them, checksummed, and resamples the grids)."""
    from quba.dimensions import Scores
    from quba.dimensions.pointing_game import run_pointing_game

    out = ctx.outputs(SPLIT)
    po = pointing_options(ctx.suite, ctx.options)
    images = SplitImages(ctx.split(SPLIT), ctx.model.preprocess)
    module = ctx.model.module.to(ctx.device).eval()

    class _ByPosition:  # the pointing game indexes positions in `out`; images are split indices
        def __getitem__(self, p):
            return images[out.index[np.asarray(p)]]

    res = run_pointing_game(module, _ByPosition(), out.labels, logits=out.logits,
                            grid_size=int(po["grid_size"]), n_grids=int(po["n_grids"]), seed=int(po["seed"]),
                            method=po["method"], smooth=int(po["smooth"] or 0), per_class=po["per_class"],
                            device=ctx.device, progress=bool(ctx.opts.get("progress", True)))
    cells = np.asarray(res.pop("scores"), dtype=np.float64)
    res.pop("value", None)
    return Scores(values={"cells": cells.reshape(len(cells), -1)}, info=res)


def interpretability_compute(ctx):
    """Mean cell score over the grids (every grid has n x n cells: the mean of the grid means),
    weighted by how often each grid is drawn under the bootstrap."""
    from quba.metrics._checks import weighted_mean

    sc = ctx.scores()
    value = weighted_mean(np.asarray(sc.values["cells"]).mean(axis=1), ctx.weight("scores"))
    return {**sc.info, "value": value} if not ctx.weighted else value


# ---------------------------------------------------------------------------- negative flips

def reference_model(options) -> str:
    ref = getattr(options, "reference_model", None)
    if not ref:
        raise QubaError("negative_flip_rate compares the model with a declared reference ('legacy') model; "
                        "pass --reference-model ID (e.g. --reference-model mini-cnn-standard; or --option "
                        "negative_flip_rate.reference_model=ID)")
    return str(ref)


def negative_flips_needs(suite, opts):
    return [SplitRequest(SPLIT), SplitRequest(SPLIT, model=reference_model(opts.options))]


def _weight(ctx, pairs):
    """Bootstrap weights over the val images the pair shares (None for the value): paired across
    both models, since both read the same split's draws."""
    w = ctx.weight(SPLIT)
    if w is None or w.shape[-1] == len(pairs):
        return w
    raise QubaError("the two models were evaluated on different val images; evaluate both on the same split")


def paired(new, old, what: str):
    """The two outputs restricted to the images both have, in the same order."""
    if len(new.index) == len(old.index) and np.array_equal(new.index, old.index):
        return new, old
    common, a, b = np.intersect1d(new.index, old.index, return_indices=True)
    if len(common) == 0:
        raise QubaError(f"{what}: the two models share no evaluated image; evaluate both on the same split")
    return new.take(a), old.take(b)


def negative_flips_compute(ctx):
    from quba.metrics.flips import flip_summary

    from quba.metrics.flips import negative_flip_rate

    ref = reference_model(ctx.options)
    new, old = paired(ctx.outputs(SPLIT), ctx.outputs(SplitRequest(SPLIT, model=ref)), "negative_flip_rate")
    if ctx.weighted:
        return negative_flip_rate(new.labels, old.decisions, new.decisions, sample_weight=_weight(ctx, new))
    s = flip_summary(new.labels, old.decisions, new.decisions)
    return {"value": s["nfr"], **s, "reference_model": ref}


# ---------------------------------------------------------------------------- teacher–student

def teacher_model(options) -> str:
    t = getattr(options, "teacher", None)
    if not t:
        raise QubaError("teacher_agreement and explanation_similarity compare the model with its teacher; "
                        "pass --teacher ID (e.g. --teacher mini-cnn-standard; or --option DIMENSION.teacher=ID)")
    return str(t)


def teacher_needs(suite, opts):
    explanation_options(opts.options)  # a bad method fails before any work
    return [SplitRequest(SPLIT), SplitRequest(SPLIT, model=teacher_model(opts.options))]


def teacher_agreement_compute(ctx):
    from quba.metrics.flips import top1_agreement

    t = teacher_model(ctx.options)
    student, teacher = paired(ctx.outputs(SPLIT), ctx.outputs(SplitRequest(SPLIT, model=t)), "teacher_agreement")
    value = top1_agreement(teacher.preds, student.preds, sample_weight=_weight(ctx, student))
    return value if ctx.weighted else {"value": value, "teacher": t, "n": int(len(student))}


def explanation_options(options) -> dict:
    """explanation_similarity's settings: `EXPLANATION_DEFAULTS`, then the options given (teacher
    agreement's `TeacherOptions` has none of these: the defaults)."""
    o = _given(options, EXPLANATION_DEFAULTS)
    from quba.zoo.attribution import check_method

    o["method"] = check_method(o["method"])
    return o


def explanation_cosines_for(student, teacher, split, positions: np.ndarray, targets: np.ndarray, *,
                            method: str = "input_x_gradient", batch_size: int = 64, device="cpu",
                            progress: bool = True) -> np.ndarray:
    """Per-image cosine of teacher and student attribution maps (LoadedModels) for ``targets``
    at split indices ``positions``."""
    import torch
    from tqdm import tqdm

    from quba.zoo.attribution import attribute
    from quba.metrics.agreement import explanation_cosines

    imgs_s = SplitImages(split, student.preprocess)
    imgs_t = imgs_s if teacher.preprocess is None and student.preprocess is None else SplitImages(split, teacher.preprocess)
    ms = student.module.to(device).eval()
    mt = teacher.module.to(device).eval()
    out = []
    bar = tqdm(total=len(positions), desc=f"explanations ({method})", unit="img", disable=not progress, leave=False)
    for i in range(0, len(positions), batch_size):
        idx = positions[i:i + batch_size]
        tgt = torch.as_tensor(targets[i:i + batch_size], device=device)
        xs = torch.as_tensor(imgs_s[idx], device=device)
        xt = xs if imgs_t is imgs_s else torch.as_tensor(imgs_t[idx], device=device)
        es = attribute(ms, xs, tgt, method).cpu().numpy()
        et = attribute(mt, xt, tgt, method).cpu().numpy()
        if es.shape != et.shape:
            raise QubaError(f"the teacher's and the student's attribution maps differ in shape ({et.shape[1:]} vs "
                            f"{es.shape[1:]}); compare models with the same input size, or use --attribution grad_cam")
        out.append(explanation_cosines(et, es))
        bar.update(len(idx))
    bar.close()
    if ms.training or mt.training:
        raise QubaError("a model switched itself to train mode while being explained; quba measures in eval mode")
    return np.concatenate(out) if out else np.zeros(0)


def select_images(n_total: int, max_images: int | None, seed: int = 0) -> np.ndarray:
    """Positions 0..n_total-1, or a fixed seeded sorted selection of ``max_images`` of them."""
    if not max_images or max_images >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=int(max_images), replace=False))


def explanation_similarity_scores(ctx):
    """Scores hook: per-image cosine of the teacher's and the model's attribution maps (once;
    the engine caches them and resamples the images)."""
    from quba.dimensions import Scores

    t = teacher_model(ctx.options)
    eo = explanation_options(ctx.options)
    student_out, teacher_out = paired(ctx.outputs(SPLIT), ctx.outputs(SplitRequest(SPLIT, model=t)),
                                      "explanation_similarity")
    teacher = (getattr(ctx, "models", None) or {}).get(t)  # the plan's, resolved once
    if teacher is None:  # a context built outside the engine
        from quba.zoo import load_model

        teacher = load_model(t)
    pos = select_images(len(student_out), eo["max_images"])
    cos = explanation_cosines_for(ctx.model, teacher, ctx.split(SPLIT), student_out.index[pos],
                                  teacher_out.preds[pos], method=eo["method"], batch_size=int(eo["batch_size"]),
                                  device=ctx.device, progress=bool(ctx.opts.get("progress", True)))
    return Scores(values={"cosine": np.asarray(cos, dtype=np.float64)},
                  info={"teacher": t, "method": eo["method"], "n": int(len(cos))})


def explanation_similarity_compute(ctx):
    from quba.metrics._checks import weighted_mean

    sc = ctx.scores()
    value = weighted_mean(sc.values["cosine"], ctx.weight("scores"))
    return {"value": value, **sc.info} if not ctx.weighted else value
