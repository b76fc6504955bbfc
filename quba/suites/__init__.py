"""Suites: named splits of images, labels and per-image metadata (see base.py).

`load_suite("mini", seed=0)` gives QUBA-mini (procedural, offline, the default);
`load_suite("imagenet", data_root=...)` the ImageNet-family folders on disk.
"""
from __future__ import annotations

from quba.suites.specs import DEFAULT_SUITE, SPECS, spec  # noqa: F401

SUITE_NAMES = tuple(SPECS)


def load_suite(name: str = DEFAULT_SUITE, *, seed: int = 0, data_root=None, **kw):
    """A suite by name. Imports lazily (no torch at `import quba.suites`)."""
    import importlib

    from quba.errors import QubaError, closest

    s = spec(name) if isinstance(name, str) else None
    if s is None:
        raise QubaError(f"unknown suite {name!r}{closest(str(name), SUITE_NAMES)}; "
                        f"known suites: {', '.join(SUITE_NAMES)}")
    module, cls = s.loader.split(":")
    suite_cls = getattr(importlib.import_module(module), cls)
    if not s.data_root:
        if data_root is not None:
            others = [o.name for o in SPECS.values() if o.data_root]
            raise QubaError(f"the {s.name} suite is generated, it takes no data_root; drop --data-root or use "
                            f"suite {' or '.join(repr(o) for o in others)}")
        return suite_cls(seed=seed, **kw)
    return suite_cls(data_root, **kw)
