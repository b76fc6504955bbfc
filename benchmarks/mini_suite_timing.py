"""Time QUBA-mini generation per split family (CPU seconds and wall seconds).

    QUBA_CACHE=$(mktemp -d) python benchmarks/mini_suite_timing.py [--seed 0]

Uses a fresh cache each run (set QUBA_CACHE to an empty folder), so every split is
generated, not read. CPU seconds are the stable number on a shared machine; the
ratio column is each family's share of the total.
"""
from __future__ import annotations

import argparse
import resource
import time
from collections import defaultdict


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from quba.suites.mini import MiniSuite

    suite = MiniSuite(seed=args.seed)
    fam_cpu, fam_wall = defaultdict(float), defaultdict(float)
    for name in suite.split_names():
        family = name.split("/")[0] if "/" in name else name
        if name.startswith("corruption/"):
            family = "corruption:" + name.split("/")[1]
        c, w = cpu(), time.time()
        suite.split(name)
        fam_cpu[family] += cpu() - c
        fam_wall[family] += time.time() - w
    total = sum(fam_cpu.values())
    print(f"{'family':28s} {'cpu_s':>7s} {'wall_s':>7s} {'share':>6s}")
    for fam in fam_cpu:
        print(f"{fam:28s} {fam_cpu[fam]:7.2f} {fam_wall[fam]:7.2f} {fam_cpu[fam] / total:6.1%}")
    corr = sum(v for k, v in fam_cpu.items() if k.startswith("corruption:"))
    print(f"{'corruption (all 75)':28s} {corr:7.2f}")
    print(f"{'TOTAL':28s} {total:7.2f} {sum(fam_wall.values()):7.2f}")


if __name__ == "__main__":
    main()
