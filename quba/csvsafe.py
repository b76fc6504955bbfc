"""Text cells of the CSV files quba writes, safe to open in a spreadsheet (CSV injection).

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula
(tab and carriage return too, in some). As OWASP's "CSV Injection" page
recommends, such a text cell is written with a leading single quote, which
spreadsheets show as text: a model named `=HYPERLINK(...)` is written
`'=HYPERLINK(...)`. Numbers are left alone: numeric columns are not text, and a
text cell that is a plain decimal number (`-5`, `+1.5e3`) is no formula.

The escape is undone on reading (`unescape_text`; `quba.ranking.leaderboard`
applies it to every text column of a leaderboard), so a name goes
records -> leaderboard.csv -> rank and comes back unchanged. To keep that
exact for every string, a text cell whose leading quotes already precede such a
character gets one more quote: `'=x` is written `''=x` and read back as `'=x`.
The report page's CSV download (quba/report/assets/report.js, `csvText`)
applies the same rule.
"""
from __future__ import annotations

import re

#: First characters that make a spreadsheet cell a formula (OWASP, CSV Injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")  # ASCII digits, as report.js


def escape_text(s: str) -> str:
    """`s` as a CSV cell no spreadsheet runs (see the module docstring)."""
    rest = s.lstrip("'")
    if rest.startswith(FORMULA_START) and (rest != s or not _NUMBER.fullmatch(s)):
        return "'" + s
    return s


def unescape_text(s: str) -> str:
    """The inverse of `escape_text`: one leading quote before a formula character is dropped."""
    if s.startswith("'") and s[1:].lstrip("'").startswith(FORMULA_START):
        return s[1:]
    return s


def _text_columns(frame):
    import pandas as pd

    return [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]


def escape_frame(frame):
    """A copy of `frame` with every text cell escaped (numbers, NaN and other values unchanged)."""
    out = frame.copy()
    for c in _text_columns(out):
        out[c] = out[c].map(lambda v: escape_text(v) if isinstance(v, str) else v)
    return out


def unescape_frame(frame):
    """A copy of `frame` with the escape of every text cell undone."""
    out = frame.copy()
    for c in _text_columns(out):
        out[c] = out[c].map(lambda v: unescape_text(v) if isinstance(v, str) else v)
    return out


def to_csv(frame, **kwargs) -> str:
    """`frame.to_csv(**kwargs)` (a string) with its text cells escaped. Python's csv writer does not
    quote a carriage return when lines end in a newline, so a file with one in a text cell has every
    cell quoted (a bare CR would split its row for every reader)."""
    import csv

    out = escape_frame(frame)
    if any(isinstance(v, str) and "\r" in v for c in _text_columns(out) for v in out[c]):
        kwargs.setdefault("quoting", csv.QUOTE_ALL)
    return out.to_csv(**kwargs)
