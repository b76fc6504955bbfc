"""Loading and combining leaderboard CSVs.

A leaderboard is a CSV with one row per model: a ``model`` column, optionally a
``suite`` column (``imagenet``, ``mini``, ...), one column per measured
dimension (canonical names from `quba.dimensions`), optionally ``<dim>_lo`` /
``<dim>_hi`` confidence bounds and any metadata columns (architecture,
paradigm, pretraining_data, source, ...). Empty cells are missing values.

Several files combine into one frame with a ``leaderboard`` column naming the
file each row came from (``reference`` for the shipped paper leaderboard).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from quba import dimensions
from quba.errors import QubaError
from quba.paths import data_file
from quba.suites.specs import DEFAULT_LEADERBOARD_SUITE

#: The shipped 326-model leaderboard of the QUBA paper (ImageNet suite).
REFERENCE_CSV = data_file("quba_paper_results.csv")
#: Names that stand for the shipped leaderboard wherever a path is accepted.
REFERENCE_NAMES = ("reference", "paper")
#: The suite of rows without a `suite` column (the paper's CSV has none): quba/suites/specs.py.
DEFAULT_SUITE = DEFAULT_LEADERBOARD_SUITE


def dimension_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of `frame` that are registered dimensions (canonical names), in
    registry order (the nine QUBA dimensions first)."""
    known = list(dimensions.all_dimensions())
    cols = set(frame.columns)
    return [d for d in known if d in cols]


def _check_rows(text: str, label: str) -> None:
    """Refuse ragged rows (a file cut mid-row: pandas would pad it silently) and header
    names that repeat once stripped (' accuracy ' next to 'accuracy'). Blank lines before
    the header are skipped, as pandas does."""
    import csv
    import io

    try:
        reader = csv.reader(io.StringIO(text))
        header = next((row for row in reader if row), None)
        if header is None:
            return  # empty: pandas reports it
        names = [h.strip() for h in header]
        seen = set()
        for n in names:
            if n in seen and n:
                raise QubaError(f"leaderboard {label!r} has the column {n!r} twice (after stripping spaces); "
                                "keep one")
            seen.add(n)
        for row in reader:
            if not row:
                continue  # blank line
            if len(row) != len(header):
                raise QubaError(
                    f"leaderboard {label!r}: line {reader.line_num} has {len(row)} fields, the header "
                    f"{len(header)} (a cut or ragged row); fix the row or regenerate the file")
    except csv.Error as exc:
        raise QubaError(f"leaderboard {label!r} is not a readable CSV ({exc})") from None


def _check_integrity(p: Path, label: str) -> None:
    """A leaderboard quba wrote has a `.sha256` beside it (none: the file is used as it is).

    `<output>/<suite>/leaderboard.csv` with its records beside it is what they give: damaged,
    edited or older than a record, it is regenerated from them (one warning line) and that is
    what is read. Any other file (a copy such as mine.csv, or one without records) that fails
    its checksum is refused (one line): nothing would make its values true."""
    from quba.store import leaderboard as store_lb

    ok = store_lb.verify(p)
    if ok is None:
        return
    if store_lb.is_generated(p):
        why = store_lb.refresh(p)
        if why:
            from quba.integrity import warn

            warn(f"leaderboard {label} {why}; regenerated from the records in {p.parent / 'records'}")
        return
    if ok:
        return
    raise QubaError(f"leaderboard {label!r} does not match its checksum {store_lb.checksum_path(p)} (damaged "
                    "or edited by hand); rank the leaderboard.csv that quba regenerates from its records "
                    "('quba leaderboard --records-only'), or delete the .sha256 file to use this one as it is")


