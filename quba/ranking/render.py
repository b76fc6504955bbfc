"""Text, CSV and JSON renderings of rankings, recommendations and correlations."""
from __future__ import annotations

import json
import math
import os
import textwrap

import numpy as np
import pandas as pd

from quba import csvsafe, dimensions
from quba.ranking.score import remedy_hint
from quba.ranking.weights import describe_weights

SHORT = {
    "accuracy": "acc", "adversarial_robustness": "adv", "corruption_robustness": "corr",
    "ood_robustness": "ood", "calibration_error": "calib", "class_balance": "balance",
    "object_focus": "focus", "shape_bias": "shape", "parameters_m": "params",
}
WIDTH = 100


def short(dim: str) -> str:
    return SHORT.get(dim, dim if len(dim) <= 12 else dim[:11] + "~")


def legend(dims) -> str:
    """``columns: acc=accuracy, ...`` for the abbreviated headers (what --weights accepts)."""
    return _wrap("columns: " + ", ".join(f"{short(d)}={d}" + (" (millions)" if d == "parameters_m" else "")
                                       for d in dims), "")


def title(dim: str) -> str:
    try:
        return dimensions.get(dim).title
    except Exception:  # pragma: no cover - unregistered name
        return dim


def fmt_value(dim: str, x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "-"
    x = float(x)
    if abs(x) >= 1e7:  # keeps the column: 1e+308, not 309 digits
        return f"{x:.3g}"
    if dim == "parameters_m" or abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.4f}"


def _pct(p: float) -> str:
    if p >= 0.995 and p < 1:
        return ">99%"
    if 0 < p < 0.005:
        return "<1%"
    return f"{100 * p:.0f}%"


def _wrap(text: str, indent: str, width: int = WIDTH) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False)


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.bool_):
        return bool(v)
    if v is None or (not isinstance(v, (str, list, dict, tuple)) and pd.isna(v)):
        return None
    return v


def _source_label(s: str) -> str:
    return s if s == "reference" else os.path.basename(s)


# --------------------------------------------------------------------------- rank
def ranking_header(r) -> list[str]:
    sources = sorted(r.ranked["leaderboard"].unique()) if len(r.ranked) else []
    src = ", ".join(_source_label(s) for s in sources) or "-"
    lines = [
        f"QUBA ranking: {len(r.ranked)} of {r.n_candidates} candidates ranked"
        f" (leaderboard: {src}; suite {r.suite}; {r.n_loaded} rows loaded)",
        _wrap(f"weights ({r.weights_label}): {describe_weights(r.weights)}", ""),
        f"normalisation: {r.reference.describe()}",
    ]
    f = r.filters.describe()
    if f:
        lines.append(f"filters: {f}")
    if r.renormalise:
        lines.append("missing values: renormalised over the weighted dimensions present (marked *)")
    return lines


def ranking_table(r) -> str:
    t = r.table
    multi = t["leaderboard"].nunique() > 1 or r.ranked["leaderboard"].nunique() > 1
    mw = max([len("model"), *(len(m) for m in t["model"])])
    mw = min(mw, 40)
    dims = r.dims
    widths = [max(len(short(d)), 7) for d in dims]
    head = f"{'rank':>4}  {'model':<{mw}}  {'QUBA':>7} "
    if r.sensitivity:
        k = r.sensitivity["top_k"]
        head += f" {'P(#1)':>6} {f'P(top{k})':>8}"
    if multi:
        sw = max(len("leaderboard"), *(len(_source_label(s)) for s in t["leaderboard"]))
        head += f"  {'leaderboard':<{sw}}"
    head += "".join(f" {short(d):>{w}}" for d, w in zip(dims, widths))
    lines = ranking_header(r) + ["", head]
    for _, row in t.iterrows():
        name = row["model"] if len(row["model"]) <= mw else row["model"][: mw - 1] + "~"
        star = "*" if row["renormalised"] else " "
        line = f"{int(row['rank']):>4}  {name:<{mw}}  {row['quba']:>7.3f}{star}"
        if r.sensitivity:
            line += f" {_pct(row['p_rank1']):>6} {_pct(row['p_topk']):>8}"
        if multi:
            line += f"  {_source_label(row['leaderboard']):<{sw}}"
        line += "".join(f" {fmt_value(d, row[d]):>{w}}" for d, w in zip(dims, widths))
        lines.append(line)
    if len(t) < len(r.ranked):
        lines.append(f"  ... {len(r.ranked) - len(t)} more ranked (drop --top to see all)")
    lines.append(legend(dims))
    if r.sensitivity:
        s = r.sensitivity
        lines += ["", _wrap(
            f"P(#1), P(top{s['top_k']}): share of {s['samples']} weight vectors drawn from a Dirichlet around "
            f"these weights (concentration {s['concentration']:g}, seed {s['seed']}) under which the model "
            f"ranks first / in the top {s['top_k']}.", "")]
    lines += excluded_lines(r)
    for n in r.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines) + "\n"


