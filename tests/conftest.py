import os
import sys
import tempfile
from pathlib import Path

import pytest

# Tests live in tests/unit, tests/engine and tests/e2e; their shared helpers (engine_fakes.py,
# imagenet_fixture.py, data/) live here, in tests/. Put this folder on sys.path so that a test
# imports them by name (`from engine_fakes import ...`) wherever it lives; processes spawned by
# multiprocessing inherit the path.
HELPERS = str(Path(__file__).resolve().parent)
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)

# Keep every test's cache out of the user's home; tests that need a fresh cache
# use the `quba_cache` fixture.
os.environ.setdefault("QUBA_CACHE", tempfile.mkdtemp(prefix="quba-test-cache-"))


@pytest.fixture
def quba_cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("QUBA_CACHE", str(path))
    return path
