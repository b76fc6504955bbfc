"""What a dimension reads: the model's outputs on one split (see quba/dimensions/__init__.py)."""
from __future__ import annotations

from functools import cached_property

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class SplitOutputs:
    """Outputs of one model on one split (clean or attacked), aligned by image.

    `index` are the image indices within the split (skipped and unselected
    images are absent); `labels`, `meta` arrays, `logits`, `preds` (argmax over
    the model's classes) and `decisions` (the split's decision mapping) align
    with it. `probs` and `correct` are computed once, on first use.
    `take(idx)` is the same outputs restricted/resampled to positions `idx`.
    """

    def __init__(self, *, name, index, labels, preds, decisions, logits, meta, decision, skipped=0):
        self.name = name
        self.index = np.asarray(index)
        self.labels = np.asarray(labels)
        self.preds = np.asarray(preds)
        self.decisions = np.asarray(decisions)
        self.logits = logits
        self.meta = meta
        self.decision = decision
        self.skipped = int(skipped)

    def __len__(self) -> int:
        return len(self.index)

    @cached_property
    def probs(self) -> np.ndarray:
        if self.logits is None:
            raise ValueError(f"outputs of {self.name!r} were kept as decisions only; request outputs='logits'")
        return softmax(self.logits)

    @cached_property
    def correct(self) -> np.ndarray:
        return self.decisions == self.labels

    def take(self, idx: np.ndarray) -> "SplitOutputs":
        return _Taken(self, np.asarray(idx))


class _Taken(SplitOutputs):
    """A lazy view: arrays are indexed from the parent only when read."""

    def __init__(self, parent: SplitOutputs, idx: np.ndarray):  # noqa: D401 - no super().__init__
        self._parent = parent
        self._idx = idx
        self.name = parent.name
        self.decision = parent.decision
        self.skipped = parent.skipped

    def __len__(self) -> int:
        return len(self._idx)

    @cached_property
    def index(self):
        return self._parent.index[self._idx]

    @cached_property
    def labels(self):
        return self._parent.labels[self._idx]

    @cached_property
    def preds(self):
        return self._parent.preds[self._idx]

    @cached_property
    def decisions(self):
        return self._parent.decisions[self._idx]

    @cached_property
    def logits(self):
        return None if self._parent.logits is None else self._parent.logits[self._idx]

    @cached_property
    def meta(self):
        return {k: np.asarray(v)[self._idx] for k, v in self._parent.meta.items()}

    @cached_property
    def probs(self):
        return self._parent.probs[self._idx]

    @cached_property
    def correct(self):
        return self._parent.correct[self._idx]
