"""The zoo catalog as data: quba/data/zoo_catalog.csv (the 326 QUBA-paper
models), quba/data/zoo_catalog_extra.csv (architectures from related papers that the QUBA
paper did not evaluate: CoDA-Nets, TokenFormer), both built by tools/build_zoo_catalog.py,
plus the mini zoo's rows.

Columns: id, display_name, source, identifier, pretrained_tag, architecture,
paradigm, pretraining_data, groups (';'-separated), paper_title,
parameters_m (the paper's count, None when it has none), preprocess (the
paper's own transform when it did not use the library's), notes. The `source` column names a
registered model source (`quba.zoo.registry.SOURCES`).
"""
from __future__ import annotations

import csv
from functools import lru_cache

from quba.errors import QubaError, closest
from quba.paths import data_file

CATALOG_FILE = "zoo_catalog.csv"
EXTRA_FILE = "zoo_catalog_extra.csv"
COLUMNS = ("id", "display_name", "source", "identifier", "pretrained_tag", "architecture", "paradigm",
           "pretraining_data", "groups", "paper_title", "parameters_m", "preprocess", "notes")
PAPER_GROUPS = ("CNN", "TRA", "SL", "SELF_SL", "SEMISL", "AT", "A1", "A2", "A3", "IN1k", "IN21k", "BD", "ViL",
                "Bcos", "ALL")


def _parse(row: dict) -> dict:
    out = {k: (row.get(k) or "") for k in COLUMNS}
    p = out["parameters_m"]
    out["parameters_m"] = float(p) if p not in ("", None) else None
    return out


@lru_cache(maxsize=2)
def _file_rows(name: str) -> tuple[dict, ...]:
    with open(data_file(name), newline="") as fh:
        return tuple(_parse(r) for r in csv.DictReader(fh))


def _paper_rows() -> tuple[dict, ...]:
    return _file_rows(CATALOG_FILE)


def _mini_rows() -> list[dict]:
    try:
        from quba.zoo import mini
    except ImportError:
        return []
    rows = []
    for r in mini.catalog_rows():
        row = _parse({**r, "source": "mini", "identifier": r.get("arch", ""),
                      "pretrained_tag": r.get("recipe", ""), "parameters_m": ""})
        row.update({k: r[k] for k in ("task", "clean_accuracy") if k in r})
        groups = [g for g in row["groups"].split(";") if g]
        if "mini" not in groups:
            groups.append("mini")
        row["groups"] = ";".join(groups)
        rows.append(row)
    return rows


def catalog(include_mini: bool = True, include_extra: bool = True) -> list[dict]:
    """Every catalog row (dicts, fresh copies): the paper's models, the extra architectures,
    then the mini zoo. ``catalog(include_mini=False, include_extra=False)``: the paper's 326."""
    rows = [dict(r) for r in _paper_rows()]
    if include_extra:
        rows += [dict(r) for r in _file_rows(EXTRA_FILE)]
    return rows + (_mini_rows() if include_mini else [])


def ids(include_mini: bool = True) -> list[str]:
    return [r["id"] for r in catalog(include_mini)]


def get(model_id: str) -> dict:
    """The row of `model_id` (exact id; case-insensitive as a fallback)."""
    rows = catalog()
    by_id = {r["id"]: r for r in rows}
    if model_id in by_id:
        return by_id[model_id]
    lower = {k.lower(): v for k, v in by_id.items()}
    if model_id.lower() in lower:
        return lower[model_id.lower()]
    raise QubaError(f"unknown model {model_id!r}{closest(model_id, by_id)}; see 'quba zoo list'")


def source_spec_row(spec: str) -> dict | None:
    """The row a ``SOURCE:IDENTIFIER`` spec stands for (a model of a registered source without a
    catalog row: id = the spec, the other columns empty), or None when `spec` has not that form or
    names no source that takes rows. Imports no source."""
    from quba.zoo.registry import SOURCES, row_sources

    source, sep, ident = str(spec).partition(":")
    if not sep or not ident.strip() or not source.strip() or source not in SOURCES:
        return None
    source = SOURCES.canonical(source)
    if source not in row_sources():
        return None
    row = _parse({"id": str(spec), "display_name": str(spec), "source": source, "identifier": ident.strip()})
    row["task"] = "classification"
    return row


def resolve(spec: str) -> dict:
    """The catalog row of a model id (`get`), else the row of a ``SOURCE:IDENTIFIER`` spec
    (`source_spec_row`); QubaError naming both forms when it is neither."""
    try:
        return get(spec)
    except QubaError:
        row = source_spec_row(spec)
        if row is not None:
            return row
    source, sep, _ = str(spec).partition(":")
    if sep and source.strip():
        from quba.zoo.registry import row_sources

        raise QubaError(f"unknown model {spec!r}: {source!r} is no catalog id and no registered model source"
                        f"{closest(source, row_sources())} (sources: {', '.join(row_sources())}; a plugin's "
                        "source: pass --plugin MODULE)")
    raise QubaError(f"unknown model {spec!r}{closest(str(spec), ids())}; see 'quba zoo list' (or name a model of "
                    "a registered source as SOURCE:IDENTIFIER)")


def groups_of(row: dict) -> list[str]:
    return [g for g in row["groups"].split(";") if g]


def all_groups(rows=None) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows if rows is not None else catalog():
        for g in groups_of(r):
            seen.setdefault(g, None)
    return list(seen)


def select(rows=None, *, group: str | None = None, source: str | None = None) -> list[dict]:
    """Rows filtered by paper group and source (whether this installation can load a row:
    `quba.zoo.sources.is_available`)."""
    rows = catalog() if rows is None else rows
    if group:
        known = {g.lower(): g for g in all_groups(rows)}
        if group.lower() not in known:
            raise QubaError(f"unknown group {group!r}{closest(group, known.values())}; groups: "
                            + ", ".join(known.values()))
        g = known[group.lower()]
        rows = [r for r in rows if g in groups_of(r)]
    if source:
        from quba.zoo.registry import SOURCES, row_sources

        if source not in SOURCES or source not in row_sources():  # the one list of sources: the registry
            names = row_sources()
            raise QubaError(f"unknown source {source!r}{closest(source, names)}; sources: {', '.join(names)}")
        source = SOURCES.canonical(source)
        rows = [r for r in rows if r["source"] == source]
    return rows
