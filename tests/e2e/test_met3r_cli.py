"""`quba consistency`: QUBA-mini pairs, a pairs folder, records, and bad input."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from quba.cli import main
from quba import met3r as E

torch.set_num_threads(1)


def run(capsys, *args):
    code = main(["consistency", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_mini_json_reports_both_directions(capsys):
    code, out, err = run(capsys, "mini", "--limit", "3", "--format", "json", "--no-progress", "--features",
                         "procedural")
    assert code == 0, err
    r = json.loads(out)
    assert r["pairs_count"] == 3 and len(r["pairs"]) == 3
    for p in r["pairs"]:
        assert {"forward", "backward", "mean", "kind", "change"} <= set(p)
        assert p["mean"] == pytest.approx((p["forward"] + p["backward"]) / 2)
        assert p["kind"] == "consistent" and p["mean"] < 0.1
    assert r["met3r"] == pytest.approx(np.mean([p["mean"] for p in r["pairs"]]))
    assert r["groups"][0]["kind"] == "consistent"


def write_pairs(root, n_same=1, n_changed=1):
    """Pair folders from QUBA-mini's first consistent pair: unchanged, and with view 2 inverted."""
    ids, v1, v2, geos, meta = E.suite_pairs("mini", 0)
    i = int(np.flatnonzero(meta["kind"] == "consistent")[0])
    m = meta
    for k in range(n_same + n_changed):
        d = root / f"pair_{k:02d}"
        d.mkdir(parents=True)
        second = v2[i] if k < n_same else 255 - v2[i]
        Image.fromarray(v1[i].transpose(1, 2, 0)).save(d / "view1.png")
        Image.fromarray(np.ascontiguousarray(second.transpose(1, 2, 0))).save(d / "view2.png")
        np.savez(d / "geometry.npz", depth1=m["depth1"][i], depth2=m["depth2"][i], K=m["K"][i], T_21=m["T_21"][i])
    return root


def test_pairs_folder_table_json_and_record(tmp_path, capsys):
    root = write_pairs(tmp_path / "pairs")
    code, out, err = run(capsys, str(root), "--format", "json", "--no-progress", "--record", "gen-a", "--output",
                         str(tmp_path / "res"), "--json", str(tmp_path / "r.json"), "--bootstrap", "20")
    assert code == 0, err
    r = json.loads(out)
    same, changed = r["pairs"]
    assert same["pair"] == "pair_00" and same["mean"] < 0.05 and changed["mean"] > 0.5
    assert json.loads((tmp_path / "r.json").read_text())["met3r"] == pytest.approx(r["met3r"])
    rec = json.loads((tmp_path / "res" / "pairs" / "records" / "gen-a.json").read_text())
    assert rec["dimensions"]["met3r"]["value"] == pytest.approx(r["met3r"])
    assert "met3r" in (tmp_path / "res" / "pairs" / "leaderboard.csv").read_text().splitlines()[0]
    code, out, err = run(capsys, str(root), "--no-progress")
    assert code == 0 and "pair_01" in out and "MEt3R over 2 pairs" in out


def test_bad_input_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, str(tmp_path / "missing"), "--no-progress")
    assert code == 2 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, str(tmp_path / "empty"), "--no-progress")
    assert code == 2 and "no pairs" in err
    root = write_pairs(tmp_path / "p", 1, 0)
    (root / "pair_00" / "geometry.npz").unlink()
    code, _, err = run(capsys, str(root), "--no-progress")
    assert code == 2 and "geometry.npz" in err
    np.savez(root / "pair_00" / "geometry.npz", depth1=np.ones((3, 3)), depth2=np.ones((3, 3)), K=np.eye(3),
             T_21=np.eye(4))
    code, _, err = run(capsys, str(root), "--no-progress")
    assert code == 2 and "depth1 has shape" in err
    (root / "pair_00" / "view2.png").unlink()
    code, _, err = run(capsys, str(root), "--no-progress")
    assert code == 2 and "no view2" in err
    code, _, err = run(capsys, "mini", "--limit", "0")
    assert code == 2 and "--limit" in err
    code, _, err = run(capsys, "mini", "--geometry", "dust3r")
    assert code == 2 and "module:factory" in err
    assert "Traceback" not in err
