"""`cli(capsys, *argv)`: run `quba` in-process and return (exit code, stdout, stderr). A helper of the
tests (tests/ is on sys.path: tests/conftest.py), not a test module."""
from __future__ import annotations

from quba.cli import main


def cli(capsys, *argv):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err
