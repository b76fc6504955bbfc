"""Issue 10.11: the ACE binning choice, against the authors' implementation (documented in docs/evaluating.md#choices).

`authors_ace` re-implements the QUBA authors' ACE (visinf/beyond-accuracy helper/uncertainty.py,
Robustness Metrics' _GeneralCalibrationErrorMetric with binning_scheme='adaptive',
class_conditional=True, max_prob=False, norm='l1', threshold=0, num_bins=15): bin upper edges are
the sorted values at positions round(linspace(0, n, 15, endpoint=False))[1:] (plus 1.0) and
np.digitize puts a value equal to an edge into the upper bin. quba cuts the sorted images by
position (quba.metrics.calibration.adaptive_calibration_error)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quba.engine.outputs import softmax
from quba.metrics.calibration import adaptive_calibration_error


def authors_ace(labels, probs, num_bins=15):
    probs = np.asarray(probs, dtype=np.float64)
    labels_matrix = np.eye(probs.shape[1])[labels]
    total = 0.0
    for j in range(probs.shape[1]):
        p, y = probs[:, j], labels_matrix[:, j]
        y, p = y[p > 0], p[p > 0]
        idx = np.minimum(np.round(np.linspace(0, p.size, num_bins, endpoint=False)).astype(int), p.size - 1)
        upper = np.concatenate((np.sort(p)[idx][1:], [1.0]))
        b = np.digitize(p, upper)
        sums = np.bincount(b, weights=p, minlength=num_bins).astype(np.float64)
        counts = np.bincount(b, minlength=num_bins) + np.finfo(np.float64).eps
        err = (np.bincount(b, weights=y, minlength=num_bins) / counts - sums / counts) * (counts / p.size)
        total += np.sum(np.abs(err)) / probs.shape[1]
    return total


def _data(n, k, scale, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 3.0 * np.eye(k)[y]
    p = softmax(logits * scale).astype(np.float32).astype(np.float64)  # float32 softmax, as models give
    return y, p


def test_same_bins_without_ties_when_n_is_a_multiple_of_15():
    y, p = _data(600, 12, 1.0)
    assert len(np.unique(p)) == p.size  # no ties
    assert adaptive_calibration_error(y, p) == pytest.approx(authors_ace(y, p), rel=1e-12)


def test_ties_land_in_the_upper_bin_there_and_split_by_position_here():
    y, p = _data(600, 12, 40.0)  # saturated: many probabilities round to the same float32
    assert len(np.unique(p)) < p.size / 2
    ours, theirs = adaptive_calibration_error(y, p), authors_ace(y, p)
    assert ours != theirs
    assert abs(ours - theirs) / theirs < 0.05  # a small difference, documented


def test_docs_document_the_ace_binning_choice():
    text = (Path(__file__).resolve().parents[2] / "docs" / "evaluating.md").read_text()
    assert "*ACE binning*" in text and "upper bin" in text
