"""Issue 10.7: rank stability, a paired bootstrap over the cached per-image predictions."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import quba
from quba.ranking import rank
from quba.ranking.stability import rank_stability

from cli_run import cli


def test_known_answer_from_given_replicates():
    """Three models, accuracy only (reference: the leaderboard, held fixed): A > B > C as measured; in
    replicates 0 and 1 B overtakes A, in replicate 3 C ties B (min-rank: both 2)."""
    lb = pd.DataFrame({"model": ["A", "B", "C"], "suite": "mini", "accuracy": [0.9, 0.8, 0.5]})
    r = rank(lb, weights="accuracy")
    values = {"A": {"accuracy": np.array([0.7, 0.7, 0.9, 0.9])},
              "B": {"accuracy": np.array([0.8, 0.8, 0.8, 0.6])},
              "C": {"accuracy": np.array([0.5, 0.5, 0.5, 0.6])}}
    st = rank_stability(r, None, 4, values=values).set_index("model")
    assert list(st["rank"]) == [1, 2, 3]
    assert st.loc["A", "p_keep"] == 0.5 and st.loc["B", "p_keep"] == 0.5 and st.loc["C", "p_keep"] == 0.75
    assert st.loc["A", "mean_rank"] == pytest.approx(1.5) and st.loc["C", "mean_rank"] == pytest.approx(2.75)
    assert (st.loc["A", "rank_lo"], st.loc["A", "rank_hi"]) == (1, 2)


@pytest.fixture(scope="module")
def record_leaderboard(tmp_path_factory):
    out = tmp_path_factory.mktemp("stab")
    for m in ("mini-cnn-standard", "mini-cnn-texture", "mini-cnn-calibrated"):
        quba.evaluate(m, "mini", ["accuracy", "calibration_error"], subset=8, bootstrap=0, progress=False,
                      output=out, device="cpu")
    return out / "mini" / "leaderboard.csv"


def test_rank_and_recommend_report_stability(record_leaderboard, capsys):
    rc, out, err = cli(capsys, "rank", "-l", record_leaderboard, "--weights", "accuracy,calibration_error",
                       "--stability", "30", "--format", "json")
    assert rc == 0, err
    st = json.loads(out)["stability"]
    assert st["samples"] == 30 and len(st["models"]) == 3
    for m in st["models"]:
        assert 0.0 <= m["p_keep"] <= 1.0 and m["rank_lo"] <= m["rank"] <= m["rank_hi"]
    # paired draws: the same seed gives the same answer, read back from the cache
    rc2, out2, _ = cli(capsys, "rank", "-l", record_leaderboard, "--weights", "accuracy,calibration_error",
                       "--stability", "30", "--format", "json")
    assert json.loads(out2)["stability"] == st
    rc, out, err = cli(capsys, "recommend", "-l", record_leaderboard, "--weights", "accuracy,calibration_error",
                       "--samples", "50", "--stability", "10")
    assert rc == 0, err and "Rank stability (10 paired resamples" in out


def test_paired_replicates_are_the_same_draws_for_every_model(record_leaderboard):
    """Replicate b of every model is its accuracy on the same resampled images: the draws depend only
    on the seed and the dimension (measure.dimension_rng), not on the model."""
    from quba.dimensions import SplitRequest
    from quba.engine.measure import dimension_rng
    from quba.engine.runner import Runner
    from quba.metrics.resample import index_matrix
    from quba.suites import load_suite
    from quba.zoo import load_model

    suite = load_suite("mini")
    n = 25
    idx = None
    for m in ("mini-cnn-standard", "mini-cnn-texture"):
        reps = {}
        quba.evaluate(m, suite, ["accuracy"], subset=8, bootstrap=n, seed=5, progress=False, output=None,
                      device="cpu", replicates=reps)
        runner = Runner(load_model(m), suite, device="cpu", subset=8, progress=False)
        correct = runner.outputs(SplitRequest("val")).correct
        runner.close()
        if idx is None:
            idx = index_matrix(dimension_rng(5, "accuracy", "bootstrap"), n, len(correct))
        np.testing.assert_allclose(reps["accuracy"], correct[idx].mean(axis=1), rtol=0, atol=1e-12)


def test_stability_needs_a_record_leaderboard(capsys):
    rc, out, err = cli(capsys, "rank", "--stability", "10")
    assert rc == 2 and "--leaderboard" in err and len(err.strip().splitlines()) == 1
