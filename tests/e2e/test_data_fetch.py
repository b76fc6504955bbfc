"""`quba data fetch` against a local HTTP server (tests/data_server.py): resuming, retries, checksums,
hostile archives, a full disk -- each failure one line, nothing half-written in the data root."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import data_archives as A
from cli_run import cli
from data_server import FileServer

REPO = Path(__file__).resolve().parents[2]


def _errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if "error" in ln]


def _files_in(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _one_dataset(tmp_path, srv, name="imagenet-r", data=None, publish=True, fname=None):
    """Serve one dataset's archive and write a --manifest for it; returns (manifest path, archive bytes)."""
    if data is None:
        data, counts = A.imagenet_r_tar()
    else:
        counts = {"images": 1, "classes": 1}
    fname = fname or {"imagenet-r": "imagenet-r.tar", "edge": "edge.tar.gz"}[name]
    srv.files[fname] = data
    split = {"imagenet-r": "ood/rendition", "edge": "ood/edge"}[name]
    path = tmp_path / f"{name}.json"
    A.user_manifest(path, srv.base, {name: (fname, data)}, {split: counts}, publish=publish)
    return path, data


@pytest.fixture
def srv():
    with FileServer({}) as s:
        yield s


@pytest.fixture
def no_sleep(monkeypatch):
    waits = []
    monkeypatch.setattr("quba.datasets.download._wait", waits.append)
    return waits


def test_fetch_every_layout_then_a_rerun_does_nothing(srv, tmp_path, capsys):
    archives = {"imagenet-r": ("imagenet-r.tar", A.imagenet_r_tar()), "imagenet-c": ("blur.tar", A.imagenet_c_tar()),
                "edge": ("edge.tar.gz", A.mvh_tar("edge")), "sketch": ("sketch.zip", A.mvh_tar("sketch", fmt="zip")),
                "cue-conflict": ("cue-conflict.tar.gz", A.mvh_tar("cue-conflict")),
                "bg-challenge": ("backgrounds_challenge_data.tar.gz", A.bg_tar())}
    counts = {"ood/rendition": archives["imagenet-r"][1][1], "ood/edge": archives["edge"][1][1],
              "ood/sketch": archives["sketch"][1][1], "cue_conflict": archives["cue-conflict"][1][1],
              "bg/mixed_same": archives["bg-challenge"][1][1], "bg/mixed_rand": archives["bg-challenge"][1][1]}
    counts.update({f"corruption/{c}/{s}": archives["imagenet-c"][1][1] for c in A.BLUR for s in range(1, 6)})
    for fname, (data, _) in archives.values():
        srv.files[fname] = data
    man = tmp_path / "m.json"
    A.user_manifest(man, srv.base, {k: (f, d) for k, (f, (d, _)) in archives.items()}, counts)
    root = tmp_path / "root"
    rc, out, err = cli(capsys, "data", "fetch", *archives, "--data-root", root, "--manifest", man, "--no-progress")
    assert rc == 0, err
    assert len(out.splitlines()) == len(archives) and out.count(": fetched (") == len(archives)
    # the suite's layout (docs/imagenet-layout.md), and nothing the manifest leaves out
    assert sorted(p.name for p in root.iterdir()) == [".quba-data", "bg_challenge", "cue-conflict", "edge",
                                                      "imagenet-c", "imagenet-r", "sketch"]
    assert sorted(p.name for p in (root / "imagenet-c").iterdir()) == sorted(A.BLUR)
    assert not (root / "imagenet-r" / "README.txt").exists()
    assert sorted(p.name for p in (root / "bg_challenge").iterdir()) == ["mixed_rand", "mixed_same"]
    assert sorted(p.name for p in (root / "sketch").iterdir()) == ["bear", "bird", "truck"]  # sessions sorted
    assert not (root / ".quba-data" / "downloads").exists()  # archives deleted once unpacked
    rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--dims", "shape", "--no-progress")
    assert rc == 0, out + err  # the counts come from the manifest the root was fetched with
    rc, out, err = cli(capsys, "data", "check", "--data-root", root, "--dims", "object_focus", "--no-progress")
    assert rc == 1 and "val: folder val is missing" in out and "bg/mixed_rand       6/6" in out
    n = len(srv.requests)
    rc, out, err = cli(capsys, "data", "fetch", *archives, "--data-root", root, "--no-progress")
    assert rc == 0 and len(srv.requests) == n  # nothing downloaded again
    assert err.count("nothing to do") == len(archives)


