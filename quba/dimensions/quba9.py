"""Hooks of the nine QUBA dimensions (declared in quba/dimensions/builtin.py).

Each `compute` routes the cached model outputs into the pure functions of
`quba.metrics` with ``sample_weight=ctx.weight(request)``: None for the value,
count weights [B, N] for the B bootstrap replicates (the same formula; see the
hook contract in quba/dimensions/__init__.py). Splits are asked of the suite by
role (`quba.suites.base.role_splits`); what a split is (the corruption and severity of an
ImageNet-C split, the OOD dataset) is asked of the suite too (`Suite.split_info`), never parsed
from its name. docs/metrics.md#the-nine-quba-dimensions.
"""
from __future__ import annotations

import math

import numpy as np

from quba.dimensions import SplitRequest
from quba.errors import QubaError


def _roles(suite, role: str) -> tuple[str, ...]:
    from quba.suites.base import role_splits

    return role_splits(suite, role)


def _clean(suite) -> SplitRequest:
    return SplitRequest(_roles(suite, "clean")[0])


def _clean_split_only(dimension: str):
    """The `needs` hook of a dimension that reads the clean split and nothing else."""
    def needs(suite, opts):
        _require(suite, [_clean(suite).split], dimension)
        return [_clean(suite)]

    needs.__name__ = f"{dimension}_needs"
    return needs


def _require(suite, names, dimension):
    """QubaError naming the dimension (and, where the suite can, the expected path) if a split is missing."""
    suite.require(list(names), dimension)


def _acc(ctx, req):
    """Accuracy on a request's outputs (a number, or replicates [B] under bootstrap weights)."""
    from quba.metrics.classification import accuracy

    out = ctx.outputs(req)
    return accuracy(out.labels, out.decisions, sample_weight=ctx.weight(req))


def _point(ctx) -> bool:
    return ctx.weighted is False


# 1. accuracy
accuracy_needs = _clean_split_only("accuracy")


def accuracy_compute(ctx):
    return _acc(ctx, _clean(ctx.suite))


# 2. adversarial robustness
#: `--protocol paper`: the authors' pipeline (quba/engine/paper_protocol.py), four outputs of one pass
PAPER_ATTACKS = ("paper_pgd_clean", "paper_pgd", "paper_fgsm_clean", "paper_fgsm")


def _protocol(opts) -> str:
    """quba (default) or paper; `quba.evaluate` checked the name before any work."""
    return str((opts or {}).get("protocol") or "quba").strip().lower()


def _adversarial_requests(suite, opts) -> list[SplitRequest]:
    val = _clean(suite).split
    if _protocol(opts) == "paper":  # the engine adds the protocol's options to them (paper_protocol.route)
        return [SplitRequest(val, a) for a in PAPER_ATTACKS]
    return [SplitRequest(val), SplitRequest(val, "fgsm"), SplitRequest(val, "pgd")]


def adversarial_robustness_needs(suite, opts):
    _require(suite, [_clean(suite).split], "adversarial_robustness")
    return _adversarial_requests(suite, opts)


def adversarial_robustness_compute(ctx):
    from quba.metrics.classification import gmean, relative_accuracy
    from quba.metrics.robustness import adversarial_robustness

    reqs = _adversarial_requests(ctx.suite, ctx.opts)
    if _protocol(ctx.opts) == "paper":
        pgd_clean, pgd, fgsm_clean, fgsm = (_acc(ctx, r) for r in reqs)
        # eval.py: results["Adv. Rob."] = gmean([pgd, fgsm]), each adversarial / clean accuracy of its own loop
        rel = [relative_accuracy(pgd, pgd_clean), relative_accuracy(fgsm, fgsm_clean)]
        if not _point(ctx):
            return gmean(np.stack(rel, axis=-1), axis=-1)
        return {"value": gmean(rel), "protocol": "paper", "acc_clean_pgd_loop": pgd_clean, "acc_pgd": pgd,
                "acc_clean_fgsm_loop": fgsm_clean, "acc_fgsm": fgsm}
    clean, fgsm, pgd = (_acc(ctx, r) for r in reqs)
    value = adversarial_robustness(clean, fgsm, pgd)
    if not _point(ctx):
        return value
    return {"value": value, "acc_clean": clean, "acc_fgsm": fgsm, "acc_pgd": pgd}


# 3. corruption robustness
def _corruption_key(suite, split: str) -> tuple[str, int]:
    """(corruption, severity) of a corruption split, as its suite says (`Suite.split_info`)."""
    info = suite.split_info(split)
    if info.corruption is None or info.severity is None:
        raise QubaError(f"split {split!r} of suite {suite.name!r} serves the corruption role but its split_info "
                        "names no corruption and severity; the suite must say them (docs/adding-a-suite.md)")
    return info.corruption, int(info.severity)


def _ood_key(suite, split: str) -> str:
    """The OOD dataset a split holds (its `variant`), else the split's name."""
    return suite.split_info(split).variant or split


def corruption_robustness_needs(suite, opts):
    names = _roles(suite, "corruption")
    _require(suite, [_clean(suite).split, *names], "corruption_robustness")
    return [_clean(suite)] + [SplitRequest(s, outputs="decisions") for s in names]


