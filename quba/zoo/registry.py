"""The model sources, by name (a `quba.registry.Registry`): where a model's architecture and weights
come from. Each source is a module (or any object) with three functions, ``load``, ``check`` and
``available`` (quba/zoo/sources/__init__.py says what each takes); quba's own are the modules of
quba/zoo/sources/, registered here lazily, so importing this module imports no source (and no
torch). A catalog row's ``source`` column names one; ``SOURCE:IDENTIFIER`` loads an identifier of a
source without a catalog row (`quba.zoo.load_model`). Others register through
``quba.zoo.sources.register``, the entry-point group ``quba.model_sources`` or ``--plugin MODULE``
holding ``MODEL_SOURCES = {name: module or "module"}``: docs/adding-a-model-source.md.
"""
from __future__ import annotations

from quba.registry import Registry

#: quba's own sources (each the module quba.zoo.sources.<name>)
BUILTIN = ("timm", "torchvision", "open_clip", "bcos", "hub", "robustbench", "mobileclip", "mini", "unavailable",
           "checkpoint", "custom")
#: Sources that take a file, not a catalog row (`quba.zoo.load_model` picks them by the spec's form).
FILE_SOURCES = ("checkpoint", "custom")


def _check(name: str, source):
    missing = [f for f in ("load", "check", "available") if not callable(getattr(source, f, None))]
    if missing:
        raise TypeError(f"a model source is a module (or object) with functions load, check and available; "
                        f"{getattr(source, '__name__', type(source).__name__)} has no {', '.join(missing)}")
    return source


SOURCES = Registry("model source", "quba.model_sources", module_attr="MODEL_SOURCES", check=_check,
                   hint=" (a plugin's source: pass --plugin MODULE)")
for _name in BUILTIN:
    SOURCES.register(_name, f"quba.zoo.sources.{_name}", origin="quba")
del _name


def row_sources() -> list[str]:
    """The sources a catalog row (or a SOURCE:IDENTIFIER spec) may name: every one but the file sources."""
    return [s for s in SOURCES.names() if s not in FILE_SOURCES]
