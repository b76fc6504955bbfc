"""Suites: named splits of images, labels and per-image metadata (the contract: base.py).

`load_suite("mini", seed=0)` gives QUBA-mini (procedural, offline, the default);
`load_suite("imagenet", data_root=...)` the ImageNet-family folders on disk; any other registered
suite by its name (`register`, the entry-point group ``quba.suites``, ``--plugin MODULE``:
docs/adding-a-suite.md).
"""
from __future__ import annotations

from quba.suites import specs
from quba.suites.specs import DEFAULT_SUITE, register, spec  # noqa: F401


def __getattr__(name):  # the registry and its names now (plugins add suites)
    if name == "SPECS":
        return specs.SPECS
    if name == "SUITE_NAMES":
        return tuple(specs.SPECS.names())
    raise AttributeError(f"module 'quba.suites' has no attribute {name!r}")


def load_suite(name: str = DEFAULT_SUITE, *, seed: int = 0, data_root=None, **kw):
    """A suite by name. Imports lazily (no torch at `import quba.suites`)."""
    from quba.errors import QubaError
    from quba.registry import resolve_ref
    from quba.suites.base import Suite

    if not isinstance(name, str):
        raise QubaError(f"a suite is named by a string, got {type(name).__name__}")
    s = specs.SPECS.get(name)  # unknown: one QubaError line naming the known suites
    suite_cls = resolve_ref(s.loader) if isinstance(s.loader, str) else s.loader
    if not s.data_root:
        if data_root is not None:
            others = [o.name for o in specs.SPECS.values() if o.data_root]
            raise QubaError(f"the {s.name} suite is generated, it takes no data_root; drop --data-root or use "
                            f"suite {' or '.join(repr(o) for o in others)}")
        suite = suite_cls(seed=seed, **kw)
    else:
        suite = suite_cls(data_root, **kw)
    if not isinstance(suite, Suite):
        raise QubaError(f"suite {s.name!r} ({type(suite).__qualname__}) does not subclass quba.suites.base.Suite "
                        "(docs/adding-a-suite.md)")
    return suite
