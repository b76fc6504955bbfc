"""The reproduction report: fresh records against a published leaderboard (the paper's by default).

For every record whose model has a row in the published leaderboard (same id, as in the zoo
catalog: `quba zoo list`; case-insensitive), and for each dimension both have: the fresh value,
its 95 % bootstrap interval, the published value, the difference fresh − published and whether
the published value lies inside the fresh interval. A published value is printed rounded (the
paper's CSV: 4 decimals, parameters 1 decimal), so "inside" allows half a unit of its last
printed digit on either side (read from the CSV's text): 25.557 M parameters reproduce the
paper's 25.6.

Each row names what makes it not like for like, where the record says so:

- protocol: a dimension whose protocols differ (adversarial robustness: quba's attacks in [0, 1]
  pixel space vs the authors' pipeline, quba/engine/paper_protocol.py) measured under another
  protocol than the published rows' (the paper's: `--protocol paper`);
- subset: the record was measured on `--subset N` images per class (or a `quba data subset`
  copy of the data, `provenance.data_subset`), the paper on everything;
- incomplete split: a split the dimension reads was short of images when it was measured
  (`complete: false` in the record's splits);
- skipped images: unreadable images were skipped in a split the dimension reads.

Which splits a dimension reads is asked of the dimension itself (its `needs` hook, on the
splits the record lists). Pure: records and a leaderboard frame in, plain dicts out.
"""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from quba.numbers import finite_or_none

#: The columns of `rows_csv`, in order.
CSV_COLUMNS = ("model", "dimension", "fresh", "lo", "hi", "published", "difference", "inside", "like_for_like",
               "notes")


def rounding_half_unit(value) -> float:
    """Half a unit of the last digit `value` is written with: "0.7769" -> 0.00005, "0.80" -> 0.005,
    61.1 -> 0.05 (a float: its shortest repr, which drops trailing zeros; the text of the CSV cell,
    `printed_half_units`, is exact). How far the unrounded value may lie from the printed one."""
    text = value.strip() if isinstance(value, str) else repr(float(value))
    try:
        exp = Decimal(text).as_tuple().exponent
    except (InvalidOperation, ValueError):
        return 0.0
    return 0.5 * 10.0 ** exp if isinstance(exp, int) else 0.0


def printed_half_units(path) -> dict:
    """{(model, dimension): half a unit of the last printed digit} of every number in a leaderboard
    CSV, read from the cells' text (a float has forgotten "0.80"'s last zero)."""
    import csv

    from quba import dimensions as D

    known = set(D.all_dimensions())
    out = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            model = str(row.get("model") or "").strip()
            for col, text in row.items():
                col = str(col or "").strip()
                if col in known and text and text.strip():
                    out[(model, col)] = rounding_half_unit(text)
    return out


def inside(published, lo, hi, half_unit: float | None = None) -> bool | None:
    """Whether `published`, allowing for its rounding (`half_unit`; default: from its repr), lies
    in [lo, hi]; None without both bounds or without a published value."""
    if published is None or lo is None or hi is None:
        return None
    tol = rounding_half_unit(published) if half_unit is None else half_unit
    return bool(lo - tol <= published <= hi + tol)


def _reads(dimension: str, record: dict) -> list[str] | None:
    """The record's splits `dimension` reads (its `needs` hook on a stand-in for the record's
    suite); None when that cannot be told (a dimension whose hook wants the real suite)."""
    from quba import dimensions as D
    from quba.suites.base import SuiteOutline

    splits = list((record.get("splits") or {}))
    present = sorted({s.split("@")[0] for s in splits})
    suite = SuiteOutline(record.get("suite") or "", present)
    opts = {"protocol": (record.get("provenance") or {}).get("protocol") or "quba"}
    try:
        needs = D.get(dimension).needs
        reqs = needs(suite, opts) if needs is not None else []
    except Exception:  # noqa: BLE001 - a plugin's hook may need more than names; then: every split
        return None
    wanted = {r.split for r in reqs}
    return [s for s in splits if s.split("@")[0] in wanted]


