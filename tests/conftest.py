import os
import tempfile

import pytest

# Keep every test's cache out of the user's home; tests that need a fresh cache
# use the `quba_cache` fixture.
os.environ.setdefault("QUBA_CACHE", tempfile.mkdtemp(prefix="quba-test-cache-"))


@pytest.fixture
def quba_cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("QUBA_CACHE", str(path))
    return path
