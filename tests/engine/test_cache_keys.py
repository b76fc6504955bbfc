"""Issue 23.4 and 23.9: cache keys that hold everything that changes the outputs, a stored key
checked on load, records merged only under one setup, and outputs checked before they are cached.

Each class of defect, not only the audit's reproduction: a code change with the weights unchanged
(a temperature in the file, a module-level constant, a float attribute), modules without parameters
(two classes, two activations), options that change a value (the sweep's up-to-date test, derived from
the dimensions' options declarations: a plugin's options count), per-dimension setups of a merged
record, a cache file copied under another key's name, and bad outputs (rows, NaN) never cached."""
from __future__ import annotations

import shutil
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import quba
from quba.engine.cache import CachedOutputs, PredictionCache
from quba.errors import QubaError
from quba.zoo.fingerprint import code_fingerprint

KW = dict(suite="mini", bootstrap=0, output=None, progress=False, device="cpu", subset=2)

# A parameterless module family: pooled colours (3 x 2 x 2 = 12 features = QUBA-mini's 12 classes) through
# an activation; T scales the logits (a temperature), read from the file or held as an attribute.
MODEL_FILE = """
from torch import nn

T = {t}


class Scaled(nn.Module):
    def __init__(self, act, scale=1.0):
        super().__init__()
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), act)
        self.scale = scale

    def forward(self, x):
        return self.body(x * 4 - 2) * self.scale / T


def relu():
    return Scaled(nn.ReLU())


def tanh():
    return Scaled(nn.Tanh())


def hot():
    return Scaled(nn.Tanh(), scale=50.0)


class NopA(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3)).repeat(1, 4)


class NopB(nn.Module):
    def forward(self, x):
        return -x.mean(dim=(2, 3)).repeat(1, 4)


def nop_a():
    return NopA()


def nop_b():
    return NopB()
"""


def write_models(folder, t=1):
    path = folder / f"models_t{t}.py"
    path.write_text(textwrap.dedent(MODEL_FILE.format(t=t)))
    return path


def ece(spec, cache):
    rec = quba.evaluate(spec, dims=["calibration_error"], cache_root=cache, **KW)
    return rec["dimensions"]["calibration_error"]["details"]["ece"], rec


# ------------------------------------------------------------------ 23.4: the model's code
def test_code_change_with_the_same_weights_is_not_served_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    folder = tmp_path / "m"
    folder.mkdir()
    path = folder / "model.py"
    path.write_text(textwrap.dedent(MODEL_FILE.format(t=1)))
    cool, first = ece(f"{path}:tanh", cache)
    path.write_text(textwrap.dedent(MODEL_FILE.format(t=50)))  # the same file, T = 1 -> T = 50; no weights at all
    hot, second = ece(f"{path}:tanh", cache)
    assert not second["splits"]["val"]["cached"]  # recomputed, not served
    assert hot != pytest.approx(cool, abs=1e-3)
    assert first["provenance"]["model_fingerprint"] == second["provenance"]["model_fingerprint"]  # weights alike
    assert first["provenance"]["code_fingerprint"] != second["provenance"]["code_fingerprint"]
    # and the same code again is served from the cache
    again, third = ece(f"{path}:tanh", cache)
    assert third["splits"]["val"]["cached"] and again == hot


@pytest.mark.parametrize("a, b", [("relu", "tanh"), ("nop_a", "nop_b"), ("tanh", "hot")])
def test_modules_without_parameters_get_their_own_outputs(tmp_path, a, b):
    """Two activations, two classes, one float attribute: no parameters, so no weights to tell them apart."""
    cache = tmp_path / "cache"
    path = write_models(tmp_path)
    ea, ra = ece(f"{path}:{a}", cache)
    eb, rb = ece(f"{path}:{b}", cache)
    assert not rb["splits"]["val"]["cached"]
    assert ra["provenance"]["model_fingerprint"] == rb["provenance"]["model_fingerprint"]
    assert eb != pytest.approx(ea, abs=1e-6)
    # each equals its own fresh evaluation
    alone, _ = ece(f"{path}:{b}", tmp_path / "fresh")
    assert eb == alone


