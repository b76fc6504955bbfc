"""`quba data fetch`: download, verify, extract and arrange the downloadable datasets under a data root.

Per archive of the manifest: download into `<root>/.quba-data/downloads/<name>.part` (resumed
from its length after a dropped connection or a kill), check its size and published digests
(sha256, md5; where none is published the sha256 of the first download is recorded and later
downloads into the same root must match it), extract it safely into a temporary folder under
`<root>/.quba-data/`, rearrange it into the suite's layout and move it into place by renames,
then note it in `<root>/.quba-data/state.json`. A rerun skips what the state file says is in
place. A wrong checksum deletes the download and leaves nothing behind; so does a full disk.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import shutil
import sys
import urllib.parse
from pathlib import Path

from quba.datasets.common import STATE_DIR, read_record
from quba.datasets.download import FetchError, RetryPolicy, digests, download
from quba.datasets.extract import arrange, move_into, safe_extract, unpack_limit
from quba.datasets.manifest import Dataset, FileSpec, Manifest, keep_root_manifest, manifest_for
from quba.errors import QubaError

STATE_FILE = "state.json"


def state_dir(root) -> Path:
    return Path(root) / STATE_DIR


def read_state(root) -> dict:
    """The fetch state of a data root ({"format", "files": {"<dataset>/<file>": {...}}}); empty if none."""
    state = read_record(state_dir(root) / STATE_FILE, "files", "fetch state",
                        "delete it (fetched data stays; the next fetch checks again)")
    return state if state is not None else {"format": 1, "files": {}}


def _write_state(root, state: dict) -> None:
    from quba.paths import atomic_write_text

    atomic_write_text(state_dir(root) / STATE_FILE, json.dumps(state, indent=1, sort_keys=True) + "\n")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def check_mirror(mirror: str | None) -> str | None:
    if mirror is None:
        return None
    parsed = urllib.parse.urlparse(str(mirror))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise QubaError(f"--mirror {mirror!r} is not an http(s) URL; give the base URL the archives are under, "
                        "e.g. https://mirror.example.org/imagenet-c/")
    return str(mirror)


def file_url(ds: Dataset, f: FileSpec, mirror: str | None = None) -> str:
    base = mirror or ds.base_url
    return base.rstrip("/") + "/" + urllib.parse.quote(f.name)


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _stale_temps(sdir: Path) -> None:
    """Remove extraction folders of fetches that were killed (their process is gone)."""
    from quba.integrity import _pid_alive

    tmp = sdir / "tmp"
    if not tmp.is_dir():
        return
    for d in tmp.iterdir():
        pid = d.name.rsplit(".", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def fetch(names, root, *, mirror: str | None = None, manifest=None, keep_archives: bool = False,
          progress: bool = True, policy: RetryPolicy | None = None, log=None) -> list[dict]:
    """Download, verify and unpack the datasets `names` (names or groups: 'model-vs-human', 'all')
    into the data root `root`. mirror: another base URL serving the same file names. manifest:
    a path (--manifest FILE) or a Manifest. log(line): progress lines (default: stderr).

    Returns one dict per archive: dataset, file, status ('fetched' or 'present'), size, sha256,
    checksum ('published' or 'recorded'). QubaError (exit 2) for bad input before any download;
    FetchError (exit 1) when a download, a checksum or an archive fails."""
    man = manifest_for(root, manifest)
    sets = man.resolve(names)
    blocked = [d for d in sets if not d.downloadable]
    if blocked:
        d = blocked[0]
        raise QubaError(f"{d.name} cannot be downloaded: {d.terms or 'no public source'}; {d.how or ''}".rstrip("; "))
    mirror = check_mirror(mirror)
    policy = policy or RetryPolicy()
    log = log or (lambda line: print(line, file=sys.stderr))
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise QubaError(f"--data-root {str(root)!r} is a file, not a folder")
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    sdir = state_dir(root)
    sdir_existed = sdir.exists()
    results: list[dict] = []
    from quba.integrity import locked

    failed: list[FetchError] = []
    try:
        with locked(sdir / STATE_FILE, timeout=0):
            _stale_temps(sdir)
            for ds in sets:
                for f in ds.files:
                    try:
                        results.append(_fetch_file(ds, f, root, mirror, keep_archives, progress, policy, log))
                    except FetchError as exc:  # the other archives still come; the failures are told at the end
                        failed.append(exc)
                        break  # the dataset's further archives would leave it incomplete anyway
                    if manifest is not None and not isinstance(manifest, Manifest):
                        keep_root_manifest(root, manifest)
    finally:
        _tidy(root, sdir, created_root, sdir_existed)
    if len(failed) == 1:
        raise failed[0]
    if failed:
        for exc in failed[:-1]:
            log(f"quba: error: {exc}")
        raise FetchError(f"{len(failed)} datasets failed (the others are in place); last: {failed[-1]}")
    return results


def _tidy(root: Path, sdir: Path, created_root: bool, sdir_existed: bool) -> None:
    """Leave no empty bookkeeping behind (a refused first download leaves the root as it was)."""
    for sub in ("tmp", "downloads"):
        with contextlib.suppress(OSError):
            (sdir / sub).rmdir()
    with contextlib.suppress(OSError):
        if not sdir_existed and not (sdir / STATE_FILE).exists():
            for p in sdir.glob(".*.lock"):
                p.unlink()
            sdir.rmdir()
    with contextlib.suppress(OSError):
        if created_root:
            root.rmdir()  # only if empty


def _present(entry: dict | None, root: Path) -> bool:
    return bool(entry and entry.get("extracted") and entry.get("targets")
                and all((root / t).exists() for t in entry["targets"]))


def _fetch_file(ds: Dataset, f: FileSpec, root: Path, mirror, keep_archives, progress, policy, log) -> dict:
    key = f"{ds.name}/{f.name}"
    state = read_state(root)
    entry = state["files"].get(key)
    if _present(entry, root):
        log(f"{key}: already in place ({', '.join(entry['targets'])}); nothing to do")
        return {"dataset": ds.name, "file": f.name, "status": "present", "size": entry.get("size"),
                "sha256": entry.get("sha256"), "checksum": entry.get("checksum")}
    sdir = state_dir(root)
    downloads = sdir / "downloads"
    archive = downloads / f.name
    part = downloads / (f.name + ".part")
    recorded = entry if entry and entry.get("checksum") == "recorded" else None
    size = f.size if f.size is not None else (recorded or {}).get("size")
    url = file_url(ds, f, mirror)
    try:
        if archive.is_file():  # downloaded and verified by a run that stopped before it was unpacked
            dig = _verify(ds, f, archive, recorded, progress)
        else:
            _check_space(root, f, size, part)
            log(f"{key}: downloading {url} ({fmt_bytes(size)})")
            download(url, part, size=size, policy=policy, progress=progress, desc=f.name,
                     size_source="the manifest" if f.size is not None else "the size recorded at the first download")
            dig = _verify(ds, f, part, recorded, progress)
            os.replace(part, archive)
        try:
            targets = _unpack(ds, f, archive, root, progress, log, key)
        except FetchError:
            archive.unlink()  # refused (hostile, damaged, not the layout described): not kept, not trusted
            raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            for p in (part, archive):
                with contextlib.suppress(OSError):
                    p.unlink()
            raise FetchError(f"{key}: no space left on the device of {root} while writing "
                             f"{exc.filename or 'the download'}; nothing of it was kept (free about "
                             f"{fmt_bytes(2 * (size or 0)) if size else 'its size twice'} and run again)") from None
        raise
    entry = {"url": url, "size": dig["size"], "sha256": dig["sha256"], "md5": dig["md5"],
             "checksum": "published" if f.published_checksum else "recorded", "verified": _now(),
             "extracted": True, "targets": targets}
    state = read_state(root)
    state["files"][key] = entry
    _write_state(root, state)
    if not f.published_checksum and not recorded:
        log(f"{key}: no checksum is published for it; recorded sha256 {dig['sha256']} ({dig['size']} bytes) "
            f"in {sdir / STATE_FILE} (trust on first use: later fetches into this root must match it)")
    if not keep_archives:
        with contextlib.suppress(OSError):
            archive.unlink()
    log(f"{key}: in place ({', '.join(targets)})")
    return {"dataset": ds.name, "file": f.name, "status": "fetched", "size": entry["size"], "sha256": entry["sha256"],
            "checksum": entry["checksum"]}


def _check_space(root: Path, f: FileSpec, size: int | None, part: Path) -> None:
    if size is None:
        return
    have = part.stat().st_size if part.exists() else 0
    need = (size - have) + (f.unpacked_bytes or size)  # the rest of the download + its unpacked copy
    free = shutil.disk_usage(root).free
    if free < need:
        raise FetchError(f"{f.name}: not enough free space under {root}: it needs about {fmt_bytes(need)} "
                         f"(download and unpacked copy), {fmt_bytes(free)} are free; free space or choose "
                         "another --data-root")


def _verify(ds: Dataset, f: FileSpec, path: Path, recorded: dict | None, progress: bool) -> dict:
    dig = digests(path, progress=progress, desc=f"verifying {f.name}")

    def refuse(what: str, got, want, source) -> FetchError:
        with contextlib.suppress(OSError):
            path.unlink()
        return FetchError(f"{ds.name}/{f.name}: {what} {got} does not match {want} ({source}); the download was "
                          "deleted: fetch again, or check --mirror / --manifest")

    src = f.checksum_source or "the manifest"
    if f.size is not None and dig["size"] != f.size:
        raise refuse("size", dig["size"], f.size, src)
    if f.sha256 and dig["sha256"] != f.sha256:
        raise refuse("sha256", dig["sha256"], f.sha256, src)
    if f.md5 and dig["md5"] != f.md5:
        raise refuse("md5", dig["md5"], f.md5, src)
    if not f.published_checksum and recorded and recorded.get("sha256") not in (None, dig["sha256"]):
        raise refuse("sha256", dig["sha256"], recorded["sha256"],
                     f"recorded at the first download on {recorded.get('verified', '?')}")
    return dig


def _unpack(ds: Dataset, f: FileSpec, archive: Path, root: Path, progress: bool, log, key: str) -> list[str]:
    tmp = state_dir(root) / "tmp" / f"{ds.name}.{f.name}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        n = safe_extract(archive, tmp, members=f.members, exclude=f.exclude,
                         limit=unpack_limit(archive.stat().st_size, f.unpacked_bytes), progress=progress,
                         desc=f"extracting {f.name}")
        tops = sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []
        if n == 0 or not tops:
            want = ", ".join(f.members) if f.members else "any file"
            raise FetchError(f"{key}: the archive holds no file under {want}; its layout differs from the "
                             "manifest's (see docs/data.md#the-manifest)")
        arrange(f.arrange, tmp, tops)
        dest = root / f.extract_to
        for top in tops:
            move_into(tmp / top, dest / top)
        return [str(Path(f.extract_to) / t) if f.extract_to != "." else t for t in tops]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            tmp.parent.rmdir()
