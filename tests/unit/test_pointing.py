"""Grid pointing game: pure helpers and scores on hand-built attribution maps."""
import numpy as np
import pytest

from quba.errors import QubaError
from quba.metrics import pointing


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("smooth", [0, 5])
def test_uniform_attribution_scores_exactly_one_over_n_squared(n, smooth):
    a = np.full((3, 16 * n, 16 * n), 0.25)
    for cell in range(n * n):
        assert pointing.pointing_score(a, n, cell, smooth=smooth) == pytest.approx(1 / n**2, abs=1e-12)
    s = pointing.pointing_scores(np.stack([a] * (n * n)), n, np.arange(n * n), smooth=smooth)
    assert pointing.pointing_summary(s)["mean"] == pytest.approx(1 / n**2, abs=1e-12)


def test_perfect_and_wrong_localisation():
    n, h = 3, 10
    a = np.zeros((3, n * h, n * h))
    a[:, 10:20, 20:30] = 1.0  # all energy in cell 5 (row 1, col 2)
    assert pointing.pointing_score(a, n, 5) == 1.0
    assert pointing.pointing_score(a, n, 0) == 0.0


def test_negative_attribution_is_clamped_and_channels_are_summed_first():
    n, h = 2, 4
    a = np.zeros((2, n * h, n * h))
    a[0, :4, :4] = 1.0  # cell 0: +1 in channel 0 ...
    a[1, :4, :4] = -3.0  # ... and -3 in channel 1 -> sum -2 -> clamped to 0
    a[0, 4:, 4:] = 2.0  # cell 3: +2
    a[0, :4, 4:] = -5.0  # cell 1: negative only, ignored
    assert pointing.pointing_score(a, n, 3) == 1.0
    assert pointing.pointing_score(a, n, 0) == 0.0


def test_hand_computed_share():
    a = np.zeros((4, 4))
    a[0, 0] = 3.0  # cell 0
    a[3, 3] = 1.0  # cell 3
    assert pointing.pointing_score(a, 2, 0) == pytest.approx(0.75)
    assert pointing.pointing_score(a, 2, 3) == pytest.approx(0.25)
    assert pointing.pointing_score(np.zeros((4, 4)), 2, 0) == 0.0  # no positive energy -> 0
    assert pointing.pointing_score(-np.ones((4, 4)), 2, 0) == 0.0


def test_summary_quartiles():
    s = pointing.pointing_summary([0.0, 0.25, 0.5, 0.75, 1.0])
    assert s == {"mean": 0.5, "q1": 0.25, "median": 0.5, "q3": 0.75, "n": 5}


def test_compose_grid_places_cells_row_major():
    imgs = np.stack([np.full((3, 4, 5), k) for k in range(9)])
    g = pointing.compose_grid(imgs, 3)
    assert g.shape == (3, 12, 15)
    for k in range(9):
        rows, cols = pointing.cell_bounds(3, 12, 15, k)
        assert (g[:, rows, cols] == k).all()


def test_select_candidates_keeps_correct_positive_and_ranks_by_confidence():
    logits = np.array([
        [5.0, 0.0, 0.0],  # class 0, correct, very confident
        [1.0, 0.5, 0.0],  # class 0, correct, less confident
        [0.0, 3.0, 0.0],  # class 0, wrong -> dropped
        [-1.0, -2.0, -3.0],  # class 0, correct but logit <= 0 -> dropped
        [0.0, 2.0, 0.0],  # class 1, correct
        [0.0, 0.0, 1.0],  # class 2, correct
    ])
    labels = np.array([0, 0, 0, 0, 1, 2])
    c = pointing.select_candidates(logits, labels)
    assert set(c) == {0, 1, 2}
    assert c[0].tolist() == [0, 1] and c[1].tolist() == [4] and c[2].tolist() == [5]
    assert pointing.select_candidates(logits, labels, per_class=1)[0].tolist() == [0]


def test_sample_grids_distinct_classes_seeded():
    cands = {c: np.arange(10 * c, 10 * c + 10) for c in range(12)}
    imgs, cls = pointing.sample_grids(cands, n=3, n_grids=50, seed=42)
    assert imgs.shape == cls.shape == (50, 9)
    for g in range(50):
        assert len(set(cls[g])) == 9
        assert all(imgs[g, k] in cands[cls[g, k]] for k in range(9))
    imgs2, cls2 = pointing.sample_grids(cands, n=3, n_grids=50, seed=42)
    assert (imgs == imgs2).all() and (cls == cls2).all()
    imgs3, _ = pointing.sample_grids(cands, n=3, n_grids=50, seed=43)
    assert not (imgs == imgs3).all()


def test_too_few_classes_is_a_quba_error():
    cands = {c: np.array([c]) for c in range(3)}
    with pytest.raises(QubaError, match="needs 4 classes"):
        pointing.sample_grids(cands, n=2, n_grids=1)
    with pytest.raises(QubaError):
        pointing.pointing_summary([])
