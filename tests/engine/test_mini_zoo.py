"""Mini zoo: recipes run, shipped weights load, reach their documented accuracy, and
the known-answer variants have the property they were built for."""
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from quba.errors import QubaError
from quba.suites.mini import MiniSuite
from quba.zoo import mini
from quba.zoo.mini import train as T

MY_RECIPES = {"standard", "shape_biased", "texture_biased", "background_robust", "background_shortcut",
              "adversarial_fgsm", "overconfident", "calibrated"}


@pytest.fixture(scope="module")
def suite():
    return MiniSuite(seed=0)  # the session's temporary cache (conftest), shared with other tests


@pytest.fixture(scope="module")
def my_rows():
    rows = [r for r in mini.catalog_rows() if r["recipe"] in MY_RECIPES]
    assert {r["recipe"] for r in rows} == MY_RECIPES
    return rows


class _Logits:
    """Logits of shipped models per split, computed on first request."""

    def __init__(self, suite):
        self.suite, self.cache, self.models = suite, {}, {}

    def __getitem__(self, model_id):
        outer = self

        class _PerModel:
            def __getitem__(self, split):
                key = (model_id, split)
                if key not in outer.cache:
                    if model_id not in outer.models:
                        outer.models[model_id] = mini.load(model_id).module
                    outer.cache[key] = T.predict_logits(outer.models[model_id], outer.suite.split(split).images)
                return outer.cache[key]

        return _PerModel()


@pytest.fixture(scope="module")
def logits(suite):
    torch.set_num_threads(1)
    return _Logits(suite)


def _acc(lg, split):
    return float((lg.argmax(1).numpy() == split.labels).mean())


def test_catalog_rows_are_complete(my_rows):
    ids = mini.list_ids()
    assert len(ids) == len(set(ids))
    for r in mini.catalog_rows():
        assert r["id"].startswith("mini-") and "mini" in r["groups"].split(";")
        assert list(r)[:len(T.CATALOG_FIELDS)] == T.CATALOG_FIELDS
    archs = {r["architecture"] for r in my_rows}
    assert {"CNN", "Transformer"} <= archs
    total = sum(mini.weights_path(r["id"]).stat().st_size for r in my_rows)
    assert total < 8e6


def test_shipped_weights_load_and_reach_documented_accuracy(suite, my_rows, logits):
    val = suite.split("val")
    for r in my_rows:
        lm = mini.load(r["id"])
        assert lm.source == "mini" and lm.input_size == (3, 32, 32) and lm.num_classes == 12
        assert not lm.module.training and lm.parameters_m < 0.5
        acc = _acc(logits[r["id"]]["val"], val)
        assert abs(acc - float(r["clean_accuracy"])) <= 0.01, (r["id"], acc, r["clean_accuracy"])
        assert acc > 0.6, r["id"]


def test_load_errors():
    with pytest.raises(QubaError, match="did you mean"):
        mini.load("mini-cnn-standrd")


def _shape_bias(lg, cc):
    pred = lg.argmax(1).numpy()
    shape, texture = (pred == cc.meta["shape"]).sum(), (pred == cc.meta["texture"]).sum()
    return shape / (shape + texture)


def test_known_answer_shape_vs_texture_bias(suite, logits):
    cc = suite.split("cue_conflict")
    shape = _shape_bias(logits["mini-cnn-shape"]["cue_conflict"], cc)
    texture = _shape_bias(logits["mini-cnn-texture"]["cue_conflict"], cc)
    assert shape > 0.7 and texture < 0.2, (shape, texture)


def test_known_answer_object_focus(suite, logits):
    def focus(i):
        lg = logits[i]
        return 1 - (_acc(lg["bg/mixed_same"], suite.split("bg/mixed_same"))
                    - _acc(lg["bg/mixed_rand"], suite.split("bg/mixed_rand"))) / _acc(lg["val"], suite.split("val"))

    robust, shortcut = focus("mini-cnn-bg-robust"), focus("mini-cnn-bg-shortcut")
    assert robust > 0.9 and robust - shortcut > 0.3, (robust, shortcut)


def test_known_answer_adversarial_robustness(suite):
    val = suite.split("val")
    x, y = val.images[:200].float() / 255, torch.as_tensor(val.labels[:200])

    def fgsm_relative(model_id):
        m = mini.load(model_id).module
        xr = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(m(xr), y), xr)
        with torch.no_grad():
            adv = (m((x + 8 / 255 * g.sign()).clamp(0, 1)).argmax(1) == y).float().mean()
            clean = (m(x).argmax(1) == y).float().mean()
        return float(adv / clean)

    adv, std = fgsm_relative("mini-cnn-adv"), fgsm_relative("mini-cnn-standard")
    assert adv > 0.85 and adv > std + 0.2, (adv, std)


def _ece(p, y, bins=15):
    conf, hit = p.max(1), p.argmax(1) == y
    idx = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    return sum(abs(hit[idx == b].mean() - conf[idx == b].mean()) * (idx == b).mean()
               for b in range(bins) if (idx == b).any())


def test_known_answer_calibration(suite, logits):
    y = suite.split("val").labels
    lg = {k: logits[f"mini-cnn-{k}"]["val"] for k in ("standard", "overconfident", "calibrated")}
    # calibrated = the standard network with a temperature: identical decisions
    assert torch.equal(lg["standard"].argmax(1), lg["calibrated"].argmax(1))
    ece = {k: _ece(v.softmax(1).numpy(), y) for k, v in lg.items()}
    assert ece["calibrated"] < ece["standard"] < ece["overconfident"], ece
    assert ece["overconfident"] > 3 * ece["calibrated"], ece
    # over-confident: mean confidence well above accuracy
    p = lg["overconfident"].softmax(1).numpy()
    assert p.max(1).mean() - (p.argmax(1) == y).mean() > 0.08


def test_recipe_smoke_and_main_writes_weights_and_catalog(tmp_path, monkeypatch, suite):
    """main() on a temporary copy of the catalog: a few steps, weights saved, accuracy recorded."""
    cat = tmp_path / "catalog.csv"
    shutil.copy(mini.CATALOG_PATH, cat)
    monkeypatch.setattr(mini, "CATALOG_PATH", cat)
    monkeypatch.setattr(T, "CATALOG_PATH", cat)
    monkeypatch.setattr(mini, "WEIGHTS_DIR", tmp_path / "weights")
    before = mini.catalog_rows()
    assert T.main(["mini-cnn-bg-robust"], steps=3, seed=1) == 0
    after = {r["id"]: r for r in mini.catalog_rows()}
    assert (tmp_path / "weights" / "mini-cnn-bg-robust.safetensors").exists()
    acc = float(after["mini-cnn-bg-robust"]["clean_accuracy"])
    loaded = mini.load("mini-cnn-bg-robust")
    measured = float((T.predict_logits(loaded.module, suite.split("val").images).argmax(1).numpy()
                      == suite.split("val").labels).mean())
    assert abs(acc - measured) < 1e-4
    # other rows untouched, column order kept
    for r in before:
        if r["id"] != "mini-cnn-bg-robust":
            assert after[r["id"]] == r
    with pytest.raises(QubaError, match="did you mean"):
        T.main(["mini-cnn-bg-robst"], steps=1)


def test_fit_temperature_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4000, 5, generator=g) * 3
    y = torch.distributions.Categorical(logits=base).sample()
    t = T.fit_temperature(base * 2.5, y.numpy())  # logits sharpened by 2.5
    assert abs(t - 2.5) < 0.25
