"""The dataset manifest (quba/data/datasets.json): the published counts, sources and checksums,
and how a --manifest FILE is read and refused."""
import json

import pytest

from quba.datasets.manifest import load_manifest, manifest_for, root_manifest_path
from quba.errors import QubaError
from quba.metrics.robustness import IMAGENET_C_CORRUPTIONS, SEVERITIES
from quba.suites.imagenet import ImageNetSuite, expected_split_names


def test_the_shipped_counts_are_the_datasets_own():
    m = load_manifest()
    counts = {s.name: (s.images, s.classes) for s in m.splits().values()}
    assert counts["val"] == (50000, 1000)
    assert counts["ood/rendition"] == (30000, 200)
    assert counts["ood/edge"] == counts["ood/silhouette"] == (160, 16)
    assert counts["ood/sketch"] == counts["ood/stylized"] == (800, 16)
    assert counts["cue_conflict"] == (1280, 16)
    assert counts["bg/mixed_same"] == counts["bg/mixed_rand"] == (4050, 9)
    corr = [s for s in counts if s.startswith("corruption/")]
    assert len(corr) == 75 and {counts[s] for s in corr} == {(50000, 1000)}
    assert m.get("imagenet-c").images == 15 * 5 * 50000


def test_every_split_of_the_suite_is_in_the_manifest_with_the_suites_folder(tmp_path):
    m = load_manifest()
    assert sorted(m.splits()) == sorted(expected_split_names())
    suite = ImageNetSuite(tmp_path)
    for name, s in m.splits().items():
        assert tmp_path / s.folder == suite.folder(name), name


def test_every_count_and_checksum_names_its_source():
    m = load_manifest()
    for d in m.datasets.values():
        assert d.terms and d.homepage and d.citation, d.name
        for s in d.splits:
            assert s.counts_source, s.name
        for f in d.files:
            assert f.checksum_source, f.name
    val = m.get("imagenet-val")
    assert not val.downloadable and "prepare imagenet-val" in val.how  # ImageNet is never downloaded
    assert all(d.downloadable for n, d in m.datasets.items() if n != "imagenet-val")


def test_imagenet_c_archives_cover_the_15_corruptions_once():
    files = load_manifest().get("imagenet-c").files
    members = [p.strip("/") for f in files for p in f.members]
    assert sorted(members) == sorted(IMAGENET_C_CORRUPTIONS)
    assert all(f.md5 and f.size for f in files)
    assert [int(s) for s in sorted({s.name.split("/")[2] for s in load_manifest().get("imagenet-c").splits})] \
        == list(SEVERITIES)


def test_groups_and_unknown_names():
    m = load_manifest()
    assert [d.name for d in m.resolve(["model-vs-human"])] == ["edge", "silhouette", "sketch", "stylized",
                                                               "cue-conflict"]
    assert "imagenet-val" not in [d.name for d in m.resolve("all")]
    with pytest.raises(QubaError, match="unknown dataset 'imagenet-rr'.*did you mean: imagenet-r"):
        m.resolve(["imagenet-rr"])


def _write(tmp_path, datasets, **top):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"schema": 1, "datasets": datasets, **top}))
    return p


def test_a_user_manifest_overrides_fields_and_adds_datasets(tmp_path):
    p = _write(tmp_path, {
        "imagenet-r": {"base_url": "https://mirror.example.org/r/"},
        "my-set": {"title": "mine", "dimensions": ["ood_robustness"], "base_url": "http://h/", "files": [{"name": "a.tar"}],
                   "splits": {"ood/mine": {"folder": "mine", "images": 3, "classes": 1}}}})
    m = load_manifest(p)
    r = m.get("imagenet-r")
    assert r.base_url == "https://mirror.example.org/r/" and r.files[0].sha256  # the rest is kept
    assert m.get("my-set").splits[0].images == 3 and m.get("my-set").downloadable


@pytest.mark.parametrize("entry, match", [
    ({"imagenet-r": {"files": [{"name": "x.tar", "sha256": "abc"}]}}, "sha256 must be 64 hexadecimal"),
    ({"imagenet-r": {"files": [{"name": "../x.tar"}]}}, "plain file name"),
    ({"imagenet-r": {"files": [{"name": "x.tar", "extract_to": "../up"}]}}, "inside the data root"),
    ({"imagenet-r": {"base_url": "ftp://x/"}}, "base_url must be an http"),
    ({"imagenet-r": {"colour": 1}}, "unknown key"),
    ({"imagenet-r": {"splits": {"ood/rendition": {"folder": "imagenet-r", "images": 0, "classes": 1}}}},
     "images must be a whole number >= 1"),
    ({"edge": {"splits": {"ood/rendition": {"folder": "x", "images": 1, "classes": 1}}}}, "belongs to both"),
])
def test_a_bad_user_manifest_is_one_line(tmp_path, entry, match):
    with pytest.raises(QubaError, match=match) as exc:
        load_manifest(_write(tmp_path, entry))
    assert "\n" not in str(exc.value) and "docs/data.md" in str(exc.value)


def test_unreadable_manifests(tmp_path):
    with pytest.raises(QubaError, match="does not exist"):
        load_manifest(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(QubaError, match="not valid JSON"):
        load_manifest(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps({"schema": 9, "datasets": {}}))
    with pytest.raises(QubaError, match="schema 9"):
        load_manifest(tmp_path / "old.json")


def test_a_root_keeps_the_manifest_it_was_fetched_with(tmp_path):
    p = _write(tmp_path, {"edge": {"splits": {"ood/edge": {"folder": "edge", "images": 6, "classes": 3}}}})
    root = tmp_path / "root"
    assert manifest_for(root).split("ood/edge").images == 160
    root_manifest_path(root).parent.mkdir(parents=True)
    root_manifest_path(root).write_bytes(p.read_bytes())
    assert manifest_for(root).split("ood/edge").images == 6
    assert manifest_for(root, load_manifest()).split("ood/edge").images == 160  # an explicit one wins
