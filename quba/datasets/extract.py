"""Safe extraction of tar and zip archives into a temporary folder, and moving the result into place.

Every member is checked before anything of it is written, and one hostile member refuses the
whole archive (`HostileArchive`, exit 1): an absolute path, a '..' component, a link whose
target leaves the extraction folder, a device file or FIFO, a sparse member, or more bytes in
all than the archive can plausibly hold (`limit`; a 1 GB sparse member of a 10 kB tar). The
caller extracts into a temporary folder inside the data root and moves the finished tree into
place (`move_into`, a rename per entry), so a refused archive, a kill or a full disk never
leaves a half-extracted folder where the suite reads.
"""
from __future__ import annotations

import lzma
import os
import posixpath
import re
import shutil
import stat
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Callable

from quba.datasets.download import FetchError

#: Slack on top of the size an archive may unpack to (directory entries, small files).
SLACK_BYTES = 16 << 20


class HostileArchive(FetchError):
    """An archive member that would write outside the extraction folder, or an archive that
    unpacks to far more than it should."""


def unpack_limit(archive_bytes: int, unpacked_bytes: int | None = None) -> int:
    """The most bytes an archive may unpack to: its manifest's `unpacked_bytes` (+10 %), else twice
    its own size (images do not compress: a dataset archive unpacks to about its size)."""
    if unpacked_bytes:
        return int(unpacked_bytes * 1.1) + SLACK_BYTES
    return 2 * int(archive_bytes) + SLACK_BYTES


def clean_member(name: str, archive: str) -> str:
    """A member's path, normalised ('./a//b' -> 'a/b'); HostileArchive for an absolute path or '..'."""
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        raise HostileArchive(f"{archive}: member {name!r} has an absolute path; refusing the archive")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise HostileArchive(f"{archive}: member {name!r} climbs out with '..'; refusing the archive")
    return "/".join(parts)


def _link_target_ok(member: str, target: str, hard: bool) -> bool:
    if not target or target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        return False
    joined = posixpath.normpath(target if hard else posixpath.join(posixpath.dirname(member), target))
    return not (joined == ".." or joined.startswith("../") or joined.startswith("/"))


def _under(name: str, prefixes) -> bool:
    for p in prefixes:
        p = p.strip("/")
        if not p or name == p or name.startswith(p + "/"):
            return True
    return False


class _Counting:
    """A read-only file wrapper that advances a progress bar by the bytes read."""

    def __init__(self, fh, bar):
        self._fh, self._bar = fh, bar

    def read(self, n=-1):
        b = self._fh.read(n)
        self._bar.update(len(b))
        return b

    def __getattr__(self, name):
        return getattr(self._fh, name)