def _split_notes(record: dict, read: list[str] | None) -> list[str]:
    splits = record.get("splits") or {}
    names = list(splits) if read is None else read
    notes = []
    short = [s for s in names if isinstance(splits.get(s), dict) and splits[s].get("complete") is False]
    if short:
        shown = ", ".join(_describe_short(s, splits[s]) for s in short[:2])
        more = f" and {len(short) - 2} more" if len(short) > 2 else ""
        notes.append(f"incomplete split{'s' if len(short) > 1 else ''} {shown}{more}")
    skipped = sum(int(splits[s].get("skipped") or 0) for s in names if isinstance(splits.get(s), dict))
    if skipped:
        notes.append(f"{skipped} unreadable image(s) skipped")
    return notes


def _describe_short(name: str, entry: dict) -> str:
    found, expected = entry.get("images"), entry.get("expected")
    return f"{name} ({found} of {expected} images)" if expected else name


def _subset_note(record: dict) -> str | None:
    prov = record.get("provenance") or {}
    if prov.get("subset"):
        return f"subset: {prov['subset']} images per class"
    data_subset = prov.get("data_subset")
    if isinstance(data_subset, dict):
        n = data_subset.get("per_class")
        return f"data subset: {n} images per class" if n else "data subset"
    if data_subset:
        return f"data subset: {data_subset}"
    return None


def _protocol_note(dimension: str, entry: dict, record: dict, published_protocol: str | None,
                   label: str) -> str | None:
    from quba.engine.paper_protocol import PROTOCOL_DIMENSIONS

    if dimension not in PROTOCOL_DIMENSIONS or published_protocol is None:
        return None
    mine = (entry.get("setup") or {}).get("protocol") or (record.get("provenance") or {}).get("protocol") or "quba"
    if mine == published_protocol:
        return None
    return f"{mine} protocol, {label}'s rows: {published_protocol} (evaluate with --protocol {published_protocol})"


def notes_for(dimension: str, entry: dict, record: dict, published_protocol: str | None, label: str) -> list[str]:
    """What makes this (record, dimension) not like for like with the published row."""
    notes = []
    proto = _protocol_note(dimension, entry, record, published_protocol, label)
    if proto:
        notes.append(proto)
    if dimension != "parameters_m":  # a count: no images involved
        sub = _subset_note(record)
        if sub:
            notes.append(sub)
        notes += _split_notes(record, _reads(dimension, record))
    return notes


def compare(records: list[dict], published, *, label: str = "paper", protocol: str | None = "paper",
            half_units: dict | None = None) -> dict:
    """The reproduction report of `records` against `published` (a leaderboard frame, see
    `quba.ranking.leaderboard.prepare`), whose rows were measured under `protocol` (None: not known);
    half_units: `printed_half_units` of the file it was read from (default: from the floats).

    Returns {"against", "protocol", "rows", "models", "unmatched", "summary"}; each row:
    model, published_model, dimension, fresh, lo, hi, published, difference, inside, like_for_like,
    notes (list of str)."""
    from quba import dimensions as D
    from quba.ranking.leaderboard import dimension_columns

    dims_published = set(dimension_columns(published))
    rows_by_name: dict[str, dict] = {}
    for row in published.to_dict("records"):
        rows_by_name.setdefault(str(row["model"]), row)
    lower = {k.lower(): k for k in rows_by_name}
    order = list(D.all_dimensions())
    rows, models, unmatched = [], [], []
    for rec in sorted(records, key=lambda r: str(r["model"])):
        model = str(rec["model"])
        name = model if model in rows_by_name else lower.get(model.lower())
        if name is None or rows_by_name[name].get("suite", rec.get("suite")) != rec.get("suite"):
            unmatched.append(model)
            continue
        prow = rows_by_name[name]
        dims = [d for d in order if d in (rec.get("dimensions") or {}) and d in dims_published]
        if not dims:
            unmatched.append(model)
            continue
        models.append(model)
        for d in dims:
            entry = rec["dimensions"][d]
            fresh, lo, hi = (finite_or_none(entry.get(k)) for k in ("value", "lo", "hi"))
            pub = finite_or_none(prow.get(d))
            notes = notes_for(d, entry, rec, protocol, label)
            rows.append({
                "model": model, "published_model": name, "dimension": d, "fresh": fresh, "lo": lo, "hi": hi,
                "published": pub, "difference": None if fresh is None or pub is None else fresh - pub,
                "inside": inside(pub, lo, hi, (half_units or {}).get((name, d))),
                "like_for_like": not notes, "notes": notes,
            })
    return {"against": label, "protocol": protocol, "rows": rows, "models": models, "unmatched": unmatched,
            "summary": summarise(rows, models, unmatched, label)}


