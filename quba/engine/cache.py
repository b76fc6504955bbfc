"""Model outputs on disk, so every split runs through a model once.

One file per (model fingerprint, suite name + version + fingerprint, split,
subset, attack and its parameters, input size): an `.npz` with the image
indices that were evaluated, their labels, argmax predictions, mapped
decisions, the logits (unless only decisions were asked for) and the indices
of skipped (unreadable) images. Files are written atomically as soon as a
split finishes, so an interrupted evaluation resumes from the splits already
done. The cache lives under `quba.paths.cache_dir()/predictions` ($QUBA_CACHE).
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quba.paths import cache_dir

FORMAT = 1


@dataclass
class CachedOutputs:
    index: np.ndarray  # int64 [N]: image indices within the split
    labels: np.ndarray  # int64 [N]
    preds: np.ndarray  # int64 [N]: argmax over the model's classes
    decisions: np.ndarray  # int64 [N]: the split's decision mapping applied
    logits: np.ndarray | None  # float32 [N, C] or None (decisions only)
    skipped: np.ndarray  # int64 [S]: unreadable images left out
    info: dict  # what produced it (key fields, passes, seconds)


def cache_key(fields: dict) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class PredictionCache:
    """Reads and writes `CachedOutputs` keyed by a dict of identifying fields."""

    def __init__(self, root: Path | None = None, enabled: bool = True):
        self.root = Path(root) if root is not None else cache_dir() / "predictions"
        self.enabled = enabled

    def path(self, fields: dict) -> Path:
        model = str(fields.get("model_fingerprint", "model"))[:32]
        return self.root / model / f"{cache_key({**fields, 'format': FORMAT})}.npz"

    def load(self, fields: dict, need_logits: bool) -> CachedOutputs | None:
        if not self.enabled:
            return None
        path = self.path(fields)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                has_logits = bool(z["has_logits"])
                if need_logits and not has_logits:
                    return None
                return CachedOutputs(
                    index=z["index"], labels=z["labels"], preds=z["preds"], decisions=z["decisions"],
                    logits=z["logits"] if has_logits else None, skipped=z["skipped"],
                    info=json.loads(str(z["info"])),
                )
        except (OSError, ValueError, KeyError):
            return None  # a damaged file is recomputed and overwritten

    def save(self, fields: dict, out: CachedOutputs) -> Path:
        path = self.path(fields)
        if not self.enabled:
            return path
        buf = io.BytesIO()
        has_logits = out.logits is not None
        np.savez(
            buf, index=out.index.astype(np.int64), labels=out.labels.astype(np.int64),
            preds=out.preds.astype(np.int64), decisions=out.decisions.astype(np.int64),
            logits=out.logits.astype(np.float32) if has_logits else np.zeros((0, 0), np.float32),
            has_logits=np.array(has_logits), skipped=out.skipped.astype(np.int64),
            info=np.array(json.dumps({**out.info, "key": fields}, default=str)),
        )
        _write_replace(path, buf.getvalue())
        return path


def _write_replace(path: Path, data: bytes) -> None:
    """Atomic (temp file + rename) but without fsync: a cache file lost to a power cut is
    recomputed (`load` treats a damaged file as missing), and ~90 fsyncs per evaluation
    would cost more than the forward passes of a small model."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