def excluded_lines(r) -> list[str]:
    ex = r.excluded
    if ex.empty:
        return []
    lines = ["", f"Not ranked ({len(ex)}):"]
    for reason, grp in ex.groupby("reason", sort=False):
        names = ", ".join(grp["model"])
        lines.append(_wrap(f"{reason} ({len(grp)}): {names}", "  "))
        lines.append(_wrap(f"hint: {remedy_hint(grp['remedy'])}", "    "))  # per group: what would rank them
    return lines


def ranking_csv(r) -> str:
    t = r.table
    cols = ["rank", "model", "quba"] + [c for d in r.dims for c in (d, f"{d}_z")] + ["renormalised", "leaderboard"]
    if r.sensitivity:
        cols += ["p_rank1", "p_topk", "mean_rank"]
    return csvsafe.to_csv(t[cols], index=False, lineterminator="\n")  # '=… names: quba/csvsafe.py


def ranking_dict(r) -> dict:
    rows = []
    meta = r.metadata_columns
    for _, row in r.table.iterrows():
        item = {
            "rank": int(row["rank"]), "model": row["model"], "quba": _jsonable(row["quba"]),
            "renormalised": bool(row["renormalised"]), "leaderboard": row["leaderboard"], "suite": row["suite"],
        }
        for c in meta:
            item[c] = _jsonable(row[c])
        item["values"] = {d: _jsonable(row[d]) for d in r.dims}
        item["z"] = {d: _jsonable(row[f"{d}_z"]) for d in r.dims}
        item["contributions"] = {d: _jsonable(row[f"{d}_contribution"]) for d in r.dims}
        ci = {d: [_jsonable(row[f"{d}_lo"]), _jsonable(row[f"{d}_hi"])] for d in r.dims
              if f"{d}_lo" in row.index and f"{d}_hi" in row.index}
        if ci:
            item["ci"] = ci
        if r.sensitivity:
            item["p_rank1"] = _jsonable(row["p_rank1"])
            item["p_topk"] = _jsonable(row["p_topk"])
            item["mean_rank"] = _jsonable(row["mean_rank"])
        rows.append(item)
    return {
        "suite": r.suite,
        "weights": r.weights,
        "normalised_weights": r.normalised_weights,
        "weights_label": r.weights_label,
        "reference": {
            "name": r.reference.name,
            "dimensions": {d: {"mean": _jsonable(r.reference.mean[d]), "std": _jsonable(r.reference.std[d]),
                               "source": r.reference.source[d]} for d in r.dims},
        },
        "filters": r.filters.describe(),
        "renormalise": r.renormalise,
        "n_loaded": r.n_loaded,
        "n_candidates": r.n_candidates,
        "n_ranked": len(r.ranked),
        "ranking": rows,
        "excluded": [{"model": e.model, "leaderboard": e.leaderboard, "reason": e.reason}
                     for e in r.excluded.itertuples()],
        "sensitivity": r.sensitivity,
        "notes": r.notes,
    }


def ranking_json(r) -> str:
    return json.dumps(ranking_dict(r), indent=2) + "\n"


