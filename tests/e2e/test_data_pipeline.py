"""The real path end to end, offline: prepare val -> fetch (local server) -> check -> evaluate, and
what `check`, `subset` and an evaluation on incomplete data say."""
import io
import json
import tarfile

import pytest

import data_archives as A
from cli_run import cli
from data_server import FileServer
from imagenet_fixture import fake_imagenet_tree, write_image

MODEL = ("import sys\nsys.path.insert(0, {helpers!r})\nfrom imagenet_fixture import ColourCodeModel\n\n"
         "def colour_code():\n    return ColourCodeModel().eval()\n")


@pytest.fixture
def model_file(tmp_path):
    from pathlib import Path

    p = tmp_path / "colour.py"
    p.write_text(MODEL.format(helpers=str(Path(__file__).resolve().parents[1])))
    return f"{p}:colour_code"


def _write_root_manifest(root, counts: dict) -> None:
    """Expect `counts` ({split: (images, classes)}) under `root`, as a root fetched with a --manifest does."""
    from quba.datasets.manifest import load_manifest, root_manifest_path

    shipped = load_manifest()
    datasets = {}
    for split, (images, classes) in counts.items():
        s = shipped.split(split)
        datasets.setdefault(s.dataset, {"splits": {}})["splits"][split] = {"folder": s.folder, "images": images,
                                                                           "classes": classes}
    root_manifest_path(root).parent.mkdir(parents=True, exist_ok=True)
    root_manifest_path(root).write_text(json.dumps({"schema": 1, "datasets": datasets}))


# ---------------------------------------------------------------------------- prepare
def test_prepare_val_from_the_archive_or_a_folder(tmp_path, capsys):
    data, labels = A.val_tar()
    (tmp_path / "val.tar").write_bytes(data)
    (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n")
    root = tmp_path / "root"
    argv = ["data", "prepare", "imagenet-val", "--from", tmp_path / "val.tar", "--labels", tmp_path / "labels.txt",
            "--data-root", root, "--no-progress"]
    rc, out, err = cli(capsys, *argv)
    assert rc == 0, err
    assert sorted(p.name for p in (root / "val").iterdir()) == sorted(A.WNIDS)
    for w in A.WNIDS:  # every image sits in the folder of its label
        for f in (root / "val" / w).iterdir():
            k = int(f.stem.rsplit("_", 1)[1])
            assert labels[k - 1] == w
    rc, out, err = cli(capsys, *argv)
    assert rc == 0 and "nothing to do" in err
    # a folder of extracted images, labelled by 'image,WNID' lines (Kaggle's LOC_val_solution.csv form)
    flat = tmp_path / "flat"
    flat.mkdir()
    with tarfile.open(tmp_path / "val.tar") as tar:
        tar.extractall(flat, filter="data")
    (tmp_path / "sol.csv").write_text("ImageId,PredictionString\n" + "".join(
        f"ILSVRC2012_val_{k:08d},{w} 1 2 3 4\n" for k, w in enumerate(labels, 1)))
    rc, out, err = cli(capsys, "data", "prepare", "imagenet-val", "--from", flat, "--labels", tmp_path / "sol.csv",
                       "--data-root", tmp_path / "root2", "--no-progress")
    assert rc == 0, err
    a = root / "val" / labels[0] / "ILSVRC2012_val_00000001.png"
    b = tmp_path / "root2" / "val" / labels[0] / "ILSVRC2012_val_00000001.png"
    assert a.read_bytes() == b.read_bytes()
    assert b.stat().st_ino == (flat / "ILSVRC2012_val_00000001.png").stat().st_ino  # a hard link, not a copy
    assert not (tmp_path / "root2" / ".quba-data" / "tmp").exists()


def test_prepare_val_with_the_devkit_parsed_by_torchvision(tmp_path, capsys, monkeypatch):
    data, labels = A.val_tar()
    (tmp_path / "val.tar").write_bytes(data)
    order = sorted(set(labels))
    devkit = tmp_path / "ILSVRC2012_devkit_t12.tar.gz"
    devkit.write_bytes(A.devkit_tar(order, [order.index(w) + 1 for w in labels]))
    argv = ["data", "prepare", "imagenet-val", "--from", tmp_path / "val.tar", "--devkit", devkit, "--data-root",
            tmp_path / "root", "--no-progress"]
    rc, out, err = cli(capsys, *argv)  # torchvision checks the devkit's md5: ours is not the official one
    assert rc == 2 and "not the official ILSVRC2012_devkit_t12.tar.gz" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "root" / "val").exists()
    A.accept_devkit(monkeypatch, devkit)
    rc, out, err = cli(capsys, *argv)
    assert rc == 0, err
    for k, w in enumerate(labels, 1):
        assert (tmp_path / "root" / "val" / w / f"ILSVRC2012_val_{k:08d}.png").is_file()


