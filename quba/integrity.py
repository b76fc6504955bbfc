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

Special files. Nothing quba reads can hang it: `read_regular` opens without
blocking and refuses a named pipe (FIFO), device, socket or folder in the place
of a file (`NotRegularFile`, an OSError whose `strerror` says what is there).
`replace_file` never renames over anything but a regular file: a folder or,
for quba's own files, any special file is refused the same way; an output the
user names (`quba report -o`, `quba consistency --json`: `devices=True`) that is
a device, a pipe or `/dev/stdout` is written into directly, and a symbolic link
is kept (the file it points to is replaced).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import stat
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


#: (cache root, errno) of the cache-write failures reported in this process: one line each, not one per file.
_WRITE_FAILURES_REPORTED: set = set()
_WRITE_FAILURES_SILENT = False


def silence_cache_write_failures() -> None:
    """For helper processes (the mini suite's generators): their failed cache writes are not reported;
    the process that asked for the files finds them missing, writes them itself and reports that once."""
    global _WRITE_FAILURES_SILENT
    _WRITE_FAILURES_SILENT = True


def _cache_root(path: Path) -> str:
    """The quba cache a file belongs to ($QUBA_CACHE), else its folder."""
    root = os.environ.get("QUBA_CACHE")
    try:
        if root and Path(path).resolve().is_relative_to(Path(root).resolve()):
            return str(Path(root).resolve())
    except OSError:  # pragma: no cover - an unresolvable path
        pass
    return str(Path(path).parent)


def save_npz(path, arrays: dict, *, what: str, compressed: bool = False) -> bool:
    """Write a checksummed cache file atomically (no fsync, see the module docstring).

    A failed write (read-only folder, disk full, a file where a folder should be) is
    reported in one line and skipped: the results in memory stay valid, the next run
    recomputes. A full or read-only cache makes every write fail the same way: that is
    reported once per process (per cache and error), not once per file. Returns whether
    the file was written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(path)
        replace_file(path, npz_bytes(arrays, compressed), fsync=False)
        return True
    except OSError as exc:
        key = (_cache_root(path), exc.errno, exc.strerror)
        if key not in _WRITE_FAILURES_REPORTED and not _WRITE_FAILURES_SILENT:
            _WRITE_FAILURES_REPORTED.add(key)
            warn(f"could not write the {what} {path} ({exc.strerror or exc.__class__.__name__}); "
                 "it will be recomputed next time (check free space and permissions of $QUBA_CACHE; "
                 "further cache files that fail the same way are not reported)")
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


# ---------------------------------------------------------------------------- special files
def kind_of(mode: int) -> str | None:
    """None for a regular file, else what a file of this `st_mode` is, in words."""
    if stat.S_ISREG(mode):
        return None
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "a special file"  # pragma: no cover - no other kinds on Linux


class NotRegularFile(OSError):
    """A folder, named pipe, device or socket where quba reads or writes a file. An OSError,
    so every writer's and reader's one-line error handling reports it (`strerror` says what)."""

    def __init__(self, path, kind: str):
        code = errno.EISDIR if kind == "a folder" else errno.EINVAL
        super().__init__(code, f"it is {kind}, not a regular file", str(path))
        self.kind = kind


def check_regular(path) -> None:
    """Raise NotRegularFile when something other than a regular file is at `path` (following
    symbolic links); nothing when it is a regular file or missing. For readers that hand the
    path to a library (torch, PIL, importlib) which would block on a named pipe."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    kind = kind_of(st.st_mode)
    if kind:
        raise NotRegularFile(path, kind)


def why_not_a_file(path) -> str:
    """'does not exist', or 'is <what>, not a file' for a path that is not a regular file."""
    try:
        kind = kind_of(os.stat(path).st_mode)
    except OSError:
        return "does not exist"
    return f"is {kind}, not a file" if kind else "is a file"


def read_regular(path) -> bytes:
    """The bytes of the regular file at `path`. Opened without blocking, so a named pipe, a
    device, a socket or a folder there is a NotRegularFile error at once, never a hang."""
    check_regular(path)  # a socket cannot even be opened: say what it is
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = kind_of(os.fstat(fd).st_mode)  # what was opened (it may have been swapped since the check)
        if kind:
            raise NotRegularFile(path, kind)
        chunks = []
        while chunk := os.read(fd, 1 << 22):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


_STD_STREAM = re.compile(r"/dev/(stdout|stderr)|/dev/fd/(\d+)|/proc/self/fd/(\d+)")


def _stream_fd(path: Path) -> int | None:
    """The descriptor that /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N names."""
    m = _STD_STREAM.fullmatch(os.path.normpath(str(path)))
    if not m:
        return None
    return {"stdout": 1, "stderr": 2}[m.group(1)] if m.group(1) else int(m.group(2) or m.group(3))


def written_in_place(path) -> bool:
    """Whether `replace_file(path, ..., devices=True)` writes into `path` as it is (a device, a pipe,
    a socket or a standard stream such as /dev/stdout) instead of replacing a file."""
    if _stream_fd(Path(path)) is not None:
        return True
    try:
        return kind_of(os.stat(path).st_mode) not in (None, "a folder")
    except OSError:
        return False


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_special(path: Path, data: bytes) -> None:
    """Write into a device, pipe or socket in place (no temporary file, no rename). A named
    pipe nobody reads is an error (ENXIO), not a hang."""
    fd_no = _stream_fd(path)
    if fd_no is not None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # what was printed before comes first
        _write_fd(fd_no, data)
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "it is a named pipe (FIFO) that nobody reads", str(path)) from None
        raise
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)  # then write it all
        _write_fd(fd, data)
    finally:
        os.close(fd)


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


def replace_file(path, data: bytes, fsync: bool = True, devices: bool = False) -> None:
    """Write `data` to `path` via `.<name>.<pid>.tmp` in the same folder and rename it over.

    Only a regular file is ever replaced: a folder at `path` is a NotRegularFile error; so is a
    device, named pipe or socket, unless `devices` (an output the user named), when `data` is
    written into it directly. A symbolic link stays: the file it points to is replaced."""
    path = Path(path)
    try:
        st = os.stat(path)  # follows symbolic links: what a write would reach
    except OSError:
        st = None  # missing (or unreachable: the write reports it)
    kind = kind_of(st.st_mode) if st is not None else None
    if kind is None and devices and _stream_fd(path) is not None:
        kind = "a stream"  # /dev/stdout redirected to a file: append to the stream, as a shell would
    if kind:
        if kind == "a folder" or not devices:
            raise NotRegularFile(path, kind)
        _write_special(path, data)
        return
    if path.is_symlink():
        path = Path(os.path.realpath(path))
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
        check_regular(lock.lock_file)  # a folder or pipe there: say so, do not blame the file it guards
        lock.acquire()
    except Timeout:
        raise QubaError(f"another quba process has held the lock on {path} for {lock.timeout:.0f} s; "
                        f"wait for it to finish (or remove {lock.lock_file} if no quba is running)") from None
    except OSError as exc:
        raise QubaError(f"cannot take the lock on {path}: its lock file {lock.lock_file} cannot be opened "
                        f"({exc.strerror or exc.__class__.__name__}); remove it (no quba must be running), free "
                        "space or fix permissions") from None
    try:
        clean_stale_temps(path)
        yield
    finally:
        lock.release()
