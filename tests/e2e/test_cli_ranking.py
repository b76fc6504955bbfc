"""`quba rank`, `quba recommend`, `quba correlate`: outputs and every bad-input path."""
import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from quba import dimensions
from quba.cli import main
from quba.ranking.weights import PRESETS


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_rank_table_is_the_main_job(capsys):
    rc, out, err = run(capsys, "rank", "--top", "10")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("rank"))
    rows = lines[head + 1: head + 11]
    assert [r.split()[1] for r in rows[:3]] == ["EVA02-b-21k", "Hiera-B-Plus", "ConvNextV2-B-21k"]
    assert [int(r.split()[0]) for r in rows] == list(range(1, 11))
    assert len({len(r) for r in rows}) == 1  # fixed width
    assert "294 more ranked" in out
    assert "Not ranked (22" in out and "missing parameters_m (22)" in out and "CLIP-L14-OpenAI" in out
    assert "paper constants" in out


def test_rank_csv_columns_and_values(capsys):
    rc, out, _ = run(capsys, "rank", "--top", "5", "--format", "csv")
    assert rc == 0
    df = pd.read_csv(io.StringIO(out))
    expected = ["rank", "model", "quba"] + [c for d in dimensions.NINE for c in (d, f"{d}_z")]
    assert list(df.columns[: len(expected)]) == expected
    assert len(df) == 5 and df["model"].iloc[0] == "EVA02-b-21k"
    assert df["quba"].iloc[0] == pytest.approx(1.0737656098930344, abs=1e-12)


def test_rank_json_has_contributions_and_excluded(capsys):
    rc, out, _ = run(capsys, "rank", "--top", "3", "--format", "json", "--sensitivity", "100")
    assert rc == 0
    data = json.loads(out)
    assert len(data["ranking"]) == 3 and data["n_ranked"] == 304
    first = data["ranking"][0]
    assert sum(first["contributions"].values()) == pytest.approx(first["quba"])
    assert first["z"]["accuracy"] > 0 and first["values"]["parameters_m"] == 87.1
    assert len(data["excluded"]) == 22 and {"model", "reason"} <= set(data["excluded"][0])
    assert data["reference"]["dimensions"]["accuracy"]["source"] == "paper constants"
    assert data["sensitivity"]["samples"] == 100 and 0 <= first["p_rank1"] <= 1


def test_rank_sensitivity_table_and_renormalise_flag(capsys):
    rc, out, _ = run(capsys, "rank", "--top", "3", "--sensitivity", "200", "--seed", "3")
    assert rc == 0 and "P(#1)" in out and "P(top3)" in out and "seed 3" in out
    rc, out, _ = run(capsys, "rank", "--renormalise", "--name", "CLIP-L14*", "--format", "csv")
    df = pd.read_csv(io.StringIO(out))
    assert df["renormalised"].all() and len(df) == 4
    rc, out, _ = run(capsys, "rank", "--renormalise", "--name", "CLIP-L14*")
    assert "*" in out and "renormalised" in out


def test_rank_combines_leaderboards_with_a_source_column(tmp_path, capsys):
    mine = tmp_path / "mine.csv"
    pd.DataFrame({"model": ["MyNet"], "accuracy": [0.99]}).to_csv(mine, index=False)
    rc, out, _ = run(capsys, "rank", "-l", "reference", "-l", str(mine), "--weights", "accuracy", "--top", "2")
    assert rc == 0
    header = next(line for line in out.splitlines() if line.startswith("rank"))
    assert "leaderboard" in header.split() and "mine.csv" in out
    row = next(line for line in out.splitlines() if "MyNet" in line)
    assert row.split()[0] == "1"


def test_rank_with_a_mini_leaderboard_uses_its_own_population(tmp_path, capsys):
    p = tmp_path / "mini.csv"
    pd.DataFrame({"model": ["a", "b", "c"], "suite": "mini", "accuracy": [0.6, 0.7, 0.8],
                  "shape_bias": [0.5, 0.2, 0.3], "accuracy_lo": [0.55, 0.65, 0.75],
                  "accuracy_hi": [0.65, 0.75, 0.85], "source": "mini"}).to_csv(p, index=False)
    rc, out, _ = run(capsys, "rank", "-l", str(p), "--format", "json")
    data = json.loads(out)
    first = data["ranking"][0]
    assert first["ci"] == {"accuracy": [0.75, 0.85]} and first["source"] == "mini"
    assert "accuracy_lo" not in first
    assert data["suite"] == "mini" and data["reference"]["name"] == "leaderboard"
    assert set(data["weights"]) == {"accuracy", "shape_bias"}
    assert any("parameters_m" in n for n in data["notes"])


def test_recommend_reads_well(capsys):
    rc, out, err = run(capsys, "recommend", "--prefer", "calibration_error", "--max-params", "50",
                       "--samples", "300")
    assert rc == 0 and err == ""
    assert "calibration_error=3" in out
    lines = out.splitlines()
    assert sum(line.startswith("   strengths:") for line in lines) == 3
    assert sum(line.startswith("   weaknesses:") for line in lines) == 3
    assert "vs the most accurate candidate" in out and "gives up:" in out and "gains:" in out
    assert "Weight sensitivity (300" in out and "P(rank 1):" in out and "P(top 3):" in out
    rc, out, _ = run(capsys, "recommend", "--preset", "robustness", "--top", "2", "--format", "json",
                     "--samples", "50")
    data = json.loads(out)
    assert len(data["ranking"]) == 2 and "strengths" in data["ranking"][0]
    assert data["weights_label"] == "preset robustness"