def test_a_data_root_of_your_own_is_judged_against_its_own_manifest(tmp_path, capsys):
    """docs/data.md#a-data-root-of-your-own as written: photos with any names, `IMAGE,WNID` labels and a
    --manifest kept in the root; `check` judges the root against that manifest and names it as the source
    of the counts (not "the dataset's published counts") when the root does not hold what it says."""
    data, labels = A.val_tar()
    photos = tmp_path / "photos"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        for k, m in enumerate(members):
            dest = photos / f"holiday_{k}.png"
            dest.parent.mkdir(exist_ok=True)
            dest.write_bytes(tar.extractfile(m).read())
    (tmp_path / "labels.txt").write_text("".join(f"holiday_{k}.png,{w}\n" for k, w in enumerate(labels)))

    def own(classes):
        man = tmp_path / f"mine{classes}.json"
        man.write_text(json.dumps({"schema": 1, "datasets": {"imagenet-val": {"splits": {"val": {
            "folder": "val", "images": 6, "classes": classes, "counts_source": "my photos"}}}}}))
        return man

    for classes, rc_want in ((3, 0), (2, 1)):
        root = tmp_path / f"root{classes}"
        rc, out, err = cli(capsys, "data", "prepare", "imagenet-val", "--from", photos, "--labels",
                           tmp_path / "labels.txt", "--data-root", root, "--manifest", own(classes), "--no-progress")
        assert rc == 0 and "6 images in 3 classes (prepared)" in out, err
        assert (root / ".quba-data" / "manifest.json").read_bytes() == own(classes).read_bytes()
        rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--dims", "accuracy", "--no-progress")
        assert rc == rc_want, out
    assert "val: more than expected: 6 of 6 images, 3 of 2 classes (expected per the manifest " \
           f"{root / '.quba-data' / 'manifest.json'})" in out
    # a subset of the described root is still described: its records say so (provenance.data.manifest)
    from quba.datasets.completeness import described_splits

    rc, out, err = cli(capsys, "data", "subset", "--data-root", tmp_path / "root3", "--per-class", "1", "--output",
                       tmp_path / "sub", "--no-progress")
    assert rc == 0, err
    want = {"file": str(tmp_path / "root3" / ".quba-data" / "manifest.json"), "splits": {"val": {
        "images": 6, "classes": 3, "published_images": 50000, "published_classes": 1000}}}
    assert json.loads((tmp_path / "sub" / "quba-subset.json").read_text())["source_manifest"] == want
    assert described_splits(tmp_path / "sub", ["val"]) == want
    assert described_splits(tmp_path / "sub", ["ood/edge"]) is None


