"""What each suite declares about itself, as data: the rest of quba asks here instead of
branching on a suite's name.

A `SuiteSpec` says how to load the suite, which shipped leaderboard is its reference
population, how that population normalises z-scores, under which protocol its rows were
measured, which zoo groups are evaluated when no model is named, and whether it takes a
data root. `SPECS` is the registry of suites (a `quba.registry.Registry`): quba's own, those
of the entry-point group ``quba.suites`` and of ``--plugin MODULE`` (`register`;
docs/adding-a-suite.md). Importing this module is light (no torch, no pandas, no suite).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quba.registry import Registry


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    #: how people call it in messages
    title: str
    #: "module:Class" constructing the suite (lazy import), or the class (a `quba.suites.base.Suite`)
    loader: Any
    #: whether the suite reads images under --data-root (False: generated, takes none)
    data_root: bool
    #: file under quba/data of the shipped reference leaderboard (None: none ships)
    reference: str | None = None
    #: "paper": the paper's fixed μ/σ (quba/data/quba_normalization.json) normalise its z-scores;
    #: "leaderboard": the mean and sample std of the population ranked
    normalisation: str = "leaderboard"
    #: protocol the reference rows were measured under (quba/engine/paper_protocol.py)
    reference_protocol: str = "quba"
    #: how the reference is named to users ("paper", or the file name)
    reference_label: str | None = None
    #: zoo groups evaluated when no model is named (empty: the user must name models)
    default_groups: tuple[str, ...] = ()
    #: whether the HTML report shows the reference rows beside a leaderboard of this suite
    report_with_reference: bool = False

    @classmethod
    def of(cls, suite_cls) -> "SuiteSpec":
        """The spec of a suite class (`quba.suites.base.Suite`) registered as such: its name, title and
        `reads_data_root`; no reference leaderboard, no default groups."""
        return cls(name=suite_cls.name, title=suite_cls.title or suite_cls.name, loader=suite_cls,
                   data_root=bool(suite_cls.reads_data_root))


def _check(name: str, entry) -> SuiteSpec:
    """A registered suite is a SuiteSpec, or a Suite subclass (its spec made by `SuiteSpec.of`)."""
    if isinstance(entry, type):
        from quba.suites.base import Suite

        if not issubclass(entry, Suite):
            raise TypeError(f"{entry.__qualname__} does not subclass quba.suites.base.Suite "
                            "(docs/adding-a-suite.md)")
        own = next((vars(k)["name"] for k in entry.__mro__ if "name" in vars(k)), None)
        if not isinstance(own, str) or not own.strip():
            raise TypeError(f"{entry.__qualname__} sets no `name`")
        entry = SuiteSpec.of(entry)
    if not isinstance(entry, SuiteSpec):
        raise TypeError(f"a suite is registered as a SuiteSpec or a quba.suites.base.Suite subclass, "
                        f"got {type(entry).__name__}")
    if entry.name.strip().lower() != name.strip().lower():
        raise TypeError(f"it is named {entry.name!r}; register it under that name")
    return entry


#: The suites (name -> SuiteSpec), see the module docstring.
SPECS = Registry("suite", "quba.suites", module_attr="SUITES", check=_check, name_of=lambda e: e.name,
                 hint=" (a plugin's suite: pass --plugin MODULE)")
SPECS.register(SuiteSpec(
    name="mini", title="QUBA-mini", loader="quba.suites.mini:MiniSuite", data_root=False,
    reference="mini_reference.csv", normalisation="leaderboard", reference_protocol="quba",
    reference_label="mini_reference.csv", default_groups=("mini",)), origin="quba")
SPECS.register(SuiteSpec(
    name="imagenet", title="ImageNet", loader="quba.suites.imagenet:ImageNetSuite", data_root=True,
    reference="quba_paper_results.csv", normalisation="paper", reference_protocol="paper",
    reference_label="paper", report_with_reference=True), origin="quba")
#: The suite a leaderboard row without a `suite` column belongs to (the paper's CSV has none).
DEFAULT_LEADERBOARD_SUITE = "imagenet"
#: The suite evaluated when none is named.
DEFAULT_SUITE = "mini"


def register(entry, replace: bool = False) -> SuiteSpec:
    """Add a suite: a SuiteSpec, or a `quba.suites.base.Suite` subclass. The same one again is a
    no-op; another under a taken name is refused unless `replace` (quba.registry.RegistryError)."""
    SPECS.register(entry, replace=replace)
    return SPECS.get(entry.name)


def spec(name) -> SuiteSpec | None:
    """The spec of a suite name (or a suite object's name); None for a suite nobody registered."""
    if name is None:
        return None
    if not isinstance(name, str):
        name = name.name  # a suite object
    return SPECS.get(name) if name in SPECS else None


def names() -> list[str]:
    """Every registered suite's name (quba's own first)."""
    return SPECS.names()


def paper_normalised_suites() -> list[SuiteSpec]:
    """The suites the paper's fixed constants normalise."""
    return [s for s in SPECS.values() if s.normalisation == "paper"]