# --------------------------------------------------------------------------- recommend
def _meta_bits(row) -> str:
    bits = []
    if "parameters_m" in row.index and pd.notna(row["parameters_m"]):
        bits.append(f"{row['parameters_m']:.1f} M params")
    for c in ("architecture", "paradigm", "pretraining_data"):
        if c in row.index and pd.notna(row[c]) and str(row[c]).strip():
            bits.append(str(row[c]))
    return "; ".join(bits)


SAME_Z = 0.1


def _values_table(rec, acc) -> list[str]:
    r = rec.ranking
    rows = [p.row for p in rec.picks]
    if not any(p.tradeoff is None for p in rec.picks):
        rows.append(acc)
    mw = min(40, max(len("model"), *(len(x["model"]) for x in rows)))
    widths = [max(len(short(d)), 7) for d in r.dims]
    out = [f"   {'model':<{mw}}" + "".join(f" {short(d):>{w}}" for d, w in zip(r.dims, widths))]
    for x in rows:
        name = x["model"] if len(x["model"]) <= mw else x["model"][: mw - 1] + "~"
        out.append(f"   {name:<{mw}}" + "".join(f" {fmt_value(d, x[d]):>{w}}" for d, w in zip(r.dims, widths)))
    return out + ["   " + legend(r.dims).replace("\n", "\n   ")]


def recommendation_text(rec) -> str:
    r = rec.ranking
    k = len(rec.picks)
    lines = [
        f"Recommendation: the top {k} of {len(r.ranked)} ranked candidates"
        + (f" ({r.filters.describe()})" if r.filters.describe() else "")
        + (f"; {len(r.excluded)} more lack a weighted value" if len(r.excluded) else ""),
        _wrap(f"weights ({r.weights_label}): {describe_weights(r.weights)}", ""),
        f"normalisation: {r.reference.describe()}; strengths/weaknesses: z >= +1 / <= -1 against it",
    ]
    if r.renormalise:
        lines.append("missing values: renormalised over the weighted dimensions present (marked *)")
    acc = rec.most_accurate
    for p in rec.picks:
        star = "*" if p.row["renormalised"] else ""
        meta = _meta_bits(p.row)
        lines += ["", textwrap.fill(f"{p.rank}. {p.model}  QUBA {p.quba:+.3f}{star}" + (f"  ({meta})" if meta else ""),
                                    WIDTH, subsequent_indent="     ", break_on_hyphens=False)]
        lines.append(_wrap("strengths:  " + (", ".join(f"{title(d)} {z:+.2f}" for d, z in p.strengths)
                                             or "none at 1 sd"), "   "))
        lines.append(_wrap("weaknesses: " + (", ".join(f"{title(d)} {z:+.2f}" for d, z in p.weaknesses)
                                             or "none at 1 sd"), "   "))
        if acc is not None:
            if p.tradeoff is None:
                lines.append("   the most accurate candidate")
            else:
                def item(t):
                    return f"{title(t['dimension'])} {t['delta_z']:+.2f}" if t["delta_z"] is not None \
                        else title(t["dimension"])

                big = [t for t in p.tradeoff if t["delta_z"] is None or abs(t["delta_z"]) >= SAME_Z]
                same = [t for t in p.tradeoff if t not in big]
                lines.append(f"   vs the most accurate candidate, {acc['model']} (difference in z):")
                lines.append(_wrap("gives up: " + (", ".join(item(t) for t in big if not t["better"])
                                                   or "nothing"), "     "))
                lines.append(_wrap("gains:    " + (", ".join(item(t) for t in big if t["better"]) or "nothing"),
                                   "     "))
                if same:
                    lines.append(_wrap(f"about the same (|z diff| < {SAME_Z:g}): "
                                       + ", ".join(title(t["dimension"]) for t in same), "     "))
    if acc is not None and rec.picks:
        lines += ["", "Values (the picks and the most accurate candidate):"] + _values_table(rec, acc)
    s = r.sensitivity
    sens = rec.sensitivity
    lines += ["", _wrap(
        f"Weight sensitivity ({s['samples']} weight vectors from a Dirichlet around these weights, "
        f"concentration {s['concentration']:g}, seed {s['seed']}):", "")]
    if rec.picks:
        lead = r.ranked.iloc[0]
        p1 = float(lead["p_rank1"])
        verdict = ("a robust first place" if p1 >= 0.8 else "a fairly stable first place" if p1 >= 0.5
                   else "a fragile first place: small changes of the weights change the winner")
        lines.append(_wrap(f"{lead['model']} ranks first in {_pct(p1)} of the draws and in the top {s['top_k']} in "
                           f"{_pct(float(lead['p_topk']))}: {verdict}.", "   "))
    firsts = sens[sens["p_rank1"] > 0]
    lines.append(_wrap("P(rank 1): " + ", ".join(f"{m} {_pct(v)}" for m, v in zip(firsts["model"],
                                                                                      firsts["p_rank1"])), "   "))
    tops = sens.sort_values("p_topk", ascending=False, kind="mergesort").head(max(2 * s["top_k"], 5))
    lines.append(_wrap(f"P(top {s['top_k']}): " + ", ".join(f"{m} {_pct(v)}" for m, v in zip(tops["model"],
                                                                                            tops["p_topk"])), "   "))
    for n in rec.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines) + "\n"