def test_a_dropped_connection_resumes_with_a_range_request(srv, tmp_path, capsys, no_sleep):
    man, data = _one_dataset(tmp_path, srv)
    srv.mode["imagenet-r.tar"] = "drop"  # the first answer stops half-way
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", tmp_path / "root", "--manifest", man,
                       "--no-progress")
    assert rc == 0, err
    assert [r for _, r in srv.requests] == [None, f"bytes={len(data) // 2}-"]
    assert srv.served["imagenet-r.tar"] == len(data)  # half, then the other half: never from the start
    assert no_sleep == [1.0]  # one backoff between the two attempts


@pytest.mark.slow
def test_kill_9_during_the_download_then_the_next_run_resumes(srv, tmp_path, capsys):
    data = A.tar_bytes({f"imagenet-r/n01443537/{i}.jpg": A.jpeg(i, 256) for i in range(40)})
    man, data = _one_dataset(tmp_path, srv, data=data)
    srv.mode["imagenet-r.tar"] = "slow"
    srv.slow_bps = len(data) // 8  # about 8 s for the whole file
    root = tmp_path / "root"
    part = root / ".quba-data" / "downloads" / "imagenet-r.tar.part"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "quba", "data", "fetch", "imagenet-r", "--data-root", str(root),
                             "--manifest", str(man), "--no-progress"], env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not (part.exists() and part.stat().st_size > len(data) // 5):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    have = part.stat().st_size
    assert len(data) // 5 < have < len(data)
    srv.mode["imagenet-r.tar"] = "ok"
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", root, "--manifest", man, "--no-progress")
    assert rc == 0, err
    assert srv.requests[-1] == ("imagenet-r.tar", f"bytes={have}-")
    assert len(list((root / "imagenet-r" / "n01443537").iterdir())) == 40
    assert not part.exists()


def test_an_archive_left_by_a_killed_unpack_is_checked_and_unpacked_without_downloading(srv, tmp_path, capsys):
    man, data = _one_dataset(tmp_path, srv)
    root = tmp_path / "root"
    (root / ".quba-data" / "downloads").mkdir(parents=True)
    (root / ".quba-data" / "downloads" / "imagenet-r.tar").write_bytes(data)
    dead = root / ".quba-data" / "tmp" / "imagenet-r.imagenet-r.tar.4194303"  # a killed run's work folder
    (dead / "imagenet-r").mkdir(parents=True)
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", root, "--manifest", man, "--no-progress")
    assert rc == 0, err
    assert srv.requests == [] and not dead.exists() and (root / "imagenet-r").is_dir()


def test_a_wrong_checksum_is_one_line_exit_1_and_leaves_nothing(srv, tmp_path, capsys):
    man, data = _one_dataset(tmp_path, srv)
    srv.files["imagenet-r.tar"] = data[:-1] + b"\x01"  # same size, one byte differs
    root = tmp_path / "root"
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", root, "--manifest", man, "--no-progress")
    assert rc == 1
    (line,) = _errors(err)
    assert "sha256" in line and "does not match" in line and "deleted" in line
    assert _files_in(root) == [] and not root.exists()


def test_a_hostile_archive_with_the_right_checksum_is_refused_and_leaves_nothing(srv, tmp_path, capsys):
    man, _ = _one_dataset(tmp_path, srv, data=A.sparse_tar())
    root = tmp_path / "root"
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", root, "--manifest", man, "--no-progress")
    assert rc == 1
    (line,) = _errors(err)
    assert "sparse file" in line and "refusing the archive" in line
    assert _files_in(root) == [] and not root.exists()  # no work folder, no download, no state


@pytest.mark.parametrize("mode, retries, requests, match", [
    ("404", 3, 1, "HTTP 404"),  # not retried: the file is not there
    ("500", 3, 3, "failed 3 times .*HTTP 500"),
    ("stall", 2, 2, "failed 2 times .*stalled for 0.5 s"),
])
def test_http_failures_are_one_line_with_bounded_retries(srv, tmp_path, capsys, no_sleep, mode, retries, requests,
                                                        match):
    import re

    man, data = _one_dataset(tmp_path, srv)
    srv.mode["imagenet-r.tar"] = mode
    srv.stall_s = 3.0
    root = tmp_path / "root"
    t0 = time.time()
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", root, "--manifest", man, "--no-progress",
                       "--retries", retries, "--timeout", "0.5")
    assert rc == 1
    (line,) = _errors(err)
    assert re.search(match, line), line
    assert len(srv.requests) == requests
    assert no_sleep == [1.0, 2.0][:requests - 1]  # exponential backoff between attempts
    assert time.time() - t0 < 10
    assert not (root / "imagenet-r").exists()


