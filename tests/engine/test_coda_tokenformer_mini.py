"""Known answers of the mini CoDA-Net and the mini TokenFormers (issue 22), on the shipped weights.

- mini-coda: the contribution map of every val image sums to its logit minus the fixed logit
  bias, to float precision; it localises in the grid pointing game far better than the standard
  mini CNN of about its size (0.23 M vs 0.21 M parameters), with non-overlapping intervals;
- mini-tokenformer-s grown by the -m model's parameter tokens gives the same logits on all of
  QUBA-mini val; growing in two steps is the same model as growing once; -m was grown from -s
  (it kept the small model's τ), -m-scratch was not;
- the four reach their catalog accuracy and work as engine models (interpretability's method).
"""
import numpy as np
import pytest
import torch

from quba.zoo import mini
from quba.zoo.archs.tokenformer import grow, pattention_layers, slot_numbers
from quba.zoo.mini import tokenformer as mini_tf
from quba.zoo.mini.train import predict_logits

NEW = ("mini-coda", "mini-tokenformer-s", "mini-tokenformer-m", "mini-tokenformer-m-scratch")


@pytest.fixture(scope="module")
def val():
    from quba.suites.mini import MiniSuite

    torch.set_num_threads(1)
    return MiniSuite(seed=0).split("val")


def test_new_models_load_and_reach_their_catalog_accuracy(val):
    rows = {r["id"]: r for r in mini.catalog_rows()}
    for model_id in NEW:
        lm = mini.load(model_id)
        assert lm.input_size == (3, 32, 32) and lm.num_classes == 12 and not lm.module.training
        acc = float((predict_logits(lm.module, val.images).argmax(1).numpy() == val.labels).mean())
        assert abs(acc - float(rows[model_id]["clean_accuracy"])) <= 0.01, (model_id, acc)
        assert acc > 0.6, model_id
        assert mini.weights_path(model_id).stat().st_size < 2e6
    params = {m: mini.load(m).parameters_m for m in NEW}
    assert params["mini-tokenformer-m"] == params["mini-tokenformer-m-scratch"]
    tokens = {m: sum(p.key.numel() + p.value.numel() for p in pattention_layers(mini.load(m).module)) for m in NEW[1:]}
    assert tokens["mini-tokenformer-m"] == 2 * tokens["mini-tokenformer-s"]  # twice the parameter tokens


@pytest.mark.slow
def test_coda_contribution_maps_sum_to_the_logits(val):
    from quba.zoo.attribution import attribute

    model = mini.load("mini-coda").module
    x = val.images.float() / 255
    logits = predict_logits(model, val.images)
    bias = model.net.bias
    other = (torch.as_tensor(val.labels) + 5) % 12
    for target in (torch.as_tensor(val.labels, dtype=torch.long), other):
        maps = torch.cat([attribute(model, x[i:i + 200], target[i:i + 200]) for i in range(0, len(x), 200)])
        assert maps.shape == (600, 6, 32, 32)
        want = logits.gather(1, target[:, None]).squeeze(1) - bias[target]
        torch.testing.assert_close(maps.sum(dim=(1, 2, 3)), want, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_coda_points_better_than_a_standard_cnn_of_its_size():
    import quba

    opts = {"interpretability": {"n_grids": 40}}
    recs = {m: quba.evaluate(m, suite="mini", dims=["interpretability"], bootstrap=200, output=None, progress=False,
                             options=opts)["dimensions"]["interpretability"]
            for m in ("mini-coda", "mini-cnn-standard")}
    coda, cnn = recs["mini-coda"], recs["mini-cnn-standard"]
    assert coda["details"]["method"] == "coda" and cnn["details"]["method"] == "input_x_gradient"
    assert coda["lo"] > cnn["hi"], (coda, cnn)  # measured: ~0.7 [0.69, 0.72] vs ~0.2 [0.18, 0.22]
    assert coda["value"] > 0.5


def test_growth_preserves_the_logits_on_val(val):
    small = mini.load("mini-tokenformer-s").module
    grown = grow(small, mini_tf.GROWTH)
    assert slot_numbers(grown) == {k: mini_tf.SMALL[k] + mini_tf.GROWTH[k] for k in mini_tf.SMALL}
    before, after = predict_logits(small, val.images), predict_logits(grown, val.images)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    assert torch.equal(after.argmax(1), before.argmax(1))
    # the grown parameters are exactly the -m architecture's
    m = mini.build("mini-tokenformer-m")
    m.load_state_dict(grown.state_dict(), strict=True)
    torch.testing.assert_close(predict_logits(m.eval(), val.images[:100]), before[:100], rtol=1e-5, atol=1e-5)


def test_growing_twice_composes_on_the_shipped_model(val):
    small = mini.load("mini-tokenformer-s").module
    half = {k: v // 2 for k, v in mini_tf.GROWTH.items()}
    rest = {k: v - half[k] for k, v in mini_tf.GROWTH.items()}
    twice, once = grow(grow(small, half), rest), grow(small, mini_tf.GROWTH)
    a, b = twice.state_dict(), once.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    torch.testing.assert_close(predict_logits(twice, val.images), predict_logits(small, val.images),
                               rtol=1e-5, atol=1e-5)


def test_m_was_grown_from_s_and_m_scratch_was_not():
    """Growth keeps each Pattention's τ = √n of the small model; a model built at -m size has √n of -m."""
    taus = {m: [float(p.tau) for p in pattention_layers(mini.load(m).module)] for m in NEW[1:]}
    assert taus["mini-tokenformer-m"] == taus["mini-tokenformer-s"]
    assert all(t > 1.4 * s for t, s in zip(taus["mini-tokenformer-m-scratch"], taus["mini-tokenformer-s"]))


@pytest.mark.slow
def test_new_models_as_engine_models_on_interpretability(quba_cache):
    from quba.api import evaluate

    opts = {"interpretability": {"n_grids": 4}}
    coda = evaluate("mini-coda", "mini", ["interpretability"], bootstrap=20, output=None, progress=False,
                    options=opts)["dimensions"]["interpretability"]
    tf = evaluate("mini-tokenformer-m", "mini", ["interpretability"], bootstrap=20, output=None, progress=False,
                  options=opts)["dimensions"]["interpretability"]
    assert coda["details"]["method"] == "coda" and not coda["details"]["grid_resized"]
    assert tf["details"]["method"] == "input_x_gradient" and tf["details"]["grid_resized"]
    assert np.isfinite(coda["value"]) and np.isfinite(tf["value"])


@pytest.mark.slow
def test_recipes_are_reproducible_from_the_seed(tmp_path, monkeypatch):
    """`quba zoo train-mini` twice with the same seed (a few steps): the same weight files, byte for
    byte; the grown model is grown from the -s weights trained in the same run."""
    import hashlib
    import shutil

    from quba.zoo.mini import train as T

    digests = []
    for run in ("a", "b"):
        cat = tmp_path / run / "catalog.csv"
        cat.parent.mkdir()
        shutil.copy(mini.CATALOG_PATH, cat)
        monkeypatch.setattr(mini, "CATALOG_PATH", cat)
        monkeypatch.setattr(T, "CATALOG_PATH", cat)
        monkeypatch.setattr(mini, "WEIGHTS_DIR", tmp_path / run / "weights")
        assert T.main(list(NEW), steps=2, seed=3) == 0
        digests.append({m: hashlib.sha256(mini.weights_path(m).read_bytes()).hexdigest() for m in NEW})
    assert digests[0] == digests[1]
    assert len(set(digests[0].values())) == len(NEW)
