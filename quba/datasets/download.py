"""Resumable HTTP downloads and file digests.

`download(url, part)` appends to `part` from its current length with an HTTP Range request, so
a dropped connection, a stalled server or a killed process (kill -9) costs only what was not
yet written. Transient failures (connection errors, timeouts, 408/425/429, 5xx, a body cut
short) are retried with exponential backoff, a bounded number of times; a 4xx answer fails at
once. Nothing here checks content: the caller verifies size and digests (`digests`) and
decides what to keep.

Why not pooch (the fetcher of SciPy and scikit-image, read at fatiando/pooch `core.py`
`stream_download` and `downloaders.py` `HTTPDownloader`): each attempt streams into a fresh
temporary file that is deleted when the attempt fails, the output is opened "w+b" and no Range
header is sent, so a failure at 20 of 22 GB starts again from zero and a killed process leaves
nothing to resume. Its other ideas -- a registry of known hashes, base URLs that can be swapped
for a mirror, a tqdm bar -- are kept here (the manifest, `--mirror`, the bar).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from quba.errors import QubaError

CHUNK = 1 << 20


class FetchError(QubaError):
    """A download or an archive failed its checks (the input was fine, the data was not): exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` in all, waiting backoff * 2**k (at most `max_backoff`) s between
    them; a read that waits `timeout` s without a byte counts as a stalled server."""
    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 60.0


class _Transient(Exception):
    pass


def _user_agent() -> str:
    from quba import __version__

    return f"quba/{__version__} (quba data fetch)"


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def _wait(seconds: float) -> None:
    """The backoff between attempts (a seam for tests)."""
    time.sleep(seconds)


def _open_part(part: Path, mode: str):
    """The file a download writes to (a seam for tests that fill the disk)."""
    return open(part, mode)


def download(url: str, part: Path, *, size: int | None = None, policy: RetryPolicy = RetryPolicy(),
             progress: bool = True, desc: str | None = None, size_source: str = "the manifest") -> int:
    """Fetch `url` into `part`, resuming from its current length; returns the final length.

    size: the expected length (None: whatever the server sends). FetchError after `policy.attempts`
    failed attempts (the partial file is kept: running again resumes), at once on a 4xx answer or
    when the server's length disagrees with `size`. OSError from writing (disk full) propagates."""
    part = Path(part)
    part.parent.mkdir(parents=True, exist_ok=True)
    last = "no attempt"
    for attempt in range(1, policy.attempts + 1):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have == size:
            return have
        if size is not None and have > size:
            part.unlink()
            have = 0
        try:
            return _attempt(url, part, have, size, policy, progress, desc, size_source)
        except _Transient as exc:
            last = str(exc)
        if attempt < policy.attempts:
            _wait(min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1)))
    have = part.stat().st_size if part.exists() else 0
    raise FetchError(f"download of {url} failed {policy.attempts} times (last: {last}); "
                     f"{have} bytes are kept, run the same command again to resume")


def _attempt(url, part: Path, have: int, size, policy: RetryPolicy, progress: bool, desc,
             size_source: str = "the manifest") -> int:
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=policy.timeout)  # noqa: S310 - http(s) only (manifest)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and size is None:
            return have  # nothing left to send: the partial file is the whole file
        if exc.code == 416 and have:
            part.unlink()
            raise _Transient(f"HTTP 416 for a resume at byte {have}; starting over") from None
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}; check the dataset's base_url or --mirror") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise _Transient(f"no answer within {policy.timeout:g} s") from None
        raise _Transient(f"{reason.__class__.__name__}: {reason}") from None
    with resp:
        status = resp.status
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if status == 206 and _content_range_start(resp.headers.get("Content-Range")) == have:
            mode, start = "ab", have
        elif status == 200:
            mode, start = "wb", 0  # the server ignored the range (or none was asked): from the start
        else:
            raise _Transient(f"unexpected answer {status} to a resume at byte {have}")
        total = start + length if length is not None else None
        if size is not None and total is not None and total != size:
            raise FetchError(f"{url}: the server sends {total} bytes, {size_source} says {size}; "
                             "a different file (check --mirror) or an outdated manifest (--manifest FILE)")
        from tqdm import tqdm

        bar = tqdm(total=total or size, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=desc or part.name.removesuffix(".part"), disable=not progress, file=sys.stderr,
                   leave=False)
        written = start
        try:
            with _open_part(part, mode) as fh:
                while True:
                    try:
                        chunk = resp.read1(CHUNK)  # what has arrived: a stall loses nothing
                    except (socket.timeout, TimeoutError):
                        raise _Transient(f"the server stalled for {policy.timeout:g} s at byte {written}") from None
                    except (http.client.HTTPException, OSError) as exc:  # reset, cut short, ...
                        raise _Transient(f"connection lost at byte {written} ({exc.__class__.__name__})") from None
                    if not chunk:
                        break
                    fh.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            bar.close()
    if total is not None and written < total:
        raise _Transient(f"connection closed at byte {written} of {total}")
    if size is not None and written != size:
        raise _Transient(f"got {written} bytes, expected {size}")
    return written


def digests(path: Path, progress: bool = True, desc: str | None = None) -> dict:
    """{"sha256", "md5", "size"} of a file, in one read."""
    path = Path(path)
    total = path.stat().st_size
    sha, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 - md5 only to compare with published md5s
    from tqdm import tqdm

    with open(path, "rb") as fh, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                      desc=desc or f"verifying {path.name}", disable=not progress,
                                      file=sys.stderr, leave=False) as bar:
        while True:
            block = fh.read(4 * CHUNK)
            if not block:
                break
            sha.update(block)
            md5.update(block)
            bar.update(len(block))
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest(), "size": total}