def test_a_full_disk_is_one_line_and_nothing_half_written(srv, tmp_path, capsys, monkeypatch):
    from quba.datasets import download

    man, data = _one_dataset(tmp_path, srv)
    real_open = download._open_part

    class Full:
        def __init__(self, fh):
            self.fh, self.n = fh, 0

        def write(self, b):
            self.n += len(b)
            if self.n > 1000:
                raise OSError(errno.ENOSPC, "No space left on device", str(self.fh.name))
            return self.fh.write(b)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(download, "_open_part", lambda part, mode: Full(real_open(part, mode)))
    root = tmp_path / "root"
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", root, "--manifest", man, "--no-progress")
    assert rc == 1
    (line,) = _errors(err)
    assert "no space left" in line and "nothing of it was kept" in line
    assert _files_in(root) == [] and not root.exists()


def test_not_enough_free_space_fails_before_downloading(srv, tmp_path, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    man, data = _one_dataset(tmp_path, srv)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("quba.datasets.fetching.shutil.disk_usage", lambda p: usage(10**6, 10**6 - 100, 100))
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", tmp_path / "root", "--manifest", man,
                       "--no-progress")
    assert rc == 1 and "not enough free space" in err and srv.requests == []
    assert shutil.disk_usage is not None


def test_a_mirror_serves_the_same_file_names(srv, tmp_path, capsys):
    man, data = _one_dataset(tmp_path, srv)
    m = json.loads(man.read_text())
    m["datasets"]["imagenet-r"]["base_url"] = "http://127.0.0.1:9/nowhere/"  # the official server, unreachable
    man.write_text(json.dumps(m))
    rc, out, err = cli(capsys, "data", "fetch", "imagenet-r", "--data-root", tmp_path / "root2", "--manifest", man,
                       "--mirror", srv.base, "--no-progress")
    assert rc == 0, err
    assert srv.requests[-1][0] == "imagenet-r.tar" and (tmp_path / "root2" / "imagenet-r").is_dir()


def test_without_a_published_checksum_the_first_download_is_recorded_and_enforced(srv, tmp_path, capsys):
    data, counts = A.mvh_tar("edge")
    man, _ = _one_dataset(tmp_path, srv, name="edge", data=data, publish=False)
    root = tmp_path / "root"
    rc, out, err = cli(capsys, "data", "fetch", "edge", "--data-root", root, "--manifest", man, "--no-progress")
    assert rc == 0, err
    assert f"recorded sha256 {A.sha256(data)}" in err and "trust on first use" in err
    rc, out, err = cli(capsys, "data", "list", "edge", "--data-root", root, "--format", "json")
    (entry,) = json.loads(out)
    assert entry["files"][0]["checksum"] == "recorded" and entry["files"][0]["sha256"] == A.sha256(data)
    assert entry["files"][0]["size"] == len(data)
    rc, out, err = cli(capsys, "data", "list", "edge")
    assert "none published: recorded at the first download" in out
    # the folder is lost; the server now sends something else: refused against the recorded sha256
    import shutil

    shutil.rmtree(root / "edge")
    other, _ = A.mvh_tar("edge", n=3)
    srv.files["edge.tar.gz"] = other
    rc, out, err = cli(capsys, "data", "fetch", "edge", "--data-root", root, "--no-progress")
    assert rc == 1  # the recorded size already tells
    (line,) = _errors(err)
    assert f"the server sends {len(other)} bytes, the size recorded at the first download says {len(data)}" in line
    srv.files["edge.tar.gz"] = other[:len(data)]  # same size, other bytes: the recorded sha256 tells
    rc, out, err = cli(capsys, "data", "fetch", "edge", "--data-root", root, "--no-progress")
    assert rc == 1
    (line,) = _errors(err)
    assert "does not match" in line and "recorded at the first download" in line
    assert not (root / "edge").exists()


@pytest.mark.parametrize("argv, match", [
    (["data", "fetch", "imagenet-rr", "--data-root", "{tmp}/r"], "unknown dataset 'imagenet-rr'"),
    (["data", "fetch", "imagenet-val", "--data-root", "{tmp}/r"], "imagenet-val cannot be downloaded"),
    (["data", "fetch", "edge", "--data-root", "{tmp}/r", "--mirror", "ftp://x/"], "--mirror 'ftp://x/' is not an http"),
    (["data", "fetch", "edge", "--data-root", "{tmp}/afile"], "is a file"),
    (["data", "fetch", "edge", "--data-root", "{tmp}/r", "--manifest", "{tmp}/none.json"], "does not exist"),
    (["data", "fetch", "edge", "--data-root", "{tmp}/r", "--retries", "0"], "--retries"),
    (["data", "list", "nothing"], "unknown dataset"),
])
def test_bad_fetch_input_is_one_line_exit_2(tmp_path, capsys, argv, match):
    (tmp_path / "afile").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc, out, err = cli(capsys, *args)
    assert rc == 2
    (line,) = [ln for ln in err.splitlines() if ln.strip()]
    assert match in line
    assert not (tmp_path / "r").exists()
