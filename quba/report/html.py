"""The interactive leaderboard page: one self-contained, offline HTML file.

`build_report_html(leaderboards, suite=None, reference=None, title=None) -> str`
inlines, in one file:
- the data as JSON: per suite, every row's values, ``<dim>_lo/_hi`` bounds and
  metadata, and the reference μ/σ that `quba.ranking.score.resolve_reference`
  gives for that suite (the paper's constants for the nine ImageNet dimensions,
  the leaderboard's own mean and sample std otherwise; computed over all rows
  of the suite, so the page's filters never move the scale), the presets of
  `quba.ranking.weights` and the dimension registry (names, aliases, directions);
- Plotly's JavaScript from the installed ``plotly`` Python package;
- the page's own CSS and JavaScript (``quba/report/assets/``), which recompute
  QUBA, filters, ranks, Spearman ρ and the CSV exactly as `quba.ranking` does;
- the paper's BibTeX (``quba/data/beyond_accuracy.bib``) for its "Cite" section.

Nothing is fetched at view time: the page works from ``file://`` with no network
(a Content-Security-Policy forbids every connection). Plotly is inlined as text and
run after the first paint, so the ranking is drawn and usable first.

The "Reproduction" section compares the records beside every leaderboard given that quba
regenerates from records (``<output>/<suite>/leaderboard.csv`` with ``records/`` beside it) with
the suite's published leaderboard, row for row what ``quba reproduce -o <output> --suite <suite>``
gives (`reproduction_data`), for the records that have a published counterpart; the page leaves
the section out when none has.

Adding a section: put its data under a new key of `report_data`'s document, a
``<section data-nav="…">`` in ``report.html`` and its drawing function in the ``SECTIONS``
table of ``report.js`` (the comment there says what it gets); the header's links, error
isolation and deferred plots come with it.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path

from quba import __version__, dimensions
from quba.errors import QubaError
from quba.numbers import finite_or_none
from quba.paths import atomic_write_text, data_file

ASSETS = Path(__file__).resolve().parent / "assets"
METADATA = ("architecture", "paradigm", "pretraining_data")
#: Extra per-model text shown in the model detail, when a leaderboard has it.
DETAIL_COLUMNS = ("display_name", "paper_title", "source")
#: The paper's BibTeX as its authors give it (quba/data/ATTRIBUTION.md), shown in the page's "Cite" section.
CITATION = "beyond_accuracy.bib"



def _text(v):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    s = str(v)
    return None if s in ("nan", "None") else s


def _catalog_papers() -> dict[str, str]:
    """model id -> paper title, from the zoo catalog (quba/data/zoo_catalog.csv)."""
    from quba.zoo.catalog import catalog

    return {r["id"]: r["paper_title"] for r in catalog(include_mini=False) if r["paper_title"]}


def suite_payload(lb, suite: str, reference=None) -> dict:
    """Everything the page needs about one suite's rows (see the module docstring)."""
    from quba.ranking.leaderboard import dimension_columns
    from quba.ranking.score import resolve_reference

    sub = lb[lb["suite"] == suite].reset_index(drop=True)
    dims = dimension_columns(sub)
    dims = [d for d in dims if sub[d].notna().any()] or dims  # as quba.ranking.score.rank does
    ref = resolve_reference(reference, sub, dims, suite)
    rows: dict = {"model": [str(m) for m in sub["model"]], "leaderboard": [str(s) for s in sub["leaderboard"]]}
    # "Your" rows, drawn to stand out: all but the shipped paper leaderboard's; in a suite without it, all but
    # the first leaderboard's; nothing when the suite has one leaderboard only.
    labels = list(dict.fromkeys(rows["leaderboard"]))
    background = {"reference"} if "reference" in labels else {labels[0]} if labels else set()
    rows["user"] = [lb not in background for lb in rows["leaderboard"]]
    meta = [c for c in METADATA if c in sub.columns]
    for c in meta + [c for c in DETAIL_COLUMNS if c in sub.columns]:
        rows[c] = [_text(v) for v in sub[c]]
    # The model's paper for the hover and the detail: the leaderboard's, else the zoo catalog's for a model
    # evaluated from the zoo under its catalog id (display only: filters read the leaderboard's columns).
    papers = _catalog_papers()
    rows["paper_title"] = [p or papers.get(m) for p, m in zip(rows.get("paper_title") or [None] * len(sub), rows["model"])]
    values = {d: [finite_or_none(v) for v in sub[d]] for d in dims}
    if "parameters_m" in sub.columns and "parameters_m" not in values:
        values["parameters_m"] = [finite_or_none(v) for v in sub["parameters_m"]]
    bounds = {d: {side: [finite_or_none(v) for v in sub[f"{d}_{side}"]] for side in ("lo", "hi")}
              for d in dims if f"{d}_lo" in sub.columns and f"{d}_hi" in sub.columns
              and (sub[f"{d}_lo"].notna() | sub[f"{d}_hi"].notna()).any()}
    return {
        "n": len(sub),
        "dims": dims,
        "metadata": meta,
        "has_params_column": "parameters_m" in sub.columns,
        "reference": {
            "name": ref.name,
            "mean": {d: finite_or_none(ref.mean[d]) for d in dims},
            "std": {d: finite_or_none(ref.std[d]) for d in dims},
            "source": {d: ref.source[d] for d in dims},
            "describe": ref.describe(),
        },
        "rows": rows,
        "values": values,
        "bounds": bounds,
    }


