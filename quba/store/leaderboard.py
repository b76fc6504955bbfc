"""`<output>/<suite>/leaderboard.csv`, regenerated from the records (never edited by hand).

Columns: model, suite; one column per measured dimension (canonical names of
`quba.dimensions`, registry order: the nine QUBA dimensions first); then
`<dim>_lo`, `<dim>_hi` per dimension; then architecture, paradigm,
pretraining_data, source, subset, quba_version. `quba rank --leaderboard` reads it.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

from quba import dimensions
from quba.paths import atomic_write_text
from quba.store.records import load_records

METADATA = ("architecture", "paradigm", "pretraining_data", "source", "subset", "quba_version")


def _num(x):
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def leaderboard_frame(records: list[dict]):
    import pandas as pd

    measured = {d for r in records for d in r.get("dimensions", {})}
    dims = [d for d in dimensions.all_dimensions() if d in measured]
    rows = []
    for r in sorted(records, key=lambda r: str(r["model"])):
        row = {"model": r["model"], "suite": r["suite"]}
        vals = r.get("dimensions", {})
        for d in dims:
            row[d] = _num(vals.get(d, {}).get("value"))
        for d in dims:
            row[f"{d}_lo"] = _num(vals.get(d, {}).get("lo"))
            row[f"{d}_hi"] = _num(vals.get(d, {}).get("hi"))
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


def write_leaderboard(output, suite: str) -> Path | None:
    """Regenerate the suite's leaderboard CSV from its records; None if there are none."""
    records = load_records(output, suite)
    path = Path(output) / suite / "leaderboard.csv"
    if not records:
        return None
    buf = io.StringIO()
    leaderboard_frame(records).to_csv(buf, index=False, float_format="%.6g")
    atomic_write_text(path, buf.getvalue())
    return path
