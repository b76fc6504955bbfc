"""Model outputs on disk, so every split runs through a model once.

One file per (model fingerprint, suite name + version + fingerprint, split,
subset, attack and its parameters, input size): an `.npz` with the image
indices that were evaluated, their labels, argmax predictions, mapped
decisions, the logits (unless only decisions were asked for) and the indices
of skipped (unreadable) images. Files are written atomically as soon as a
split finishes, so an interrupted evaluation resumes from the splits already
done. The cache lives under `quba.paths.cache_dir()/predictions` ($QUBA_CACHE).
Each file carries a checksum of its arrays (`quba.integrity`): a damaged file
is reported in one line, removed and recomputed; writes are not fsync'd (a file
torn by a power cut fails its checksum), and a failed write is one warning.
Each file also holds the key it was written under (`info["key"]`), checked on
load: a file copied or renamed under another key's name is one warning line
and recomputed, never served. Outputs are checked whole before they are
written and after they are read (`CachedOutputs.problem`: one row per image,
finite logits, one class count), so bad outputs never poison the cache.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quba.integrity import load_npz, save_npz, warn
from quba.paths import cache_dir

FORMAT = 2  # 2: checksummed files (quba.integrity)


@dataclass
class CachedOutputs:
    index: np.ndarray  # int64 [N]: image indices within the split
    labels: np.ndarray  # int64 [N]
    preds: np.ndarray  # int64 [N]: argmax over the model's classes
    decisions: np.ndarray  # int64 [N]: the split's decision mapping applied
    logits: np.ndarray | None  # float32 [N, C] or None (decisions only)
    skipped: np.ndarray  # int64 [S]: unreadable images left out
    info: dict  # what produced it (key fields, passes, seconds)

    def problem(self) -> str | None:
        """Why these outputs cannot be used (rows that do not match the images, non-finite or ragged
        logits), or None."""
        n = len(self.index)
        for name in ("labels", "preds", "decisions"):
            if len(getattr(self, name)) != n:
                return f"{len(getattr(self, name))} {name} for {n} images"
        if self.logits is not None:
            if self.logits.ndim != 2 or len(self.logits) != n:
                return f"logits of shape {tuple(self.logits.shape)} for {n} images"
            if not np.isfinite(self.logits).all():
                return "non-finite logits (NaN or inf)"
        return None


def cache_key(fields: dict) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def same_key(stored, fields: dict) -> bool:
    """Whether the key stored in a cache file is `fields` (compared as the JSON they were written as)."""
    def canon(x):
        return json.dumps(x, sort_keys=True, default=str)

    try:
        return canon(json.loads(canon(fields))) == canon(stored)
    except (TypeError, ValueError):
        return False


def _wrong_key(path, what: str) -> None:
    warn(f"{what} {path} holds the outputs of another key (copied or renamed?); recomputing it")


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
        z = load_npz(path, what="prediction-cache file")
        if z is None:
            return None
        try:
            has_logits = bool(z["has_logits"])
            out = CachedOutputs(
                index=z["index"], labels=z["labels"], preds=z["preds"], decisions=z["decisions"],
                logits=z["logits"] if has_logits else None, skipped=z["skipped"],
                info=json.loads(str(z["info"])),
            )
        except (KeyError, ValueError, TypeError) as exc:  # checksummed but not ours: recompute
            warn(f"prediction-cache file {path} lacks {exc}; recomputing it")
            return None
        if not same_key(out.info.get("key"), fields):
            _wrong_key(path, "prediction-cache file")
            return None
        problem = out.problem()
        if problem:  # written by a quba that cached without checking
            warn(f"prediction-cache file {path} holds unusable outputs ({problem}); recomputing it")
            return None
        if need_logits and not has_logits:
            return None
        return out

    def save(self, fields: dict, out: CachedOutputs) -> Path:
        path = self.path(fields)
        if not self.enabled:
            return path
        has_logits = out.logits is not None
        # Atomic, not fsync'd: ~90 fsyncs per evaluation would cost more than the forward
        # passes of a small model, and a file torn by a power cut fails its checksum.
        save_npz(path, dict(
            index=out.index.astype(np.int64), labels=out.labels.astype(np.int64),
            preds=out.preds.astype(np.int64), decisions=out.decisions.astype(np.int64),
            logits=out.logits.astype(np.float32) if has_logits else np.zeros((0, 0), np.float32),
            has_logits=np.array(has_logits), skipped=out.skipped.astype(np.int64),
            info=np.array(json.dumps({**out.info, "key": fields}, default=str)),
        ), what="prediction-cache file")
        return path


class ScoreCache:
    """Per-unit scores of dimensions that run the model themselves (`quba.dimensions.Scores`: the
    pointing game's grids, explanation cosines, certification per image), beside the predictions
    and checksummed the same way (`quba.integrity`): computed once, resampled by the bootstrap,
    reused by later evaluations. Keyed by `quba.engine.measure.score_fields`."""

    def __init__(self, root: Path | None = None, enabled: bool = True):
        base = Path(root) if root is not None else cache_dir() / "predictions"
        self.root = base.parent / "scores" if root is None else base / "_scores"
        self.enabled = enabled

    def path(self, fields: dict) -> Path:
        return self.root / str(fields.get("dimension", "dimension")) / f"{cache_key({**fields, 'format': FORMAT})}.npz"

    def load(self, fields: dict):
        from quba.dimensions import Scores

        if not self.enabled:
            return None
        path = self.path(fields)
        z = load_npz(path, what="score-cache file")
        if z is None:
            return None
        try:
            names = json.loads(str(z["names"]))
            info = json.loads(str(z["info"]))
            values = {k: z[f"v{i}"] for i, k in enumerate(names)}
        except (KeyError, ValueError, TypeError) as exc:  # checksummed but not ours: recompute
            warn(f"score-cache file {path} lacks {exc}; recomputing it")
            return None
        if not same_key(info.pop("key", None), fields):  # what identified it: checked, not a detail
            _wrong_key(path, "score-cache file")
            return None
        return Scores(values=values, info=info)

    def save(self, fields: dict, scores) -> Path:
        path = self.path(fields)
        if not self.enabled:
            return path
        names = list(scores.values)
        arrays = {f"v{i}": np.asarray(scores.values[k]) for i, k in enumerate(names)}
        save_npz(path, {**arrays, "names": np.array(json.dumps(names)),
                        "info": np.array(json.dumps({**scores.info, "key": fields}, default=str))},
                 what="score-cache file")
        return path
