"""What `quba evaluate` costs over a bare loop, as paired ratios on the same JPEGs.

The yardstick is the loop anyone would write: torchvision ImageFolder + DataLoader + forward
(+ softmax to the host), over the folders a run reads, plus FGSM and PGD over val where the
dimensions attack (benchmarks/_synthetic_imagenet.py, `bare_loop`). Both read the same synthetic
ImageNet-layout tree of JPEGs (written to a temporary folder; no data needed) with the same
model (a torchvision ResNet without weights) and batch size. Runs alternate (evaluate, bare,
evaluate, bare, ...) and each ratio is the median of the paired ratios, so a noisy machine
moves both sides. Printed, each as evaluate / bare loop:

  accuracy                    `--dims accuracy`, cold prediction cache, bootstrap included
  accuracy+calibration+bal.   the three val-only dimensions, cold
  nine dimensions             all 86 splits (75 ImageNet-C folders, OOD, cue-conflict,
                              backgrounds) and both attacks, cold
  warm re-run                 the nine dimensions again, everything from the cache
  --loader-workers 2 vs 0     the nine-dimension run with 2 DataLoader workers over the same
                              run with 0 (and the bare loop's own 2-vs-0 ratio beside it)

Also the forward passes per clean image (the engine's own counter; 1 = every image once) and
attack passes per val image. Goals (issue 15, 2 quiet cores): <= 1.10 cold for any dimension
set, warm <= 0.2, workers 2 not slower than 0.

    python benchmarks/evaluate_overhead.py                 # ~10 min on 2 cores
    python benchmarks/evaluate_overhead.py --small         # a one-minute proof that it works
    python benchmarks/evaluate_overhead.py --per-class 200 --wnids 10 --repeat 3
    python benchmarks/evaluate_overhead.py --rows accuracy,calibration --wnids 1000 --per-class 2
                                                           # every class of the model present

Ratios, not absolute times, are what to compare across machines.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _synthetic_imagenet as S  # noqa: E402

def folders_of(root: Path, record: dict) -> list[Path]:
    """The folders of the clean splits a record read, val first."""
    from quba.suites.imagenet import ImageNetSuite

    suite = ImageNetSuite(root)
    names = [k for k in record["splits"] if "@" not in k]
    names.sort(key=lambda k: k != "val")
    return [suite.folder(k) for k in names]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="a tiny, quick run that proves the script works")
    ap.add_argument("--arch", default="resnet18", help="torchvision ResNet, no weights (default resnet18)")
    ap.add_argument("--crop", type=int, help="model input size (default 112; --small 32)")
    ap.add_argument("--wnids", type=int, help="classes in the tree (default 10; --small 3)")
    ap.add_argument("--per-class", type=int, help="val images per class (default 20; --small 3)")
    ap.add_argument("--image-size", default=None, help="JPEG width x height (default 160x120; --small 48x36)")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads (default 2); evaluate keeps its default thread control (with "
                         "workers on CPU: the cores they leave free)")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, help="paired repetitions (default 2; --small 1)")
    ap.add_argument("--rows", default="accuracy,calibration,nine",
                    help="comma-separated rows to measure: accuracy, calibration (accuracy + calibration + "
                         "class balance), nine (the nine dimensions, then the warm re-run and --loader-workers 2 vs "
                         "0); default all three")
    args = ap.parse_args(argv)
    rows = {r.strip() for r in args.rows.split(",") if r.strip()}
    if not rows or rows - {"accuracy", "calibration", "nine"}:
        ap.error(f"--rows takes accuracy, calibration and/or nine, got {args.rows!r}")

    import torch

    from quba.api import evaluate
    from quba.suites.imagenet import ImageNetSuite

    small = args.small
    crop = args.crop or (32 if small else 112)
    wnids = args.wnids or (3 if small else 10)
    per_class = args.per_class or (3 if small else 20)
    size = tuple(int(v) for v in (args.image_size or ("48x36" if small else "160x120")).split("x"))
    repeat = args.repeat or (1 if small else 2)
    torch.set_num_threads(args.threads)

    tmp = Path(tempfile.mkdtemp(prefix="quba-overhead-"))
    t0 = time.perf_counter()
    root = S.make_tree(tmp / "data", n_wnids=wnids, per_class=per_class, size=size, all_splits=True)
    loaded = S.resnet(args.arch, crop=crop)
    print(f"{args.arch} (no weights), crop {crop}, batch {args.batch_size}, {args.threads} thread(s), "
          f"bootstrap {args.bootstrap}; tree of {wnids} x {per_class} val JPEGs {size[0]}x{size[1]} "
          f"(+ ImageNet-C links, OOD, cue-conflict, backgrounds) written in {time.perf_counter() - t0:.1f} s",
          flush=True)
    runs = 0

    def run_eval(dims, workers=0, cache=None):
        nonlocal runs
        runs += 1
        cache = cache or tmp / f"cache{runs}"
        t = time.perf_counter()
        rec = evaluate(loaded, ImageNetSuite(root), dims, bootstrap=args.bootstrap, batch_size=args.batch_size,
                       workers=workers, device="cpu", output=None, progress=False, cache_root=cache)
        return time.perf_counter() - t, rec, cache

    def run_bare(record, workers=0):
        attacks = [k.split("@")[1] for k in record["splits"] if "@" in k]
        secs, _ = S.bare_loop(loaded, folders_of(root, record), batch_size=args.batch_size, workers=workers,
                              attacks=attacks)
        torch.set_num_threads(args.threads)
        return secs

    results = []

    def paired(label, dims, workers=0):
        ratios, evs, bares, rec = [], [], [], None
        for _ in range(repeat):
            ev, rec, cache = run_eval(dims, workers)
            bare = run_bare(rec, workers)
            ratios.append(ev / bare)
            evs.append(ev)
            bares.append(bare)
        r = statistics.median(ratios)
        results.append((label, r))
        print(f"{label:<34} evaluate {statistics.median(evs):8.2f} s  bare loop {statistics.median(bares):8.2f} s  "
              f"ratio {r:5.2f}", flush=True)
        return rec, cache, evs, bares

    if "accuracy" in rows:
        paired("accuracy", ["accuracy"])
    if "calibration" in rows:
        paired("accuracy+calibration+balance", ["accuracy", "calibration_error", "class_balance"])
    if "nine" not in rows:
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    rec, cache, nine0, bare0 = paired("nine dimensions", None)

    warm_ratios = []
    for b in bare0:
        t = time.perf_counter()
        evaluate(loaded, ImageNetSuite(root), None, bootstrap=args.bootstrap, batch_size=args.batch_size,
                 device="cpu", output=None, progress=False, cache_root=cache)
        warm_ratios.append((time.perf_counter() - t) / b)
    print(f"{'warm re-run (nine, cached)':<34} ratio to the bare loop {statistics.median(warm_ratios):5.2f}",
          flush=True)

    w_ratios, bw_ratios = [], []
    for i in range(repeat):
        ev2, _, _ = run_eval(None, workers=2)
        ev0 = nine0[i]
        w_ratios.append(ev2 / ev0)
        bw_ratios.append(run_bare(rec, workers=2) / bare0[i])
    print(f"{'--loader-workers 2 / 0 (nine)':<34} evaluate {statistics.median(w_ratios):5.2f}  "
          f"(bare loop 2/0: {statistics.median(bw_ratios):5.2f})", flush=True)

    fwd, att = rec["forward_passes"], rec["attack_passes"]
    n_val = rec["splits"]["val"]["images"]
    clean = sum(s["images"] for k, s in rec["splits"].items() if "@" not in k)
    print(f"forward passes per clean image: {sum(fwd.values()) / clean:.3f} ({sum(fwd.values())} over {clean} "
          f"images in {len(fwd)} splits); attack passes per val image: "
          + ", ".join(f"{k} {v / n_val:.2f}" for k, v in att.items()))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
