"""Issue 23 (reliability 2), part A: each defect class gets a test of the class, not only of the
audit's reproduction -- special files where quba writes (2) or reads (10), formula injection in
every CSV quba writes (3), leaderboards whose rows are not what they say (5, 6, 13), sweep state
files of every kind of damage (7), models that exit or interrupt (8), tracebacks (12), a full
disk (11). Every case ends in a correct number, one line (exit 2) or a documented recovery."""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import quba.api as A
from quba.cli import main
from quba import errors
from quba.errors import QubaError
from quba.integrity import NotRegularFile, save_npz
from quba.store import records as R
from quba.store.leaderboard import checksum_path, write_leaderboard
from quba.sweep import state as S
from quba.zoo.base import LoadedModel

from cli_run import cli, one_line
from engine_fakes import BrightnessNet, FakeSuite

REPO = Path(__file__).resolve().parents[2]
MINI_LB = REPO / "results" / "mini" / "leaderboard.csv"


class Hung(BaseException):
    """Not an OSError (as TimeoutError is), so no one-line error handler of quba swallows it."""


@pytest.fixture
def no_hang():
    """Fail (instead of waiting for the 10-minute timeout) when the test blocks for 60 s
    ($QUBA_TEST_HANG_S): a named pipe opened for reading blocks until someone writes."""
    seconds = int(os.environ.get("QUBA_TEST_HANG_S", "60"))

    def alarm(signum, frame):
        raise Hung(f"blocked for {seconds} s (opened a named pipe?)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _net(seed=0, **kw):
    import torch

    torch.manual_seed(seed)
    return BrightnessNet(**kw)


def _record(name="m", seed=0):
    """A record of a fake model, not written anywhere."""
    return A.evaluate(LoadedModel(id=name, module=_net(seed)), FakeSuite(), ["accuracy"], output=None,
                      bootstrap=0, progress=False)


def _evaluate(out, name, seed=0, dims=("accuracy",), **net):
    return A.evaluate(LoadedModel(id=name, module=_net(seed, **net)), FakeSuite(), list(dims), output=out,
                      bootstrap=0, progress=False)


# =========================================================================== 2: special files as write targets
def _make(kind: str, path: Path) -> None:
    """Put a special file of `kind` at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "null device":  # a device, made without root: a link to /dev/null (stat follows it)
        path.symlink_to("/dev/null")
    elif kind == "full device":
        path.symlink_to("/dev/full")
    else:
        raise AssertionError(kind)


def _unchanged(kind: str, path: Path) -> bool:
    import stat

    if kind == "fifo":
        return stat.S_ISFIFO(path.lstat().st_mode)
    if kind == "folder":
        return path.is_dir() and not path.is_symlink()
    target = {"null device": "/dev/null", "full device": "/dev/full"}[kind]
    return path.is_symlink() and os.readlink(path) == target and stat.S_ISCHR(os.stat(target).st_mode)


def _write_record(out):
    R.write_record(out, _record())


def _write_leaderboard(out):
    R.write_record(out / "ok", _record())  # a record to build it from, somewhere else ...
    (out / "fake" / "records").mkdir(parents=True, exist_ok=True)
    os.replace(R.record_path(out / "ok", "fake", "m"), R.record_path(out, "fake", "m"))  # ... moved in place
    write_leaderboard(out, "fake")


INTERNAL_WRITERS = {
    # name: (the file's path under an output folder, the write, what happens to it)
    "record": (lambda out: R.record_path(out, "fake", "m"), _write_record, QubaError),
    "leaderboard": (lambda out: out / "fake" / "leaderboard.csv", _write_leaderboard, QubaError),
    "leaderboard checksum": (lambda out: out / "fake" / "leaderboard.csv.sha256", _write_leaderboard, QubaError),
    "sweep state": (lambda out: S.state_path(out, "fake"), lambda out: S.update_state(out, "fake", lambda s: None),
                    QubaError),
    "failure file": (lambda out: S.failure_path(out, "fake", "m"),
                     lambda out: S.write_failure(out, "fake", "m", {"model": "m"}), "warning"),
    "cache file": (lambda out: out / "cache" / "x.npz",
                   lambda out: save_npz(out / "cache" / "x.npz", {"a": np.arange(3)}, what="test-cache file"),
                   "warning"),
    "correlations": (lambda out: out / "rep" / "correlations.csv",
                     lambda out: __import__("quba.report", fromlist=["write_report"]).write_report(MINI_LB, out / "rep"),
                     NotRegularFile),
}


@pytest.mark.parametrize("kind", ["fifo", "null device", "folder"])
@pytest.mark.parametrize("writer", list(INTERNAL_WRITERS))
def test_quba_never_renames_its_own_files_over_a_special_file(tmp_path, capsys, no_hang, quba_cache, writer, kind):
    # main: os.replace turned a device or pipe into a regular file; a folder gave a traceback
    where, write, outcome = INTERNAL_WRITERS[writer]
    out = tmp_path / "out"
    target = where(out)
    _make(kind, target)
    if outcome == "warning":
        write(out)
        line = one_line(capsys.readouterr().err)
        assert "could not write" in line and "not a regular file" in line
    else:
        with pytest.raises(outcome) as exc:
            write(out)
        msg = str(exc.value) if outcome is QubaError else exc.value.strerror
        assert "\n" not in msg and ("not a regular file" in msg or "not a file" in msg), msg
    assert _unchanged(kind, target)
    assert not list(target.parent.glob(".*.tmp"))  # nothing half-written left behind


@pytest.fixture(scope="module")
def report_leaderboard(tmp_path_factory):
    """A small leaderboard (the report of the full mini one takes a while to build)."""
    d = tmp_path_factory.mktemp("lb")
    pd.read_csv(MINI_LB)[["model", "suite", "accuracy", "calibration_error"]].to_csv(d / "small.csv", index=False)
    return d / "small.csv"


def _report(capsys, lb, target):
    return cli(capsys, "report", "-l", lb, "-o", target)


def _consistency(capsys, lb, target, monkeypatch=None):
    return cli(capsys, "consistency", "mini", "--format", "json", "--json", target)


@pytest.fixture
def fake_consistency(monkeypatch):
    monkeypatch.setattr(A, "consistency", lambda *a, **k: {"met3r": 0.25, "pairs": []})


USER_WRITERS = {"report -o": _report, "consistency --json": _consistency}


@pytest.mark.parametrize("writer", list(USER_WRITERS))
def test_an_output_the_user_names_may_be_a_device_or_a_pipe(tmp_path, capfd, no_hang, fake_consistency,
                                                            report_leaderboard, writer):
    # main: `quba report -o /dev/full` reported success and replaced the device by a 4.9 MB file
    run = USER_WRITERS[writer]
    lb = report_leaderboard
    null, full = tmp_path / "null", tmp_path / "full"
    _make("null device", null)
    _make("full device", full)
    rc, out, err = run(capfd, lb, null)
    assert rc == 0 and _unchanged("null device", null), err
    rc, out, err = run(capfd, lb, full)
    assert rc == 2 and "No space left on device" in one_line(err) and _unchanged("full device", full)
    folder = tmp_path / "folder"
    folder.mkdir()
    rc, out, err = run(capfd, lb, folder)
    assert rc == 2 and "folder" in one_line(err) and folder.is_dir()

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    rc, out, err = run(capfd, lb, fifo)  # nobody reads it: one line, no hang
    assert rc == 2 and "nobody reads" in one_line(err)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("data", fifo.read_bytes()))
    reader.start()
    time.sleep(0.2)
    rc, out, err = run(capfd, lb, fifo)
    reader.join(30)
    assert rc == 0 and len(got["data"]) > 10 and _unchanged("fifo", fifo)

    real = tmp_path / "real.out"
    real.write_text("old")
    link = tmp_path / "link.out"
    link.symlink_to(real)
    rc, out, err = run(capfd, lb, link)
    assert rc == 0 and link.is_symlink() and real.read_bytes() == got["data"]  # the link kept, its file replaced

    capfd.readouterr()
    rc = main(["report", "-l", str(lb), "-o", "/dev/stdout"] if writer == "report -o" else
              ["consistency", "mini", "--format", "json", "--json", "/dev/stdout"])
    out, err = capfd.readouterr()
    assert rc == 0 and os.path.exists("/dev/stdout")
    if writer == "report -o":
        assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")  # the page alone
        assert "report: /dev/stdout" in err
    else:
        assert json.loads(out.split("\n}\n")[0] + "\n}") == {"met3r": 0.25, "pairs": []}


# =========================================================================== 3: formula injection
HOSTILE = ['=HYPERLINK("http://x","y")', "@SUM(1+1)x.py:build", "+1+2", "-2+3", "\tcmd", "\r=cmd", "'=quoted",
           "''+twice", "-5", "+1.5e3", "plain, with \"quotes\""]


def _spreadsheet_safe(cell: str) -> bool:
    from quba.csvsafe import _NUMBER

    return not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or bool(_NUMBER.fullmatch(cell))


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory):
    """<out>/fake: records of models with hostile names, and the leaderboard quba wrote from them."""
    out = tmp_path_factory.mktemp("hostile")
    old = os.environ.get("QUBA_CACHE")
    os.environ["QUBA_CACHE"] = str(out / "cache")
    try:
        for i, name in enumerate(HOSTILE):
            _evaluate(out, name, seed=i, dims=("accuracy", "calibration"), sharpness=100.0 + 20 * i)
    finally:
        os.environ.pop("QUBA_CACHE") if old is None else os.environ.__setitem__("QUBA_CACHE", old)
    return out


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_no_csv_cell_quba_writes_runs_as_a_formula(hostile_results, capsys, monkeypatch):
    # main: the names landed unescaped in leaderboard.csv (only rank --format csv escaped them)
    lb = hostile_results / "fake" / "leaderboard.csv"
    written = {
        "leaderboard.csv": lb.read_text(),
        "rank --format csv": cli(capsys, "rank", "-l", lb, "-w", "ece", "-f", "csv")[1],
        "correlate --format csv": cli(capsys, "correlate", "-l", lb, "-f", "csv")[1],
    }
    from quba.cli import zoo

    monkeypatch.setattr(zoo, "_rows", lambda args: [{"id": n, "source": "custom", "identifier": "-x",
                                                     "parameters_m": -1.5, "groups": "@g"} for n in HOSTILE])
    written["zoo list --format csv"] = cli(capsys, "zoo", "list", "--format", "csv")[1]
    for what, text in written.items():
        rows = _cells(text)
        assert len(rows) > 1, what
        bad = [c for r in rows for c in r if not _spreadsheet_safe(c)]
        assert not bad, (what, bad)
    names = [r[0] for r in _cells(written["leaderboard.csv"])[1:]]
    assert "'=HYPERLINK(\"http://x\",\"y\")" in names and "'''+twice" in names and "-5" in names
    assert "-1.5" in written["zoo list --format csv"]  # a number stays a number


def test_a_name_goes_records_leaderboard_rank_and_back_unchanged(hostile_results, capsys):
    from quba.ranking import load_leaderboard

    lb = hostile_results / "fake" / "leaderboard.csv"
    assert sorted(load_leaderboard(lb)["model"]) == sorted(n.strip() for n in HOSTILE)
    rc, out, err = cli(capsys, "rank", "-l", lb, "-w", "ece", "-f", "json")
    assert rc == 0 and sorted(r["model"] for r in json.loads(out)["ranking"]) == sorted(n.strip() for n in HOSTILE)
    recs = {r["model"] for r in R.load_records(hostile_results, "fake")}
    assert recs == set(HOSTILE)


@pytest.mark.parametrize("s", HOSTILE + ["", "'", "''", "'abc", "=", "-", "-.5", "1e5", "- 5", "−5", "a=b"])
def test_the_escape_is_undone_exactly(s):
    from quba.csvsafe import escape_text, unescape_text

    assert unescape_text(escape_text(s)) == s
    assert _spreadsheet_safe(escape_text(s))


def test_numbers_in_a_frame_are_never_escaped():
    from quba.csvsafe import escape_frame

    frame = pd.DataFrame({"model": ["-m", "ok"], "quba": [-1.25, 0.5], "n": [-3, 4]})
    out = escape_frame(frame)
    assert list(out["model"]) == ["'-m", "ok"] and out["quba"].tolist() == [-1.25, 0.5] and out["n"].tolist() == [-3, 4]


def test_the_report_page_escapes_like_python():
    """report.js's csvText against quba.csvsafe.escape_text, run in node (the page's own function)."""
    import shutil

    from quba.csvsafe import escape_text

    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("no node.js here; the browser test in test_report_html.py covers the page's CSV too")
    js = (REPO / "quba" / "report" / "assets" / "report.js").read_text()
    start = js.index("  var FORMULA_START")
    body = js[js.index("  function csvField"):js.index("\n  }\n", js.index("  function csvField")) + 4]
    body += js[start:js.index("\n  }\n", start) + 4]
    cases = HOSTILE + ["", "'", "'abc", "-.5", "- 5"]
    script = body + f"\nconsole.log(JSON.stringify({json.dumps(cases)}.map(csvText)));"
    got = json.loads(subprocess.run([node, "-e", script], capture_output=True, text=True, check=True).stdout)
    assert [next(csv.reader([g]))[0] if g else "" for g in got] == [escape_text(c) for c in cases]


# =========================================================================== 5, 6, 13: leaderboards
@pytest.fixture
def results(tmp_path):
    """A copy of the shipped mini results (records + leaderboard with its checksum)."""
    import shutil

    out = tmp_path / "res"
    shutil.copytree(REPO / "results" / "mini", out / "mini")
    return out / "mini"


def _edit(path: Path, model: str, col: str, value) -> None:
    f = pd.read_csv(path, keep_default_na=False, dtype=str)
    f.loc[f["model"] == model, col] = str(value)
    path.write_text(f.to_csv(index=False))


def test_an_edited_copy_of_a_leaderboard_is_refused_not_ranked(results, capsys):
    # main: "regenerated from the records" -- but the edited values of the copy were ranked
    import shutil

    mine = results / "mine.csv"
    shutil.copy(results / "leaderboard.csv", mine)
    shutil.copy(results / "leaderboard.csv.sha256", results / "mine.csv.sha256")
    rc, out, err = cli(capsys, "rank", "-l", mine, "-w", "acc", "-f", "csv")
    assert rc == 0 and err == ""  # an unedited copy is fine
    _edit(mine, "mini-bcos-cnn", "accuracy", 0.99)
    rc, out, err = cli(capsys, "rank", "-l", mine, "-w", "acc")
    assert rc == 2 and out == "" and "does not match its checksum" in one_line(err)
    (results / "mine.csv.sha256").unlink()  # the documented way to use an edited file as it is
    rc, out, err = cli(capsys, "rank", "-l", mine, "-w", "acc", "-f", "json")
    assert rc == 0 and json.loads(out)["ranking"][0]["model"] == "mini-bcos-cnn"


def test_the_leaderboard_beside_its_records_is_what_the_records_say(results, capsys):
    lb = results / "leaderboard.csv"
    truth = lb.read_bytes()
    _edit(lb, "mini-bcos-cnn", "accuracy", 0.99)
    rc, out, err = cli(capsys, "rank", "-l", lb, "-w", "acc", "-f", "json")
    assert rc == 0 and "regenerated from the records" in one_line(err)
    assert json.loads(out)["ranking"][0]["model"] != "mini-bcos-cnn" and lb.read_bytes() == truth


def test_a_record_newer_than_the_leaderboard_is_not_left_out(results, capsys, quba_cache):
    # main (full disk): a fourth record written, its leaderboard write failed: rank omitted it, checksum valid
    lb = results / "leaderboard.csv"
    rec = json.loads((results / "records" / "mini-cnn-adv.json").read_text())
    rec["model"] = "mini-cnn-adv-copy"
    R.write_record(results.parent, rec)  # a record, but no leaderboard write (as when it failed)
    rc, out, err = cli(capsys, "rank", "-l", lb, "-w", "acc", "-f", "json")
    assert rc == 0 and "older than the records" in one_line(err)
    assert "mini-cnn-adv-copy" in {r["model"] for r in json.loads(out)["ranking"]}
    rc, out, err = cli(capsys, "rank", "-l", lb, "-w", "acc")
    assert rc == 0 and err == ""  # now current: no warning, nothing rewritten


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e999"])
@pytest.mark.parametrize("col", ["accuracy", "calibration_error", "accuracy_lo", "parameters_m"])
def test_infinite_values_are_out_of_range(tmp_path, capsys, value, col):
    # main: inf became "missing" and the model was dropped with exit 0
    lb = tmp_path / "inf.csv"
    f = pd.read_csv(MINI_LB)
    f[col] = f[col].astype(object)
    f.loc[0, col] = value
    f.to_csv(lb, index=False)
    rc, out, err = cli(capsys, "rank", "-l", lb)
    assert rc == 2 and out == "" and f"column {col} has" in one_line(err) and "not a finite number" in err


@pytest.mark.parametrize("names", [["None", "NA", "null"], ["nan", "NaN", "N/A"], ["#N/A", "<NA>", "n/a"]])
def test_models_named_like_missing_values_are_ranked_by_name(tmp_path, capsys, names):
    # main: "rows without a model name"
    lb = tmp_path / "names.csv"
    f = pd.read_csv(MINI_LB)
    f.loc[:2, "model"] = names
    f.to_csv(lb, index=False)
    rc, out, err = cli(capsys, "rank", "-l", lb, "-f", "json")
    assert rc == 0, err
    assert set(names) <= {r["model"] for r in json.loads(out)["ranking"]}
    empty = tmp_path / "empty.csv"
    f.loc[0, "model"] = ""
    f.to_csv(empty, index=False)
    rc, out, err = cli(capsys, "rank", "-l", empty)
    assert rc == 2 and "without a model name" in one_line(err)


def test_blank_lines_before_the_header_are_skipped(tmp_path, capsys):
    # main: "line 3 has 35 fields, the header 0"
    lb = tmp_path / "blank.csv"
    lb.write_text("\n\n" + MINI_LB.read_text())
    rc, out, err = cli(capsys, "rank", "-l", lb, "-f", "csv")
    assert rc == 0 and err == ""
    assert out == cli(capsys, "rank", "-l", MINI_LB, "-f", "csv")[1].replace(str(MINI_LB), str(lb))


def test_values_near_the_float_limit_rank_without_warnings(tmp_path, capsys):
    # main: numpy's "overflow encountered in square" and "parameters_m has fewer than 2 values"
    lb = tmp_path / "big.csv"
    f = pd.read_csv(MINI_LB)
    f.loc[f["model"] == "mini-bcos-cnn", "parameters_m"] = 1e308
    f.to_csv(lb, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rc, out, err = cli(capsys, "rank", "-l", lb, "-w", "acc,params", "-f", "json")
    assert rc == 0 and err == ""
    ranking = json.loads(out)["ranking"]
    assert ranking[-1]["model"] == "mini-bcos-cnn" and all(np.isfinite(r["quba"]) for r in ranking)
    rc, table, err = cli(capsys, "rank", "-l", lb, "-w", "acc,params")
    assert "1e+308" in table and max(len(ln) for ln in table.splitlines()) <= 120


# =========================================================================== 7: sweep state files
DAMAGE = {
    "random bytes": lambda p: p.write_bytes(bytes(range(256)) * 3),
    "truncated": lambda p: p.write_text('{"model": "m", "err'),
    "wrong shape": lambda p: p.write_text('{"models": [1, 2], "runs": "x"}'),
    "a list": lambda p: p.write_text("[1, 2]"),
    "folder": lambda p: p.mkdir(),
    "fifo": lambda p: os.mkfifo(p),
}


def _a_failed_sweep(out: Path) -> None:
    """sweep.json and a failure file as the driver leaves them when model m failed."""
    S.update_state(out, "fake", lambda s: s["models"].update({"m": {"state": "planned"}, "ok": {"state": "done"}}))
    S.write_failure(out, "fake", "m", {"model": "m", "error": "RuntimeError: boom", "stage": "evaluate"})
    S.mark(out, "fake", "m", state="failed", reason="RuntimeError: boom", stage="evaluate", host="h")


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_failure_file_still_leaves_its_model_failed(tmp_path, capsys, no_hang, how):
    # main: truncated/folder -> --retry-failed "no failed models" while --status showed one; bytes -> traceback
    _a_failed_sweep(tmp_path)
    path = S.failure_path(tmp_path, "fake", "m")
    path.unlink()
    DAMAGE[how](path)
    failed = S.failed_models(tmp_path, "fake")
    assert list(failed) == ["m"] and failed["m"]["error"] == "RuntimeError: boom"
    assert f"failure file {path}" in one_line(capsys.readouterr().err)
    S.clear_failure(tmp_path, "fake", "m")  # the model then succeeds
    err = capsys.readouterr().err
    assert not path.exists() if how != "folder" else "could not remove" in one_line(err)
    assert S.write_failure(tmp_path, "fake", "m", {"model": "m"}) is None or how != "folder"


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_sweep_state_is_one_line_and_a_sweep_starts_it_afresh(tmp_path, capsys, no_hang, how):
    # main: UnicodeDecodeError traceback, the sweep could not resume; wrong shape: traceback in --status
    _a_failed_sweep(tmp_path)
    path = S.state_path(tmp_path, "fake")
    path.unlink()
    DAMAGE[how](path)
    rc, out, err = cli(capsys, "sweep", "--status", "--output", tmp_path, "--suite", "fake")
    assert rc == 2 and out == "" and str(path) in one_line(err)
    if how in ("folder", "fifo"):
        with pytest.raises(QubaError, match="move it away"):
            S.update_state(tmp_path, "fake", lambda s: None)
        return
    S.update_state(tmp_path, "fake", lambda s: s["models"].update({"n": {"state": "done"}}))
    assert "started afresh" in one_line(capsys.readouterr().err)
    rc, out, err = cli(capsys, "sweep", "--status", "--output", tmp_path, "--suite", "fake")
    assert rc == 0 and "1 model(s)" in out
    assert list(S.failed_models(tmp_path, "fake")) == ["m"]  # its failure file is intact


@pytest.mark.parametrize("what", ["sweep state", "failures file", "models file"])
def test_sweep_cli_with_damaged_state_files(tmp_path, capsys, no_hang, quba_cache, what):
    # main: --retry-failed said "no failed models" (rc 0) for a truncated failure file; random bytes: traceback
    if what == "models file":
        mf = tmp_path / "models.txt"
        os.mkfifo(mf)
        rc, out, err = cli(capsys, "sweep", "--models-file", mf, "--output", tmp_path)
        assert rc == 2 and "named pipe" in one_line(err)
        return
    out_dir = tmp_path / "out"
    gone = str(tmp_path / "gone.py") + ":build"  # a failed model that fails again at once (its file is gone)
    S.update_state(out_dir, "mini", lambda s: s["models"].update({gone: {"state": "planned"}}))
    S.write_failure(out_dir, "mini", gone, {"model": gone, "error": "RuntimeError: boom", "stage": "evaluate"})
    S.mark(out_dir, "mini", gone, state="failed", reason="RuntimeError: boom", stage="evaluate")
    target = S.state_path(out_dir, "mini") if what == "sweep state" else S.failure_path(out_dir, "mini", gone)
    target.write_bytes(bytes(range(256)) * 2)
    rc, out, err = cli(capsys, "sweep", "--retry-failed", "--dims", "accuracy", "--output", out_dir, "--no-progress")
    assert rc == 1 and "Traceback" not in err and "1 failed" in out, (out, err)  # found, retried, failed again
    assert "does not exist" in S.failed_models(out_dir, "mini")[gone]["error"]
    warned = [ln for ln in err.splitlines() if ln.startswith("quba: warning")]
    assert len(warned) == 1 and ("started afresh" if what == "sweep state" else "failure file") in warned[0]


# =========================================================================== 8, 12: models that exit or interrupt
class Leaves(BrightnessNet):
    def __init__(self, how):
        super().__init__()
        self.how = how

    def forward(self, x):
        if self.how == "exit 0":
            sys.exit(0)
        if self.how == "exit message":
            raise SystemExit("bye")
        raise KeyboardInterrupt


@pytest.mark.parametrize("how", ["exit 0", "exit message", "keyboard interrupt"])
def test_a_forward_that_exits_or_interrupts_is_one_line_naming_the_model(tmp_path, quba_cache,
                                                                         how):
    # main: sys.exit(0) -> rc 0, nothing printed, no record; KeyboardInterrupt -> "interrupted", rc 130
    from quba.errors import interrupts_watched

    # as the CLI and sweep tasks do: a KeyboardInterrupt without a Ctrl-C is the model's
    with interrupts_watched(), pytest.raises(QubaError) as exc:
        A.evaluate(LoadedModel(id="leaver", module=Leaves(how)), FakeSuite(), ["accuracy"], output=tmp_path / "res",
                   bootstrap=0, progress=False)
    msg = str(exc.value)
    assert "'leaver'" in msg and "forward pass" in msg and "\n" not in msg
    assert ("sys.exit" in msg) == how.startswith("exit") and ("KeyboardInterrupt" in msg) != how.startswith("exit")
    assert not (tmp_path / "res").exists()


def test_a_keyboard_interrupt_is_a_real_one_when_ctrl_c_is_not_watched(tmp_path, quba_cache):
    """In a notebook (its own SIGINT handling), quba cannot tell: the interrupt goes through."""
    assert signal.getsignal(signal.SIGINT) is not errors._note_sigint  # nothing left behind by the CLI tests
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)  # a notebook's own handler
    try:
        with pytest.raises(KeyboardInterrupt):
            A.evaluate(LoadedModel(id="leaver", module=Leaves("kbd")), FakeSuite(), ["accuracy"], output=None,
                       bootstrap=0, progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("watched", [False, True])
def test_with_sigint_ignored_a_keyboard_interrupt_is_the_models(tmp_path, quba_cache, watched):
    """Started as `nohup quba ... &` from a script, SIGINT is ignored: no Ctrl-C can arrive, so a
    KeyboardInterrupt is the model's own and is one line naming it, watched or not."""
    from quba.errors import interrupts_watched

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with (interrupts_watched() if watched else contextlib.nullcontext()), pytest.raises(QubaError) as exc:
            A.evaluate(LoadedModel(id="leaver", module=Leaves("kbd")), FakeSuite(), ["accuracy"], output=None,
                       bootstrap=0, progress=False)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # left ignored, not taken over
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "'leaver'" in str(exc.value) and "KeyboardInterrupt" in str(exc.value)


