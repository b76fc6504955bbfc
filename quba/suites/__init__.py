"""Suites: named splits of images, labels and per-image metadata (see base.py).

`load_suite("mini", seed=0)` gives QUBA-mini (procedural, offline, the default);
`load_suite("imagenet", data_root=...)` the ImageNet-family folders on disk.
"""
from __future__ import annotations

SUITE_NAMES = ("mini", "imagenet")


def load_suite(name: str = "mini", *, seed: int = 0, data_root=None, **kw):
    """A suite by name. Imports lazily (no torch at `import quba.suites`)."""
    from quba.errors import QubaError, closest

    if name == "mini":
        if data_root is not None:
            raise QubaError("the mini suite is generated, it takes no data_root; drop --data-root or use suite 'imagenet'")
        from quba.suites.mini import MiniSuite

        return MiniSuite(seed=seed, **kw)
    if name == "imagenet":
        from quba.suites.imagenet import ImageNetSuite

        return ImageNetSuite(data_root, **kw)
    raise QubaError(f"unknown suite {name!r}{closest(str(name), SUITE_NAMES)}; known suites: {', '.join(SUITE_NAMES)}")
