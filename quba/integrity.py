"""Files quba writes and reads back: checksummed caches, locked writers, stale temp files.

Every cache file (prediction cache, disk memos of the further dimensions, the
generated mini suite) is an `.npz` that carries a SHA-256 of its own arrays
(`__sha256__`). `load_npz` recomputes it: a truncated, zeroed or bit-flipped
file is reported in one line on stderr, removed and treated as missing, so the
caller recomputes it (a file of an older quba, without a checksum, silently).
The zip CRC alone would miss damage outside the array bytes, and a wrong number
must never come back.

Cache writes are atomic (temporary file + rename) but not fsync'd: a file torn
by a power cut fails its checksum and is recomputed, and an fsync per split
would cost more than the forward passes of a small model. Records and
leaderboards (the results) are fsync'd (`quba.paths.atomic_write_bytes`).

`locked(path)` is an inter-process lock (`filelock`) on a hidden
`.<name>.lock` file beside `path`: writers that read, merge and rewrite a file
hold it, so concurrent processes never lose each other's updates.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

CHECKSUM_KEY = "__sha256__"
#: A lock not obtained in this many seconds is reported (one line) instead of waiting forever.
LOCK_TIMEOUT_S = 600.0


def warn(message: str) -> None:
    """One line on stderr (the CLI's prefix), never a traceback."""
    print(f"quba: warning: {message}", file=sys.stderr)


def arrays_digest(arrays: dict) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and bytes (sorted by name)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        if name == CHECKSUM_KEY:
            continue
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def npz_bytes(arrays: dict, compressed: bool = False) -> bytes:
    """An `.npz` of `arrays` plus their checksum."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays,
                                                      **{CHECKSUM_KEY: np.array(arrays_digest(arrays))})
    return buf.getvalue()


def save_npz(path, arrays: dict, *, what: str, compressed: bool = False) -> bool:
    """Write a checksummed cache file atomically (no fsync, see the module docstring).

    A failed write (read-only folder, disk full, a file where a folder should be) is
    reported in one line and skipped: the results in memory stay valid, the next run
    recomputes. Returns whether the file was written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(path)
        replace_file(path, npz_bytes(arrays, compressed), fsync=False)
        return True
    except OSError as exc:
        warn(f"could not write the {what} {path} ({exc.strerror or exc.__class__.__name__}); "
             "it will be recomputed next time (check free space and permissions of $QUBA_CACHE)")
        return False


def load_npz(path, *, what: str) -> dict | None:
    """The arrays of a checksummed cache file, or None when it is missing or damaged.

    A damaged file (unreadable zip, a missing or wrong checksum) is reported in one line
    on stderr and removed, so the caller recomputes and rewrites it. A file of an older
    quba (no checksum) is recomputed the same way, silently."""
    path = Path(path)
    try:
        if not path.is_file():
            return None
    except OSError:
        return None
    reason = None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - BadZipFile, EOFError, ValueError, OSError, zlib.error, ...
        reason = f"unreadable: {exc.__class__.__name__}"
    else:
        stored = arrays.pop(CHECKSUM_KEY, None)
        if stored is None:  # written by quba < format 2 (zip itself catches a damaged member name)
            reason = "legacy"
        elif str(stored) != arrays_digest(arrays):
            reason = "checksum mismatch"
    if reason is None:
        return arrays
    if reason != "legacy":
        warn(f"damaged {what} {path} ({reason}); recomputing it")
    with contextlib.suppress(OSError):
        path.unlink()
    return None


# ---------------------------------------------------------------------------- atomic writes
def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_temps(path, max_age_s: float = 3600.0) -> int:
    """Remove `.<name>.<pid>.tmp` leftovers of writers of `path` that were killed
    (their process is gone, or the file is older than `max_age_s`). Returns how many."""
    path = Path(path)
    removed = 0
    try:
        leftovers = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return 0
    now = time.time()
    for tmp in leftovers:
        pid_s = tmp.name[len(path.name) + 2:-len(".tmp")]
        try:
            pid = int(pid_s)
        except ValueError:
            continue
        try:
            old = now - tmp.stat().st_mtime > max_age_s
        except OSError:
            continue
        if pid != os.getpid() and (old or not _pid_alive(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed


def replace_file(path, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` via `.<name>.<pid>.tmp` in the same folder and rename it over."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()


@contextlib.contextmanager
def locked(path, timeout: float | None = None):
    """Hold the inter-process lock of `path` (a hidden `.<name>.lock` beside it)."""
    from filelock import FileLock, Timeout

    from quba.errors import QubaError

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path.with_name(f".{path.name}.lock")),
                    timeout=LOCK_TIMEOUT_S if timeout is None else timeout)
    try:
        lock.acquire()
    except Timeout:
        raise QubaError(f"another quba process has held the lock on {path} for {lock.timeout:.0f} s; "
                        f"wait for it to finish (or remove {lock.lock_file} if no quba is running)") from None
    try:
        clean_stale_temps(path)
        yield
    finally:
        lock.release()
