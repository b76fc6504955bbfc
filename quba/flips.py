"""`quba compare`'s job: negative flips and agreement of a model update OLD -> NEW on one split.

Both models' predictions come from the engine's prediction cache (`quba.engine.runner.cached_outputs`:
a model evaluated before costs no forward pass); the formulas and their bootstrap are
`quba.metrics.flips` (docs/metrics.md#negative-flips). With explanations, the explanation similarity
of NEW (student) to OLD (teacher) on a sample of images. `quba.api.compare` checks the arguments
and calls `compare` here.
"""
from __future__ import annotations

#: The metrics of `compare`: key, label, direction.
COMPARE_ROWS = (
    ("nfr", "negative flip rate (NFR)", "↓"),
    ("nfi", "negative flip impact (NFI)", "↓"),
    ("pfr", "positive flip rate (PFR)", "↑"),
    ("relative_nfr", "relative NFR", "↓"),
    ("agreement", "top-1 agreement", "↑"),
)


def compare(old, new, suite_obj, split="val", *, device, subset=None, bootstrap=200, seed=0, explanations=False,
            attribution="input_x_gradient", max_images=1000, batch_size=256, progress=True) -> dict:
    """Negative flips (NFR, NFI, PFR, relative NFR) and top-1 agreement of OLD -> NEW on `split` of
    the loaded suite `suite_obj`, each with a bootstrap 95 % interval; with `explanations`, also the
    explanation similarity of NEW to OLD. `device`: a resolved torch device. Arguments as
    `quba.api.compare` checked them. Returns what `quba compare --format json` prints."""
    import numpy as np

    from quba.dimensions.beyond import explanation_cosines_for, paired, select_images
    from quba.engine.runner import cached_outputs
    from quba.metrics.agreement import bootstrap_mean
    from quba.metrics.flips import bootstrap_flips, flip_summary

    old_m, old_out, old_passes = cached_outputs(old, suite_obj, split, device=device, batch_size=batch_size,
                                                subset=subset, progress=progress)
    new_m, new_out, new_passes = cached_outputs(new, suite_obj, split, device=device, batch_size=batch_size,
                                                subset=subset, progress=progress)
    new_out, old_out = paired(new_out, old_out, "quba compare")
    y = new_out.labels
    summary = flip_summary(y, old_out.decisions, new_out.decisions)
    ci = bootstrap_flips(y, old_out.decisions, new_out.decisions, n_boot=bootstrap, seed=seed)
    result = {
        "old": old_m.id, "new": new_m.id, "suite": suite_obj.name, "split": split, "subset": subset,
        "images": int(len(y)), "forward_passes": {"old": old_passes, "new": new_passes},
        "metrics": {k: {"value": summary[k], "lo": ci.get(k, (None, None))[0], "hi": ci.get(k, (None, None))[1]}
                    for k, _, _ in COMPARE_ROWS},
        "err_old": summary["err_old"], "err_new": summary["err_new"],
        "negative_flips": summary["n_negative_flips"], "positive_flips": summary["n_positive_flips"],
        "bootstrap": bootstrap, "seed": seed,
    }
    if explanations:
        from quba.zoo.attribution import resolve_method

        resolve_method(old_m.module, attribution)
        pos = select_images(len(new_out), max_images)
        cos = explanation_cosines_for(new_m, old_m, suite_obj.split(split), new_out.index[pos],
                                      old_out.preds[pos], method=attribution, device=device, progress=progress)
        lo_hi = bootstrap_mean(cos, n_boot=bootstrap, seed=seed) or (None, None)
        result["metrics"]["explanation_similarity"] = {"value": float(np.mean(cos)), "lo": lo_hi[0],
                                                       "hi": lo_hi[1]}
        result["explanations"] = {"method": attribution, "images": int(len(cos)), "teacher": old_m.id}
    return result