MODEL_PY = textwrap.dedent('''
    import sys, time
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self, how=None, seed=0):
            super().__init__()
            torch.manual_seed(seed)
            self.l = nn.Linear(3, 12)
            self.how = how

        def forward(self, x):
            if self.how == "exit":
                sys.exit(0)
            if self.how == "kbd":
                raise KeyboardInterrupt
            if self.how == "slow":
                time.sleep(0.5)
            return self.l(x.mean(dim=(2, 3)))

    def good():
        return M(seed=1)

    def exits():
        return M("exit", seed=2)

    def interrupts():
        return M("kbd", seed=3)

    def slow():
        return M("slow", seed=4)

    def exits_on_import_build():
        sys.exit(3)

    def meta():
        with torch.device("meta"):
            return M()

    def not_callable_preprocess():
        return M(), 5

    def raising_preprocess():
        def pre(img):
            raise ValueError("cannot resize this")
        return M(seed=5), pre

    def exiting_preprocess():
        def pre(img):
            sys.exit(1)
        return M(seed=6), pre
''')


@pytest.fixture
def model_py(tmp_path):
    f = tmp_path / "models.py"
    f.write_text(MODEL_PY)
    return f


CANNOT_RUN = [
    ("exits", "called sys.exit(0) in the forward pass"),
    ("interrupts", "raised KeyboardInterrupt in the forward pass"),
    ("exits_on_import_build", "exits_on_import_build() in"),
    ("meta", "weights on the 'meta' device"),
    ("not_callable_preprocess", "not a function of an image"),
    ("raising_preprocess", "its preprocess raised ValueError on image 0: cannot resize this"),
    ("exiting_preprocess", "its preprocess called sys.exit(1) on image 0"),
]


