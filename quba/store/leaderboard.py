"""`<output>/<suite>/leaderboard.csv`, regenerated from the records (never edited by hand).

Columns: model, suite; one column per measured dimension (canonical names of
`quba.dimensions`, registry order: the nine QUBA dimensions first); then
`<dim>_lo`, `<dim>_hi` per dimension; then architecture, paradigm,
pretraining_data, source, subset, quba_version. `quba rank --leaderboard` reads it.

Beside it, `leaderboard.csv.sha256` (the format of `sha256sum`, so `sha256sum -c`
checks it) lets readers tell a damaged or hand-edited leaderboard from the one
quba wrote (`verify`). Regeneration holds an inter-process lock on the CSV
(`quba.integrity.locked`) and re-reads the records under it, so concurrent
evaluations never drop each other's rows; an unchanged leaderboard is not
rewritten.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from quba import csvsafe, dimensions
from quba.numbers import finite_or_none
from quba.paths import atomic_write_text
from quba.store.records import load_records

METADATA = ("architecture", "paradigm", "pretraining_data", "source", "subset", "quba_version")



def leaderboard_frame(records: list[dict]):
    import pandas as pd

    measured = {d for r in records for d in r.get("dimensions", {})}
    dims = [d for d in dimensions.all_dimensions() if d in measured]
    rows = []
    for r in sorted(records, key=lambda r: str(r["model"])):
        row = {"model": r["model"], "suite": r["suite"]}
        vals = r.get("dimensions", {})
        for d in dims:
            row[d] = finite_or_none(vals.get(d, {}).get("value"))
        for d in dims:
            row[f"{d}_lo"] = finite_or_none(vals.get(d, {}).get("lo"))
            row[f"{d}_hi"] = finite_or_none(vals.get(d, {}).get("hi"))
        meta, prov = r.get("metadata", {}), r.get("provenance", {})
        for k in ("architecture", "paradigm", "pretraining_data", "source"):
            row[k] = meta.get(k)
        row["subset"] = prov.get("subset")
        row["quba_version"] = prov.get("quba")
        rows.append(row)
    columns = ["model", "suite", *dims, *[f"{d}_{b}" for d in dims for b in ("lo", "hi")], *METADATA]
    frame = pd.DataFrame(rows, columns=columns)
    if "subset" in frame:
        frame["subset"] = frame["subset"].astype("Int64")
    return frame


def leaderboard_bytes(records: list[dict]) -> bytes:
    """The leaderboard CSV of `records`, as written (text cells escaped: quba/csvsafe.py)."""
    return csvsafe.to_csv(leaderboard_frame(records), index=False, float_format="%.6g").encode("utf-8")


def checksum_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(path) -> bool | None:
    """True if the CSV matches its `.sha256` sidecar, False if not, None without a sidecar."""
    from quba.integrity import read_regular

    path = Path(path)
    side = checksum_path(path)
    if not side.is_file():
        return None
    try:
        want = read_regular(side).decode("ascii", errors="replace").split()
        return bool(want) and want[0] == _digest(read_regular(path))
    except OSError:
        return False


def _read_or_none(path: Path) -> bytes | None:
    from quba.integrity import read_regular

    try:
        return read_regular(path)
    except FileNotFoundError:
        return None


def _write_locked(path: Path, data: bytes) -> None:
    """Replace the CSV and its sidecar where they differ from `data` (the caller holds the lock)."""
    side = f"{_digest(data)}  {path.name}\n".encode()
    if _read_or_none(path) != data:
        atomic_write_text(path, data.decode("utf-8"))
    if _read_or_none(checksum_path(path)) != side:
        atomic_write_text(checksum_path(path), side.decode())


def _cannot_write(path: Path, output, suite: str, exc: OSError):
    from quba.errors import QubaError

    return QubaError(f"cannot write the leaderboard {path} ({exc.strerror or exc.__class__.__name__}); "
                     "free space or fix permissions, then run 'quba leaderboard --records-only "
                     f"--suite {suite} --output {output}'")


def write_leaderboard(output, suite: str) -> Path | None:
    """Regenerate the suite's leaderboard CSV from its records; None if there are none.

    Under the CSV's lock the records are (re-)read, so a concurrent writer's record is
    never lost; the file is replaced atomically, and only if its content changed."""
    from quba.integrity import locked

    path = Path(output) / suite / "leaderboard.csv"
    try:
        with locked(path):
            records = load_records(output, suite)
            if not records:
                return None
            _write_locked(path, leaderboard_bytes(records))
    except OSError as exc:
        raise _cannot_write(path, output, suite, exc) from None
    return path


def is_generated(path) -> bool:
    """Whether `path` is a leaderboard quba regenerates: `<output>/<suite>/leaderboard.csv` with
    the suite's records beside it (not a copy under another name, nor one without records)."""
    path = Path(path)
    records = path.parent / "records"
    return path.name == "leaderboard.csv" and records.is_dir() and any(records.glob("*.json"))


def _records_newer(path: Path) -> bool:
    """Whether a record beside the leaderboard changed after it (its last regeneration failed?)."""
    try:
        written = path.stat().st_mtime_ns
        return any(r.stat().st_mtime_ns > written for r in (path.parent / "records").glob("*.json"))
    except OSError:
        return True


def refresh(path) -> str | None:
    """Bring a leaderboard quba regenerates (`is_generated`) in line with its records.

    A CSV that fails its checksum (damaged or edited), or that differs from what its records
    give now (a record written after it, whose leaderboard write failed: disk full), is
    regenerated under the lock. Returns why it was regenerated, or None when it was current."""
    from quba.integrity import locked

    path = Path(path)
    output, suite = path.parent.parent, path.parent.name
    try:
        ok = verify(path)  # reading only, without the lock: a current leaderboard in a read-only folder is read
        if ok and (not _records_newer(path) or _read_or_none(path) == leaderboard_bytes(load_records(output, suite))):
            return None
        with locked(path):  # a writer may have just finished: check again under the lock
            ok = verify(path)
            data = leaderboard_bytes(load_records(output, suite))
            if ok and _read_or_none(path) == data:
                return None
            _write_locked(path, data)
    except OSError as exc:
        raise _cannot_write(path, output, suite, exc) from None
    return ("does not match its checksum " + checksum_path(path).name + " (damaged or edited)" if not ok
            else "is older than the records beside it (a write of it failed, e.g. on a full disk)")
