"""Issue 10.9: QUBA-mini splits generated in parallel (and only those asked for) are bit-identical
to splits generated one after another in one process."""
from __future__ import annotations

import numpy as np

from quba.suites.mini import MiniSuite

NAMES = ["corruption/brightness/1", "corruption/glass_blur/2", "ood/edge", "cue_conflict", "bg/mixed_rand"]


def _arrays(suite, name):
    return suite._load_cached(name)


def test_parallel_and_selective_generation_equal_serial(tmp_path, monkeypatch):
    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "serial"))
    serial = MiniSuite()
    for n in NAMES:
        serial.split(n)
    ref = {n: _arrays(serial, n) for n in NAMES}

    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "parallel"))
    par = MiniSuite()
    made = par.prepare(NAMES, processes=2)
    assert set(made) == {"val", *NAMES}
    files = sorted(p.name for p in par.cache_path.glob("*.npz"))
    assert files == sorted(["val.npz"] + [n.replace("/", "__") + ".npz" for n in NAMES])  # nothing else
    for n in NAMES:
        got = _arrays(par, n)
        assert set(got) == set(ref[n]), n
        for k in ref[n]:
            np.testing.assert_array_equal(got[k], ref[n][k], err_msg=f"{n}:{k}")
    assert par.prepare(NAMES, processes=2) == []  # cached: nothing to do


def test_background_generation_is_waited_for_split_by_split(tmp_path, monkeypatch):
    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "serial"))
    serial = MiniSuite()
    want = NAMES[2:]
    ref = {n: serial.split(n) for n in want}
    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "bg"))
    bg = MiniSuite()
    bg.prepare(want, processes=2, background=True)
    try:
        for n in reversed(want):  # in any order
            np.testing.assert_array_equal(bg.split(n).images.numpy(), ref[n].images.numpy())
            np.testing.assert_array_equal(bg.split(n).labels, ref[n].labels)
    finally:
        bg.finish()
    assert "_pool" not in bg.__dict__


def test_a_failing_worker_falls_back_to_generating_in_process(tmp_path, monkeypatch):
    import quba.suites.mini_cache as M

    monkeypatch.setenv("QUBA_CACHE", str(tmp_path / "fail"))

    def broken(job):
        raise OSError("worker died")

    monkeypatch.setattr(M, "_generate_into_cache", broken)
    suite = MiniSuite()
    suite.prepare(["ood/edge", "ood/silhouette"], processes=2, background=True)
    try:
        assert len(suite.split("ood/edge")) == 240 and len(suite.split("ood/silhouette")) == 240
    finally:
        suite.finish()


def test_workers_do_not_hang_after_opencv_ran_in_the_parent(tmp_path):
    """Issue 23.1: forked workers inherited OpenCV's thread pool from a parent that had used it and
    hung for ever in `pthread_cond_destroy`. Run in a subprocess with a time limit, so that a
    regression fails with a message instead of hanging the test run."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import cv2, numpy as np
        cv2.setNumThreads(2)
        big = np.random.default_rng(0).random((2048, 2048, 3), dtype=np.float32)
        for _ in range(3):
            cv2.GaussianBlur(big, (31, 31), 5)  # OpenCV's thread pool now ran in this process
        from quba.suites.mini import MiniSuite
        suite = MiniSuite()
        made = suite.prepare({NAMES[:3]!r}, processes=2)
        print(sorted(made))
    """)
    env = {**os.environ, "QUBA_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == repr(sorted(["val", *NAMES[:3]]))
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 4
