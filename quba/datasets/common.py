"""Small helpers shared by the `quba data` commands: work folders inside a data root, hard links
that fall back to copies, the splits a set of dimensions reads."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from quba.errors import QubaError

#: The bookkeeping folder of a data root (fetch state, downloads, work folders); hidden, so the suite
#: never reads it.
STATE_DIR = ".quba-data"


def read_record(path, key: str, what: str, fix: str) -> dict | None:
    """A JSON bookkeeping file of a data root (an object with the object `key`), or None when there is
    none; one QubaError line naming `what` it is and how to `fix` it when it is damaged."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise QubaError(f"{path} is damaged (not JSON); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise QubaError(f"{path} is not a quba {what}; {fix}")
    return data


def work_dir(root, what: str) -> Path:
    """A fresh temporary folder `<root>/.quba-data/tmp/<what>.<pid>` on the root's filesystem, so the
    finished result moves into place by a rename."""
    d = Path(root) / STATE_DIR / "tmp" / f"{what}.{os.getpid()}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def drop_work_dir(d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)
    for parent in (d.parent, d.parent.parent):  # tmp/, then .quba-data/ when nothing else is in them
        with contextlib.suppress(OSError):
            parent.rmdir()


class Linker:
    """Hard-link files where the filesystem allows, copy otherwise; counts both."""

    def __init__(self):
        self.linked = 0
        self.copied = 0
        self._can_link = True

    def __call__(self, src, dst) -> None:
        if self._can_link:
            try:
                os.link(src, dst)
                self.linked += 1
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
                self._can_link = exc.errno == errno.EMLINK  # another filesystem: stop trying
        shutil.copy2(src, dst)
        self.copied += 1


def is_image(name: str) -> bool:
    """A file the imagenet suite reads as an image (docs/imagenet-layout.md#reading-rules)."""
    from quba.suites.imagenet import IMAGE_EXTENSIONS

    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def resolve_dims(dims) -> list[str] | None:
    """Canonical dimension names (aliases allowed; None: every dimension)."""
    if dims is None:
        return None
    from quba.engine import resolve_dims as canonical

    return canonical(dims)


def root_folder(root, must_exist: bool = True) -> Path:
    root = Path(root).expanduser()
    if must_exist and not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise QubaError(f"--data-root {str(root)!r} {what}; give the data root (the folder holding val/, imagenet-c/, "
                        "...; docs/imagenet-layout.md)")
    if not must_exist and root.exists() and not root.is_dir():
        raise QubaError(f"--data-root {str(root)!r} is a file, not a folder")
    return root


def worker_context():
    """The multiprocessing context of the data commands' workers: a forkserver (never a plain fork
    after OpenCV's or torch's thread pools ran in the parent: that hung, issue 23.1), spawn where
    there is none."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["quba.datasets.common"])
    return ctx


def worker_init() -> None:
    """Worker initialiser: one thread each (one process per core already)."""
    with contextlib.suppress(Exception):
        import cv2

        cv2.setNumThreads(1)  # one process per core already
    with contextlib.suppress(Exception):
        import torch

        torch.set_num_threads(1)
