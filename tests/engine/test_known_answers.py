"""Known answers (issue #3): mini models built to have a property measure as having it.

Each pair is a model trained to have a property and one trained to lack it
(quba/zoo/mini/catalog.csv); both are evaluated by the engine on QUBA-mini on
the one dimension that measures the property, with bootstrap intervals.
"""
from __future__ import annotations

import numpy as np
import pytest

import quba

#: Images per class: all of them, except for the attacks (10 PGD steps per image), where 10 per
#: class (120 val images) keep the test fast; the effect is large (about 0.88 vs 0.51).
SUBSET = {"adversarial_robustness": 10}

PAIRS = [
    # (dimension, model built to be better on it, model built to be worse, why)
    ("shape_bias", "mini-cnn-shape", "mini-cnn-texture", "random textures vs shape-scrambled texture patches"),
    ("object_focus", "mini-cnn-bg-robust", "mini-cnn-bg-shortcut", "random backgrounds vs background tied to class"),
    ("adversarial_robustness", "mini-cnn-adv", "mini-cnn-standard", "FGSM adversarial training vs plain training"),
    ("calibration_error", "mini-cnn-calibrated", "mini-cnn-overconfident", "temperature-scaled vs logits x4"),
]


def test_the_pairs_are_in_the_mini_catalog():
    from quba.zoo.mini import list_ids

    ids = set(list_ids())
    for _, good, bad, _ in PAIRS:
        assert good in ids and bad in ids


def paired_replicates(dim, model_id, suite, n=300, seed=0):
    """Bootstrap replicates of `dim` for one model; the same `seed` draws the same images for every
    model, so replicates of two models are paired."""
    from quba import dimensions
    from quba.engine import measure, resolve_model
    from quba.engine.runner import Runner

    loaded = resolve_model(model_id)
    dobj = dimensions.get(dim)
    runner = Runner(loaded, suite, device="cpu", progress=False, subset=SUBSET.get(dim))  # from evaluate's cache
    outs = {r: runner.outputs(r) for r in dobj.needs(suite, {})}
    runner.close()
    assert sum(runner.forward_passes.values()) + sum(runner.attack_passes.values()) == 0
    ctx = measure.Context(dimension=dim, suite=suite, model=loaded, opts={"seed": 0}, device="cpu", outputs=outs)
    rng = np.random.default_rng(seed)
    return np.array([measure.value_of(dobj.compute(ctx.resampled(rng))) for _ in range(n)])


@pytest.mark.slow
@pytest.mark.parametrize("dim, good, bad, why", PAIRS, ids=[p[0] for p in PAIRS])
def test_a_model_built_for_a_property_measures_as_having_it(dim, good, bad, why):
    from quba import dimensions
    from quba.suites import load_suite

    recs = {m: quba.evaluate(m, suite="mini", dims=[dim], bootstrap=100, subset=SUBSET.get(dim), output=None,
                             progress=False)
            for m in (good, bad)}
    g, b = recs[good]["dimensions"][dim], recs[bad]["dimensions"][dim]
    sign = 1.0 if dimensions.higher_is_better(dim) else -1.0
    assert sign * (g["value"] - b["value"]) > 0, \
        f"{dim}: {good}={g['value']:.4g} vs {bad}={b['value']:.4g} ({why})"
    for r in (g, b):
        assert r["lo"] <= r["value"] <= r["hi"]
    # and not by chance: on the same resampled images, the built-for model is better in >= 95 %
    # of paired bootstrap resamples (a one-sided paired bootstrap test at the 5 % level)
    suite = load_suite("mini")
    diff = sign * (paired_replicates(dim, good, suite) - paired_replicates(dim, bad, suite))
    assert np.mean(diff > 0) >= 0.95, f"{dim}: better in only {np.mean(diff > 0):.0%} of paired resamples"


@pytest.mark.slow
def test_cold_nine_dimension_evaluate_of_a_mini_model(tmp_path, capsys):
    """Acceptance: `quba evaluate <mini model> --suite mini` from a cold prediction cache prints all nine
    values with intervals, z-scores and a QUBA score with the rank among the mini reference; every clean
    val image passes through the model once (counted), the attacks apart."""
    import json
    import re
    import shutil

    from quba import dimensions
    from quba.cli import main
    from quba.engine import resolve_model
    from quba.paths import cache_dir

    model = "mini-cnn-standard"
    shutil.rmtree(cache_dir() / "predictions" / resolve_model(model).fingerprint(), ignore_errors=True)
    rc = main(["evaluate", model, "--suite", "mini", "--output", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    for dim in dimensions.NINE:
        (line,) = [ln for ln in out.splitlines() if ln.startswith(dim + " ")]
        assert re.search(r"\[[-+0-9.e]+, [-+0-9.e]+\]", line), line  # the interval
        assert re.search(r" [+-]\d+\.\d\d ", line), line  # the z-score
    from quba.zoo.mini import catalog_rows

    n_ref = sum(1 for r in catalog_rows() if (r.get("task") or "classification") == "classification")
    assert re.search(rf"QUBA score [+-]\d+\.\d+: rank \d+ of {n_ref} on the mini_reference.csv", out), out
    rec = json.loads((tmp_path / "mini" / "records" / f"{model}.json").read_text())
    (run,) = [json.loads(x) for x in (tmp_path / "mini" / "records" / f"{model}.runs.jsonl").read_text().splitlines()]
    assert not any(s["cached"] for s in run["splits"].values())  # how the run went: in the run log
    n_val = rec["splits"]["val"]["images"]
    assert n_val == 600 and run["forward_passes"]["val"] / n_val == 1
    assert all(run["forward_passes"][k] == s["images"] for k, s in rec["splits"].items() if "@" not in k)
    assert run["attack_passes"] == {"val@fgsm": 2 * n_val, "val@pgd": 11 * n_val}


def test_the_shipped_mini_reference_is_the_mini_zoo_leaderboard():
    """quba/data/mini_reference.csv is `quba leaderboard --suite mini` over the current mini zoo: one row
    per mini classifier, all nine dimensions with intervals, accuracy equal to the catalog's (so a
    retrained zoo without a regenerated reference fails here), and identical to results/mini/."""
    from pathlib import Path

    import pandas as pd

    from quba import dimensions
    from quba.paths import data_file
    from quba.zoo.mini import catalog_rows

    ref = pd.read_csv(data_file("mini_reference.csv"))
    rows = {r["id"]: r for r in catalog_rows() if (r.get("task") or "classification") == "classification"}
    assert sorted(ref["model"]) == sorted(rows)
    for _, r in ref.iterrows():
        for d in dimensions.NINE:
            assert r[f"{d}_lo"] - 1e-9 <= r[d] <= r[f"{d}_hi"] + 1e-9, (r["model"], d)
        documented = rows[r["model"]].get("clean_accuracy")
        if documented:
            assert abs(r["accuracy"] - float(documented)) <= 6e-4, r["model"]
    committed = Path(__file__).resolve().parents[2] / "results" / "mini" / "leaderboard.csv"
    assert pd.read_csv(committed).equals(ref)
