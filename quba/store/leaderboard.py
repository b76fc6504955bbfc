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
import io
from pathlib import Path

from quba import dimensions
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


def checksum_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(path) -> bool | None:
    """True if the CSV matches its `.sha256` sidecar, False if not, None without a sidecar."""
    path = Path(path)
    side = checksum_path(path)
    if not side.is_file():
        return None
    try:
        want = side.read_text(encoding="ascii", errors="replace").split()
        return bool(want) and want[0] == _digest(path.read_bytes())
    except OSError:
        return False


def write_leaderboard(output, suite: str) -> Path | None:
    """Regenerate the suite's leaderboard CSV from its records; None if there are none.

    Under the CSV's lock the records are (re-)read, so a concurrent writer's record is
    never lost; the file is replaced atomically, and only if its content changed."""
    from quba.errors import QubaError
    from quba.integrity import locked

    path = Path(output) / suite / "leaderboard.csv"
    try:
        with locked(path):
            records = load_records(output, suite)
            if not records:
                return None
            buf = io.StringIO()
            leaderboard_frame(records).to_csv(buf, index=False, float_format="%.6g")
            data = buf.getvalue().encode("utf-8")
            side = f"{_digest(data)}  {path.name}\n"
            if not (path.is_file() and path.read_bytes() == data):
                atomic_write_text(path, data.decode("utf-8"))
            if not (checksum_path(path).is_file() and checksum_path(path).read_text(errors="replace") == side):
                atomic_write_text(checksum_path(path), side)
    except OSError as exc:
        raise QubaError(f"cannot write the leaderboard {path} ({exc.strerror or exc.__class__.__name__}); "
                        "free space or fix permissions, then run 'quba leaderboard --records-only "
                        f"--suite {suite} --output {output}'") from None
    return path
