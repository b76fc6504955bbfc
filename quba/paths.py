"""Where quba keeps package data, its cache and results."""
from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def data_file(name: str) -> Path:
    return DATA_DIR / name


def cache_dir() -> Path:
    """Root of quba's on-disk cache: $QUBA_CACHE, else ~/.cache/quba."""
    root = os.environ.get("QUBA_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "quba"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from quba.errors import QubaError

        what = "is a file, not a folder" if path.exists() and not path.is_dir() else \
            f"cannot be created ({exc.strerror or exc.__class__.__name__})"
        raise QubaError(f"the quba cache {path} {what}; set QUBA_CACHE to a writable folder") from None
    return path


def atomic_write_bytes(path: Path, data: bytes, devices: bool = False) -> None:
    """Write via a temporary file in the same folder and rename, so readers
    never see a half-written file. Never renames over a folder, device or pipe
    (`quba.integrity.replace_file`); `devices`: an output the user named, which
    may be a device, a pipe or /dev/stdout, written into directly."""
    from quba.integrity import clean_stale_temps, replace_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)  # leftovers of a killed writer
    replace_file(path, data, fsync=True, devices=devices)


def atomic_write_text(path: Path, text: str, devices: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), devices=devices)
