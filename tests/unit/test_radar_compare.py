"""The overlay radar of the growth study (quba.report.plots.radar_compare) and the z scaling it
shares with the per-model radar."""
import pandas as pd
import pytest

from quba.errors import QubaError
from quba.report import plots


def _frame():
    return pd.DataFrame({
        "model": ["a", "b", "c", "d"],
        "accuracy": [0.9, 0.8, 0.7, 0.6], "accuracy_lo": [0.88, 0.78, 0.68, 0.58],
        "accuracy_hi": [0.92, 0.82, 0.72, 0.62],
        "calibration_error": [0.01, 0.02, 0.03, 0.04],
        "calibration_error_lo": [0.005, 0.015, 0.025, 0.035], "calibration_error_hi": [0.015, 0.025, 0.035, 0.045],
        "shape_bias": [0.5, 0.5, 0.5, 0.5], "shape_bias_lo": [0.4] * 4, "shape_bias_hi": [0.6] * 4,
    })


def test_z_scale_is_oriented_and_flat_without_spread():
    f = _frame()
    acc, cal, shape = (plots._z_scale(f, d) for d in ("accuracy", "calibration_error", "shape_bias"))
    assert acc(0.9) > 0.5 > acc(0.6)
    assert cal(0.01) > 0.5 > cal(0.04)  # lower calibration error is better: outward
    assert shape(0.9) == 0.5
    assert acc(100.0) == 1.0 and acc(-100.0) == 0.0
    scores = plots.radar_scores(f, ["accuracy", "calibration_error"])
    assert list(scores["accuracy"]) == pytest.approx([acc(v) for v in f["accuracy"]])


def test_radar_compare_draws_several_models_and_checks_its_input(tmp_path):
    f = _frame()
    out = plots.radar_compare(f, ["a", "c"], tmp_path / "r.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(QubaError, match="not in the leaderboard"):
        plots.radar_compare(f, ["a", "zz"], tmp_path / "x.png")
    with pytest.raises(QubaError, match="at least 3 dimensions"):
        plots.radar_compare(f, ["a"], tmp_path / "x.png", dims=["accuracy", "shape_bias"])
    assert not (tmp_path / "x.png").exists()