def test_code_fingerprint_holds_classes_attributes_buffers_and_transform_and_is_stable():
    from torchvision import transforms

    base = code_fingerprint(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    assert code_fingerprint(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())) == base  # stable across instances
    assert code_fingerprint(nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU())) != base  # another class
    assert code_fingerprint(nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU())) != base  # an int attribute
    assert code_fingerprint(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.1))) != \
        code_fingerprint(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2)))  # a float attribute

    def with_buffer(v):
        m = nn.Linear(2, 2)
        m.register_buffer("shift", torch.full((2,), v), persistent=False)  # not in the state dict
        return m

    assert code_fingerprint(with_buffer(0.0)) != code_fingerprint(with_buffer(1.0))
    m = nn.Linear(2, 2)
    pre32 = transforms.Compose([transforms.Resize(32, interpolation=transforms.InterpolationMode.NEAREST),
                                transforms.ToTensor()])
    pre224 = transforms.Compose([transforms.Resize(224), transforms.ToTensor()])
    assert code_fingerprint(m, pre32) != code_fingerprint(m, pre224) != code_fingerprint(m)
    # the weights are not part of it (they are hashed once, apart)
    other = nn.Linear(2, 2)
    assert code_fingerprint(other) == code_fingerprint(m)


def test_every_mini_model_has_a_stable_code_fingerprint():
    """A fingerprint that changed from one load to the next would make the cache miss every time."""
    from quba.zoo import load_model
    from quba.zoo.mini import catalog_rows

    ids = [r["id"] for r in catalog_rows() if (r.get("task") or "classification") == "classification"]
    for mid in ids:
        assert load_model(mid).code_fingerprint() == load_model(mid).code_fingerprint(), mid


def test_shipped_records_carry_the_code_fingerprint_of_the_mini_zoo():
    """The shipped records (results/mini/records) name the code they were measured with."""
    import json
    from pathlib import Path

    from quba.zoo import load_model

    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "results" / "mini" / "records").glob("*.json")):
        rec = json.loads(path.read_text())
        assert rec["provenance"]["code_fingerprint"] == load_model(rec["model"]).code_fingerprint(), path.name


# ------------------------------------------------------------------ 23.4: a cache file under another key
def test_a_cache_file_copied_under_another_keys_name_is_recomputed(tmp_path, capsys):
    cache = tmp_path / "cache"
    path = write_models(tmp_path)
    _, ra = ece(f"{path}:relu", cache)
    _, rb = ece(f"{path}:tanh", cache)
    true_b = rb["dimensions"]["calibration_error"]["value"]
    files = {p.stat().st_mtime_ns: p for p in cache.rglob("*.npz")}
    a_file, b_file = (files[k] for k in sorted(files))
    shutil.copyfile(a_file, b_file)  # A's outputs under B's key
    capsys.readouterr()
    _, again = ece(f"{path}:tanh", cache)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another key" in err[0] and str(b_file) in err[0]
    assert not again["splits"]["val"]["cached"]
    assert again["dimensions"]["calibration_error"]["value"] == true_b


def test_the_key_is_stored_in_every_cache_file(tmp_path):
    cache = PredictionCache(tmp_path)
    out = CachedOutputs(index=np.arange(3), labels=np.zeros(3, np.int64), preds=np.zeros(3, np.int64),
                        decisions=np.zeros(3, np.int64), logits=np.zeros((3, 2), np.float32),
                        skipped=np.zeros(0, np.int64), info={})
    fields = {"model_fingerprint": "abc", "split": "val", "params": {"eps": 8 / 255}}
    cache.save(fields, out)
    assert cache.load(fields, need_logits=True).info["key"] == fields
    other = {**fields, "split": "ood/edge"}
    shutil.copyfile(cache.path(fields), cache.path(other))
    assert cache.load(other, need_logits=True) is None


# ------------------------------------------------------------------ 23.9: bad outputs are never cached
BAD_FILE = """
import torch
from torch import nn

class Short(nn.Module):
    def __init__(self, drop):
        super().__init__()
        self.drop = drop

    def forward(self, x):
        z = x.mean(dim=(2, 3)).repeat(1, 4)
        return z[:-1] if self.drop else z


def build():
    return Short(drop={drop})
"""


def test_a_model_returning_one_row_too_few_fails_naming_it_and_caches_nothing(tmp_path):
    cache = tmp_path / "cache"
    path = tmp_path / "short.py"
    path.write_text(textwrap.dedent(BAD_FILE.format(drop=True)))
    with pytest.raises(QubaError) as info:
        quba.evaluate(f"{path}:build", dims=["accuracy"], cache_root=cache, **KW)
    msg = str(info.value)
    assert f"{path}:build" in msg and "rows" in msg and "\n" not in msg
    assert not list(cache.rglob("*.npz"))  # nothing cached
    # the fixed model (the same file, no weights: the code fingerprint tells them apart) just works
    path.write_text(textwrap.dedent(BAD_FILE.format(drop=False)))
    rec = quba.evaluate(f"{path}:build", dims=["accuracy"], cache_root=cache, **KW)
    assert 0.0 <= rec["dimensions"]["accuracy"]["value"] <= 1.0


