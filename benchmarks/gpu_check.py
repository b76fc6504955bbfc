"""GPU throughput check of the evaluation pipeline, ready to run on a CUDA machine in < 5 minutes.

ResNet-50 without weights (torchvision, nothing downloaded) on a synthetic ImageNet-layout tree
of JPEGs written to a temporary folder (benchmarks/_synthetic_imagenet.py); images/s per stage:

  decode        ImageFolder-style decode + resize/crop in DataLoader workers, no model
  forward fp32  the model alone on device-resident batches (channels_last on CUDA)
  forward bf16  the same under bf16 autocast
  fgsm / pgd    the in-house attacks on device-resident batches (bf16 autocast on CUDA)
  bare loop     ImageFolder + DataLoader + forward + softmax to the host, the yardstick
  quba a+c+b    `evaluate` accuracy + calibration + class balance, cold cache (decode in workers,
                pinned memory, prefetch, bootstrap 200 included); its ratio to the bare loop
  quba adv      `evaluate` adversarial robustness (clean + FGSM + PGD, decoded once), cold
  quba warm     the a+c+b evaluation again, everything from the cache

    python benchmarks/gpu_check.py                 # CUDA: 2000 images of 500x375, crop 224
    python benchmarks/gpu_check.py --small         # CPU-sized proof that it works (a minute)
    python benchmarks/gpu_check.py --json out.json # also write the figures

Exit code 0 with the table; 1 if a stage fails (the error is printed).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _synthetic_imagenet as S  # noqa: E402


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(n, seconds):
    return n / seconds if seconds > 0 else float("inf")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true",
                    help="a tiny run for CPU/CI: 4 images of 48x36, crop 32, batch 2")
    ap.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:i")
    ap.add_argument("--images", type=int, help="val images (default 2000; --small 4)")
    ap.add_argument("--batch-size", type=int, help="default 256 (--small 2)")
    ap.add_argument("--workers", type=int, help="DataLoader workers (default: cores - 1, at most 16; --small 2)")
    ap.add_argument("--threads", type=int, help="torch threads of this process (default: torch's; --small 1)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)

    import os

    import torch

    from quba.engine import attacks as A
    from quba.api import evaluate
    from quba.engine.runner import resolve_device
    from quba.suites.imagenet import ImageNetSuite

    device = resolve_device(args.device)
    small = args.small
    if args.threads or small:
        torch.set_num_threads(args.threads or 1)
    n_images = args.images or (4 if small else 2000)
    bs = args.batch_size or (2 if small else 256)
    workers = args.workers if args.workers is not None else (2 if small else max(1, min(16, (os.cpu_count() or 2) - 1)))
    crop, size = (32, (48, 36)) if small else (224, (500, 375))
    n_wnids = 2 if small else 50
    per_class = max(1, n_images // n_wnids)
    bf16 = device.type == "cuda"
    rows, figures = [], {"device": str(device), "images": n_wnids * per_class, "batch_size": bs,
                         "workers": workers, "crop": crop}

    def row(stage, n, seconds, note=""):
        rate = _rate(n, seconds)
        rows.append((stage, n, seconds, rate, note))
        figures[stage] = {"images": n, "seconds": round(seconds, 3), "images_per_s": round(rate, 1)}
        print(f"{stage:<14}{n:>8}{seconds:>10.2f}{rate:>12.1f}  {note}", flush=True)

    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="quba-gpu-check-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        root = S.make_tree(tmp / "data", n_wnids=n_wnids, per_class=per_class, size=size)
        print(f"device {device}"
              f"{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''}; "
              f"{n_wnids * per_class} JPEGs {size[0]}x{size[1]} written in {time.perf_counter() - t0:.1f} s; "
              f"ResNet-50 (no weights), crop {crop}, batch {bs}, {workers} workers", flush=True)
        print(f"{'stage':<14}{'images':>8}{'seconds':>10}{'images/s':>12}", flush=True)
        loaded = S.resnet("resnet50", crop=crop)
        loaded.preprocess = S.preprocess(crop)
        model = loaded.module.to(device).eval()
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)

        # decode only
        from torch.utils.data import DataLoader
        from torchvision.datasets import ImageFolder

        ds = ImageFolder(str(root / "val"), transform=loaded.preprocess)
        dl = DataLoader(ds, batch_size=bs, num_workers=workers, pin_memory=device.type == "cuda")
        t0, n, batches = time.perf_counter(), 0, []
        for x, y in dl:
            n += len(x)
            if len(batches) < 2:
                batches.append((x, y))
        row("decode", n, time.perf_counter() - t0, f"{workers} workers")
        x, y = batches[0]
        x = x.to(device).contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x.to(device)
        y = y.to(device)
        reps = max(1, n // len(x))

        for name, cast in (("forward fp32", False), ("forward bf16", True)):
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cast):
                model(x)  # warm-up (cuDNN autotune, allocator)
                _sync(device)
                t0 = time.perf_counter()
                for _ in range(reps):
                    model(x)
                _sync(device)
            row(name, reps * len(x), time.perf_counter() - t0)

        for name in ("fgsm", "pgd"):
            kw = {"generator": torch.Generator(device=device).manual_seed(0)} if name == "pgd" else {}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                t0 = time.perf_counter()
                getattr(A, name)(model, x, y, **kw)
                _sync(device)
            row(name, len(x), time.perf_counter() - t0, "10 steps" if name == "pgd" else "")

        secs, n = S.bare_loop(loaded, [root / "val"], device=device, batch_size=bs, workers=workers, autocast=bf16)
        row("bare loop", n, secs, "ImageFolder + DataLoader + forward")
        bare = secs

        suite = ImageNetSuite(root)
        common = dict(device=str(device), batch_size=bs, workers=workers, output=None, progress=False,
                      cache_root=tmp / "cache", bootstrap=200)
        t0 = time.perf_counter()
        rec = evaluate(loaded, suite, ["accuracy", "calibration_error", "class_balance"], **common)
        _sync(device)
        secs = time.perf_counter() - t0
        row("quba a+c+b", rec["splits"]["val"]["images"], secs, f"ratio to the bare loop {secs / bare:.2f}")
        t0 = time.perf_counter()
        rec = evaluate(loaded, suite, ["adversarial_robustness"], **common)
        _sync(device)
        adv = sum(s["images"] for k, s in rec["splits"].items() if "@" in k)
        row("quba adv", adv, time.perf_counter() - t0, "FGSM + PGD on val (clean from the cache)")
        t0 = time.perf_counter()
        evaluate(loaded, suite, ["accuracy", "calibration_error", "class_balance"], **common)
        secs = time.perf_counter() - t0
        row("quba warm", n, secs, f"ratio to the bare loop {secs / bare:.2f}")
        if device.type == "cuda":
            figures["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            print(f"peak GPU memory {figures['peak_memory_gib']} GiB", flush=True)
    figures["total_seconds"] = round(time.perf_counter() - t_all, 1)
    print(f"total {figures['total_seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