# ---------------------------------------------------------------------------- fetch -> check -> evaluate
def _fetch_everything(tmp_path, srv, capsys, root, val_counts=None):
    archives = {"imagenet-r": ("imagenet-r.tar", A.imagenet_r_tar()),
                "cue-conflict": ("cue-conflict.tar.gz", A.mvh_tar("cue-conflict")),
                "bg-challenge": ("backgrounds_challenge_data.tar.gz", A.bg_tar())}
    for name in ("edge", "silhouette", "sketch", "stylized"):
        archives[name] = (f"{name}.tar.gz", A.mvh_tar(name))
    counts = {"ood/rendition": archives["imagenet-r"][1][1], "cue_conflict": archives["cue-conflict"][1][1],
              "bg/mixed_same": archives["bg-challenge"][1][1], "bg/mixed_rand": archives["bg-challenge"][1][1]}
    counts.update({f"ood/{n}": archives[n][1][1] for n in ("edge", "silhouette", "sketch", "stylized")})
    for fname, (data, _) in archives.values():
        srv.files[fname] = data
    man = tmp_path / "m.json"
    A.user_manifest(man, srv.base, {k: (f, d) for k, (f, (d, _)) in archives.items()}, counts,
                    val_counts=val_counts or {"images": 6, "classes": 3})
    rc, out, err = cli(capsys, "data", "fetch", *archives, "--data-root", root, "--manifest", man, "--no-progress")
    assert rc == 0, err


def test_fetch_check_evaluate_and_an_incomplete_split(tmp_path, capsys, model_file):
    root = tmp_path / "root"
    data, labels = A.val_tar()
    (tmp_path / "val.tar").write_bytes(data)
    (tmp_path / "labels.txt").write_text("\n".join(labels))
    rc, out, err = cli(capsys, "data", "prepare", "imagenet-val", "--from", tmp_path / "val.tar", "--labels",
                       tmp_path / "labels.txt", "--data-root", root, "--no-progress")
    assert rc == 0, err
    with FileServer({}) as srv:
        _fetch_everything(tmp_path, srv, capsys, root)
    rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--dims", "accuracy", "ood", "shape", "object_focus",
                       "--no-progress")
    assert rc == 0, out
    assert "complete: all 9 split(s)" in out
    base = ["evaluate", "--model", model_file, "--suite", "imagenet", "--data-root", root, "--dims", "accuracy",
            "ood_robustness", "shape_bias", "object_focus", "--bootstrap", "0", "--no-progress", "--format", "json"]
    rc, out, err = cli(capsys, *base, "--output", tmp_path / "res")
    assert rc == 0, err
    (rec,) = json.loads(out)
    assert {k: v["value"] for k, v in rec["dimensions"].items()} == {
        "accuracy": 1.0, "ood_robustness": 1.0, "shape_bias": 1.0, "object_focus": 1.0}
    assert len(rec["splits"]) == 9 and all(s["complete"] is True for s in rec["splits"].values())
    assert "incomplete" not in err
    # complete as the root's own manifest describes it (6 val images, not 50,000): still not the published data
    assert rec["reference"]["comparable"] is False
    (why,) = [w for w in rec["reference"]["warnings"] if "not comparable" in w]
    assert "9 split(s) were counted against the data root's own manifest" in why
    # one edge drawing goes missing: measured, with one warning line, recorded, not comparable
    next((root / "edge" / "bear").iterdir()).unlink()
    rc, out, err = cli(capsys, *base, "--output", tmp_path / "res2")
    assert rc == 0, err
    (rec,) = json.loads(out)
    warned = [ln for ln in err.splitlines() if ln.startswith("quba: warning: incomplete data")]
    assert len(warned) == 1 and "ood/edge (5 of 6 images)" in warned[0] and "quba data check" in warned[0]
    edge = rec["splits"]["ood/edge"]
    assert edge["complete"] is False and edge["expected_images"] == 6 and edge["found_images"] == 5
    assert all(s["complete"] for k, s in rec["splits"].items() if k != "ood/edge")
    assert rec["reference"]["comparable"] is False
    assert any("not comparable with the paper's rows" in w and "ood/edge" in w for w in rec["reference"]["warnings"])
    stored = json.loads((tmp_path / "res2" / "imagenet" / "records").glob("*.json").__next__().read_text())
    assert stored["splits"]["ood/edge"]["complete"] is False  # in the record on disk, not only in the output
    rc, out, err = cli(capsys, *base[:-2], "--output", tmp_path / "res3")
    assert "NOT comparable with the reference rows: measured on incomplete data" in out