def recommendation_dict(rec) -> dict:
    base = ranking_dict(rec.ranking)
    picks = []
    for p, row in zip(rec.picks, base["ranking"]):
        picks.append({**row, "strengths": [{"dimension": d, "z": z} for d, z in p.strengths],
                      "weaknesses": [{"dimension": d, "z": z} for d, z in p.weaknesses],
                      "tradeoff": p.tradeoff})
    base["ranking"] = picks
    base["most_accurate"] = None if rec.most_accurate is None else rec.most_accurate["model"]
    base["prefer"] = rec.prefer
    base["sensitivity_table"] = [{k: _jsonable(v) for k, v in row.items()}
                                 for row in rec.sensitivity.to_dict(orient="records")]
    base["notes"] = rec.notes
    return base


def recommendation_json(rec) -> str:
    return json.dumps(recommendation_dict(rec), indent=2) + "\n"


# --------------------------------------------------------------------------- correlate
def _stars(p) -> str:
    if not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def correlation_table(pairs: pd.DataFrame, oriented: bool = False) -> str:
    dims = list(dict.fromkeys([*pairs["dim_a"], *pairs["dim_b"]]))
    look = {}
    for row in pairs.itertuples():
        look[(row.dim_a, row.dim_b)] = look[(row.dim_b, row.dim_a)] = row
    lw = max(len(short(d)) for d in dims)
    cw = max(9, max(len(short(d)) for d in dims) + 1)
    lines = [f"{'':<{lw}}" + "".join(f"{short(d):>{cw}}" for d in dims)]
    for a in dims:
        cells = []
        for b in dims:
            if a == b:
                cells.append(f"{'1':>{cw}}")
                continue
            row = look[(a, b)]
            cell = "-" if not math.isfinite(row.rho) else f"{row.rho:+.2f}{_stars(row.p_value):<3}"
            cells.append(f"{cell:>{cw}}")
        lines.append(f"{short(a):<{lw}}" + "".join(cells))
    ns = pairs["n"]
    what = "oriented values (lower-is-better dimensions negated)" if oriented else "raw values"
    lines = [f"Spearman rank correlation between dimensions ({what}; pairwise-complete rows, "
             f"n = {ns.min()}" + (f"-{ns.max()}" if ns.max() != ns.min() else "") + ")", ""] + lines
    lines += ["", "* p < 0.05, ** p < 0.01, *** p < 0.001 (two-sided, uncorrected); - : fewer than 3 rows or constant",
              legend(dims)]
    return "\n".join(lines) + "\n"


def correlation_csv(pairs: pd.DataFrame) -> str:
    return csvsafe.to_csv(pairs, index=False, lineterminator="\n")
