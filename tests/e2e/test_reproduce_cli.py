"""`quba reproduce` and `quba leaderboard --against`: the reproduction report's table, CSV (formula
cells neutralised) and JSON, and its bad input (quba/ranking/reproduction.py)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cli_run import cli
from paper_records import record as _record
from paper_records import write as _write
from quba.ranking import reproduction as R

ROOT = Path(__file__).resolve().parents[2]


def test_cli_table_csv_json_and_formula_cells(tmp_path, capsys):
    out = _write(tmp_path, _record("ResNet50", {"accuracy": (0.76, 0.75, 0.77),
                                                "adversarial_robustness": (0.30, 0.28, 0.32)}, protocol="quba"),
                 _record("=HYPERLINK(1)", {"accuracy": (0.5, 0.4, 0.6)}))
    lb = tmp_path / "lb.csv"
    lb.write_text("model,accuracy\n=HYPERLINK(1),0.5\nResNet50,0.7613\n")
    rc, text, err = cli(capsys, "reproduce", "-o", out)
    assert rc == 0, err
    lines = text.splitlines()
    assert lines[0] == f"Reproduction against the paper's leaderboard (records: {out / 'imagenet' / 'records'})"
    row = next(line for line in lines if line.startswith("ResNet50"))
    assert "0.7600" in row and "[0.7500, 0.7700]" in row and "0.7613" in row and "-0.0013" in row and "yes" in row
    adv = next(line for line in lines if "adversarial_robustness" in line)
    assert "quba protocol, paper's rows: paper" in adv and " no " in adv
    assert "without a row: =HYPERLINK(1)" in text
    rc, text, _ = cli(capsys, "reproduce", "-o", out, "--against", lb, "--format", "csv")
    assert rc == 0
    got = list(csv.DictReader(io.StringIO(text)))
    assert list(got[0]) == list(R.CSV_COLUMNS)
    assert {r["model"] for r in got} == {"'=HYPERLINK(1)", "ResNet50"}  # a formula cell is neutralised
    rc, text, _ = cli(capsys, "reproduce", "-o", out, "--format", "json", "--models", "ResNet50")
    data = json.loads(text)
    assert data["models"] == ["ResNet50"] and data["summary"]["values"] == 2
    rc, _, err = cli(capsys, "reproduce", "-o", tmp_path / "empty")
    assert rc == 2 and err.startswith("quba: error: no records under") and len(err.splitlines()) == 1


def test_leaderboard_against_prints_the_report_after_writing(tmp_path, capsys):
    import shutil

    records = tmp_path / "mini" / "records"
    records.mkdir(parents=True)
    for m in ("mini-cnn-standard", "mini-cnn-shape"):
        shutil.copy(ROOT / "results" / "mini" / "records" / f"{m}.json", records)
    rc, text, err = cli(capsys, "leaderboard", "--suite", "mini", "--records-only", "-o", tmp_path,
                        "--against", "reference")
    assert rc == 0, err
    head, _, report = text.partition("Reproduction against mini_reference.csv")
    assert f"leaderboard: {tmp_path / 'mini' / 'leaderboard.csv'}" in head
    assert "18 of 18 published values inside the fresh 95% interval (18 of 18 like for like) over 2 model(s)" in report
    # a CSV that is not there fails before any evaluation, not after it
    rc, _, err = cli(capsys, "leaderboard", "--suite", "mini", "--models", "mini-cnn-standard", "-o", tmp_path / "x",
                     "--against", tmp_path / "nowhere.csv")
    assert rc == 2 and "--against" in err and "no such file" in err and not (tmp_path / "x").exists()
