"""quba — measure image classifiers on quality beyond accuracy, and rank them.

Implements the QUBA benchmark of Hesse et al., "Beyond Accuracy: What Matters
in Designing Well-Behaved Models?", plus further dimensions from related work.
The Python API mirrors the CLI; see README.md.
"""
__version__ = "0.1.0"

from quba.errors import QubaError  # noqa: E402

__all__ = ["QubaError", "__version__"]

# The Python API behind every command, imported lazily so `import quba` stays light.
_API = {
    **{name: "quba.api" for name in ("evaluate", "evaluate_many", "leaderboard", "compare", "certify",
                                     "consistency", "place", "reproduce")},
    "rank": "quba.ranking",
    "recommend": "quba.ranking",
    "correlate": "quba.ranking",
    "Filters": "quba.ranking",
    "load_leaderboard": "quba.ranking",
    "load_model": "quba.zoo",
    "load_suite": "quba.suites",
    "write_report_html": "quba.report",
}


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'quba' has no attribute {name!r}")