def corruption_robustness_compute(ctx):
    from quba.metrics.robustness import corruption_robustness

    clean = _acc(ctx, _clean(ctx.suite))
    accs = {_corruption_key(ctx.suite, s): _acc(ctx, SplitRequest(s, outputs="decisions"))
            for s in _roles(ctx.suite, "corruption")}
    value = corruption_robustness(clean, accs)
    if not _point(ctx):
        return value
    per = {}
    for (name, _), a in accs.items():
        per.setdefault(name, []).append(a)
    return {"value": value, "acc_clean": clean, "splits": len(accs),
            "acc_per_corruption": {k: float(np.mean(v)) for k, v in per.items()}}


# 4. OOD robustness
def ood_robustness_needs(suite, opts):
    names = _roles(suite, "ood")
    _require(suite, [_clean(suite).split, *names], "ood_robustness")
    return [_clean(suite)] + [SplitRequest(s) for s in names]


def ood_robustness_compute(ctx):
    from quba.metrics.robustness import ood_robustness

    clean = _acc(ctx, _clean(ctx.suite))
    accs = {_ood_key(ctx.suite, s): _acc(ctx, SplitRequest(s)) for s in _roles(ctx.suite, "ood")}
    value = ood_robustness(clean, accs)
    return {"value": value, "acc_clean": clean, "acc": accs} if _point(ctx) else value


# 5. calibration error
calibration_error_needs = _clean_split_only("calibration_error")


def calibration_error_compute(ctx):
    from quba.metrics.calibration import adaptive_calibration_error, calibration_error, expected_calibration_error
    from quba.metrics.classification import gmean

    req = _clean(ctx.suite)
    out = ctx.outputs(req)
    # value: the definitions; replicates: their count-weighted equivalent, in torch (the reason and the
    # test that the two agree: quba/metrics/calibration.py)
    if not _point(ctx):
        from quba.kernels.calibration import binner

        return calibration_error(out.labels, out.probs, sample_weight=ctx.weight(req), binner=binner(ctx.device))
    ece = expected_calibration_error(out.labels, out.probs)
    ace = adaptive_calibration_error(out.labels, out.probs)
    return {"value": gmean([ece, ace]), "ece": ece, "ace": ace}


# 6. class balance
class_balance_needs = _clean_split_only("class_balance")


def class_balance_compute(ctx):
    from quba.metrics.balance import class_balance, class_balance_parts
    from quba.metrics.classification import gmean

    req = _clean(ctx.suite)
    out = ctx.outputs(req)
    if not _point(ctx):
        return class_balance(out.labels, out.probs, out.probs.shape[1], sample_weight=ctx.weight(req))
    parts = class_balance_parts(out.labels, out.probs, out.probs.shape[1])
    return {"value": gmean([parts["accuracy_part"], parts["probability_part"]]), **parts}


# 7. object focus
def _bg(suite):
    return [_clean(suite), SplitRequest(_roles(suite, "bg_same")[0]), SplitRequest(_roles(suite, "bg_rand")[0])]


def object_focus_needs(suite, opts):
    reqs = _bg(suite)
    _require(suite, [r.split for r in reqs], "object_focus")
    return reqs


def object_focus_compute(ctx):
    from quba.metrics.robustness import object_focus

    clean, same, rand = (_acc(ctx, r) for r in _bg(ctx.suite))
    value = object_focus(clean, same, rand)
    if not _point(ctx):
        return value
    return {"value": value, "acc_clean": clean, "acc_mixed_same": same, "acc_mixed_rand": rand}


# 8. shape bias
def shape_bias_needs(suite, opts):
    name = _roles(suite, "cue_conflict")[0]
    _require(suite, [name], "shape_bias")
    return [SplitRequest(name)]


def shape_bias_compute(ctx):
    from quba.metrics.shape import shape_bias

    req = SplitRequest(_roles(ctx.suite, "cue_conflict")[0])
    out = ctx.outputs(req)
    for key in ("shape", "texture"):
        if key not in out.meta:
            raise QubaError(f"split {req.split} of suite {ctx.suite.name!r} lacks per-image {key!r} labels")
    shape, texture, dec = out.meta["shape"], out.meta["texture"], out.decisions
    value = shape_bias(shape, texture, dec, sample_weight=ctx.weight(req))
    if not _point(ctx):
        return value
    used = shape != texture
    return {"value": value, "images_used": int(used.sum()),
            "shape_hits": int(((dec == shape) & used).sum()), "texture_hits": int(((dec == texture) & used).sum())}


# 9. parameters (declared sampling=False: a count, not an estimate; its interval is the value)
def parameters_m_needs(suite, opts):
    return []


def parameters_m_compute(ctx):
    m = ctx.model
    if m is None or m.parameters_m is None or not math.isfinite(m.parameters_m):
        raise QubaError("the parameters dimension needs the model's parameter count (LoadedModel.parameters_m)")
    return {"value": float(m.parameters_m), "parameters_full_m": float(m.parameters_full_m or m.parameters_m)}