class _Writer:
    """Writes members under `dest`, refusing paths that resolve outside it."""

    def __init__(self, dest: Path, archive: str, limit: int):
        self.dest = Path(dest)
        self.real = os.path.realpath(self.dest)
        self.archive = archive
        self.limit = limit
        self.total = 0
        self.files = 0

    def _path(self, rel: str) -> Path:
        p = self.dest / rel
        parent = os.path.realpath(p.parent)
        if parent != self.real and not parent.startswith(self.real + os.sep):
            raise HostileArchive(f"{self.archive}: member {rel!r} would be written through a link outside "
                                 "the extraction folder; refusing the archive")
        return p

    def reserve(self, name: str, size: int) -> None:
        self.total += int(size)
        if self.total > self.limit:
            raise HostileArchive(f"{self.archive}: unpacks to more than {self.limit:,} bytes (at member {name!r}), "
                                 "far more than the manifest's size for it; refusing the archive")

    def mkdir(self, rel: str) -> None:
        if rel:
            self.dest.joinpath(rel).mkdir(parents=True, exist_ok=True)

    def file(self, rel: str, src, size: int) -> None:
        self.dest.joinpath(rel).parent.mkdir(parents=True, exist_ok=True)
        path = self._path(rel)
        written = 0
        with open(path, "wb") as out:
            while True:
                block = src.read(1 << 20)
                if not block:
                    break
                written += len(block)
                if written > size:
                    raise HostileArchive(f"{self.archive}: member {rel!r} holds more bytes than its header "
                                         "says; refusing the archive")
                out.write(block)
        os.chmod(path, 0o644)
        self.files += 1

    def symlink(self, rel: str, target: str) -> None:
        self.dest.joinpath(rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, self._path(rel))

    def hardlink(self, rel: str, target_rel: str) -> None:
        target = self._path(target_rel)
        if not target.is_file():
            raise HostileArchive(f"{self.archive}: hard link {rel!r} points to {target_rel!r}, which is not "
                                 "an extracted file; refusing the archive")
        self.dest.joinpath(rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(target, self._path(rel))


def safe_extract(archive, dest, *, members=(), exclude=(), limit: int | None = None,
                 place: Callable[[str], str | None] | None = None, progress: bool = True,
                 desc: str | None = None) -> int:
    """Extract `archive` (tar, tar.gz/bz2/xz or zip) into the folder `dest`, in one pass.

    members/exclude: archive path prefixes to extract / to leave out (empty members: all).
    place(path) -> relative destination (None: skip), after the selection (default: the path).
    limit: most bytes in all (default `unpack_limit` of the archive's size).
    Every member is checked, also the ones not extracted. Returns the number of files written."""
    archive = Path(archive)
    name = archive.name
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    writer = _Writer(dest, name, limit if limit is not None else unpack_limit(archive.stat().st_size))

    def target(rel: str) -> str | None:
        if not rel or (members and not _under(rel, members)) or _under(rel, exclude):
            return None
        return place(rel) if place is not None else rel

    from tqdm import tqdm

    with tqdm(total=archive.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
              desc=desc or f"extracting {name}", disable=not progress, file=sys.stderr, leave=False) as bar:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, writer, target, bar)
        else:
            with open(archive, "rb") as raw:
                try:
                    tar = tarfile.open(fileobj=_Counting(raw, bar), mode="r|*")
                except tarfile.TarError as exc:
                    raise FetchError(f"{name} is damaged, truncated or neither a tar nor a zip archive ({exc}); "
                                     "delete it and fetch again") from None
                try:
                    _extract_tar(tar, writer, target)
                except OSError as exc:
                    if exc.errno is not None:
                        raise  # disk full, permissions: the caller says so in one line
                    raise _damaged(name, exc) from None  # gzip.BadGzipFile and the like
                except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
                    raise _damaged(name, exc) from None
                finally:
                    tar.close()
    return writer.files


def _damaged(name: str, exc: BaseException) -> FetchError:
    return FetchError(f"{name} is damaged or truncated ({exc.__class__.__name__}: {exc}); delete it and fetch again")


def _extract_tar(tar: tarfile.TarFile, writer: _Writer, target) -> None:
    name = writer.archive
    for m in tar:
        rel = clean_member(m.name, name)
        if m.issparse():
            raise HostileArchive(f"{name}: member {m.name!r} is a sparse file ({m.size:,} bytes when unpacked); "
                                 "refusing the archive")
        if m.ischr() or m.isblk() or m.isfifo() or m.isdev():
            raise HostileArchive(f"{name}: member {m.name!r} is a device file or FIFO; refusing the archive")
        if m.issym() or m.islnk():
            if not _link_target_ok(rel, m.linkname, hard=m.islnk()):
                raise HostileArchive(f"{name}: link {m.name!r} -> {m.linkname!r} points outside the extraction "
                                     "folder; refusing the archive")
        elif not (m.isreg() or m.isdir()):
            raise HostileArchive(f"{name}: member {m.name!r} is of an unsupported type; refusing the archive")
        writer.reserve(m.name, m.size if m.isreg() else 0)
        dest = target(rel)
        if dest is None:
            continue
        if m.isdir():
            writer.mkdir(dest)
        elif m.isreg():
            src = tar.extractfile(m)
            writer.file(dest, src, m.size)
        elif m.issym():
            writer.symlink(dest, m.linkname)
        else:
            writer.hardlink(dest, target(clean_member(m.linkname, name)) or "")