# ---------------------------------------------------------------------------- check
def _jpeg_file(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(A.jpeg(seed, 64))
    return path


def test_check_finds_a_missing_class_damaged_images_and_stray_files(tmp_path, capsys):
    root = tmp_path / "root"
    for w in ("n01440764", "n02085620", "n15075141"):
        for i in range(3):
            _jpeg_file(root / "val" / w / f"ILSVRC2012_val_{w}_{i}.JPEG", i)
    _write_root_manifest(root, {"val": (12, 4)})  # a fourth class is expected
    good = root / "val" / "n01440764" / "ILSVRC2012_val_n01440764_0.JPEG"
    (root / "val" / "n02085620" / "ILSVRC2012_val_n02085620_0.JPEG").write_bytes(good.read_bytes()[:-300])
    (root / "val" / "n15075141" / "ILSVRC2012_val_n15075141_0.JPEG").write_bytes(b"")
    (root / "val" / "README.txt").write_text("stray")
    (root / "val" / "n15075141" / "notes.txt").write_text("stray too")
    (root / "val" / "n99999999").mkdir()
    (root / "val" / ".hidden").write_text("ignored, as the suite ignores it")
    rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--dims", "accuracy", "--no-progress")
    assert rc == 1
    row = next(ln for ln in out.splitlines() if ln.startswith("val "))
    assert row.split() == ["val", "9/12", "3/4", "1", "1", "1", "2", "damaged"]
    assert "ILSVRC2012_val_n02085620_0.JPEG" in out and "ILSVRC2012_val_n15075141_0.JPEG" in out
    assert "val/README.txt" in out and "val/n15075141/notes.txt" in out and "val/n99999999" in out
    rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--dims", "accuracy", "--format", "json",
                       "--no-progress")
    (val,) = json.loads(out)["splits"]
    assert val["zero_byte"] == ["val/n15075141/ILSVRC2012_val_n15075141_0.JPEG"]
    assert val["unreadable"] == ["val/n02085620/ILSVRC2012_val_n02085620_0.JPEG"]
    assert val["unknown_folders"] == ["val/n99999999"] and sorted(val["stray"]) == ["val/README.txt",
                                                                                    "val/n15075141/notes.txt"]
    rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--dims", "accuracy", "--quick", "--format", "json")
    (val,) = json.loads(out)["splits"]
    assert val["unreadable"] == [] and val["zero_byte"]  # --quick: counts and layout, no decoding
    # against the dataset's own counts, with the missing class folders named
    (root / ".quba-data" / "manifest.json").unlink()
    rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--dims", "accuracy", "--quick")
    assert rc == 1 and "9 of 50,000 images, 3 of 1,000 classes; missing class folder(s) n01443537" in out


def test_check_bad_input_is_exit_2(tmp_path, capsys):
    rc, out, err = cli(capsys, "data", "check", "--data-root", tmp_path / "nowhere")
    assert rc == 2 and "does not exist" in err
    rc, out, err = cli(capsys, "data", "check", "--data-root", tmp_path, "--dims", "acuracy")
    assert rc == 2 and "acuracy" in err


def test_check_and_parameters_only(tmp_path, capsys):
    rc, out, err = cli(capsys, "data", "check", "--data-root", tmp_path, "--dims", "parameters_m")
    assert rc == 0 and "nothing to check" in out


# ---------------------------------------------------------------------------- subset
def _mixed_tree(root):
    """3 images per class in val, cue-conflict and bg; image 1 of every class shows another class,
    so which images a subset takes changes what is measured."""
    fake_imagenet_tree(root, splits=("val", "cue-conflict", "bg_challenge"), n_per_class=3)
    for w in ("n01440764", "n02085620", "n15075141"):
        write_image(root / "val" / w / f"{w}_1.png", 500)
    _write_root_manifest(root, {"val": (9, 3), "cue_conflict": (9, 3), "bg/mixed_same": (9, 3),
                                "bg/mixed_rand": (9, 3)})