@pytest.mark.parametrize("fn, words, workers", [(*c, "0") for c in CANNOT_RUN]
                         + [(*c, "1") for c in CANNOT_RUN if "preprocess" in c[0]])  # in a DataLoader worker
def test_models_that_exit_or_cannot_run_are_one_line(quba_cache, tmp_path, capsys, model_py, fn,
                                                     words, workers):
    # main: silent rc 0; rc 130; NotImplementedError / TypeError / ValueError tracebacks
    rc, out, err = cli(capsys, "evaluate", "--model", f"{model_py}:{fn}", "--dims", "accuracy", "--bootstrap", "0",
                       "--output", tmp_path / "res", "--no-progress", "--loader-workers", workers)
    line = one_line(err)
    assert rc == 2 and words in line, line
    assert not list((tmp_path / "res").rglob("*.json"))


@pytest.mark.slow
def test_a_sweep_records_a_model_that_exits_or_interrupts_as_its_failure(quba_cache, tmp_path, capsys,
                                                                         model_py):
    # main: the KeyboardInterrupt ended the whole sweep (rc 130), and every rerun repeated it
    models = [f"{model_py}:{f}" for f in ("exits", "interrupts", "good")]
    argv = ["sweep", *models, "--dims", "accuracy", "--bootstrap", "0", "--no-progress", "--output", tmp_path / "o"]
    rc, out, err = cli(capsys, *argv)
    assert rc == 1 and "1 done" in out and "2 failed" in out, err
    failed = S.failed_models(tmp_path / "o", "mini")
    assert set(failed) == set(models[:2])
    assert "sys.exit(0)" in failed[models[0]]["error"] and "KeyboardInterrupt" in failed[models[1]]["error"]
    rc, out, err = cli(capsys, *argv, "--retry-failed")
    assert rc == 1 and "2 failed" in out and "0 done" in out  # the same failures, not an interrupted sweep


