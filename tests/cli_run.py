"""`cli(capsys, *argv)`: run `quba` in-process and return (exit code, stdout, stderr); `one_line(err)`:
its single error line. Helpers of the tests (tests/ is on sys.path: tests/conftest.py), not a test module."""
from __future__ import annotations

from quba.cli import main


def cli(capsys, *argv):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    """The single non-blank line of `err` (asserting there is exactly one, and no traceback)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    return lines[0]
