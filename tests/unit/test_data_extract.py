"""Safe extraction (quba/datasets/extract.py): hostile archives are refused before they write
anything outside the extraction folder; good ones land in the suite's layout."""
import os

import pytest

from data_archives import big_member_tar, jpeg, mvh_tar, png, sparse_tar, tar_bytes, zip_bytes
from quba.datasets.download import FetchError
from quba.datasets.extract import HostileArchive, arrange, move_into, safe_extract


def _archive(tmp_path, data, name="a.tar"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _extract(tmp_path, data, name="a.tar", **kw):
    dest = tmp_path / "out"
    return safe_extract(_archive(tmp_path, data, name), dest, progress=False, **kw), dest


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("make, match", [
    (lambda: tar_bytes({"imagenet-r/n1/a.png": b"x", "../evil.txt": b"x"}), "climbs out with '..'"),
    (lambda: tar_bytes({"imagenet-r/../../evil.txt": b"x"}), "climbs out"),
    (lambda: tar_bytes({"/tmp/evil.txt": b"x"}), "absolute path"),
    (lambda: tar_bytes({}, links={"imagenet-r/passwd": ("sym", "/etc/passwd")}), "points outside"),
    (lambda: tar_bytes({}, links={"imagenet-r/up": ("sym", "../../etc")}), "points outside"),
    (lambda: tar_bytes({}, links={"imagenet-r/h": ("hard", "/etc/passwd")}), "points outside"),
    (lambda: tar_bytes({}, links={"imagenet-r/null": ("chr", "")}), "device file"),
    (sparse_tar, "sparse file"),
    (big_member_tar, "unpacks to more than"),
    (lambda: zip_bytes({"../evil.txt": b"x"}), "climbs out"),
    (lambda: zip_bytes({"/abs/evil.txt": b"x"}), "absolute path"),
    (lambda: zip_bytes({"sketch/a.png": b"x"}, symlinks={"sketch/etc": "/etc"}), "points outside"),
], ids=["dotdot", "dotdot-inside", "absolute", "symlink-etc", "symlink-up", "hardlink-out", "device",
        "sparse-1GB", "40MB-member", "zip-dotdot", "zip-absolute", "zip-symlink"])
def test_hostile_archives_are_refused_and_write_nothing_outside(tmp_path, make, match):
    data = make()
    name = "a.zip" if data[:2] == b"PK" else "a.tar"
    before = set(os.listdir(tmp_path))
    with pytest.raises(HostileArchive, match=match) as exc:
        _extract(tmp_path, data, name=name)
    assert "\n" not in str(exc.value) and exc.value.exit_code == 1
    assert set(os.listdir(tmp_path)) - before == {name, "out"}  # nothing beside the extraction folder
    assert not (tmp_path.parent / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_the_sparse_member_is_small_in_the_archive_but_huge_unpacked():
    import io
    import tarfile

    data = sparse_tar(1 << 30)
    assert len(data) < 4096
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:  # the hand-made header reads as GNU tar writes it
        (m,) = tar.getmembers()
        assert m.issparse() and m.size == 1 << 30


def test_a_good_archive_extracts_only_its_members(tmp_path):
    data = tar_bytes({"./imagenet-r/n01443537/a.png": png(1), "imagenet-r/n01443537/b.png": png(1),
                      "imagenet-r/README.txt": b"readme", "other/x.png": png(2)})
    n, dest = _extract(tmp_path, data, members=["imagenet-r/"], exclude=["imagenet-r/README.txt"])
    assert n == 2
    assert _listing(dest) == ["imagenet-r", "imagenet-r/n01443537", "imagenet-r/n01443537/a.png",
                              "imagenet-r/n01443537/b.png"]
    assert (dest / "imagenet-r/n01443537/a.png").read_bytes() == png(1)


def test_links_inside_the_archive_are_kept(tmp_path):
    data = tar_bytes({"d/a.png": png(1)}, links={"d/b.png": ("sym", "a.png"), "d/c.png": ("hard", "d/a.png")})
    n, dest = _extract(tmp_path, data)
    assert (dest / "d/b.png").is_symlink() and (dest / "d/b.png").read_bytes() == png(1)
    assert (dest / "d/c.png").read_bytes() == png(1)


def test_a_truncated_or_foreign_archive_is_one_line(tmp_path):
    data = tar_bytes({"imagenet-r/n1/a.png": png(1), "imagenet-r/n1/b.jpg": jpeg(0, 256)}, gz=True)
    with pytest.raises(FetchError, match="damaged or truncated"):
        _extract(tmp_path, data[: len(data) // 2], name="a.tar.gz")
    with pytest.raises(FetchError, match="damaged, truncated or neither a tar nor a zip"):
        _extract(tmp_path, b"just some text, not an archive" * 20, name="b.tar")


def test_model_vs_human_sessions_are_sorted_into_category_folders(tmp_path):
    data, counts = mvh_tar("sketch", fmt="zip")
    n, dest = _extract(tmp_path, data, name="sketch.zip")
    assert (dest / "sketch" / "dnn" / "session-1").is_dir()
    arrange("mvh-sessions", dest, ["sketch"])
    assert sorted(p.name for p in (dest / "sketch").iterdir()) == ["bear", "bird", "truck"]
    assert sum(1 for _ in (dest / "sketch").rglob("*.png")) == counts["images"] == n
    bad = tmp_path / "bad" / "stylized" / "dnn" / "session-1"
    bad.mkdir(parents=True)
    (bad / "0001_sty_dnn_0_unicorn_00_x.png").write_bytes(png(1))
    with pytest.raises(FetchError, match="no model-vs-human category"):
        arrange("mvh-sessions", tmp_path / "bad", ["stylized"])


def test_move_into_merges_and_refuses_a_clash_before_moving(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "bg" / "mixed_rand").mkdir(parents=True)
    (src / "bg" / "mixed_rand" / "a.png").write_bytes(b"new")
    (dst / "bg" / "original").mkdir(parents=True)
    move_into(src / "bg", dst / "bg")
    assert sorted(p.name for p in (dst / "bg").iterdir()) == ["mixed_rand", "original"]
    (src / "bg" / "mixed_rand").mkdir(parents=True)
    (src / "bg" / "mixed_rand" / "a.png").write_bytes(b"old")  # same size as before: a rerun, kept
    (src / "bg" / "zz.png").write_bytes(b"fresh")
    move_into(src / "bg", dst / "bg")
    assert (dst / "bg" / "zz.png").read_bytes() == b"fresh"
    (src / "bg" / "mixed_rand").mkdir(parents=True)
    (src / "bg" / "mixed_rand" / "a.png").write_bytes(b"other size")
    (src / "bg" / "new.png").write_bytes(b"n")
    with pytest.raises(FetchError, match="already exists and differs"):
        move_into(src / "bg", dst / "bg")
    assert not (dst / "bg" / "new.png").exists()  # nothing moved