def test_subset_is_what_evaluate_subset_takes_and_carries_its_provenance(tmp_path, capsys, model_file):
    full, sub = tmp_path / "full", tmp_path / "sub"
    _mixed_tree(full)
    rc, out, err = cli(capsys, "data", "subset", "--data-root", full, "--per-class", "2", "--output", sub, "--no-progress")
    assert rc == 0, err
    prov = json.loads((sub / "quba-subset.json").read_text())
    assert prov["per_class"] == 2 and prov["seed"] == 0 and prov["source_fingerprint"].startswith("sha256:")
    assert prov["splits"]["val"] == {"images": 6, "classes": 3, "per_class": 2, "source_images": 9,
                                     "source_complete": True}
    assert (sub / "val" / "n01440764").is_dir() and prov["linked"] == 6 * 4  # four splits, hard links
    rc, out, err = cli(capsys, "data", "check", "--data-root", sub, "--no-progress", "--dims", "accuracy", "shape",
                       "object_focus")
    assert rc == 0, out
    dims = ["--dims", "accuracy", "class_balance", "object_focus", "shape_bias", "--bootstrap", "0", "--no-progress",
            "--format", "json", "--suite", "imagenet", "--model", model_file]
    rc, out, err = cli(capsys, "evaluate", "--data-root", sub, *dims, "--output", tmp_path / "a")
    assert rc == 0, err
    (on_subset,) = json.loads(out)
    rc, out, err = cli(capsys, "evaluate", "--data-root", full, "--subset", "2", *dims, "--output", tmp_path / "b")
    assert rc == 0, err
    (with_flag,) = json.loads(out)
    values = {k: v["value"] for k, v in on_subset["dimensions"].items()}
    assert values == {k: v["value"] for k, v in with_flag["dimensions"].items()}
    assert 0 < values["accuracy"] < 1  # which images were taken matters
    assert on_subset["provenance"]["data"]["subset"]["per_class"] == 2
    assert on_subset["provenance"]["data"]["subset"]["source_fingerprint"] == prov["source_fingerprint"]
    assert all(s["complete"] for s in on_subset["splits"].values())
    assert any("measured on a subset of the data" in w for w in on_subset["reference"]["warnings"])
    # again: nothing to do; another subset into the same folder: refused
    rc, out, err = cli(capsys, "data", "subset", "--data-root", full, "--per-class", "2", "--output", sub, "--no-progress")
    assert rc == 0 and "nothing to do" in err
    rc, out, err = cli(capsys, "data", "subset", "--data-root", full, "--per-class", "1", "--output", sub, "--no-progress")
    assert rc == 2 and "already exists" in err
    rc, out, err = cli(capsys, "data", "subset", "--data-root", full, "--per-class", "1", "--output", full / "inner")
    assert rc == 2 and "outside --data-root" in err


def test_a_subset_of_an_incomplete_root_stays_incomplete(tmp_path, capsys):
    full, sub = tmp_path / "full", tmp_path / "sub"
    fake_imagenet_tree(full, splits=("val",), n_per_class=2)  # against the published 50,000
    rc, out, err = cli(capsys, "data", "subset", "--data-root", full, "--per-class", "1", "--output", sub, "--no-progress")
    assert rc == 0 and "were incomplete" in err
    rc, out, err = cli(capsys, "data", "check", "--data-root", sub, "--dims", "accuracy", "--no-progress")
    assert rc == 1 and "a subset of an incomplete split" in out