def _read_one(path, label: str) -> pd.DataFrame:
    import io

    from quba import csvsafe
    from quba.integrity import NotRegularFile, check_regular, read_regular

    p = Path(path)
    try:
        check_regular(p)
        if not p.is_file():
            raise FileNotFoundError(str(p))
        if label != "reference":
            _check_integrity(p, str(path))
        data = read_regular(p)
    except NotRegularFile as exc:
        raise QubaError(f"leaderboard {str(path)!r} is {exc.kind}, not a file; save the CSV to a file and "
                        "give that") from None
    except FileNotFoundError:
        raise QubaError(f"leaderboard {str(path)!r} not found; give a CSV file (or 'reference' for the paper's)") \
            from None
    except OSError as exc:
        raise QubaError(f"cannot read leaderboard {str(path)!r} ({exc.strerror or exc.__class__.__name__})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QubaError(f"leaderboard {str(path)!r} is not a readable CSV (not UTF-8: {exc.reason})") from None
    if label != "reference":
        _check_rows(text, str(path))
    try:
        frame = pd.read_csv(io.StringIO(text))
        if "model" in [str(c).strip() for c in frame.columns]:  # names are text: a model named NA or None
            names = pd.read_csv(io.StringIO(text), usecols=lambda c: str(c).strip() == "model", dtype=str,
                                keep_default_na=False)
            frame[names.columns[0]] = names.iloc[:, 0].where(names.iloc[:, 0].str.strip() != "")
    except pd.errors.EmptyDataError:
        raise QubaError(f"leaderboard {str(path)!r} is empty; it needs a header with 'model' and dimension columns") from None
    except pd.errors.ParserError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QubaError(f"leaderboard {str(path)!r} is not a readable CSV ({first})") from None
    return prepare(csvsafe.unescape_frame(frame), label)  # quba escapes '=… names when it writes them


def prepare(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Check and normalise one leaderboard frame: required columns, numeric
    dimension columns within each dimension's declared range, a ``suite`` column
    (default imagenet) and a ``leaderboard`` column (`label` unless it has one)."""
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    dup = frame.columns[frame.columns.duplicated()]
    if len(dup):
        raise QubaError(f"leaderboard {label!r} has the column {dup[0]!r} twice (after stripping spaces); keep one")
    if "model" not in frame.columns:
        raise QubaError(f"leaderboard {label!r} has no 'model' column; columns: {', '.join(frame.columns[:12])}")
    dims = dimension_columns(frame)
    if not dims:
        raise QubaError(
            f"leaderboard {label!r} has no dimension columns; expected some of: "
            f"{', '.join(dimensions.all_dimensions())}"
        )
    if frame.empty:
        raise QubaError(f"leaderboard {label!r} has a header but no rows; it needs one row per model")
    missing_name = frame["model"].isna().to_numpy()
    frame["model"] = frame["model"].astype(object).where(~missing_name, "").astype(str).str.strip()
    if missing_name.any() or (frame["model"] == "").any():
        raise QubaError(f"leaderboard {label!r} has rows without a model name; give every row a name")
    numeric = dims + [f"{d}_{b}" for d in dims for b in ("lo", "hi") if f"{d}_{b}" in frame.columns]
    for col in numeric:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna() & (frame[col].astype(str).str.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise QubaError(
                f"leaderboard {label!r}: column {col} has a non-numeric value {frame[col].iloc[i]!r} "
                f"(model {frame['model'].iloc[i]}); use a number or leave the cell empty"
            )
        infinite = np.isinf(values.to_numpy(dtype=float))
        if infinite.any():
            i = int(np.flatnonzero(infinite)[0])
            raise QubaError(
                f"leaderboard {label!r}: column {col} has {values.iloc[i]:g} for model {frame['model'].iloc[i]}, "
                "not a finite number (out of range); fix the value or leave the cell empty")
        frame[col] = values.astype(float)
        lo, hi = dimensions.get(col.rsplit("_", 1)[0] if col not in dims else col).valid_range
        out = frame[col].notna() & ((frame[col] < lo) | (frame[col] > hi))
        if out.any():
            i = int(np.flatnonzero(out.to_numpy())[0])
            raise QubaError(
                f"leaderboard {label!r}: column {col} has {frame[col].iloc[i]:g} for model "
                f"{frame['model'].iloc[i]}, outside the dimension's range [{lo:g}, {hi:g}]; fix the value"
            )
    if "suite" not in frame.columns:
        frame["suite"] = DEFAULT_SUITE
    frame["suite"] = frame["suite"].fillna(DEFAULT_SUITE).astype(str).str.strip().str.lower()
    if "leaderboard" not in frame.columns:
        frame["leaderboard"] = label
    frame["leaderboard"] = frame["leaderboard"].fillna(label).astype(str)
    dup = frame.duplicated(subset=["model", "suite", "leaderboard"], keep=False)
    if dup.any():
        name = frame.loc[dup, "model"].iloc[0]
        raise QubaError(f"leaderboard {label!r} lists model {name!r} more than once; keep one row per model and suite")
    return frame


@lru_cache(maxsize=1)
def _reference_frame() -> pd.DataFrame:
    # The shipped file is package data and never changes while quba runs; callers get copies.
    return _read_one(REFERENCE_CSV, "reference")


def load_leaderboard(paths=None) -> pd.DataFrame:
    """Load and combine leaderboards.

    `paths`: None for the shipped paper leaderboard; a path or a list of paths
    (the name ``reference`` stands for the shipped one). Returns one frame with
    a ``leaderboard`` column naming each row's file and a ``suite`` column
    (``imagenet`` where a file has none). Raises QubaError for a missing or
    unreadable file, or one without ``model`` / dimension columns.
    """
    if paths is None:
        paths = ["reference"]
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    frames = []
    for p in paths:
        if str(p).strip().lower() in REFERENCE_NAMES:
            frames.append(_reference_frame().copy())
        else:
            frames.append(_read_one(p, str(p)))
    if not frames:
        raise QubaError("no leaderboard given")
    combined = pd.concat(frames, ignore_index=True, sort=False)
    # Columns in a stable, readable order: identity, dimensions, bounds, the rest.
    dims = dimension_columns(combined)
    bounds = [f"{d}_{b}" for d in dims for b in ("lo", "hi") if f"{d}_{b}" in combined.columns]
    first = ["model", "suite", "leaderboard"]
    rest = [c for c in combined.columns if c not in set(first + dims + bounds)]
    return combined[first + rest + dims + bounds]


def as_leaderboard(leaderboard, suite: str | None = None) -> pd.DataFrame:
    """Accept None, a path, a list of paths, or a DataFrame (checked the same way). None with
    `suite` naming a shipped suite other than the paper's: that suite's shipped reference
    leaderboard (``quba rank --suite mini`` ranks the mini zoo); None otherwise: the paper's."""
    if isinstance(leaderboard, pd.DataFrame):
        return prepare(leaderboard, "dataframe")
    if leaderboard is None and suite is not None:
        from quba.suites.specs import spec

        s = spec(suite)
        if s is not None and s.name != DEFAULT_SUITE and s.reference:
            return load_leaderboard(data_file(s.reference))
    return load_leaderboard(leaderboard)