@pytest.mark.slow
def test_ctrl_c_still_stops_a_sweep(quba_cache, tmp_path, model_py):
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "quba", "sweep", f"{model_py}:slow", f"{model_py}:good",
                             "--dims", "accuracy", "--bootstrap", "0", "--no-progress", "--output", str(out)],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a terminal, even when these tests run in the background (SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the slow model's forward passes are under way
        try:
            if json.loads(S.state_path(out, "mini").read_text())["models"][f"{model_py}:slow"]["state"] == "running":
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err
    assert S.failed_models(out, "mini") == {}  # the user's interrupt is no model's failure
    assert not (out / "mini" / "records").exists()


# =========================================================================== 10: a named pipe where quba reads
def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    os.mkfifo(path)
    return path


def test_fifo_record(results, capsys, no_hang):
    _fifo(results / "records" / "mini-cnn-adv.json")
    rc, out, err = cli(capsys, "leaderboard", "--records-only", "--suite", "mini", "--output", results.parent)
    assert rc == 2 and "mini-cnn-adv.json is a named pipe (FIFO), not a file" in one_line(err)


def test_fifo_record_on_evaluate(tmp_path, capsys, no_hang, quba_cache, model_py):
    _fifo(R.record_path(tmp_path / "res", "mini", f"{model_py}:good"))
    rc, out, err = cli(capsys, "evaluate", "--model", f"{model_py}:good", "--dims", "accuracy", "--bootstrap", "0",
                       "--output", tmp_path / "res", "--no-progress")
    assert rc == 2 and "named pipe" in one_line(err) and "move it away" in err


@pytest.mark.parametrize("what", ["leaderboard", "its checksum", "reference", "run log", "lock file"])
def test_fifo_beside_results(results, capsys, no_hang, quba_cache, what):
    lb = results / "leaderboard.csv"
    if what == "leaderboard":
        _fifo(results / "mine.csv")
        rc, out, err = cli(capsys, "rank", "-l", results / "mine.csv")
        assert rc == 2 and "is a named pipe (FIFO), not a file" in one_line(err)
    elif what == "its checksum":
        _fifo(checksum_path(lb))
        rc, out, err = cli(capsys, "rank", "-l", lb, "-f", "csv")  # no usable checksum: read as it is
        assert rc == 0 and err == ""
    elif what == "reference":
        _fifo(results / "ref.csv")
        rc, out, err = cli(capsys, "rank", "-l", lb, "--reference-population", results / "ref.csv")
        assert rc == 2 and "ref.csv' is a named pipe (FIFO), not a file" in one_line(err)
    elif what == "run log":
        rec = json.loads((results / "records" / "mini-cnn-adv.json").read_text())
        _fifo(R.run_log_path(results / "records" / "mini-cnn-adv.json"))
        R.write_record(results.parent, rec)
        assert "run log" in one_line(capsys.readouterr().err)
    else:
        _fifo(results / "records" / ".mini-cnn-adv.json.lock")
        rec = json.loads((results / "records" / "mini-cnn-adv.json").read_text())
        with pytest.raises(QubaError, match=r"lock file .*\.mini-cnn-adv\.json\.lock cannot be opened"):
            R.write_record(results.parent, rec)


@pytest.mark.parametrize("what", ["custom model", "checkpoint", "plugin", "hierarchy", "prediction cache"])
def test_fifo_inputs_of_a_run(tmp_path, capsys, no_hang, quba_cache, model_py, what):
    if what == "custom model":
        f = _fifo(tmp_path / "m.py")
        rc, out, err = cli(capsys, "evaluate", "--model", f"{f}:build", "--output", tmp_path / "r")
        assert rc == 2 and "named pipe" in one_line(err)
    elif what == "checkpoint":
        f = _fifo(tmp_path / "w.pt")
        rc, out, err = cli(capsys, "evaluate", "--checkpoint", f, "--arch", "resnet18", "--output", tmp_path / "r")
        assert rc == 2 and "w.pt' is a named pipe (FIFO), not a file" in one_line(err)
    elif what == "plugin":
        f = _fifo(tmp_path / "p.py")
        rc, out, err = cli(capsys, "evaluate", "mini-cnn-standard", "--plugin", f, "--output", tmp_path / "r")
        assert rc == 2 and "p.py is a named pipe (FIFO), not a file" in one_line(err)
    elif what == "hierarchy":
        from quba.metrics.certification import load_hierarchy_json

        with pytest.raises(QubaError, match="named pipe"):
            load_hierarchy_json(_fifo(tmp_path / "h.json"), ["a", "b"])
    else:  # every cache file of the run is a pipe: treated as missing, recomputed, one warning
        first = _evaluate(None, "m")
        for p in quba_cache.rglob("*.npz"):
            _fifo(p)
        again = _evaluate(None, "m")
        assert again["dimensions"] == first["dimensions"]
        assert "not a regular file" in one_line(capsys.readouterr().err)


# =========================================================================== 11: a full disk
def _can_mount() -> str | None:
    """Why a small tmpfs cannot be mounted here (None: it can)."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    probe = Path(__import__("tempfile").mkdtemp(prefix="quba-mount-probe-"))
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(probe)], capture_output=True)
        if r.returncode:
            return f"mount -t tmpfs failed ({r.stderr.decode(errors='replace').strip()})"
        subprocess.run(["umount", str(probe)], check=True)
        return None
    except OSError as exc:
        return f"no mount command ({exc})"
    finally:
        probe.rmdir()


PAGE = 4096


@pytest.fixture
def small_disk(tmp_path):
    """A real 128 KiB filesystem (tmpfs) and a way to fill it up to `free` bytes. Where this
    session cannot mount one, the tests with injected ENOSPC below still cover the messages."""
    why = _can_mount()
    if why:
        pytest.skip(f"{why}; the ENOSPC-injection tests cover the same messages")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mnt)], check=True)

    def fill(free: int = 0) -> None:
        filler = mnt / "filler"
        filler.unlink(missing_ok=True)
        avail = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        with open(filler, "wb") as fh:
            fh.write(b"\0" * max(0, avail - free))

    def free_all() -> None:
        (mnt / "filler").unlink(missing_ok=True)

    yield mnt, fill, free_all
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_after_the_record_names_what_failed(small_disk, tmp_path, capsys, quba_cache):
    # main: "cannot write the record" although the record was written; then the leaderboard kept 3 of 4 rows
    mnt, fill, free_all = small_disk
    out = mnt / "res"
    for i in range(3):  # sharper models: other calibration errors
        _evaluate(out, f"m{i}", seed=i, dims=("accuracy", "calibration"), sharpness=100.0 + 50 * i)
    fill(free=PAGE)  # one page: the record fits, its run log and the leaderboard do not
    with pytest.raises(QubaError) as exc:
        _evaluate(out, "m3", seed=3, dims=("accuracy", "calibration"), sharpness=250.0)
    assert str(exc.value).startswith(f"cannot write the leaderboard {out / 'fake' / 'leaderboard.csv'} "
                                      "(No space left on device)")
    assert R.read_record(R.record_path(out, "fake", "m3"))["model"] == "m3"  # the record is whole
    err = one_line(capsys.readouterr().err)
    assert "the record" in err and "was written, but its run log" in err and "No space left on device" in err
    lb = out / "fake" / "leaderboard.csv"
    assert len(pd.read_csv(lb)) == 3  # stale, with a valid checksum ...
    rc, stdout, stderr = cli(capsys, "rank", "-l", lb, "-w", "ece")
    assert rc == 2 and stdout == "" and "cannot write the leaderboard" in one_line(stderr)  # ... never ranked
    free_all()
    rc, stdout, stderr = cli(capsys, "rank", "-l", lb, "-w", "ece", "-f", "json")
    assert rc == 0 and "older than the records" in one_line(stderr), stderr
    assert {r["model"] for r in json.loads(stdout)["ranking"]} == {"m0", "m1", "m2", "m3"}


def test_full_cache_disk_is_one_warning_per_run(small_disk, tmp_path, capsys, monkeypatch):
    # main: 224 (here up to 300) warning lines for one evaluation
    mnt, fill, _ = small_disk
    monkeypatch.setenv("QUBA_CACHE", str(mnt / "cache"))
    (mnt / "cache").mkdir()
    fill(free=0)
    rec = _evaluate(None, "m", dims=("accuracy", "corruption"))
    assert rec["dimensions"]["corruption_robustness"]["value"] > 0
    line = one_line(capsys.readouterr().err)
    assert line.startswith("quba: warning: could not write the prediction-cache file") and \
        "(No space left on device)" in line and "not reported" in line


def test_injected_enospc_on_every_cache_write_is_one_warning(tmp_path, capsys, monkeypatch, quba_cache):
    from quba import integrity

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(integrity, "replace_file", full)
    _evaluate(None, "m", dims=("accuracy", "corruption"))
    assert "No space left on device" in one_line(capsys.readouterr().err)


def test_injected_enospc_on_the_run_log_is_a_warning_not_a_lost_record(tmp_path, capsys, monkeypatch, quba_cache):
    import builtins

    real_open = builtins.open

    def full_for_logs(file, mode="r", *a, **k):
        if str(file).endswith(".runs.jsonl") and "a" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", full_for_logs)
    rec = _evaluate(tmp_path / "res", "m")
    assert R.read_record(rec["path"])["dimensions"]["accuracy"]["value"] == rec["dimensions"]["accuracy"]["value"]
    assert "was written, but its run log" in one_line(capsys.readouterr().err)


# =========================================================================== 13: what a message blames
@pytest.mark.parametrize("what", ["lock file", "run log"])
def test_a_folder_in_place_of_a_helper_file_is_named_not_the_record(tmp_path, capsys, quba_cache, what):
    # main: "cannot write the record ... (Is a directory)" for the lock file or runs.jsonl
    path = R.record_path(tmp_path / "res", "fake", "m")
    helper = path.with_name(f".{path.name}.lock") if what == "lock file" else R.run_log_path(path)
    helper.mkdir(parents=True)
    if what == "lock file":
        with pytest.raises(QubaError) as exc:
            _evaluate(tmp_path / "res", "m")
        assert f"its lock file {helper} cannot be opened" in str(exc.value)
    else:
        rec = _evaluate(tmp_path / "res", "m")
        assert R.read_record(rec["path"])["model"] == "m"
        assert f"its run log {helper.name} could not take this run" in capsys.readouterr().err


@pytest.mark.parametrize("command, options", [("evaluate", "--batch-size, --subset or --bootstrap"),
                                              ("recommend", "--samples or --stability"),
                                              ("rank", "--sensitivity or --stability")])
def test_out_of_memory_advice_names_only_the_commands_own_options(capsys, monkeypatch, command, options):
    import quba.cli.evaluate as ev
    import quba.cli.rank as rk
    import quba.cli.recommend as rc_

    def oom(args):
        raise MemoryError

    for mod in (ev, rk, rc_):
        monkeypatch.setattr(mod, "run", oom)
    rc, out, err = cli(capsys, command, *(["mini-cnn-standard"] if command == "evaluate" else []))
    assert rc == 2 and one_line(err) == f"quba: error: out of memory; use a smaller {options}"


@pytest.mark.slow
def test_suite_generator_processes_leave_the_cache_warning_to_the_parent(tmp_path):
    """The mini suite's generator processes (one per core) each found the full cache: 3 warnings for
    one run. They stay quiet; the parent, finding the files missing, writes them and warns once."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    code = ("from quba.suites.mini_cache import _generate_into_cache; "
            f"print(_generate_into_cache((0, 'ood/edge', {str(blocked / 'suite')!r})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ood/edge" and r.stderr == "", r.stderr


def test_a_current_leaderboard_is_read_without_taking_its_lock(results, capsys):
    """Checking it against newer records only reads (a read-only results folder stays rankable)."""
    lb = results / "leaderboard.csv"
    for rec in (results / "records").glob("*.json"):
        os.utime(rec, (time.time() + 60, time.time() + 60))  # newer than the leaderboard, same values
    lock = results / ".leaderboard.csv.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()  # taking the lock would fail
    before = lb.read_bytes(), lb.stat().st_mtime_ns
    rc, out, err = cli(capsys, "rank", "-l", lb, "-w", "acc", "-f", "csv")
    assert rc == 0 and err == "" and (lb.read_bytes(), lb.stat().st_mtime_ns) == before
