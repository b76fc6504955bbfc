"""How much work a full nine-dimension `quba evaluate` does, as counts and ratios.

Prints, for one mini model on QUBA-mini:
- forward passes per clean `val` image (from the engine's own counter; 1 means
  every clean image went through the model once) and per clean image over all
  splits, and attack passes per val image (FGSM: 1 gradient pass + 1 final
  pass; PGD: 10 steps + 1 final pass);
- the ratio of the full evaluation's wall time (cold prediction cache, suite
  already generated, bootstrap included) to a bare loop that runs the same
  forward passes and attacks over the same images with nothing else (no
  caching, metrics, bootstrap or records);
- the wall time of a warm re-evaluation (everything from the cache) relative
  to the bare loop.

    python benchmarks/evaluate_overhead.py [--model mini-...] [--threads 2] [--bootstrap 200] [--repeat 2]

Ratios, not absolute times, are what to compare across machines.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib

import numpy as np


def default_model() -> str:
    from quba.zoo.mini import catalog_rows

    rows = [r for r in catalog_rows() if (r.get("task") or "classification") == "classification"]
    if not rows:
        sys.exit("no mini model in the catalog; pass --model FILE.py:FUNCTION")
    return rows[0]["id"]


def bare_loop(loaded, suite, record, batch_size: int, seed: int) -> float:
    """The same forward passes and attacks as the record, with nothing else."""
    import torch

    from quba.engine import attacks
    from quba.engine.runner import ATTACK_DEFAULTS

    module = loaded.module.eval()
    t0 = time.perf_counter()
    for key in record["splits"]:
        split_name, _, attack = key.partition("@")
        split = suite.split(split_name)
        images = torch.as_tensor(split.images)
        for start in range(0, len(split), batch_size):
            x = images[start:start + batch_size].float().div_(255.0)
            if attack:
                y = torch.as_tensor(split.labels[start:start + batch_size])
                params = dict(ATTACK_DEFAULTS[attack])
                if attack == "pgd":
                    params["generator"] = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{start}".encode()))
                x = getattr(attacks, attack)(module, x, y, **params)
            with torch.inference_mode():
                module(x).float().softmax(1).numpy()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a mini model id or FILE.py:FUNCTION (default: the first mini classifier)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=2, help="alternating repetitions; the best time of each counts")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from quba.engine import evaluate, resolve_model
    from quba.suites import load_suite

    spec = args.model or default_model()
    loaded = resolve_model(spec)
    suite = load_suite("mini")
    t0 = time.perf_counter()
    for name in suite.split_names():
        if name not in ("train", "segmentation", "multiview"):
            suite.split(name)
    gen = time.perf_counter() - t0

    fulls, warms, bares = [], [], []
    for _ in range(args.repeat):  # alternate, keep the best of each (shared machines are noisy)
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            rec = evaluate(loaded, suite, bootstrap=args.bootstrap, batch_size=args.batch_size, output=None,
                           progress=False, cache_root=cache)
            fulls.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            evaluate(loaded, suite, bootstrap=args.bootstrap, batch_size=args.batch_size, output=None,
                     progress=False, cache_root=cache)
            warms.append(time.perf_counter() - t0)
        bares.append(bare_loop(loaded, suite, rec, args.batch_size, seed=0))
    full, warm, bare = min(fulls), min(warms), min(bares)

    n_val = rec["splits"]["val"]["images"]
    clean_images = sum(s["images"] for k, s in rec["splits"].items() if "@" not in k)
    fwd, att = rec["forward_passes"], rec["attack_passes"]
    print(f"model {loaded.id} ({loaded.parameters_m:.4g} M parameters), suite mini, {args.threads} thread(s), "
          f"bootstrap {args.bootstrap}")
    print(f"suite splits loaded/generated beforehand: {gen:.1f} s (not counted below)")
    print(f"forward passes per clean val image:        {fwd['val'] / n_val:.3f}")
    print(f"forward passes per clean image, all splits: {sum(fwd.values()) / clean_images:.3f} "
          f"({sum(fwd.values())} passes over {clean_images} images in {len(fwd)} splits)")
    for k, v in att.items():
        print(f"attack passes per val image ({k}):        {v / n_val:.3f}")
    print(f"full evaluation, cold cache: {full:.2f} s; bare forward/attack loop: {bare:.2f} s; "
          f"ratio {full / bare:.2f}")
    print(f"re-evaluation from the cache: {warm:.2f} s; ratio to the bare loop {warm / bare:.2f}")
    print("values: " + ", ".join(f"{d}={v['value']:.4g}" for d, v in rec["dimensions"].items()
                                 if v["value"] is not None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
