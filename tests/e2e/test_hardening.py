"""Issue 14 (hardening) and issue 10 item 8 (records not rewritten): every class of fault
gets one line or a transparent recompute — never a traceback, a lost record or a wrong number.

Each test fails on the main branch before this change (noted per test)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import quba.api as A
from quba.cli import main
from quba.errors import QubaError
from quba.store import records as R
from quba.store.leaderboard import write_leaderboard

from engine_fakes import K, BrightnessNet, FakeSuite

REPO = Path(__file__).resolve().parents[2]


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- fault injection
def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zero":
        path.write_bytes(bytes(len(data)))
    else:  # flip: invert 8 bytes in the middle of the largest member's data (array or value bytes;
        # the file's middle can fall on a local zip header field that no reader checks)
        import struct
        import zipfile

        mid = len(data) // 2
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                info = max(z.infolist(), key=lambda i: i.compress_size)
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
            mid = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        path.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 8]) + data[mid + 8:])


HOW = ["truncate", "zero", "flip"]


def _net(**kw):
    import torch

    torch.manual_seed(0)  # the same weights (fingerprint) every time
    return BrightnessNet(**kw)


def _fake_eval(tmp_path, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("output", tmp_path / "res")
    kw.setdefault("bootstrap", 0)
    return A.evaluate(_net(), FakeSuite(), ["accuracy", "calibration"], **kw)


@pytest.mark.parametrize("how", HOW)
def test_damaged_prediction_cache_is_reported_and_recomputed(quba_cache, tmp_path, capsys, how):
    # main: BadZipFile/EOFError traceback on every later run of the model
    first = _fake_eval(tmp_path)
    files = list((quba_cache / "predictions").rglob("*.npz"))
    assert len(files) == 1
    damage(files[0], how)
    capsys.readouterr()
    again = _fake_eval(tmp_path)
    err = capsys.readouterr().err
    assert "damaged prediction-cache file" in one_line(err)
    assert again["forward_passes"]["val"] == len(FakeSuite().split("val"))  # recomputed ...
    assert again["dimensions"] == first["dimensions"]  # ... to the same numbers
    third = _fake_eval(tmp_path)  # and rewritten: served from cache again, silently
    assert third["forward_passes"]["val"] == 0 and capsys.readouterr().err == ""


def test_no_flipped_byte_of_a_cache_file_reads_back_as_other_numbers(tmp_path, capsys):
    from quba.integrity import load_npz, save_npz

    arrays = {"logits": np.linspace(-3, 3, 64, dtype=np.float32).reshape(16, 4), "index": np.arange(16)}
    path = tmp_path / "x.npz"
    save_npz(path, arrays, what="test file")
    good = path.read_bytes()
    for pos in range(0, len(good), 3):
        path.write_bytes(good[:pos] + bytes([good[pos] ^ 0x10]) + good[pos + 1:])
        back = load_npz(path, what="test file")
        if back is not None:  # a byte zip ignores (a timestamp): the numbers must be intact
            assert all(np.array_equal(back[k], arrays[k]) for k in arrays), pos
    capsys.readouterr()


@pytest.mark.parametrize("how", HOW)
def test_damaged_suite_cache_is_reported_and_regenerated(quba_cache, capsys, how):
    # main: a bit-flipped compressed split could load with other pixels (no checksum)
    from quba.suites.mini import MiniSuite

    ref = MiniSuite().split("ood/edge")
    path = MiniSuite()._file("ood/edge")
    damage(path, how)
    capsys.readouterr()
    again = MiniSuite().split("ood/edge")
    assert "damaged suite-cache file" in one_line(capsys.readouterr().err)
    assert np.array_equal(again.images, ref.images) and np.array_equal(again.labels, ref.labels)


def test_damaged_score_cache_is_reported_and_recomputed(quba_cache, capsys):
    from quba.dimensions import Scores
    from quba.engine.cache import ScoreCache

    cache = ScoreCache()
    cache.save({"dimension": "interpretability", "a": 1}, Scores({"cells": np.arange(5.0)}, {"n": 5}))
    back = cache.load({"dimension": "interpretability", "a": 1})
    assert np.array_equal(back.values["cells"], np.arange(5.0)) and back.info["n"] == 5
    damage(cache.path({"dimension": "interpretability", "a": 1}), "flip")
    assert cache.load({"dimension": "interpretability", "a": 1}) is None
    assert "damaged score-cache file" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("how", HOW)
def test_damaged_record_is_one_line_and_replaced_on_reevaluation(quba_cache, tmp_path, capsys, how):
    # main: a flipped digit was read as another value; valid JSON of the wrong shape -> AttributeError
    first = _fake_eval(tmp_path)
    path = Path(first["path"])
    damage(path, how)
    capsys.readouterr()
    rc, out, err = cli(capsys, "leaderboard", "--records-only", "--suite", "fake", "--output", tmp_path / "res")
    assert rc == 2 and str(path) in one_line(err)
    again = _fake_eval(tmp_path)  # re-evaluating replaces it (one warning line)
    assert str(path) in one_line(capsys.readouterr().err)
    assert R.read_record(path)["dimensions"] == first["dimensions"] == again["dimensions"]


@pytest.mark.parametrize("how", HOW)
def test_damaged_leaderboard_is_regenerated_or_refused(quba_cache, tmp_path, capsys, how):
    # main: a flipped digit in leaderboard.csv ranked silently with the wrong value
    _fake_eval(tmp_path)
    other = _net(sharpness=20.0, width=3)
    other.quba_id = "blurry-net"
    A.evaluate(other, FakeSuite(), ["accuracy", "calibration"], progress=False, output=tmp_path / "res",
               bootstrap=0)
    lb = tmp_path / "res" / "fake" / "leaderboard.csv"
    rc, want, _ = cli(capsys, "rank", "-l", lb, "--weights", "ece=1", "-f", "csv")
    assert rc == 0
    good = lb.read_bytes()
    alone = tmp_path / "alone"
    alone.mkdir()
    damage(lb, how)
    for f in (lb, lb.with_name("leaderboard.csv.sha256")):
        (alone / f.name).write_bytes(f.read_bytes())
    # beside its records: regenerated (one warning line), the same ranking
    rc, out, err = cli(capsys, "rank", "-l", lb, "--weights", "ece=1", "-f", "csv")
    assert rc == 0 and "regenerated" in one_line(err)
    assert out.replace(str(lb), "") == want.replace(str(lb), "") and lb.read_bytes() == good
    # alone: refused in one line
    rc, out, err = cli(capsys, "rank", "-l", alone / "leaderboard.csv", "--weights", "ece=1")
    assert rc == 2 and "checksum" in one_line(err) and out == ""


# --------------------------------------------------------------------------- concurrency
WRITER = textwrap.dedent('''
    import json, os, sys, time
    delay, only, out, todo, go = float(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
    _replace = os.replace
    def slow_replace(src, dst, *a, **k):  # delay this writer's rename: the race window
        if only in str(dst):
            time.sleep(delay)
        return _replace(src, dst, *a, **k)
    os.replace = slow_replace
    from quba.store.records import write_record
    from quba.store.leaderboard import write_leaderboard
    while go != "-" and not os.path.exists(go):  # imports done: wait for the signal
        time.sleep(0.005)
    for model, dims in todo:
        write_record(out, {"format": 1, "model": model, "suite": "s",
                           "dimensions": {d: {"value": 0.5, "lo": None, "hi": None} for d in dims},
                           "provenance": {"suite": "s", "suite_fingerprint": "f", "model_fingerprint": model,
                                          "subset": None}})
    write_leaderboard(out, "s")
''')


def _race(tmp_path, slow_target: str, slow_todo, fast_todo, repo=REPO):
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    out, go = tmp_path / "res", tmp_path / "go"
    fast = subprocess.Popen([sys.executable, "-c", WRITER, "0", "<none>", str(out), json.dumps(fast_todo), str(go)],
                            env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    slow = subprocess.Popen([sys.executable, "-c", WRITER, "1.5", slow_target, str(out), json.dumps(slow_todo), "-"],
                            env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list(out.rglob(f".{slow_target}.*.tmp")) and time.time() < deadline:  # it sits before its rename
        time.sleep(0.005)
    go.touch()  # the fast writer (imports done) writes while the slow one has not renamed yet
    fast_err = fast.communicate(timeout=60)[1]
    slow_err = slow.communicate(timeout=60)[1]
    assert slow.returncode == 0 and fast.returncode == 0, (slow_err, fast_err)
    return out


@pytest.mark.slow
def test_concurrent_writers_of_one_record_lose_no_dimension(tmp_path):
    # main: the delayed writer's rename overwrote the other's record (shape_bias lost)
    out = _race(tmp_path, "m.json", [["m", ["accuracy"]]], [["m", ["shape_bias"]]])
    rec = R.read_record(R.record_path(out, "s", "m"))
    assert set(rec["dimensions"]) == {"accuracy", "shape_bias"}
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_concurrent_leaderboard_writers_lose_no_row(tmp_path):
    # main: the delayed writer regenerated from fewer records and its rename dropped a row
    out = _race(tmp_path, "leaderboard.csv", [["a", ["accuracy"]]], [["b", ["accuracy"]]])
    lb = pd.read_csv(out / "s" / "leaderboard.csv")
    assert sorted(lb["model"]) == ["a", "b"]


def test_stale_temp_files_of_killed_writers_are_removed(tmp_path):
    rec = _record("m", {"accuracy": 0.5})
    path = R.record_path(tmp_path, "s", "m")
    path.parent.mkdir(parents=True)
    stale = path.with_name(f".{path.name}.999999999.tmp")  # no such process
    stale.write_text("half")
    R.write_record(tmp_path, rec)
    assert not stale.exists() and R.read_record(path)["dimensions"]["accuracy"]["value"] == 0.5


# --------------------------------------------------------------------------- record file names
def _record(model, values, suite="s"):
    return {"format": 1, "model": model, "suite": suite,
            "dimensions": {d: {"value": v, "lo": None, "hi": None} for d, v in values.items()},
            "provenance": {"suite": suite, "suite_fingerprint": "f", "model_fingerprint": model, "subset": None}}


def test_record_file_names_are_injective(tmp_path):
    # main: coll/a/b.py:build and coll/a_b.py:build shared a file; every non-ASCII id became model.json
    ids = ["coll/a/b.py:build", "coll/a_b.py:build", "模型", "모델", "ResNet", "resnet", "mini-cnn-standard"]
    names = [R.safe_name(i) for i in ids]
    assert len({n.lower() for n in names}) == len(ids)  # distinct, on case-insensitive file systems too
    assert R.safe_name("mini-cnn-standard") == "mini-cnn-standard"  # shipped records keep their names
    for i, model in enumerate(ids):
        R.write_record(tmp_path, _record(model, {"accuracy": i / 10}))
    got = {r["model"]: r["dimensions"]["accuracy"]["value"] for r in R.load_records(tmp_path, "s")}
    assert got == {m: i / 10 for i, m in enumerate(ids)}


def test_a_record_of_another_model_is_never_replaced(tmp_path):
    path = R.record_path(tmp_path, "s", "x")
    path.parent.mkdir(parents=True)
    path.write_text(R.encode(_record("y", {"accuracy": 0.9})))
    with pytest.raises(QubaError, match="holds model 'y'"):
        R.write_record(tmp_path, _record("x", {"accuracy": 0.1}))
    assert R.read_record(path)["model"] == "y"


def test_shipped_records_load_under_their_names():
    from quba.zoo.mini import catalog_rows

    recs = R.load_records(REPO / "results", "mini")
    assert len(recs) == sum(1 for r in catalog_rows() if (r.get("task") or "classification") == "classification")
    for r in recs:
        assert R.record_path(REPO / "results", "mini", r["model"]).is_file()


@pytest.mark.parametrize("bad, why", [
    ([1, 2], "a JSON list"),
    ({"model": "m", "suite": "s", "dimensions": []}, "'dimensions' is not an object"),
    ({"model": "m", "suite": "s", "dimensions": {"accuracy": 0.9}}, "has no 'value'"),
    ({"model": "m", "suite": "s", "dimensions": {"accuracy": {"value": "high"}}}, "not a number"),
    ({"model": "", "suite": "s", "dimensions": {}}, "no 'model' name"),
])
def test_wrongly_structured_records_are_one_line(tmp_path, capsys, bad, why):
    # main: AttributeError traceback on valid JSON of the wrong shape
    folder = tmp_path / "s" / "records"
    folder.mkdir(parents=True)
    (folder / "m.json").write_text(json.dumps(bad))
    rc, out, err = cli(capsys, "leaderboard", "--records-only", "--suite", "s", "--output", tmp_path)
    line = one_line(err)
    assert rc == 2 and why in line and "m.json" in line


# --------------------------------------------------------------------------- model outputs
class Wrong(BrightnessNet):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        z = super().forward(x)
        if self.mode == "classes":
            return z.repeat(1, 3)  # 12 outputs on a 4-class suite
        if self.mode == "nan" and x.shape[0] < 40:
            return z * float("nan")
        if self.mode == "inf":
            return z.clamp_max(0) - float("inf") * (x.mean() > 0)
        if self.mode == "raise":
            raise ValueError("bad shape inside the model")
        return z


@pytest.mark.parametrize("mode, words", [("classes", "returned 12 classes"), ("nan", "non-finite"),
                                         ("inf", "non-finite"), ("raise", "raised ValueError")])
def test_bad_model_outputs_are_refused_and_nothing_recorded(quba_cache, tmp_path, mode, words):
    # main: a 12-class output on a 4-class suite was scored; NaN logits gave robustness 1.0; raise -> traceback
    with pytest.raises(QubaError) as exc:
        A.evaluate(Wrong(mode), FakeSuite(), ["accuracy", "corruption"], progress=False, bootstrap=0,
                   output=tmp_path / "res", batch_size=30)
    msg = str(exc.value)
    assert words in msg and "'Wrong'" in msg and "split 'val', batch" in msg and "\n" not in msg
    assert not (tmp_path / "res" / "fake").exists()
    assert not list(quba_cache.rglob("*.npz"))  # nothing cached either


def test_bad_outputs_under_an_attack_are_refused(quba_cache, tmp_path):
    with pytest.raises(QubaError, match="non-finite"):
        A.evaluate(Wrong("inf"), FakeSuite(), ["adversarial"], progress=False, bootstrap=0, output=None)


def test_zero_shot_head_size_is_checked(quba_cache):
    from quba.zoo.base import LoadedModel

    loaded = LoadedModel(id="zs", module=BrightnessNet(), num_classes=K + 1)
    with pytest.raises(QubaError, match="classification head has 5"):
        A.evaluate(loaded, FakeSuite(), ["accuracy"], progress=False, bootstrap=0, output=None)


# --------------------------------------------------------------------------- the CLI: one line each
BAD_PY = textwrap.dedent('''
    import torch
    from torch import nn

    def raises():
        raise RuntimeError("weights missing")

    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
        def forward(self, x):
            raise KeyError("oops")

    def boom():
        return Boom()

    def ten():
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 10))
''')


@pytest.mark.parametrize("fn, words", [("raises", "raises() in"), ("boom", "raised KeyError"),
                                       ("ten", "returned 10 classes")])
def test_custom_model_errors_are_one_line(quba_cache, tmp_path, capsys, fn, words):
    # main: build()/forward() raising -> traceback; a 10-class model on the 12-class suite scored silently
    f = tmp_path / "bad.py"
    f.write_text(BAD_PY)
    rc, out, err = cli(capsys, "evaluate", "--model", f"{f}:{fn}", "--dims", "accuracy", "--bootstrap", "0",
                       "--output", tmp_path / "res", "--no-progress")
    assert rc == 2 and words in one_line(err)
    assert not list((tmp_path / "res").rglob("*.json"))


def test_evaluate_help_says_model_files_run_code(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "arbitrary code" in capsys.readouterr().out


def test_quba_cache_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    # main: FileExistsError traceback
    f = tmp_path / "cachefile"
    f.write_text("x")
    monkeypatch.setenv("QUBA_CACHE", str(f))
    rc, out, err = cli(capsys, "evaluate", "mini-cnn-standard", "--dims", "accuracy", "--output", tmp_path / "r")
    assert rc == 2 and "QUBA_CACHE" in one_line(err)


def test_unwritable_suite_cache_warns_and_goes_on(quba_cache, capsys):
    # main: NotADirectoryError traceback from the suite cache write
    from quba.suites.mini import MiniSuite

    suite = MiniSuite()
    suite.cache_path.parent.mkdir(parents=True)
    suite.cache_path.write_text("a file where the folder should be")
    split = suite.split("ood/edge")
    assert len(split) > 0 and "could not write the suite-cache file" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("target", ["quba.store.records.atomic_write_text", "quba.store.leaderboard.atomic_write_text"])
def test_disk_full_after_the_work_is_one_line(quba_cache, tmp_path, capsys, monkeypatch, target):
    # main: OSError traceback after the evaluation
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(target, full)
    f = tmp_path / "m.py"
    f.write_text("from torch import nn\ndef build():\n    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 12))\n")
    rc, out, err = cli(capsys, "evaluate", "--model", f"{f}:build", "--dims", "accuracy", "--bootstrap", "0",
                       "--output", tmp_path / "res", "--no-progress")
    line = one_line(err)
    assert rc == 2 and "No space left on device" in line and "cannot write the" in line


# --------------------------------------------------------------------------- hostile leaderboard CSVs
@pytest.fixture
def good_csv(tmp_path):
    f = pd.read_csv(REPO / "results" / "mini" / "leaderboard.csv")[["model", "accuracy", "calibration_error"]]
    path = tmp_path / "ok.csv"
    f.to_csv(path, index=False)
    return path


def _variant(path: Path, name: str, edit) -> Path:
    out = path.with_name(name)
    out.write_text(edit(path.read_text()))
    return out


@pytest.mark.parametrize("name, edit, words", [
    ("cut.csv", lambda t: t[: t.index("\n", t.index("\n", t.index("\n") + 1) + 1) + 12], "line 4 has 1 fields"),
    ("ragged.csv", lambda t: t.replace("mini-cnn-adv,", "mini-cnn-adv,,", 1), "line"),
    ("noname.csv", lambda t: t.replace("mini-cnn-adv", ""), "without a model name"),
    ("dupcol.csv", lambda t: t.replace("model,accuracy,calibration_error", "model, accuracy ,accuracy"),
     "column 'accuracy' twice"),
    ("header.csv", lambda t: t.splitlines()[0] + "\n", "no rows"),
    ("acc5.csv", lambda t: t.replace("mini-cnn-adv,0.", "mini-cnn-adv,5."), "outside the dimension's range [0, 1]"),
    ("ece-3.csv", lambda t: t.replace(",0.0150491", ",-3"), "calibration_error has -3"),
])
def test_hostile_leaderboards_are_one_line(good_csv, capsys, name, edit, words):
    # main: the cut file ranked silently (another winner); empty name / duplicate column / header only
    # -> TypeError/IndexError tracebacks; accuracy 5.0 ranked first
    bad = _variant(good_csv, name, edit)
    rc, out, err = cli(capsys, "rank", "-l", bad)
    assert rc == 2 and words in one_line(err) and name in err and out == ""


def test_formula_like_names_are_escaped_in_csv_output(good_csv, capsys):
    # main: =HYPERLINK(...) went into --format csv unescaped
    bad = _variant(good_csv, "f.csv", lambda t: t.replace("mini-cnn-adv", '=HYPERLINK("x")')
                   .replace("mini-cnn-shape", "@cmd").replace("mini-cnn-texture", "-2+3"))
    rc, out, err = cli(capsys, "rank", "-l", bad, "-f", "csv")
    assert rc == 0
    rows = pd.read_csv(__import__("io").StringIO(out))
    names = set(rows["model"])
    assert {"'=HYPERLINK(\"x\")", "'@cmd", "'-2+3"} <= names
    assert not any(n[0] in "=+-@" for n in names)
    assert (rows["quba"] < 0).any()  # numbers are not escaped


# --------------------------------------------------------------------------- numeric edge cases
def test_huge_weights_rank_like_equal_weights(good_csv, capsys):
    # main: table OverflowError; csv scored every model 0.0 at rank 1
    rc, huge, err = cli(capsys, "rank", "-l", good_csv, "--weights", "acc=1e308,ece=1e308", "-f", "csv")
    assert rc == 0, err
    rc, unit, _ = cli(capsys, "rank", "-l", good_csv, "--weights", "acc=1,ece=1", "-f", "csv")
    assert huge == unit
    rc, table, err = cli(capsys, "rank", "-l", good_csv, "--weights", "acc=1e308,ece=1e308", "--sensitivity", "20")
    assert rc == 0 and "mini-cnn-calibrated" in table, err


def test_huge_bootstrap_is_one_line(capsys, tmp_path):
    # main: out-of-memory traceback
    rc, out, err = cli(capsys, "evaluate", "mini-cnn-standard", "--dims", "accuracy", "--bootstrap", "1000000000",
                       "--output", tmp_path)
    assert rc == 2 and "--bootstrap must be at most 10000" in one_line(err)


# --------------------------------------------------------------------------- issue 10 item 8
def test_reevaluation_with_the_same_values_leaves_record_and_leaderboard_untouched(quba_cache, tmp_path):
    # main: every re-evaluation rewrote the record (new `created`, `seconds`)
    first = _fake_eval(tmp_path, bootstrap=20)
    rec, lb = Path(first["path"]), tmp_path / "res" / "fake" / "leaderboard.csv"
    past = 1_000_000_000
    for f in (rec, lb):
        os.utime(f, (past, past))
    before = rec.read_bytes(), lb.read_bytes()
    second = _fake_eval(tmp_path, bootstrap=20)  # from the cache: same values
    assert second["forward_passes"]["val"] == 0
    assert (rec.read_bytes(), lb.read_bytes()) == before
    assert rec.stat().st_mtime == past and lb.stat().st_mtime == past
    runs = [json.loads(x) for x in R.run_log_path(rec).read_text().splitlines()]
    assert [r["changed"] for r in runs] == [True, False]
    assert runs[0]["forward_passes"]["val"] == 40 and runs[1]["forward_passes"]["val"] == 0
    on_disk = json.loads(rec.read_text())
    assert not {"created", "forward_passes", "attack_passes", "history"} & set(on_disk)
    assert all(set(v) == {"images", "skipped", "device", "precision"} for v in on_disk["splits"].values())
    # the cost kept is that of the run that wrote the record (a cheaper rerun with equal values does not)
    assert on_disk["provenance"]["cost"] == {"forward_passes": 40, "attack_passes": 0, "splits_from_cache": 0,
                                             "splits": 1}
    assert second["provenance"]["cost"]["forward_passes"] == 0


@pytest.mark.parametrize("how", HOW)
def test_damaged_zero_shot_head_cache_is_recomputed(quba_cache, capsys, how):
    # main: a flipped byte in the cached head's tensor gave other zero-shot logits silently
    import torch

    from quba.zoo import zeroshot

    calls = []

    def compute():
        calls.append(1)
        return torch.linspace(-1, 1, 12).reshape(3, 4)

    first = zeroshot.cached_head("ViT-X", "t", compute, ["a", "b", "c"])
    path = zeroshot.head_cache_path("ViT-X", "t")
    data = path.read_bytes()
    if how == "flip":  # the tensor bytes sit at the end of a safetensors file
        path.write_bytes(data[:-8] + bytes(b ^ 0xFF for b in data[-8:]))
    else:
        damage(path, how)
    again = zeroshot.cached_head("ViT-X", "t", compute, ["a", "b", "c"])
    assert torch.equal(again, first) and len(calls) == 2
    assert "damaged zero-shot head cache" in one_line(capsys.readouterr().err)


def test_unwritable_prediction_cache_warns_and_goes_on(quba_cache, tmp_path, capsys):
    quba_cache.mkdir(parents=True, exist_ok=True)
    (quba_cache / "predictions").write_text("a file where the folder should be")
    rec = _fake_eval(tmp_path, output=None)
    assert rec["dimensions"]["accuracy"]["value"] == pytest.approx(0.9)
    assert "could not write the prediction-cache file" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("args", [
    ["compare", "mini-cnn-standard", "mini-cnn-adv", "--bootstrap", "99999999"],
    ["consistency", ".", "--bootstrap", "99999999"],
    ["rank", "--sensitivity", "1000000000"],
])
def test_other_huge_resample_counts_are_one_line(capsys, args):
    rc, out, err = cli(capsys, *args)
    assert rc == 2 and "must be at most" in one_line(err)


def test_a_cache_file_without_checksum_is_recomputed_silently(tmp_path, capsys):
    from quba.integrity import load_npz

    path = tmp_path / "old.npz"
    np.savez(path, values=np.arange(3))  # as quba wrote before checksums
    assert load_npz(path, what="x") is None and not path.exists()
    assert capsys.readouterr().err == ""


def test_a_record_under_its_old_file_name_is_merged_and_moved(tmp_path):
    old = {**_record("My Model", {"accuracy": 0.7}), "created": "2026-01-01T00:00:00+00:00", "history": []}
    legacy = tmp_path / "s" / "records" / "My_Model.json"  # the name quba gave it before
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps(old))
    path = R.write_record(tmp_path, _record("My Model", {"shape_bias": 0.2}))
    assert path.name.startswith("My_Model~") and not legacy.exists()
    assert set(R.read_record(path)["dimensions"]) == {"accuracy", "shape_bias"}
