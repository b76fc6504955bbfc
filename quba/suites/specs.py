"""What each suite declares about itself, as data: the rest of quba asks here instead of
branching on a suite's name.

A `SuiteSpec` says how to load the suite, which shipped leaderboard is its reference
population, how that population normalises z-scores, under which protocol its rows were
measured, which zoo groups are evaluated when no model is named, and whether it takes a
data root. Importing this module is light (no torch, no pandas).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    #: how people call it in messages
    title: str
    #: "module:Class" constructing the suite (lazy import).
    loader: str
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


SPECS: dict[str, SuiteSpec] = {
    "mini": SuiteSpec(
        name="mini", title="QUBA-mini", loader="quba.suites.mini:MiniSuite", data_root=False,
        reference="mini_reference.csv", normalisation="leaderboard", reference_protocol="quba",
        reference_label="mini_reference.csv", default_groups=("mini",)),
    "imagenet": SuiteSpec(
        name="imagenet", title="ImageNet", loader="quba.suites.imagenet:ImageNetSuite", data_root=True,
        reference="quba_paper_results.csv", normalisation="paper", reference_protocol="paper",
        reference_label="paper", report_with_reference=True),
}
#: The suite a leaderboard row without a `suite` column belongs to (the paper's CSV has none).
DEFAULT_LEADERBOARD_SUITE = "imagenet"
#: The suite evaluated when none is named.
DEFAULT_SUITE = "mini"


def spec(name) -> SuiteSpec | None:
    """The spec of a suite name (or a suite object's name); None for a suite quba does not ship."""
    name = getattr(name, "name", name)
    return SPECS.get(str(name).strip().lower()) if name is not None else None


def paper_normalised_suites() -> list[SuiteSpec]:
    """The suites the paper's fixed constants normalise."""
    return [s for s in SPECS.values() if s.normalisation == "paper"]
