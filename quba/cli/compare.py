"""`quba compare OLD NEW`: negative flips of a model update and teacher–student agreement."""
from __future__ import annotations

import argparse
import json

from quba.suites.specs import DEFAULT_SUITE

ORDER = 30


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="negative flips (NFR, NFI, PFR, relative NFR) and agreement between an old and a new model",
        description=(
            "Compare a model update OLD -> NEW on the same ordered split: negative flip rate NFR = share of "
            "images OLD gets right and NEW gets wrong, negative flip impact NFI = NF / NEW's errors, positive "
            "flip rate PFR, relative NFR = NFR / ((1 - err_old) * err_new) (1 = as many flips as independent "
            "errors would give), and top-1 agreement, each with a bootstrap 95% interval (ELODI; docs/metrics.md#negative-flips). "
            "Predictions come from the engine's cache: models already evaluated on the split cost no forward "
            "pass. With --explanations, OLD is the teacher and NEW the student: also the explanation "
            "similarity (mean cosine of both models' attribution maps for OLD's top-1 class; e2KD)."
        ),
        epilog="examples:\n  quba compare mini-cnn-standard mini-cnn-shape\n"
               "  quba compare mini-cnn-standard mini-student-e2kd --explanations\n"
               "  quba compare resnet50 resnet101 --suite imagenet --data-root /data/imagenet --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("old", metavar="OLD", help="the reference (legacy) model, or the teacher with --explanations")
    p.add_argument("new", metavar="NEW", help="the updated model, or the student with --explanations")
    from quba.cli import _names

    p.add_argument("--suite", default=DEFAULT_SUITE, metavar=_names.suite_metavar(),
                   help=f"suite (default {DEFAULT_SUITE})")
    p.add_argument("--data-root", metavar="DIR", help="root of the ImageNet-family folders (suite imagenet)")
    p.add_argument("--split", default="val", help="split both models are compared on (default val)")
    p.add_argument("--subset", type=int, metavar="N", help="a fixed, stratified N images per class")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap resamples for the 95%% intervals (default 200; 0: off)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap seed (default 0)")
    p.add_argument("--explanations", action="store_true",
                   help="also the explanation similarity of NEW (student) to OLD (teacher); needs gradients")
    p.add_argument("--attribution", default="input_x_gradient", metavar="METHOD",
                   help="attribution for --explanations: input_x_gradient (default), gradient, grad_cam, "
                        "integrated_gradients")
    p.add_argument("--max-images", type=int, default=1000, metavar="N",
                   help="images explained with --explanations (a fixed seeded selection; default 1000)")
    p.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or cuda:<i>")
    p.add_argument("--batch-size", type=int, default=256, metavar="B", help="images per batch (default 256)")
    p.add_argument("--format", "-f", choices=["table", "json"], default="table", help="table or json")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars on stderr")
    p.set_defaults(func=run)


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.4f}"


def render(res: dict) -> str:
    fp = res["forward_passes"]
    head = (f"{res['old']} -> {res['new']} on {res['suite']}/{res['split']} ({res['images']} images"
            + (f", subset {res['subset']} per class" if res.get("subset") else "")
            + f"); forward passes: old {fp['old']}, new {fp['new']}"
            + (" (all from cache)" if fp["old"] == 0 and fp["new"] == 0 else ""))
    rows = [("metric", "value", "95% CI")]
    from quba.api import COMPARE_ROWS

    labels = list(COMPARE_ROWS) + ([("explanation_similarity", "explanation similarity", "↑")]
                     if "explanation_similarity" in res["metrics"] else [])
    for key, label, arrow in labels:
        m = res["metrics"][key]
        ci = "—" if m["lo"] is None else f"[{_fmt(m['lo'])}, {_fmt(m['hi'])}]"
        rows.append((f"{label} {arrow}", _fmt(m["value"]), ci))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [head, ""]
    for i, r in enumerate(rows):
        lines.append(f"{r[0].ljust(w[0])}  {r[1].rjust(w[1])}  {r[2].rjust(w[2])}")
        if i == 0:
            lines.append("  ".join("-" * x for x in w))
    lines += ["", f"errors: old {res['err_old']:.4f}, new {res['err_new']:.4f}; "
                  f"{res['negative_flips']} negative and {res['positive_flips']} positive flips"]
    if "explanations" in res:
        e = res["explanations"]
        lines.append(f"explanations: {e['method']} maps for {e['teacher']}'s top-1 class on {e['images']} images")
    return "\n".join(lines)


def run(args) -> int:
    from quba.api import compare

    res = compare(args.old, args.new, args.suite, args.split, data_root=args.data_root, subset=args.subset,
                  bootstrap=args.bootstrap, seed=args.seed, explanations=args.explanations,
                  attribution=args.attribution, max_images=args.max_images, device=args.device,
                  batch_size=args.batch_size, progress=args.progress)
    print(json.dumps(res, indent=1) if args.format == "json" else render(res))
    return 0
