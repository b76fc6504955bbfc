"""Grid pointing game on QUBA-mini: known answers through the engine path.

- an oracle whose gradient is uniform scores exactly 1/n² (chance);
- mini models score above chance (input×gradient) and far above it (Grad-CAM);
- the B-cos mini model localises at least as well as its standard twin (same
  convolution stack, same recipe) — in fact far better;
- `interpretability` works as an engine dimension, cached on the second run.
"""
import numpy as np
import pytest
import torch
from torch import nn

from quba.dimensions.pointing_game import bootstrap_grid_means, run_pointing_game

torch.set_num_threads(1)
GRIDS = 15


@pytest.fixture(scope="module")
def val():
    from quba.suites.mini import MiniSuite

    return MiniSuite(seed=0).split("val")


def _module(model_id):
    from quba.zoo.mini import load

    return load(model_id).module


class UniformGradientOracle(nn.Module):
    """Right on every val image (looked up by content, with no gradient), and
    logit_k = s · mean(x) + 10 · [k = label(x)]: the gradient is the same everywhere."""

    def __init__(self, images, labels, k):
        super().__init__()
        self.table = {img.tobytes(): int(y) for img, y in zip(np.asarray(images), np.asarray(labels))}
        self.k = k

    def forward(self, x):
        keys = (x.detach() * 255).round().to(torch.uint8).numpy()
        hit = torch.zeros(len(x), self.k)
        for i, key in enumerate(keys):
            if key.tobytes() in self.table:
                hit[i, self.table[key.tobytes()]] = 10.0
        return 3.0 * x.mean(dim=(1, 2, 3))[:, None] + hit


def test_uniform_attribution_scores_exactly_chance(val):
    oracle = UniformGradientOracle(val.images, val.labels, 12)
    for n in (2, 3):
        res = run_pointing_game(oracle, val.images, val.labels, grid_size=n, n_grids=6, method="gradient",
                                progress=False)
        assert res["n_candidate_classes"] == 12
        np.testing.assert_allclose(res["scores"], 1 / n**2, rtol=1e-9)
        assert res["mean"] == pytest.approx(1 / n**2, rel=1e-9)


@pytest.mark.slow
def test_mini_cnn_scores_above_chance_and_far_above_with_grad_cam(val):
    m = _module("mini-cnn-standard")
    ixg = run_pointing_game(m, val.images, val.labels, n_grids=GRIDS, progress=False)
    assert ixg["method"] == "input_x_gradient"
    lo = np.percentile(bootstrap_grid_means(ixg["scores"], 200, seed=0), 2.5)
    assert lo > 1 / 9, ixg  # measured ~0.2
    cam = run_pointing_game(m, val.images, val.labels, n_grids=GRIDS, method="grad_cam", progress=False)
    assert cam["mean"] > 3 / 9, cam  # measured ~0.5


@pytest.mark.slow
def test_bcos_localises_at_least_as_well_as_its_twin(val):
    b = run_pointing_game(_module("mini-bcos-cnn"), val.images, val.labels, n_grids=GRIDS, progress=False)
    t = run_pointing_game(_module("mini-bcos-twin"), val.images, val.labels, n_grids=GRIDS, progress=False)
    assert b["method"] == "bcos" and t["method"] == "input_x_gradient"
    assert b["mean"] >= t["mean"]
    assert b["mean"] > 0.6 and b["median"] > t["q3"], (b, t)  # measured ~0.83 vs ~0.15


def test_fixed_size_model_gets_a_resized_grid(val):
    res = run_pointing_game(_module("mini-vit-standard"), val.images, val.labels, n_grids=2, progress=False)
    assert res["grid_resized"] is True
    assert 0 <= res["mean"] <= 1


def test_interpretability_dimension_through_the_engine(quba_cache):
    from quba.api import evaluate

    opts = {"interpretability": {"n_grids": 6}}
    rec = evaluate("mini-bcos-cnn", "mini", ["interpretability"], bootstrap=30, output=None, progress=False,
                   options=opts)
    d = rec["dimensions"]["interpretability"]
    assert d["details"]["method"] == "bcos" and d["details"]["grid_size"] == 3 and d["details"]["n_grids"] == 6
    assert d["lo"] <= d["value"] <= d["hi"] and d["value"] > 0.5
    assert d["details"]["q1"] <= d["details"]["median"] <= d["details"]["q3"]
    again = evaluate("mini-bcos-cnn", "mini", ["interpretability"], bootstrap=30, output=None, progress=False,
                     options=opts)
    assert again["dimensions"]["interpretability"] == d
    assert sum(again["forward_passes"].values()) == 0  # val logits and grid scores both cached


def test_bad_pointing_options_fail_before_work(quba_cache):
    from quba.api import evaluate
    from quba.errors import QubaError

    with pytest.raises(QubaError, match="unknown attribution method"):
        evaluate("mini-cnn-standard", "mini", ["interpretability"], output=None, progress=False,
                 options={"interpretability": {"method": "saliency_magic"}})