def test_correlate_table_and_csv(capsys):
    rc, out, _ = run(capsys, "correlate")
    assert rc == 0 and "Spearman" in out and "***" in out and "n = 304-326" in out
    rc, out, _ = run(capsys, "correlate", "--format", "csv", "--dims", "acc,ood,shape", "--architecture", "cnn")
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == ["dim_a", "dim_b", "rho", "p_value", "n"] and len(df) == 3


@pytest.mark.parametrize("command", ["rank", "recommend"])
def test_help_documents_presets(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    for name in PRESETS:
        assert name in out
    assert "calibration_error=2" in out  # the trustworthy preset's weights are spelt out
    assert "exact value" in out or "equal to the query" in out


def test_correlate_help(capsys):
    with pytest.raises(SystemExit):
        main(["correlate", "--help"])
    assert "spearmanr" in capsys.readouterr().out


BAD = [
    (["rank", "--weights", "acuracy=1"], "did you mean: accuracy"),
    (["rank", "--preset", "robust"], "did you mean: robustness"),
    (["rank", "--weights", "accuracy=-1"], "negative"),
    (["rank", "--weights", "accuracy=0,shape_bias=0"], "all weights are zero"),
    (["rank", "--weights", "accuracy=lots"], "not a number"),
    (["rank", "--leaderboard", "/nonexistent/board.csv"], "not found"),
    (["rank", "--name", "nothing-like-this"], "no model is left"),
    (["rank", "--max-params", "0"], "positive"),
    (["rank", "--max-params", "abc"], "invalid float"),
    (["rank", "--architecture", "transfomer"], "did you mean: Transformer"),
    (["rank", "--format", "xml"], "invalid choice"),
    (["rank", "--top", "0"], "--top"),
    (["rank", "--reference-population", "/nonexistent/ref.csv"], "neither 'paper'"),
    (["rank", "--sensitivity", "10", "--concentration", "0"], "concentration"),
    (["rank", "--leaderboard", "reference", "--suite", "mini"], "no rows of suite"),
    (["recommend", "--prefer", "calibraton"], "did you mean"),
    (["recommend", "--prefer", "accuracy=-2"], ">= 0"),
    (["recommend", "--samples", "0"], "samples"),
    (["recommend", "--preset", "nope"], "unknown preset"),
    (["correlate", "--dims", "accuracy,foo"], "unknown dimension"),
    (["correlate", "--dims", "accuracy"], "at least two"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("content, message", [
    ("name,accuracy\nx,0.5\n", "no 'model' column"),
    ("model,color\nx,red\n", "no dimension columns"),
    ("", "empty"),
])
def test_bad_leaderboard_files_via_cli(tmp_path, capsys, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    rc, out, err = run(capsys, "rank", "--leaderboard", str(p))
    assert rc == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_mixed_suites_via_cli(tmp_path, capsys):
    p = tmp_path / "mini.csv"
    pd.DataFrame({"model": ["a", "b"], "suite": "mini", "accuracy": [0.1, 0.2]}).to_csv(p, index=False)
    rc, out, err = run(capsys, "rank", "-l", "reference", "-l", str(p))
    assert rc == 2 and "--suite" in err
    rc, out, err = run(capsys, "rank", "-l", str(p), "--reference-population", "paper")
    assert rc == 2 and "ImageNet suite" in err


def test_console_entry_point_exits_2_without_traceback():
    """One real process: the installed entry point behaves like main()."""
    proc = subprocess.run([sys.executable, "-m", "quba", "rank", "--preset", "efficent"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("quba: error: unknown preset 'efficent' (did you mean: efficient?); known: "
                                   + ", ".join(PRESETS))
    proc = subprocess.run([sys.executable, "-m", "quba", "rank", "--top", "3", "--format", "csv"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.splitlines()[1].startswith("1,EVA02-b-21k,")


def test_ranks_a_leaderboard_written_by_the_store(tmp_path, capsys):
    """The store's leaderboard format (model, suite, dims, <dim>_lo/_hi, metadata) ranks as is."""
    from quba.store.leaderboard import leaderboard_frame

    records = [
        {"model": name, "suite": "mini",
         "dimensions": {"accuracy": {"value": acc, "lo": acc - 0.01, "hi": acc + 0.01},
                        "calibration_error": {"value": ece, "lo": None, "hi": None}},
         "metadata": {"architecture": arch, "source": "mini"}, "provenance": {"subset": None, "quba": "0.1.0"}}
        for name, acc, ece, arch in [("m-cnn", 0.8, 0.02, "CNN"), ("m-vit", 0.7, 0.01, "Transformer"),
                                     ("m-mlp", 0.5, 0.05, "MLP")]
    ]
    path = tmp_path / "mini" / "leaderboard.csv"
    path.parent.mkdir()
    leaderboard_frame(records).to_csv(path, index=False, float_format="%.6g")
    rc, out, err = run(capsys, "rank", "-l", str(path), "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["suite"] == "mini" and data["reference"]["name"] == "leaderboard"
    assert [r["model"] for r in data["ranking"]][-1] == "m-mlp"
    assert data["ranking"][0]["architecture"] in {"CNN", "Transformer"}
    rc, out, err = run(capsys, "rank", "-l", str(path), "--architecture", "cnn")
    assert rc == 0 and "m-cnn" in out and "m-vit" not in out


def test_rank_suite_mini_ranks_the_shipped_mini_reference(capsys):
    """`quba rank --suite mini` without --leaderboard: the mini zoo's shipped reference, every
    classifier of the mini zoo (CoDA-Net and TokenFormers included), normalised by itself."""
    import csv

    from quba.zoo.mini import catalog_rows

    assert main(["rank", "--suite", "mini", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    ids = {r["id"] for r in catalog_rows() if (r.get("task") or "classification") == "classification"}
    assert {r["model"] for r in rows} == ids
    assert {"mini-coda", "mini-tokenformer-m", "mini-tokenformer-m-scratch"} <= ids
