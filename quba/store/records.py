"""One JSON record per (model, suite): values, intervals, counts, provenance.

A record (format 1) is a dict::

    model, suite, format, created
    dimensions: {name: {value, lo, hi, details?, setup?}}   lo/hi: 95 % bootstrap interval
                                                    (null with --bootstrap 0; lo = hi = value
                                                    for parameters, a count); setup: {protocol}
                                                    or {method} where that decides the value
    forward_passes: {request: images}  clean passes of this evaluation (0: served from cache)
    attack_passes:  {request: images}  every pass the attacks made (steps + final pass)
    splits: {request: {images, skipped, cached, seconds, outputs, device, precision}}
    metadata: {architecture, paradigm, pretraining_data, source}
    provenance: {quba, torch, torchvision, timm, numpy, python, seed, device, autocast,
                 suite, suite_version, suite_fingerprint, model_fingerprint,
                 subset, bootstrap, batch_size, precision, protocol, transform, transform_source}
    history: earlier evaluations merged into this record (their dims and pass counts)

Writing merges with an existing record of the same model, suite, suite
fingerprint, model fingerprint and subset (so `--dims a` then `--dims b` gives
one record with both); anything else replaces it. Files are written atomically.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from quba.errors import QubaError
from quba.paths import atomic_write_text

FORMAT = 1


def safe_name(model: str) -> str:
    """A file name for a model id (anything outside [A-Za-z0-9._-] becomes '_')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(model)).strip("._") or "model"
    return name[:150]


def records_dir(output, suite: str) -> Path:
    return Path(output) / suite / "records"


def record_path(output, suite: str, model: str) -> Path:
    return records_dir(output, suite) / f"{safe_name(model)}.json"


def read_record(path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise QubaError(f"record {path} is not readable JSON ({exc.__class__.__name__}); "
                        "delete it and evaluate the model again") from None
    if not isinstance(rec, dict) or "model" not in rec or "dimensions" not in rec:
        raise QubaError(f"record {path} is not a quba record (no 'model'/'dimensions'); delete or move it")
    return rec


def load_records(output, suite: str) -> list[dict]:
    folder = records_dir(output, suite)
    if not folder.is_dir():
        return []
    return [read_record(p) for p in sorted(folder.glob("*.json"))]


def _same_setup(a: dict, b: dict) -> bool:
    keys = ("suite", "suite_fingerprint", "model_fingerprint", "subset")
    pa, pb = a.get("provenance", {}), b.get("provenance", {})
    return a.get("model") == b.get("model") and all(pa.get(k) == pb.get(k) for k in keys)


def merge(old: dict, new: dict) -> dict:
    """`new` plus the dimensions of `old` that `new` did not measure (same setup only)."""
    if not _same_setup(old, new):
        return new
    merged = dict(new)
    merged["dimensions"] = {**old.get("dimensions", {}), **new["dimensions"]}
    merged["splits"] = {**old.get("splits", {}), **new.get("splits", {})}
    history = list(old.get("history", []))
    history.append({k: old.get(k) for k in ("created", "forward_passes", "attack_passes")}
                   | {"dimensions": sorted(old.get("dimensions", {}))})
    merged["history"] = history
    return merged


def write_record(output, record: dict, merge_existing: bool = True) -> Path:
    path = record_path(output, record["suite"], record["model"])
    if merge_existing and path.exists():
        try:
            record = merge(read_record(path), record)
        except QubaError:
            pass  # an unreadable old record is replaced
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=False, default=_json_default) + "\n")
    return path


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def check_writable(output, suite: str) -> Path:
    """Prove the records folder can be created and written, before any work starts.

    Creates nothing: finds the nearest existing folder on the way and checks
    it is a writable folder (a file in the way, or no permission, fails)."""
    import os

    folder = records_dir(output, suite)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    problem = None
    if not probe.is_dir():
        problem = f"{probe} is not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"no permission to write in {probe}"
    else:  # permission bits are not the whole story (/proc, read-only mounts): try a file, removed at once
        import tempfile

        try:
            fd, tmp = tempfile.mkstemp(dir=probe, prefix=".quba-write-check-")
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            problem = f"cannot create files in {probe}: {exc.strerror or exc}"
    if problem:
        raise QubaError(f"cannot write results under {output} ({problem}); choose a writable folder with --output DIR")
    return folder