# ---------------------------------------------------------------------------- a newcomer's whole path
@pytest.mark.slow
def test_a_newcomer_goes_from_archives_to_a_reproduction(tmp_path, capsys, model_file):
    """docs/data.md as a newcomer types it, every step through the CLI: prepare val from the tar ->
    fetch the public datasets from a server (127.0.0.1) -> generate ImageNet-C (no 66 GB download) ->
    check -> a per-class subset -> evaluate -> reproduce. The reproduction against the paper finds no
    row for a model of one's own and says so; against a run of `--subset 1` on the full root (a
    colleague's leaderboard) every value is the same (the subset root holds exactly what --subset 1
    reads), and every row still names why it is not like for like: the subset, the root's own manifest,
    and on corruption robustness the ImageNet-C quba generated instead of the released files."""
    root, small = tmp_path / "imagenet", tmp_path / "imagenet-1"
    data, labels = A.val_tar(A.WNIDS[:2])  # 4 images in 2 classes: ImageNet-C costs ~10 s of CPU per image
    (tmp_path / "ILSVRC2012_img_val.tar").write_bytes(data)
    (tmp_path / "labels.txt").write_text("\n".join(labels))
    rc, out, err = cli(capsys, "data", "prepare", "imagenet-val", "--from", tmp_path / "ILSVRC2012_img_val.tar",
                       "--labels", tmp_path / "labels.txt", "--data-root", root, "--no-progress")
    assert rc == 0 and "4 images in 2 classes (prepared)" in out, err
    with FileServer({}) as srv:
        _fetch_everything(tmp_path, srv, capsys, root, val_counts={"images": 4, "classes": 2})
        assert srv.requests  # fetched over HTTP
    rc, out, err = cli(capsys, "data", "generate", "imagenet-c", "--data-root", root, "--per-class", "1",
                       "--workers", "2", "--no-progress")
    assert rc == 0, err
    assert "75 split(s) of 2 images: 150 written, 0 already there" in out
    rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--quick", "--no-progress")
    assert rc == 0, out
    assert f"complete: all 84 split(s) under {root} hold what they should" in out
    rc, out, err = cli(capsys, "data", "subset", "--data-root", root, "--per-class", "1", "--output", small,
                       "--no-progress")
    assert rc == 0, err
    rc, out, err = cli(capsys, "data", "check", "--data-root", small, "--no-progress")
    assert rc == 0, out

    dims = ["accuracy", "corruption_robustness", "ood_robustness", "shape_bias", "object_focus"]
    base = ["evaluate", "--model", model_file, "--suite", "imagenet", "--dims", *dims, "--bootstrap", "50",
            "--no-progress", "--format", "json"]
    rc, out, err = cli(capsys, *base, "--data-root", small, "-o", tmp_path / "mine")
    assert rc == 0, err
    (rec,) = json.loads(out)
    assert all(s["complete"] is True for s in rec["splits"].values()) and "incomplete" not in err
    data = rec["provenance"]["data"]
    assert set(data) == {"subset", "generated_imagenet_c", "manifest"}
    # the subset root keeps what the source root's own manifest described (6 val images, not 50,000)
    assert data["manifest"]["file"] == str(root / ".quba-data" / "manifest.json")
    assert data["manifest"]["splits"]["val"] == {"images": 4, "classes": 2, "published_images": 50000,
                                                 "published_classes": 1000}

    rc, out, err = cli(capsys, "reproduce", "-o", tmp_path / "mine")
    assert rc == 0, err
    assert "none of the 1 record(s) has a row in the paper's leaderboard" in out

    rc, out, err = cli(capsys, *base, "--data-root", root, "--subset", "1", "-o", tmp_path / "colleague")
    assert rc == 0, err
    rc, out, err = cli(capsys, "reproduce", "-o", tmp_path / "mine", "--against",
                       tmp_path / "colleague" / "imagenet" / "leaderboard.csv", "--format", "json")
    assert rc == 0, err
    rows = {r["dimension"]: r for r in json.loads(out)["rows"]}
    assert set(rows) == set(dims)
    assert all(r["difference"] == pytest.approx(0, abs=1e-6) and r["inside"] is True for r in rows.values())
    assert rows["accuracy"]["fresh"] == 1.0
    subset = "data subset of 1 image per class (quba data subset, seed 0)"
    generated = ("ImageNet-C generated locally from val (quba data generate: PNG from quba's corruption code, "
                 "1 image per class), not the published ImageNet-C archive (JPEG)")
    assert rows["accuracy"]["notes"] == [
        subset, "data root described by its own manifest: val 4 images in 2 classes; published: 50000 in 1000"]
    for d, r in rows.items():
        assert r["like_for_like"] is False and r["notes"][0] == subset, (d, r["notes"])
        assert any(n.startswith("data root described by its own manifest: ") for n in r["notes"]), (d, r["notes"])
        assert (generated in r["notes"]) == (d == "corruption_robustness"), (d, r["notes"])