def test_bad_outputs_are_an_exit_2_line_on_the_command_line(tmp_path, capsys, monkeypatch):
    from cli_run import cli

    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "c"))
    path = tmp_path / "short.py"
    path.write_text(textwrap.dedent(BAD_FILE.format(drop=True)))
    rc, _, err = cli(capsys, "evaluate", "--model", f"{path}:build", "--dims", "accuracy", "--subset", "1",
                     "--bootstrap", "0", "--no-progress", "-o", tmp_path / "out")
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "short.py:build" in lines[0] and "rows" in lines[0]


def test_a_poisoned_cache_file_of_an_older_quba_is_recomputed(tmp_path, capsys):
    """Outputs cached without the check (597 rows for 600 images) are reported once and recomputed."""
    cache = PredictionCache(tmp_path)
    fields = {"model_fingerprint": "abc", "split": "val"}
    bad = CachedOutputs(index=np.arange(4), labels=np.zeros(4, np.int64), preds=np.zeros(3, np.int64),
                        decisions=np.zeros(3, np.int64), logits=np.zeros((3, 2), np.float32),
                        skipped=np.zeros(0, np.int64), info={})
    assert bad.problem() == "3 preds for 4 images"
    cache.save(fields, bad)  # the cache itself does not refuse: the runner checks before saving
    capsys.readouterr()
    assert cache.load(fields, need_logits=True) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unusable outputs" in err[0]
    nan = CachedOutputs(index=np.arange(2), labels=np.zeros(2, np.int64), preds=np.zeros(2, np.int64),
                        decisions=np.zeros(2, np.int64), logits=np.array([[0, np.nan], [1, 2]], np.float32),
                        skipped=np.zeros(0, np.int64), info={})
    assert "non-finite" in nan.problem()


# ------------------------------------------------------------------ 23.4: records of one setup
def _record(model, dims, **prov):
    from quba.store.schema import make_record

    base = {"suite": "imagenet", "suite_fingerprint": "s", "model_fingerprint": "w", "code_fingerprint": "c",
            "subset": None, "seed": 0, "bootstrap": 0, "transform": "Resize(224)", "transform_overrides": None}
    return make_record(model=model, suite="imagenet", dimensions={d: {"value": v} for d, v in dims.items()},
                       provenance={**base, **prov})


@pytest.mark.parametrize("change", [{"transform": "Resize(32, nearest)",
                                     "transform_overrides": {"input_size": 32, "interpolation": "nearest"}},
                                    {"code_fingerprint": "c2"}, {"seed": 1}, {"bootstrap": 200}])
def test_records_of_different_setups_are_not_merged_and_the_dropped_dimensions_are_named(tmp_path, change):
    from quba.api import setup_changes
    from quba.store.records import read_record, write_record

    write_record(tmp_path, _record("m", {"calibration_error": 0.05}))
    new = _record("m", {"accuracy": 0.7}, **change)
    notes = setup_changes(tmp_path, new)
    assert len(notes) == 1 and "calibration_error" in notes[0] and next(iter(change)) in notes[0]
    path = write_record(tmp_path, new)
    rec = read_record(path)
    assert set(rec["dimensions"]) == {"accuracy"}  # never a 224 px calibration under a 32 px provenance
    # the same setup merges as before
    write_record(tmp_path, _record("m", {"shape_bias": 0.3}, **change))
    assert set(read_record(path)["dimensions"]) == {"accuracy", "shape_bias"}


def test_a_dimension_measured_under_another_protocol_keeps_its_own_setup_when_merged(tmp_path):
    """Protocol, paper options and attribution method decide single dimensions: they live in each
    dimension's setup, so records differing only there merge and every value keeps its own."""
    from quba.store.records import read_record, write_record
    from quba.store.schema import make_record

    prov = {"suite": "mini", "suite_fingerprint": "s", "model_fingerprint": "w", "code_fingerprint": "c",
            "subset": None, "seed": 0, "bootstrap": 0}
    write_record(tmp_path, make_record(model="m", suite="mini", provenance={**prov, "protocol": "paper"}, dimensions={
        "adversarial_robustness": {"value": 0.7, "setup": {"protocol": "paper", "paper": {"order": "shuffled"}}}}))
    path = write_record(tmp_path, make_record(model="m", suite="mini", provenance={**prov, "protocol": "quba"},
                                              dimensions={"accuracy": {"value": 0.8}}))
    rec = read_record(path)
    assert rec["dimensions"]["adversarial_robustness"]["setup"]["protocol"] == "paper"
    assert set(rec["dimensions"]) == {"accuracy", "adversarial_robustness"}
