"""The TokenFormer growth study on QUBA-mini: does a *grown* model keep the quality beyond
accuracy of one trained from scratch? (docs/tokenformer-growth.md)

    python benchmarks/tokenformer_growth.py                 # table + radar (docs/tokenformer-growth.png)
    python benchmarks/tokenformer_growth.py --out my.png --bootstrap 1000
    python benchmarks/tokenformer_growth.py --seeds 1 2    # also retrain the three at other seeds

Models: mini-tokenformer-s (400 steps), mini-tokenformer-m (-s grown to twice its parameter tokens
with zero keys, then 400 further steps) and mini-tokenformer-m-scratch (the -m size from scratch
for the same 800 steps). Each is evaluated by `quba.evaluate` on the nine QUBA dimensions plus
interpretability (seed-0 suite, cached: a second run does no forward pass; nothing is written to
results/). Printed, as markdown:

1. value [95 % interval] per dimension and model, and each model's QUBA score and rank against the
   mini reference (quba/data/mini_reference.csv, which holds all three);
2. paired bootstrap differences grown − scratch and grown − small: the same resampled images for
   both models (quba.engine.measure.replicates is seeded per dimension), 95 % percentile interval;
   "yes" where it excludes 0. (Interpretability: intervals only — each model's grids are drawn
   from the images it classifies correctly, so they are not paired.)

The radar shows the three against the whole mini reference (oriented z; bars: 95 % intervals).

3. With ``--seeds S ...``: the three recipes retrained in memory at each further seed (exactly as
   `quba zoo train-mini --seed S` would, -s rounded to float16 before growing, as shipped; about
   5 CPU-minutes per seed on one thread) and measured on the nine dimensions: the bootstrap
   intervals above are over images for one trained model each, this shows how much a training
   seed moves the numbers.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("mini-tokenformer-s", "mini-tokenformer-m", "mini-tokenformer-m-scratch")
SHORT = {"mini-tokenformer-s": "-s", "mini-tokenformer-m": "-m (grown)", "mini-tokenformer-m-scratch": "-m-scratch"}
PAIRS = (("mini-tokenformer-m", "mini-tokenformer-m-scratch"), ("mini-tokenformer-m", "mini-tokenformer-s"))


def fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def paired_replicates(model_id: str, dim: str, suite, n: int, seed: int = 0) -> np.ndarray | None:
    """Bootstrap replicates of `dim` for one model from the prediction cache (evaluate ran first);
    the same seed draws the same images for every model."""
    from quba import dimensions
    from quba.engine import measure, resolve_model
    from quba.engine.runner import Runner

    loaded = resolve_model(model_id)
    dobj = dimensions.get(dim)
    runner = Runner(loaded, suite, device="cpu", progress=False)
    try:
        outs = {r: runner.outputs(r) for r in dobj.needs(suite, {})}
    finally:
        runner.close()
    ctx = measure.Context(dimension=dim, suite=suite, model=loaded, opts={"seed": seed}, device="cpu", outputs=outs)
    return measure.replicates(dobj, ctx, n, seed)


def train_seed(seed: int, suite) -> dict:
    """The three models trained at ``seed`` by the mini recipes (nothing written)."""
    import torch

    from quba.zoo import mini
    from quba.zoo.mini import tokenformer as tf

    out = {}
    torch.manual_seed(seed)  # initial weights depend on the seed only (as train.main)
    small = mini.build("mini-tokenformer-s")
    tf.tokenformer(small, suite, seed=seed, progress=False)
    small.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                           for k, v in small.state_dict().items()})  # as stored (float16)
    out["mini-tokenformer-s"] = small.eval()
    torch.manual_seed(seed)
    out["mini-tokenformer-m"] = tf.grow_and_train(mini.build("mini-tokenformer-m"), small, suite, seed=seed,
                                                  progress=False).eval()
    torch.manual_seed(seed)
    scratch = mini.build("mini-tokenformer-m-scratch")
    tf.tokenformer_scratch(scratch, suite, seed=seed, progress=False)
    out["mini-tokenformer-m-scratch"] = scratch.eval()
    return out


def main(argv=None) -> int:
    import torch

    import quba
    from quba import dimensions
    from quba.paths import data_file
    from quba.ranking.leaderboard import load_leaderboard
    from quba.ranking.placement import place
    from quba.report.plots import radar_compare
    from quba.suites import load_suite

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "tokenformer-growth.png"), help="radar plot (PNG)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="paired bootstrap resamples (default 1000)")
    ap.add_argument("--seeds", type=int, nargs="*", default=[], metavar="S",
                    help="also retrain the three at these seeds and print their nine values")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    dims = [*dimensions.NINE, "interpretability"]
    recs = {m: quba.evaluate(m, suite="mini", dims=dims, output=None, progress=False) for m in MODELS}

    print("| dimension | " + " | ".join(f"`{m}`" for m in MODELS) + " |")
    print("|---|" + "---|" * len(MODELS))
    for d in dims:
        arrow = "↑" if dimensions.higher_is_better(d) else "↓"
        cells = []
        for m in MODELS:
            r = recs[m]["dimensions"][d]
            cells.append(fmt(r["value"]) if d == "parameters_m" else f"{fmt(r['value'])} [{fmt(r['lo'])}, {fmt(r['hi'])}]")
        print(f"| {d} {arrow} | " + " | ".join(cells) + " |")
    placed = {m: place({**recs[m], "dimensions": {d: v for d, v in recs[m]["dimensions"].items()
                                                   if d in dimensions.NINE}}) for m in MODELS}
    print("| QUBA score (rank) | " + " | ".join(
        f"{p['quba']:+.3f} ({p['rank']} of {p['n']})" for p in (placed[m] for m in MODELS)) + " |")

    suite = load_suite("mini")
    print()
    print("| dimension | " + " | ".join(f"{SHORT[a]} − {SHORT[b]} [95 % paired]" for a, b in PAIRS) + " |")
    print("|---|" + "---|" * len(PAIRS))
    for d in dimensions.NINE:
        if d == "parameters_m":
            continue
        reps = {m: paired_replicates(m, d, suite, args.bootstrap) for m in MODELS}
        cells = []
        for a, b in PAIRS:
            diff = recs[a]["dimensions"][d]["value"] - recs[b]["dimensions"][d]["value"]
            delta = reps[a] - reps[b]
            delta = delta[np.isfinite(delta)]
            lo, hi = np.percentile(delta, [2.5, 97.5])
            verdict = "yes" if lo > 0 or hi < 0 else "no"
            cells.append(f"{diff:+.4f} [{lo:+.4f}, {hi:+.4f}] {verdict}")
        print(f"| {d} | " + " | ".join(cells) + " |")

    frame = load_leaderboard(data_file("mini_reference.csv")).reset_index(drop=True)
    path = radar_compare(frame, list(MODELS), args.out, dims=list(dimensions.NINE),
                         title=f"TokenFormer growth on QUBA-mini: oriented z vs. the {len(frame)} mini models\n"
                               "(outward = better; bars: 95 % intervals)")
    print(f"\nradar: {path}")

    if args.seeds:
        print()
        nine = [d for d in dimensions.NINE if d != "parameters_m"]
        print("| seed | model | " + " | ".join(nine) + " |")
        print("|---|---|" + "---|" * len(nine))
        for m in MODELS:
            print(f"| 0 | {SHORT[m]} | " + " | ".join(fmt(recs[m]["dimensions"][d]["value"]) for d in nine) + " |")
        for seed in args.seeds:
            for m, module in train_seed(seed, suite).items():
                rec = quba.evaluate(module, suite="mini", dims=nine, output=None, progress=False, bootstrap=0)
                print(f"| {seed} | {SHORT[m]} | " + " | ".join(fmt(rec["dimensions"][d]["value"]) for d in nine)
                      + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