def summarise(rows: list[dict], models: list[str], unmatched: list[str], label: str) -> dict:
    """Counts of the report and its one summary line."""
    judged = [r for r in rows if r["inside"] is not None]
    alike = [r for r in judged if r["like_for_like"]]
    out = {
        "models": len(models), "values": len(rows), "judged": len(judged),
        "inside": sum(r["inside"] for r in judged), "like_for_like": len(alike),
        "inside_like_for_like": sum(r["inside"] for r in alike), "unmatched": len(unmatched),
        "not_like_for_like": sum(not r["like_for_like"] for r in rows),
    }
    if not models:
        out["line"] = (f"none of the {len(unmatched)} record(s) has a row in {_title(label)} "
                       "(a record matches by its model id, as 'quba zoo list' spells it)")
        return out
    line = (f"{out['inside']} of {out['judged']} published values inside the fresh 95% interval "
            f"({out['inside_like_for_like']} of {out['like_for_like']} like for like) over {len(models)} model(s)")
    if out["values"] > out["judged"]:
        line += f"; {out['values'] - out['judged']} without an interval or a published value"
    if unmatched:
        line += f"; {len(unmatched)} record(s) without a row in {_title(label)}"
    out["line"] = line
    return out


# --- renderings ------------------------------------------------------------------------------------

def _num(x, dim: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if dim == "parameters_m" or abs(x) >= 100:
        return f"{x:.1f}" if abs(x) >= 1 or x == 0 else f"{x:.3g}"
    return f"{x:.4f}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _diff(x, dim: str) -> str:
    """fresh - published to the published precision (4 decimals; parameters 1)."""
    if x is None:
        return "—"
    places = 1 if dim == "parameters_m" or abs(x) >= 100 else 4
    return f"{round(x, places) + 0.0:+.{places}f}"  # + 0.0: a difference that rounds to 0 is +0, not -0


def _title(label: str) -> str:
    return "the paper's leaderboard" if label == "paper" else label


def _yes_no(v) -> str:
    return "—" if v is None else ("yes" if v else "no")


def rows_table(report: dict, records_where: str | None = None) -> str:
    """The report as a readable table: one block of rows per model, then the summary."""
    from quba import dimensions as D

    label = report["against"]
    head = f"Reproduction against {_title(label)}"
    if records_where:
        head += f" (records: {records_where})"
    lines = [head, ""]
    if report["rows"]:
        table = [("model", "dimension", "fresh", "95% CI", "paper" if label == "paper" else "published",
                  "difference", "inside", "notes")]
        last = None
        for r in report["rows"]:
            d = r["dimension"]
            ci = "—" if r["lo"] is None or r["hi"] is None else f"[{_num(r['lo'], d)}, {_num(r['hi'], d)}]"
            arrow = "↑" if D.higher_is_better(d) else "↓"
            table.append((r["model"] if r["model"] != last else "", f"{d} {arrow}", _num(r["fresh"], d), ci,
                          _num(r["published"], d), _diff(r["difference"], d), _yes_no(r["inside"]),
                          "; ".join(r["notes"])))
            last = r["model"]
        widths = [max(len(t[i]) for t in table) for i in range(len(table[0]) - 1)]
        right = {2, 3, 4, 5}
        for i, t in enumerate(table):
            cells = [t[j].rjust(widths[j]) if j in right else t[j].ljust(widths[j]) for j in range(len(widths))]
            lines.append("  ".join(cells + [t[-1]]).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths) + "  -----")
        lines.append("")
    lines.append(report["summary"]["line"])
    if report["unmatched"]:
        lines.append(("without a row: " if report["models"] else "records: ") + ", ".join(report["unmatched"]))
    if any(r["inside"] is None for r in report["rows"]):
        lines.append("inside '—': no 95% interval (evaluated with --bootstrap 0) or no published value")
    return "\n".join(lines) + "\n"


def rows_csv(report: dict) -> str:
    """The rows as CSV (text cells guarded against spreadsheet formulas, as `quba rank` does)."""
    import pandas as pd

    from quba import csvsafe

    frame = pd.DataFrame([{**{k: r[k] for k in CSV_COLUMNS if k != "notes"}, "notes": "; ".join(r["notes"])}
                          for r in report["rows"]], columns=list(CSV_COLUMNS))
    return csvsafe.to_csv(frame, index=False, lineterminator="\n")
