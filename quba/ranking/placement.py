"""Place a fresh record among a reference leaderboard: z-scores, contributions, QUBA, rank.

Each suite declares its reference population (quba/suites/specs.py): the
paper's 326-model leaderboard with the paper's fixed μ/σ for `imagenet`, the
mini zoo's leaderboard shipped as `quba/data/mini_reference.csv` (μ/σ: its mean
and sample std) for `mini`. The model's fresh row replaces a reference row of the same name, so
re-evaluating a reference model ranks it by its new numbers. Scoring itself is
`quba.ranking.rank` (default paper weights).

The paper's rows were measured with the authors' pipeline, the mini reference
with quba's: a dimension whose protocol differs (adversarial robustness,
quba/engine/paper_protocol.py) is still placed, with one warning line each.
"""
from __future__ import annotations


from quba.errors import QubaError
from quba.numbers import finite_or_none
from quba.paths import data_file
from quba.suites.specs import spec


def reference_path(suite: str):
    """The shipped reference leaderboard of a suite, or None."""
    s = spec(suite)
    if s is None or s.reference is None:
        return None
    p = data_file(s.reference)
    return p if p.exists() else None


def reference_protocol(suite: str) -> str:
    """The protocol the shipped reference rows of a suite were measured under."""
    s = spec(suite)
    return s.reference_protocol if s is not None else "quba"


def protocol_warnings(record: dict) -> list[str]:
    """One line per dimension of `record` measured under another protocol than its reference's."""
    from quba.engine.paper_protocol import PROTOCOL_DIMENSIONS

    suite = record.get("suite")
    if reference_path(suite) is None:
        return []
    ref = reference_protocol(suite)
    default = (record.get("provenance") or {}).get("protocol") or "quba"
    out = []
    for dim in PROTOCOL_DIMENSIONS:
        entry = (record.get("dimensions") or {}).get(dim)
        if not entry:
            continue
        mine = (entry.get("setup") or {}).get("protocol") or default
        if mine != ref:
            who = "the paper's rows" if ref == "paper" else f"the {suite} reference rows"
            out.append(f"{dim} was measured under the {mine} protocol, {who} under the {ref} protocol: its z-score "
                       f"and the rank are not like for like (evaluate with --protocol {ref} to compare)")
    return out


def incomplete_splits(record: dict) -> list[str]:
    """The splits of a record measured on incomplete data (`complete: false`, quba/datasets)."""
    return sorted(k for k, v in (record.get("splits") or {}).items()
                  if isinstance(v, dict) and v.get("complete") is False)


def data_warnings(record: dict, reference: str) -> list[str]:
    """One line when the record's data was incomplete (then it is not comparable with the reference
    rows), one when it was a per-class subset made by `quba data subset`."""
    out = []
    short = incomplete_splits(record)
    if short:
        more = f" and {len(short) - 3} more" if len(short) > 3 else ""
        out.append(f"not comparable with the {reference} rows: {len(short)} split(s) were measured on incomplete "
                   f"data ({', '.join(short[:3])}{more}); complete them ('quba data check') and evaluate again")
    sub = ((record.get("provenance") or {}).get("data") or {}).get("subset")
    if sub:
        out.append(f"measured on a subset of the data ({sub.get('per_class')} images per class, quba data subset "
                   f"of {sub.get('source_root')}): same images as --subset {sub.get('per_class')}, wider intervals "
                   f"than the {reference} rows' full splits")
    return out


def place(record: dict, weights=None) -> dict:
    """{reference, quba, rank, n, z: {dim: z}, contribution: {dim: c}, note, warnings, comparable} for
    one record; comparable is False when a split was measured on incomplete data."""
    import pandas as pd

    from quba.ranking import Filters, rank
    from quba.ranking.leaderboard import load_leaderboard
    from quba.store.leaderboard import leaderboard_frame

    suite, model = record["suite"], record["model"]
    path = reference_path(suite)
    out = {"reference": None, "quba": None, "rank": None, "n": None, "z": {}, "contribution": {}, "note": None,
           "warnings": protocol_warnings(record), "comparable": not incomplete_splits(record)}
    if path is None:
        out["note"] = (f"no reference leaderboard ships for suite {suite!r}; "
                       "z-scores and QUBA need one (quba rank --leaderboard ... --reference-population CSV)")
        return out
    ref = load_leaderboard(path).drop(columns=["leaderboard"], errors="ignore")
    if "suite" not in ref.columns:
        ref["suite"] = suite
    ref = ref[ref["suite"] == suite]
    row = leaderboard_frame([record])
    combined = pd.concat([ref[ref["model"] != model], row], ignore_index=True, sort=False)
    s = spec(suite)
    out["reference"] = s.reference_label or str(path.name)
    out["warnings"] += data_warnings(record, out["reference"] if out["reference"] != "paper" else "paper's")
    try:
        r = rank(combined, weights=weights, reference="paper" if s.normalisation == "paper" else ref,
                 filters=Filters(suite=suite))
    except QubaError as exc:
        out["note"] = str(exc)
        return out
    hit = r.ranked[r.ranked["model"] == model]
    dims = [d for d in record["dimensions"] if d in r.dims]
    if hit.empty:
        ex = r.excluded[r.excluded["model"] == model]
        out["note"] = ((ex["reason"].iloc[0] if not ex.empty else "not ranked")
                       + "; a QUBA score needs every weighted dimension")
        # z-scores are still meaningful per dimension
        from quba.ranking.score import oriented_z

        z = oriented_z(row, dims, r.reference)
        out["z"] = {d: finite_or_none(z[d].iloc[0]) for d in dims}
        out["n"] = int(len(r.ranked))
        return out
    h = hit.iloc[0]
    out.update(quba=finite_or_none(h["quba"]), rank=int(h["rank"]), n=int(len(r.ranked)),
               z={d: finite_or_none(h.get(f"{d}_z")) for d in dims},
               contribution={d: finite_or_none(h.get(f"{d}_contribution")) for d in dims if d in r.weights},
               weights=r.weights_label)
    return out

