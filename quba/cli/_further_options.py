"""Options of the further dimensions of issue 6 for `quba evaluate` and `quba leaderboard`.

`add_further_options(parser)` adds them; `further_options(args)` turns them into the
engine's per-dimension `options` (read by the hooks in quba/engine/beyond.py).
"""
from __future__ import annotations

import argparse


def add_further_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("further dimensions (interpretability, negative flips, teacher-student)")
    g.add_argument("--reference-model", metavar="ID",
                   help="negative_flip_rate: the declared reference ('legacy') model the evaluated model "
                        "updates; both run on val once (cached)")
    g.add_argument("--teacher", metavar="ID",
                   help="teacher_agreement / explanation_similarity: the teacher the evaluated model was "
                        "distilled from")
    g.add_argument("--attribution", metavar="METHOD",
                   help="interpretability: attribution method (auto = the model's own contribution map for "
                        "B-cos models and CoDA-Nets, else input_x_gradient; or gradient, grad_cam, "
                        "integrated_gradients, bcos, coda); "
                        "explanation_similarity: method for both models (default input_x_gradient)")
    g.add_argument("--grid-size", type=int, metavar="N",
                   help="interpretability: N x N pointing-game grids (default 3)")
    g.add_argument("--grids", type=int, metavar="G",
                   help="interpretability: number of grids (default 500; 100 on suite mini)")


def further_options(args) -> dict:
    """Per-dimension engine options from parsed arguments (absent options are left out)."""
    from quba.errors import QubaError

    opts: dict = {}
    if getattr(args, "reference_model", None):
        opts["negative_flip_rate"] = {"reference_model": args.reference_model}
    if getattr(args, "teacher", None):
        opts["teacher_agreement"] = {"teacher": args.teacher}
        opts["explanation_similarity"] = {"teacher": args.teacher}
    interp = {}
    if getattr(args, "attribution", None):
        interp["method"] = args.attribution
        opts.setdefault("explanation_similarity", {})["method"] = args.attribution
    for flag, key, minimum in (("grid_size", "grid_size", 2), ("grids", "n_grids", 1)):
        value = getattr(args, flag, None)
        if value is not None:
            if value < minimum:
                raise QubaError(f"--{flag.replace('_', '-')} must be >= {minimum}, got {value}")
            interp[key] = value
    if interp:
        opts["interpretability"] = interp
    return opts