def _extract_zip(archive: Path, writer: _Writer, target, bar) -> None:
    name = writer.archive
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{name} is not a readable zip archive ({exc}); delete it and fetch again") from None
    with zf:
        infos = zf.infolist()
        kinds = {}
        for zi in infos:  # every member checked before the first byte is written
            rel = clean_member(zi.filename, name)
            mode = zi.external_attr >> 16
            if stat.S_ISLNK(mode):
                link = zf.read(zi).decode("utf-8", "replace")
                if not _link_target_ok(rel, link, hard=False):
                    raise HostileArchive(f"{name}: link {zi.filename!r} -> {link!r} points outside the extraction "
                                         "folder; refusing the archive")
                kinds[zi.filename] = ("link", link)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                raise HostileArchive(f"{name}: member {zi.filename!r} is a device file or FIFO; refusing the archive")
            else:
                kinds[zi.filename] = ("dir", None) if zi.is_dir() else ("file", None)
            writer.reserve(zi.filename, zi.file_size if kinds[zi.filename][0] == "file" else 0)
        for zi in infos:
            rel = clean_member(zi.filename, name)
            dest = target(rel)
            kind, link = kinds[zi.filename]
            if dest is not None:
                if kind == "dir":
                    writer.mkdir(dest)
                elif kind == "link":
                    writer.symlink(dest, link)
                else:
                    try:
                        with zf.open(zi) as src:
                            writer.file(dest, src, zi.file_size)
                    except (zipfile.BadZipFile, EOFError) as exc:
                        raise FetchError(f"{name}: member {zi.filename!r} is damaged ({exc}); delete the archive "
                                         "and fetch again") from None
            bar.update(zi.compress_size)


# ---------------------------------------------------------------------------- arranging
def arrange(rule: str | None, tmp: Path, tops) -> None:
    """Rearrange an extracted tree into the suite's layout (rules named by the manifest)."""
    if rule is None:
        return
    if rule == "mvh-sessions":
        for top in tops:
            _mvh_sessions(Path(tmp) / top, top)
        return
    raise FetchError(f"unknown arrangement {rule!r}")


def _mvh_sessions(base: Path, top: str) -> None:
    """model-vs-human keeps sketch and stylized as <name>/dnn/session-1/NNNN_xxx_xxx_<cond>_<category>_...;
    quba reads <name>/<category>/ (the category is the 5th '_' field, as modelvshuman's
    InfoMappingWithSessions reads it)."""
    from quba.metrics.decisions import sixteen_class_names

    sessions = sorted(p for p in base.glob("dnn/session-*") if p.is_dir())
    if not sessions:
        return  # already one folder per category
    cats = set(sixteen_class_names())
    for s in sessions:
        for f in sorted(s.iterdir()):
            if f.name.startswith(".") or not f.is_file():
                continue
            parts = f.name.split("_")
            cat = parts[4] if len(parts) > 4 else None
            if cat not in cats:
                raise FetchError(f"{top}/dnn/{s.name}/{f.name}: no model-vs-human category in the file name "
                                 "(expected NNNN_xxx_xxx_<condition>_<category>_...); the archive is not the one "
                                 "the manifest describes")
            (base / cat).mkdir(exist_ok=True)
            os.rename(f, base / cat / f.name)
    shutil.rmtree(base / "dnn")


# ---------------------------------------------------------------------------- into place
def _conflicts(src: Path, dst: Path, out: list) -> None:
    if not os.path.lexists(dst):
        return
    if src.is_dir() and not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
        for child in src.iterdir():
            _conflicts(child, dst / child.name, out)
    elif not (src.is_file() and dst.is_file() and src.stat().st_size == dst.stat().st_size):
        out.append(dst)


def move_into(src: Path, dst: Path) -> None:
    """Move the tree `src` to `dst` by renames (same filesystem): a missing `dst` is one atomic rename;
    an existing folder is merged entry by entry; a file already there with the same size is kept
    (a rerun after an interrupted move). Any other clash fails before anything moves."""
    clashes: list[Path] = []
    _conflicts(src, dst, clashes)
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise FetchError(f"{clashes[0]} already exists and differs from the archive's{more}; move it away (or "
                         "check it with 'quba data check') and fetch again")
    _move(src, dst)


def _move(src: Path, dst: Path) -> None:
    if not os.path.lexists(dst):
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        return
    if src.is_dir() and not src.is_symlink():
        for child in sorted(src.iterdir()):
            _move(child, dst / child.name)
        src.rmdir()
    else:
        src.unlink()