def _sources(leaderboards) -> list:
    if leaderboards is None:
        return ["reference"]
    if isinstance(leaderboards, (str, Path)):
        return [leaderboards]
    if isinstance(leaderboards, (list, tuple)):
        return list(leaderboards)
    return []  # a DataFrame: no files, no records


def reproduction_data(leaderboards, suites) -> dict:
    """{suite: [reproduction report]} of the records beside each leaderboard given that quba regenerates
    from records (`quba.store.leaderboard.is_generated`), once per records folder, for the `suites`
    shown: each is `quba.ranking.reproduction.reproduce(<output>, <suite>)` (the rows of `quba reproduce
    --format json`), or {"records", "error"} when it cannot be made (one line, as the command says it).
    A records folder none of whose models has a published row is left out (the section is about
    reproducing published values; `quba reproduce` still lists such records)."""
    from quba.ranking.leaderboard import REFERENCE_NAMES
    from quba.ranking.reproduction import reproduce
    from quba.store.leaderboard import is_generated

    out: dict = {}
    seen = set()
    for src in _sources(leaderboards):
        if str(src).strip().lower() in REFERENCE_NAMES or not is_generated(src):
            continue
        path = Path(src)
        output, suite = path.parent.parent, path.parent.name
        key = (path.parent / "records").resolve()
        if suite not in suites or key in seen:
            continue
        seen.add(key)
        try:
            report = reproduce(output, suite)
        except QubaError as exc:
            report = {"records": str(path.parent / "records"), "error": str(exc)}
        if report.get("error") or report["rows"]:
            out.setdefault(suite, []).append(report)
    return out


def report_data(leaderboards=None, *, suite: str | None = None, reference=None, title: str | None = None) -> dict:
    """The JSON document the page reads (one entry per suite of the leaderboards)."""
    from quba.ranking import recommendation
    from quba.ranking import weights as weights_mod
    from quba.ranking.leaderboard import DEFAULT_SUITE, as_leaderboard
    from quba.ranking.score import REMEDIES

    lb = as_leaderboard(leaderboards)
    suites = sorted(lb["suite"].unique())
    if suite:
        s = suite.strip().lower()
        if s not in suites:
            raise QubaError(f"no rows of suite {suite!r}; suites in these leaderboards: {', '.join(suites)}")
        suites, default = [s], s
    else:
        default = DEFAULT_SUITE if DEFAULT_SUITE in suites else suites[0]
    payload = {s: suite_payload(lb, s, reference) for s in suites}
    sources = list(dict.fromkeys(str(x) for x in lb["leaderboard"]))
    return {
        "title": title or "QUBA leaderboard",
        "version": __version__,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": sources,
        "default_suite": default,
        "suites": payload,
        "reproduction": reproduction_data(leaderboards, suites),
        "dimensions": {
            d.name: {"title": d.title, "higher_is_better": d.higher_is_better, "aliases": list(d.aliases),
                     "description": d.description}
            for d in dimensions.all_dimensions().values()
        },
        "presets": {p.name: {"description": p.description, "weights": p.weights}
                    for p in weights_mod.PRESETS.values()},
        "default_preset": weights_mod.DEFAULT_PRESET,
        "prefer_factor": recommendation.PREFER_FACTOR,
        "remedies": {k: v["page"] for k, v in REMEDIES.items()},
        "strength_z": 1.0,
    }


def _script_safe(text: str) -> str:
    """Text that cannot close the <script> element it is inlined in."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:  # pragma: no cover - plotly is a dependency
        raise QubaError("the report needs the 'plotly' Python package (pip install plotly)") from None
    return get_plotlyjs()


def build_report_html(leaderboards=None, *, suite: str | None = None, reference=None,
                      title: str | None = None) -> str:
    """The whole page as one string (see the module docstring)."""
    import html

    data = report_data(leaderboards, suite=suite, reference=reference, title=title)
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False)
    # Inside <script type="application/json">, "<" as \u003c keeps the JSON valid and the element closed.
    blob = blob.replace("<", "\\u003c")
    parts = {
        "TITLE": html.escape(data["title"]),
        "CSS": (ASSETS / "report.css").read_text(encoding="utf-8"),
        "PLOTLY": _script_safe(_plotly_js()),
        "DATA": blob,
        "APP": _script_safe((ASSETS / "report.js").read_text(encoding="utf-8")),
        "BIBTEX": html.escape(data_file(CITATION).read_text(encoding="utf-8").strip()),
    }
    template = (ASSETS / "report.html").read_text(encoding="utf-8")
    # One pass, so nothing inserted is scanned for placeholders again.
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m.group(1)], template)


def write_report_html(output, leaderboards=None, *, suite: str | None = None, reference=None,
                      title: str | None = None) -> Path:
    """Build the page and write it atomically to `output`; returns the path."""
    out = Path(output)
    if out.is_dir():
        raise QubaError(f"--output {str(output)!r} is a folder; give a file name such as report.html")
    text = build_report_html(leaderboards, suite=suite, reference=reference, title=title)
    try:
        atomic_write_text(out, text, devices=True)  # -o /dev/stdout, a pipe: written into, never replaced
    except OSError as exc:
        raise QubaError(f"cannot write {str(output)!r} ({exc.strerror or exc}); choose another --output") from None
    return out
