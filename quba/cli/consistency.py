"""`quba consistency`: MEt3R multi-view consistency of image pairs."""
from __future__ import annotations

import argparse
import json
import math

from quba.cli._aliases import deprecate

ORDER = 61

LAYOUT = """pairs folder layout (one subfolder per pair, sorted by name):
  PAIRS/
    scene_001/
      view1.png        first view (any of png, jpg, bmp, webp, tif)
      view2.png        second view (may differ in size)
      geometry.npz     for --geometry known (the default):
                         depth1 [H1,W1], depth2 [H2,W2]  z-depth of each view's pixels (<= 0: none)
                         K [3,3] (or K1 and K2)          intrinsics; pixel (u,v) centre at (u+0.5, v+0.5)
                         T_21 [4,4]                      view-1 camera coords -> view-2 camera coords
                         pixel_centre (optional)         0.0 for OpenCV-style intrinsics
    scene_002/ ...
Without geometry.npz, give a learned reconstructor: --geometry package.module:factory, where factory()
returns a callable (view1, view2) -> quba.met3r.Geometry (see PairwiseReconstructor for DUSt3R/MASt3R)."""


def register(sub) -> None:
    p = sub.add_parser(
        "consistency",
        help="MEt3R multi-view consistency of image pairs (0 = consistent, up to 2)",
        description=(
            "Score how consistent pairs of (generated) views are with one 3D scene (MEt3R, Asim et al. 2025). "
            "Both views' dense features are splatted, with a z-buffer, into view 1's camera and into view 2's "
            "camera using the pair's geometry; on pixels covered by both, S = 1 - cos(F1, F2). Reports per pair "
            "forward (into view 1), backward (into view 2) and their mean, and the mean over pairs. Lower is more "
            "consistent; identical content scores 0."
        ),
        epilog=LAYOUT + "\n\nexamples:\n  quba consistency mini\n  quba consistency my_pairs/ --format json\n"
               "  quba consistency my_pairs/ --record my-generator   (adds dimension met3r to the leaderboard)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("pairs", metavar="PAIRS",
                   help="a folder of pair subfolders (layout below) or 'mini' for QUBA-mini's multiview split")
    p.add_argument("--geometry", default="known", metavar="known|MODULE:FACTORY",
                   help="geometry source: known depth/intrinsics/pose (default) or a learned pairwise reconstructor")
    p.add_argument("--features", choices=["auto", "dino", "procedural"], default="auto",
                   help="dense features: dino (a DINO-family timm ViT with local weights), procedural (offline, "
                        "seeded colour/gradient/random-conv features) or auto (dino if its weights are on disk, "
                        "else procedural; default)")
    p.add_argument("--dino-model", default=None, metavar="NAME",
                   help="timm model name for --features dino (default vit_small_patch14_dinov2.lvd142m)")
    p.add_argument("--dino-weights", metavar="FILE", help="local weights for the DINO model (.safetensors/.pth)")
    p.add_argument("--seed", type=int, default=0, help="seed of the procedural features and QUBA-mini (default 0)")
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N pairs")
    p.add_argument("--summary", action="store_true", help="print only the overall result (and groups for mini)")
    p.add_argument("--format", "-f", choices=["table", "json"], default="table",
                   help="what to print: table (readable, default) or json (the full result)")
    p.add_argument("--json", metavar="FILE", help="also write the full result as JSON to FILE")
    deprecate(p, "--out", "--json")  # before 0.2, beside --output DIR (the results folder)
    p.add_argument("--record", metavar="NAME",
                   help="write a record for NAME (e.g. the generator) with dimension met3r, so it joins the "
                        "leaderboard of --output under suite 'mini' or 'pairs'")
    p.add_argument("--output", "-o", default="results", metavar="DIR", help="results folder for --record")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap resamples over pairs for the 95%% interval (default 200; 0: off)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from quba.api import consistency

    out = consistency(args.pairs, geometry=args.geometry, features=args.features, dino_model=args.dino_model,
                      dino_weights=args.dino_weights, seed=args.seed, limit=args.limit, bootstrap=args.bootstrap,
                      record=args.record, output=args.output, progress=args.progress)
    if args.json:
        from pathlib import Path

        from quba.errors import QubaError
        from quba.paths import atomic_write_text

        try:  # a file, or a device / pipe / /dev/stdout the user names: written into, never replaced
            atomic_write_text(Path(args.json), json.dumps(out, indent=1) + "\n", devices=True)
        except OSError as exc:
            raise QubaError(f"cannot write --json {args.json!r} ({exc.strerror or exc.__class__.__name__}); "
                            "choose another file") from None
    if args.format == "json":
        print(json.dumps(out, indent=1))
    else:
        print(render(out, summary_only=args.summary), end="")
    return 0


def _f(x, nd=4):
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def render(out: dict, summary_only: bool = False) -> str:
    lines = []
    if not summary_only:
        extra = out["pairs"] and "kind" in out["pairs"][0]
        head = f"{'pair':<16}" + (f"{'kind':<12}{'change':>8}" if extra else "")
        lines.append(head + f"{'forward':>10}{'backward':>10}{'mean':>10}{'overlap':>9}")
        for p in out["pairs"]:
            row = f"{p['pair']:<16}" + (f"{p['kind']:<12}{p['change']:>8.3g}" if extra else "")
            ov = 0.5 * (p["overlap_forward"] + p["overlap_backward"])
            lines.append(row + f"{_f(p['forward']):>10}{_f(p['backward']):>10}{_f(p['mean']):>10}{ov:>9.2f}")
        lines.append("")
    if out.get("groups"):
        lines.append(f"{'kind':<12}{'change':>8}{'pairs':>7}{'MEt3R':>10}")
        for g in out["groups"]:
            lines.append(f"{g['kind']:<12}{g['change']:>8.3g}{g['pairs']:>7}{_f(g['met3r']):>10}")
        lines.append("")
    ci = f"  [95% {_f(out['lo'])}, {_f(out['hi'])}]" if out.get("lo") is not None else ""
    lines.append(f"MEt3R over {out['pairs_count']} pairs: "
                 f"{_f(out['met3r'])}{ci}   forward {_f(out['forward'])}   backward {_f(out['backward'])}")
    if out.get("pairs_without_overlap"):
        lines.append(f"  ({out['pairs_without_overlap']} pairs had no overlap and are left out)")
    lines.append(f"features: {out['features']}; geometry: {out['geometry']}. 0 = consistent, 2 = opposite "
                 "features; lower is better.")
    if out.get("record"):
        lines.append(f"record: {out['record']}")
    return "\n".join(lines) + "\n"
