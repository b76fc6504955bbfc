"""Metavars and help of options whose values are registered names (suites, executors, model sources):
read from the registries (quba.registry) when the parser is built, never hard-coded. A name a
--plugin adds is accepted too (the plugins load after parsing, so these options take no `choices`;
an unknown name is one line naming the known ones when it is used)."""
from __future__ import annotations


def suites() -> list[str]:
    from quba.suites.specs import SPECS

    return SPECS.names()


def suite_metavar() -> str:
    return "|".join(suites())


def suite_help(default: str | None = None) -> str:
    """'the images: mini (QUBA-mini, generated, no data needed; default) or imagenet (...)', from the specs."""
    from quba.suites.specs import SPECS

    parts = []
    for s in SPECS.values():
        how = "folders under --data-root" if s.data_root else "generated, no data needed"
        parts.append(f"{s.name} ({s.title}, {how}{'; default' if s.name == default else ''})")
    return "the images: " + (", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else parts[0]) + \
        "; or a plugin's suite (--plugin)"


def executors() -> list[str]:
    from quba.sweep.executors import EXECUTORS

    return EXECUTORS.names()


def executor_metavar() -> str:
    return "|".join(executors())


def sources() -> list[str]:
    from quba.zoo.registry import row_sources

    return row_sources()
