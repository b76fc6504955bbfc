"""`quba evaluate`: measure models on the QUBA dimensions of a suite."""
from __future__ import annotations

import argparse
import json
import sys

from quba.cli._aliases import deprecate
from quba.suites.specs import DEFAULT_SUITE

ORDER = 10


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `quba evaluate` and `quba leaderboard`."""
    from quba.cli import _names

    p.add_argument("--suite", default=DEFAULT_SUITE, metavar=_names.suite_metavar(),
                   help=_names.suite_help(DEFAULT_SUITE))
    p.add_argument("--data-root", metavar="DIR", help="root of the ImageNet-family folders (suite imagenet)")
    p.add_argument("--dims", nargs="+", metavar="DIM",
                   help="dimensions to measure (names or aliases, space- or comma-separated; default: the nine); "
                        "only the splits they need are run")
    p.add_argument("--subset", type=int, metavar="N",
                   help="a fixed, stratified N images per class of every split (recorded)")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap resamples per dimension for the 95%% intervals (default 200, at most 10000; 0: off)")
    p.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or cuda:<i>")
    p.add_argument("--batch-size", type=int, default=256, metavar="B", help="images per batch (default 256)")
    p.add_argument("--loader-workers", type=int, default=0, metavar="W",
                   help="DataLoader worker processes that decode image folders, started once for all splits "
                        "(default 0: decode in this process)")
    deprecate(p, "--workers", "--loader-workers")  # before 0.2: --workers (sweep's --workers counts processes)
    p.add_argument("--threads", type=int, metavar="T",
                   help="torch threads of this process (default: torch's, all cores)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="auto (default: bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16 (part of the cache "
                        "key: outputs of one precision are never served to another; recorded per split)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the PGD random start and the bootstrap (default 0)")
    p.add_argument("--output", "-o", default="results", metavar="DIR",
                   help="results folder: records go to DIR/<suite>/records/, the leaderboard to "
                        "DIR/<suite>/leaderboard.csv (default: results)")
    p.add_argument("--strict", action="store_true", help="fail on an unreadable image instead of skipping it")
    p.add_argument("--protocol", choices=["quba", "paper"], default="quba",
                   help="quba (default): attacks in [0,1] pixel space, model in eval mode; paper: adversarial "
                        "robustness exactly as the QUBA authors' code ran it (normalised-space attacks, their "
                        "clamping, train-mode side effect), comparable with the paper's rows (recorded, cached apart)")
    p.add_argument("--paper-order", choices=["shuffled", "suite"], default=None,
                   help="with --protocol paper: shuffled (default: the authors' DataLoader(shuffle=True) order, "
                        "drawn from the generator seeded with --seed) or suite (the suite's order)")
    p.add_argument("--paper-train-mode", choices=["attack", "all"], default=None,
                   help="with --protocol paper: attack (default: the train-mode side effect stays inside "
                        "adversarial robustness, as eval.py --adv_rob alone) or all (the authors' one call with all "
                        "nine flags: corruption, OOD, calibration and class balance measured in train mode after "
                        "the attacks, object focus and shape bias with the running statistics they left)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="evaluate your own weights: a .safetensors or tensor-only torch file, loaded safely into "
                        "--arch NAME (timm name or torchvision:NAME), or without --arch into the one catalog "
                        "model named")
    p.add_argument("--arch", metavar="NAME", help="the architecture of --checkpoint (timm NAME or torchvision:NAME)")
    p.add_argument("--remap-keys", action="store_true",
                   help="--checkpoint comes from another code base that names its tensors otherwise but registers "
                        "them in the same order (e.g. EfficientNet-PyTorch for timm's tf_efficientnet_*): pair "
                        "them by order (timm's remap_state_dict), refusing with one line when a shape differs; a "
                        "torch file only (safetensors sorts tensors by name)")
    g = p.add_argument_group("image transform of a custom module without its own preprocess (image-file suites)")
    g.add_argument("--input-size", type=int, metavar="PX",
                   help="centre-crop size (default 224, or the timm model's pretrained_cfg)")
    g.add_argument("--interpolation", choices=["bilinear", "bicubic", "nearest"],
                   help="resize interpolation (default bicubic, or the timm model's pretrained_cfg)")
    g.add_argument("--crop-pct", type=float, metavar="F",
                   help="crop fraction: resize the shorter side to input-size / F first (default 0.875)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars on stderr")
    from quba.cli._further_options import add_further_options  # --reference-model, --teacher, ... (issue 6)

    add_further_options(p)


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure models on the QUBA dimensions (one forward pass per split, cached)",
        description=(
            "Measure each MODEL on the QUBA dimensions of a suite and print, per dimension, the value, its 95% "
            "bootstrap interval, the z-score against the reference population and its contribution to the "
            "QUBA score, then the QUBA score and the model's rank among the reference leaderboard (the paper's "
            "for imagenet, the mini zoo's for mini). Every split runs through a model once; outputs are cached "
            "(under $QUBA_CACHE), so measuring other dimensions later reuses them."
        ),
        epilog="examples:\n  quba evaluate mini-cnn-standard\n  quba evaluate mini-cnn-standard --dims accuracy shape_bias\n"
               "  quba evaluate --model my_model.py:build --suite mini\n"
               "  quba evaluate --checkpoint my_weights.safetensors --arch resnet50 --suite imagenet --data-root DIR\n"
               "  quba evaluate --checkpoint efficientnet-lite0.pth --arch tf_efficientnet_lite0 --remap-keys "
               "--suite imagenet --data-root DIR\n"
               "  quba evaluate mini-cnn-standard --dims adversarial_robustness --protocol paper\n"
               "  quba evaluate mini-cnn-standard --dims interpretability --option interpretability.grid_size=4\n"
               "  quba evaluate resnet50 --suite imagenet --data-root /data/imagenet --subset 10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="model ids (mini-..., catalog ids; see 'quba zoo list'), FILE.py:FUNCTION or SOURCE:IDENTIFIER "
                        "(an identifier of a registered model source, e.g. timm:resnet18.a1_in1k)")
    p.add_argument("--model", "-m", dest="extra_models", action="append", default=[], metavar="FILE.py:FUNCTION",
                   help="a custom model: FUNCTION() returns an nn.Module taking [0,1] images and returning "
                        "logits (repeatable). This imports and runs FILE.py: arbitrary code, with your "
                        "permissions; only name files you trust")
    add_run_options(p)
    p.add_argument("--format", "-f", choices=["table", "json"], default="table",
                   help="table (readable) or json (the records, with the reference placement)")
    p.set_defaults(func=run)


def evaluate_kwargs(args) -> dict:
    """`quba.evaluate` keyword arguments from the options of `add_run_options` (every command that
    reuses them gets the same behaviour)."""
    from quba.cli._further_options import further_options

    return dict(data_root=getattr(args, "data_root", None), subset=args.subset, bootstrap=args.bootstrap,
                device=args.device, batch_size=args.batch_size, workers=args.loader_workers, seed=args.seed,
                output=args.output, strict=args.strict, progress=args.progress, options=further_options(args),
                precision=args.precision, threads=getattr(args, "threads", None), protocol=args.protocol,
                paper_order=getattr(args, "paper_order", None), paper_train_mode=getattr(args, "paper_train_mode", None),
                input_size=args.input_size, interpolation=args.interpolation, crop_pct=args.crop_pct)


def run(args) -> int:
    from quba.api import evaluate_many

    def show(rec):
        for w in rec["reference"].get("warnings", []):
            print(f"warning: {w}", file=sys.stderr)
        if args.format == "table":
            print(render_table(rec, rec["reference"]))
            sys.stdout.flush()

    recs = evaluate_many(list(args.models) + list(args.extra_models), args.suite, args.dims,
                         checkpoint=args.checkpoint, arch=args.arch, remap_keys=args.remap_keys, each=show,
                         **evaluate_kwargs(args))
    if args.format == "json":
        print(json.dumps(recs, indent=1))
    return 0


def _fmt(x, digits=4):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:.1f}"
    if abs(x) >= 1 or x == 0:
        return f"{x:.{digits}g}" if abs(x) < 10 else f"{x:.2f}"
    return f"{x:.{digits}g}"


def render_table(rec: dict, placed: dict) -> str:
    from quba import dimensions as D

    fp = rec.get("forward_passes", {})
    ap = rec.get("attack_passes", {})
    cached = sum(1 for s in rec.get("splits", {}).values() if s.get("cached"))
    nsplits = len(rec.get("splits", {}))
    val = rec.get("splits", {}).get("val", {}).get("images")
    subset = rec["provenance"].get("subset")
    head = (f"{rec['model']} on suite {rec['suite']}"
            + (f" (subset: {subset} per class)" if subset else "")
            + f": {nsplits} split(s), {cached} from cache; {sum(fp.values())} forward passes"
            + (f" ({fp.get('val', 0)} on {val} val images)" if val else "")
            + (f" + {sum(ap.values())} attack passes" if ap else "")
            + (f"; {rec['skipped_images']} unreadable image(s) skipped" if rec.get("skipped_images") else ""))
    lines = [head, ""]
    rows = [("dimension", "value", "95% CI", "z", "contribution")]
    for name, v in rec["dimensions"].items():
        ci = "—" if v.get("lo") is None else f"[{_fmt(v['lo'])}, {_fmt(v['hi'])}]"
        z = placed.get("z", {}).get(name)
        c = placed.get("contribution", {}).get(name)
        arrow = "↑" if D.higher_is_better(name) else "↓"
        rows.append((f"{name} {arrow}", _fmt(v.get("value")), ci, "—" if z is None else f"{z:+.2f}",
                     "—" if c is None else f"{c:+.3f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, r in enumerate(rows):
        lines.append("  ".join(s.ljust(widths[j]) if j == 0 else s.rjust(widths[j]) for j, s in enumerate(r)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    if placed.get("quba") is not None:
        lines.append(f"QUBA score {placed['quba']:+.3f}: rank {placed['rank']} of {placed['n']} on the "
                     f"{placed['reference']} reference leaderboard ({placed.get('weights', 'paper')} weights)")
    else:
        lines.append("QUBA score: — " + (f"({placed['note']})" if placed.get("note") else ""))
    if placed.get("comparable") is False:
        lines.append("NOT comparable with the reference rows: measured on incomplete data or on other data than "
                     "the published (see the warnings; quba data check lists what is missing)")
    if rec.get("path"):
        lines.append(f"record: {rec['path']}")
    return "\n".join(lines) + "\n"
