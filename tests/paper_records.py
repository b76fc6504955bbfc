"""Records made for the reproduction-report tests (quba/ranking/reproduction.py) -- a helper of the
tests (tests/ is on sys.path), not a test module."""
from __future__ import annotations

from quba.store.records import write_record
from quba.store.schema import make_record


def val_and_corruptions(complete=True, skipped=0) -> dict:
    """A record's splits: val and four ImageNet-C splits (fog 1-2 with `skipped` each; snow/2
    short of images unless `complete`)."""
    splits = {"val": {"images": 50000, "skipped": 0}}
    for c in ("fog", "snow"):
        for s in (1, 2):
            splits[f"corruption/{c}/{s}"] = {"images": 50000, "skipped": skipped if c == "fog" else 0}
    if not complete:
        splits["corruption/snow/2"].update(images=1500, expected=50000, complete=False)
    return splits


def record(model, dims, *, protocol="paper", subset=None, splits=None, suite="imagenet") -> dict:
    """A record of `model` with dims {name: (value, lo, hi)}, adversarial robustness under `protocol`."""
    entries = {}
    for d, (value, lo, hi) in dims.items():
        entries[d] = {"value": value, "lo": lo, "hi": hi}
        if d == "adversarial_robustness":
            entries[d]["setup"] = {"protocol": protocol}
    return make_record(model=model, suite=suite, dimensions=entries, splits=splits or val_and_corruptions(),
                       provenance={"protocol": protocol, "subset": subset, "suite": suite})


def write(output, *records):
    """The records written under `output` (returned)."""
    for r in records:
        write_record(output, r)
    return output
