"""The shipped paper leaderboard (quba/data/quba_paper_results.csv) against the authors' project page
(tests/data/quba_project_page.csv, see tests/data/README.md): every row, every value."""
import csv
from pathlib import Path

from quba.paths import data_file

PAGE = Path(__file__).resolve().parents[1] / "data" / "quba_project_page.csv"
VALUES = ["accuracy", "adversarial_robustness", "corruption_robustness", "ood_robustness", "calibration_error",
          "class_balance", "object_focus", "shape_bias", "parameters_m"]
#: the page swaps these two display names (ViT-b/32 has 88 M parameters, ViT-l/16 304 M)
PAGE_SWAP = {"ViT-b/32": "ViT-l/16", "ViT-l/16": "ViT-b/32"}


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _match():
    """(paper row, page row) pairs: same display name (page swap undone), a title that starts with the
    paper's (truncated) title, the k-th such page row for the k-th such paper row."""
    page = _rows(PAGE)
    for i, p in enumerate(page):
        if p["title"].startswith("How to train your ViT") and p["display_name"].strip() in PAGE_SWAP \
                and "21k" in p["dataset"]:
            p["display_name"] = PAGE_SWAP[p["display_name"].strip()]
    used, pairs = set(), []
    for r in _rows(data_file("quba_paper_results.csv")):
        hits = [i for i, p in enumerate(page) if i not in used and p["display_name"].strip() == r["display_name"]
                and p["title"].startswith(r["paper_title"].rstrip())]
        assert hits, f"no page row for {r['model']} ({r['display_name']})"
        used.add(hits[0])
        pairs.append((r, page[hits[0]]))
    return pairs


def test_every_row_matches_the_project_page():
    pairs = _match()
    assert len(pairs) == 326
    for r, p in pairs:
        for k in VALUES:
            mine, theirs = r[k].strip(), p[k].strip()
            assert (mine == "") == (theirs == ""), (r["model"], k, mine, theirs)
            if mine:
                assert float(mine) == float(theirs), (r["model"], k, mine, theirs)


def test_304_complete_rows_and_the_vit_21k_names():
    rows = {r["model"]: r for r in _rows(data_file("quba_paper_results.csv"))}
    complete = [m for m, r in rows.items() if all(r[k].strip() for k in VALUES)]
    assert len(complete) == 304
    assert all(all(r[k].strip() for k in VALUES[:-1]) for r in rows.values())  # no row without values
    assert rows["ViT-b-32-21k"]["display_name"] == "ViT-b/32"
    assert rows["ViT-l-16-21k"]["display_name"] == "ViT-l/16"
    assert float(rows["ViT-b-32-21k"]["parameters_m"]) < float(rows["ViT-l-16-21k"]["parameters_m"])
    for m in ("ShuffleNet-v2-05", "LeViT-384", "EfficientFormer-l7", "Singh2023Revisiting-ViT-S-ConvStem"):
        assert rows[m]["accuracy"].strip(), m



def test_results_reference_copy_is_the_shipped_csv():
    root = Path(__file__).resolve().parents[2]
    assert (root / "results" / "reference" / "quba_paper_results.csv").read_bytes() == \
        data_file("quba_paper_results.csv").read_bytes()
