"""The record schema: what one evaluation of one model on one suite stores, versioned.

A record (format 2) is a dict::

    model, suite, format
    dimensions: {name: {value, lo, hi, details?, setup?}}   lo/hi: 95 % bootstrap interval
                                                    (null with --bootstrap 0; lo = hi = value
                                                    for parameters, a count); setup: {protocol,
                                                    paper, options, method} where they decide it
    splits: {request: {images, skipped, device, precision, complete?}}   complete: the imagenet
                                                    suite's split folder held all it should
                                                    (quba.datasets; false: + expected/found counts)
    skipped_images
    metadata: {architecture, paradigm, pretraining_data, source}
    provenance: {quba, torch, torchvision, timm, numpy, python, seed, device, autocast,
                 suite, suite_version, suite_fingerprint, model_fingerprint, code_fingerprint,
                 subset, bootstrap, batch_size, precision, protocol, paper_options,
                 transform, transform_source, transform_overrides,
                 cost?, data?}                      cost: {forward_passes, attack_passes, splits_from_cache,
                                                    splits} of the run that wrote the record
                                                    (quba.store.records.RUN_PROVENANCE);
                                                    data: how a subset root / generated ImageNet-C was made
    checksum: "sha256:<hex>" of the canonical JSON of everything else

`make_record` builds one (every writer -- `quba evaluate`, `quba certify`,
`quba consistency --record`, the sweep's workers -- goes through it);
`validate` checks one read from disk and names the file when it is not one.
Format-1 records (no checksum, run data inline) still validate.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json

from quba.errors import QubaError
from quba.numbers import finite_or_none

#: The record format written now; `validate` accepts these.
FORMAT = 2
FORMATS = (1, 2)
#: What a run says about itself, kept out of the stored record (in the run log beside it).
RUN_KEYS = ("created", "forward_passes", "attack_passes", "history", "path")
METADATA_KEYS = ("architecture", "paradigm", "pretraining_data", "source")


def make_record(*, model: str, suite: str, dimensions: dict, provenance: dict, metadata: dict | None = None,
                splits: dict | None = None, forward_passes: dict | None = None,
                attack_passes: dict | None = None, created: str | None = None, **extra) -> dict:
    """A record of format `FORMAT` (run data included: `store.records.write_record` splits it off).

    dimensions: {name: {value, lo, hi, details?, setup?}}; non-finite numbers become null.
    The result is validated (a writer's mistake fails here, not when the file is read back)."""
    splits = dict(splits or {})
    record = {
        "format": FORMAT,
        "model": str(model),
        "suite": str(suite),
        "created": created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dimensions": {str(k): _entry(v) for k, v in dimensions.items()},
        "forward_passes": dict(forward_passes or {}),
        "attack_passes": dict(attack_passes or {}),
        "splits": splits,
        "skipped_images": int(sum(int(v.get("skipped", 0) or 0) for v in splits.values() if isinstance(v, dict))),
        "metadata": {**{k: None for k in METADATA_KEYS}, **(metadata or {})},
        "provenance": dict(provenance),
        **extra,
    }
    body = {k: v for k, v in record.items() if k not in RUN_KEYS}
    validate({**body, "checksum": checksum(body)}, f"for model {model!r}")
    return record



def _entry(entry) -> dict:
    """Numbers as floats, non-finite ones as null (anything else is left for `validate` to refuse)."""
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    for k in ("value", "lo", "hi"):
        v = out.get(k)
        if v is None or _is_num(v) or hasattr(v, "dtype"):
            out[k] = finite_or_none(v, lenient=False)
    return out


def _canonical(rec: dict) -> bytes:
    body = {k: v for k, v in rec.items() if k != "checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=json_default,
                      allow_nan=True).encode()


def checksum(rec: dict) -> str:
    """"sha256:<hex>" of the canonical JSON of everything but the checksum."""
    return "sha256:" + hashlib.sha256(_canonical(rec)).hexdigest()


def _is_num(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def validate(rec, where) -> dict:
    """`rec` if it is a well-formed quba record, else QubaError naming `where`."""
    def bad(problem):
        return QubaError(f"record {where} is not a valid quba record ({problem}); delete or move it, "
                         "then evaluate the model again")

    if not isinstance(rec, dict):
        raise bad(f"a JSON {type(rec).__name__}, not an object")
    for key in ("model", "suite"):
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            raise bad(f"no {key!r} name")
    fmt = rec.get("format", 1)
    if fmt not in FORMATS:
        raise bad(f"unknown format {fmt!r} (this quba reads formats {', '.join(map(str, FORMATS))}; "
                  "a newer quba may have written it)")
    dims = rec.get("dimensions")
    if not isinstance(dims, dict):
        raise bad("'dimensions' is not an object")
    for name, entry in dims.items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise bad(f"dimension {name!r} has no 'value'")
        for k in ("value", "lo", "hi"):
            if not _is_num(entry.get(k)):
                raise bad(f"dimension {name!r}: {k} is {entry.get(k)!r}, not a number")
        if "details" in entry and not isinstance(entry["details"], dict):
            raise bad(f"dimension {name!r}: 'details' is not an object")
    for key in ("provenance", "metadata", "splits"):
        if key in rec and not isinstance(rec[key], dict):
            raise bad(f"{key!r} is not an object")
    if fmt == 2:
        if not isinstance(rec.get("checksum"), str):
            raise bad("no checksum")
        if rec["checksum"] != checksum(rec):
            raise QubaError(f"record {where} is damaged or was edited by hand (its checksum does not match); "
                            "delete it and evaluate the model again")
    return rec


def json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
