"""Teacher–student agreement metrics (e²KD) on hand-computed cases."""
import numpy as np
import pytest

from quba.errors import QubaError
from quba.metrics import agreement


def test_top1_agreement_exact_fraction():
    assert agreement.top1_agreement([0, 1, 2, 3], [0, 1, 0, 0]) == pytest.approx(0.5)


def test_explanation_cosines_hand_computed():
    t = np.array([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]], [[3.0, 4.0], [0.0, 0.0]], [[1, 2], [3, 4]]])
    s = np.array([[[2.0, 0.0], [0.0, 0.0]], [[1.0, -1.0], [0.0, 0.0]], [[4.0, 3.0], [0.0, 0.0]], [[0, 0], [0, 0]]])
    cos = agreement.explanation_cosines(t, s)
    np.testing.assert_allclose(cos, [1.0, 0.0, 24 / 25, 0.0])  # an all-zero map has cosine 0
    assert agreement.explanation_similarity(t, s) == pytest.approx((1 + 0 + 24 / 25 + 0) / 4)
    assert agreement.explanation_similarity(t, -t) == pytest.approx(-1.0)


def test_cosine_ignores_scale_but_not_direction():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 3, 8, 8))
    assert agreement.explanation_similarity(a, 7.5 * a) == pytest.approx(1.0)
    b = rng.normal(size=(5, 3, 8, 8))
    assert abs(agreement.explanation_similarity(a, b)) < 0.3


def test_bootstrap_mean_interval():
    v = np.linspace(0, 1, 101)
    lo, hi = agreement.bootstrap_mean(v, n_boot=400, seed=0)
    assert lo < 0.5 < hi and hi - lo < 0.2
    assert agreement.bootstrap_mean(v, n_boot=400, seed=0) == (lo, hi)
    assert agreement.bootstrap_mean(v, n_boot=0) is None


def test_bootstrap_mean_is_the_mean_of_the_explicit_resamples():
    """Count weights give the resamples the index loop drew (same generator, same draws), so the
    interval is that of the explicit resamples' means, to float rounding (the sums run in another order)."""
    v = np.random.default_rng(3).random(57)
    rng = np.random.default_rng(9)
    means = v[rng.integers(0, len(v), size=(300, len(v)))].mean(axis=1)
    lo, hi = agreement.bootstrap_mean(v, n_boot=300, seed=9, alpha=0.1)
    assert (lo, hi) == pytest.approx((np.quantile(means, 0.05), np.quantile(means, 0.95)), rel=1e-12, abs=1e-15)


def test_shape_mismatch_is_a_quba_error():
    with pytest.raises(QubaError, match="same attribution method"):
        agreement.explanation_similarity(np.zeros((2, 4)), np.zeros((2, 5)))


# ---------------------------------------------------------------------------- QUBA-mini: students of a teacher

TEACHER = "mini-cnn-standard"


def _evaluate(model, dims, **kw):
    from quba.api import evaluate

    return evaluate(model, "mini", dims, output=None, progress=False, options={"teacher": TEACHER}, **kw)


@pytest.mark.slow
def test_e2kd_student_explains_more_like_its_teacher_than_the_kd_student(quba_cache):
    dims = ["teacher_agreement", "explanation_similarity"]
    kd = _evaluate("mini-student-kd", dims, bootstrap=100)["dimensions"]
    e2 = _evaluate("mini-student-e2kd", dims, bootstrap=100)["dimensions"]
    # the known answer: explanation-enhanced distillation transfers the explanations ...
    assert e2["explanation_similarity"]["value"] > kd["explanation_similarity"]["value"]
    assert e2["explanation_similarity"]["lo"] > kd["explanation_similarity"]["hi"]  # not a resampling accident
    assert e2["explanation_similarity"]["details"]["method"] == "input_x_gradient"
    assert e2["explanation_similarity"]["details"]["n"] == 600
    # ... while both students agree with the teacher's decisions about equally well
    for d in (kd, e2):
        assert 0.85 < d["teacher_agreement"]["value"] <= 1.0
        assert d["teacher_agreement"]["lo"] <= d["teacher_agreement"]["value"] <= d["teacher_agreement"]["hi"]


@pytest.mark.slow
def test_teacher_dimensions_of_the_teacher_itself(quba_cache):
    d = _evaluate(TEACHER, ["teacher_agreement", "explanation_similarity"], bootstrap=0)["dimensions"]
    assert d["teacher_agreement"]["value"] == 1.0
    assert d["explanation_similarity"]["value"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.slow
def test_compare_explanations_matches_the_dimension(quba_cache, capsys):
    import json

    from quba.cli import main

    assert main(["compare", TEACHER, "mini-student-e2kd", "--explanations", "--format", "json", "--bootstrap", "0",
                 "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out)
    dim = _evaluate("mini-student-e2kd", ["explanation_similarity", "teacher_agreement"], bootstrap=0)["dimensions"]
    assert res["metrics"]["explanation_similarity"]["value"] == pytest.approx(dim["explanation_similarity"]["value"])
    assert res["metrics"]["agreement"]["value"] == pytest.approx(dim["teacher_agreement"]["value"])


def test_teacher_dimensions_need_a_declared_teacher(quba_cache):
    from quba.api import evaluate

    for dim in ("teacher_agreement", "explanation_similarity"):
        with pytest.raises(QubaError, match="--teacher"):
            evaluate("mini-student-kd", "mini", [dim], output=None, progress=False)
    with pytest.raises(QubaError, match="unknown attribution method"):
        evaluate("mini-student-kd", "mini", ["explanation_similarity"], output=None, progress=False,
                 options={"teacher": TEACHER, "explanation_similarity": {"method": "magic"}})


@pytest.mark.slow
def test_student_recipes_smoke():
    import torch

    from quba.suites.mini import MiniSuite
    from quba.zoo.mini import RECIPES, build, load

    suite = MiniSuite(seed=0)
    teacher = load(TEACHER).module
    t_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    for recipe, model_id in (("kd", "mini-student-kd"), ("e2kd", "mini-student-e2kd")):
        model = build(model_id)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        out = RECIPES[recipe](model, suite, seed=0, steps=1, progress=False, teacher=teacher)
        assert out["teacher"] == TEACHER and not model.training
        assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(t_before[k], v) for k, v in teacher.state_dict().items())  # the teacher is not trained
    assert not teacher.training


def test_explanation_loss_is_zero_for_equal_maps_and_two_for_opposite():
    import torch

    from quba.zoo.mini.students import explanation_loss, kd_loss

    e = torch.randn(3, 3, 8, 8)
    assert explanation_loss(e, 2 * e).item() == pytest.approx(0.0, abs=1e-6)
    assert explanation_loss(e, -e).item() == pytest.approx(2.0, abs=1e-6)
    z = torch.randn(4, 12)
    assert kd_loss(z, z).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(z, z + 5 * torch.randn(4, 12)).item() > 0
