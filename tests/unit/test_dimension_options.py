"""Dimension options one way (issue 20.4): declared as a dataclass, given as {dimension: {key: value}}
or `--option DIM.KEY=VALUE`, typed and checked once; the named flags are aliases of --option; hooks
read `ctx.options` (`opts.options` in needs), never raw option dicts."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pytest

from quba import dimensions as D
from quba.cli import build_parser
from quba.cli._further_options import further_options
from quba.dimensions.options import check, coerce, normalize, parse_assignment, parse_assignments
from quba.errors import QubaError

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ToyOptions:
    threshold: float | None = None
    steps: int | None = None
    on: bool | None = None
    name: str | None = None
    levels: Sequence[float] | None = None


@pytest.fixture
def toy():
    dim = D.Dimension("toy_opts_dim", True, "Toy", "a test dimension with options", aliases=("toyo",),
                      needs="quba.dimensions.quba9:accuracy_needs", compute="quba.dimensions.quba9:accuracy_compute",
                      options=ToyOptions)
    D.register(dim)
    yield dim
    D.unregister(dim.name)


def test_values_are_parsed_to_the_declared_types(toy):
    assert parse_assignment("toy_opts_dim.threshold=0.25") == ("toy_opts_dim", "threshold", 0.25)
    assert parse_assignment("toyo.steps=7") == ("toy_opts_dim", "steps", 7)  # an alias names the dimension
    assert parse_assignment("toy_opts_dim.on=false")[2] is False
    assert parse_assignment("toy_opts_dim.on=Yes")[2] is True
    assert parse_assignment("toy_opts_dim.name=a=b")[2] == "a=b"  # the first '=' splits
    assert parse_assignment("toy_opts_dim.levels=0.6,0.3")[2] == (0.6, 0.3)
    assert parse_assignment("toy_opts_dim.steps=none")[2] is None  # back to the default
    got = parse_assignments(["toy_opts_dim.steps=1", "toy_opts_dim.threshold=2", "toy_opts_dim.steps=3"])
    assert got == {"toy_opts_dim": {"steps": 3, "threshold": 2.0}}  # a later one wins
    assert check(toy, got["toy_opts_dim"]) == ToyOptions(threshold=2.0, steps=3)


@pytest.mark.parametrize("text, message", [
    ("toy_opts_dim.steps=seven", "--option toy_opts_dim.steps=seven: steps takes a whole number"),
    ("toy_opts_dim.threshold=inf", "threshold takes a number"),
    ("toy_opts_dim.on=maybe", "on takes true or false"),
    ("toy_opts_dim.thresold=1", "unknown option 'thresold' for toy_opts_dim (did you mean: threshold?)"),
    ("toy_opts_dimm.steps=1", "unknown dimension 'toy_opts_dimm' (did you mean: toy_opts_dim"),
    ("accuracy.steps=1", "dimension accuracy takes no options"),
    ("toy_opts_dim.steps", "give DIMENSION.KEY=VALUE"),
    ("steps=1", "give DIMENSION.KEY=VALUE"),
])
def test_bad_options_are_one_line(toy, text, message):
    with pytest.raises(QubaError) as exc:
        parse_assignments([text])
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_python_options_are_normalised_and_checked(toy):
    assert normalize({"toyo": {"steps": "4", "threshold": 1}}) == {"toy_opts_dim": {"steps": 4, "threshold": 1.0}}
    # a bare key: every dimension that declares it (one "teacher" serves both teacher dimensions)
    assert normalize({"teacher": "t"}) == {"teacher_agreement": {"teacher": "t"},
                                           "explanation_similarity": {"teacher": "t"}}
    with pytest.raises(QubaError, match="options given for unknown dimension 'interpretabilty'.*interpretability"):
        normalize({"interpretabilty": {"grid_size": 3}})
    with pytest.raises(QubaError, match="neither a dimension nor an option"):
        normalize({"gridsize": 3})
    with pytest.raises(QubaError, match="option interpretability.grid_size must be >= 2, got 1"):
        normalize({"interpretability": {"grid_size": 1}})
    with pytest.raises(QubaError, match="grid_size takes a whole number"):
        normalize({"interpretability": {"grid_size": 2.5}})


def test_coerce_keeps_typed_values_and_refuses_the_wrong_type():
    assert coerce("d", "k", int, 3) == 3 and coerce("d", "k", float, 3) == 3.0
    assert coerce("d", "k", Sequence[float], [1, 2]) == (1.0, 2.0)
    for tp, bad in ((int, True), (int, "1.5"), (float, "x"), (str, 3), (bool, 2)):
        with pytest.raises(QubaError):
            coerce("d", "k", tp, bad)


def _parsed(command: str, *argv) -> dict:
    args = build_parser().parse_args([command, *(["mini-cnn-standard"] if command != "leaderboard" else []),
                                      *argv])
    return further_options(args)


@pytest.mark.parametrize("command", ["evaluate", "leaderboard", "sweep"])
def test_the_named_flags_are_aliases_of_option(command):
    named = _parsed(command, "--reference-model", "old", "--teacher", "t", "--attribution", "grad_cam",
                    "--grid-size", "4", "--grids", "7")
    generic = _parsed(command, "--option", "negative_flip_rate.reference_model=old",
                      "--option", "teacher_agreement.teacher=t", "--option", "explanation_similarity.teacher=t",
                      "--option", "interpretability.method=grad_cam", "--option", "explanation_similarity.method=grad_cam",
                      "--option", "interpretability.grid_size=4", "--option", "interpretability.n_grids=7")
    assert named == generic == {
        "negative_flip_rate": {"reference_model": "old"},
        "teacher_agreement": {"teacher": "t"},
        "explanation_similarity": {"teacher": "t", "method": "grad_cam"},
        "interpretability": {"method": "grad_cam", "grid_size": 4, "n_grids": 7}}
    # the same value both ways is fine; different values are one line
    assert _parsed(command, "--grids", "7", "--option", "interpretability.n_grids=7") == \
        {"interpretability": {"n_grids": 7}}
    with pytest.raises(QubaError, match="--grids 7 and --option interpretability.n_grids=8 disagree"):
        _parsed(command, "--grids", "7", "--option", "interpretability.n_grids=8")
    with pytest.raises(QubaError, match="--grid-size: option interpretability.grid_size must be >= 2, got 1"):
        _parsed(command, "--grid-size", "1")


def test_certify_flags_are_aliases_of_its_options():
    from quba.cli.certify import options

    def parsed(*argv):
        return options(build_parser().parse_args(["certify", "mini-seg-fcn", *argv]))

    named = parsed("--sigma", "0.5", "--flat", "--thresholds", "0.6", "0.3", "--images", "2", "--batch-size", "16")
    generic = parsed("--option", "certified_information_gain.sigma=0.5", "--option", "cig.adaptive=false",
                     "--option", "certified_information_gain.thresholds=0.6,0.3", "--option",
                     "certified_information_gain.images=2", "--option", "certified_information_gain.batch_size=16")
    assert named == generic == {"sigma": 0.5, "adaptive": False, "thresholds": (0.6, 0.3), "images": 2,
                                "batch_size": 16}
    assert parsed() == {"batch_size": 64}  # the command's own default
    with pytest.raises(QubaError, match="quba certify measures certified_information_gain only"):
        parsed("--option", "interpretability.grid_size=3")


def test_hooks_read_no_raw_option_dicts():
    """quba's hooks get their options as ctx.options / opts.options: no opts[<dimension>] or
    opts.get(<dimension>) anywhere in the hook modules."""
    names = set(D.all_dimensions())
    for path in ("quba/dimensions/quba9.py", "quba/dimensions/beyond.py", "quba/dimensions/certify.py",
                 "quba/engine/paper_protocol.py"):
        tree = ast.parse((ROOT / path).read_text())
        for node in ast.walk(tree):
            key, of = None, None
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                key, of = node.slice.value, node.value
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                key, of = node.args[0].value, node.func.value
            opts = isinstance(of, ast.Name) and of.id == "opts" or isinstance(of, ast.Attribute) and of.attr == "opts"
            assert not (opts and key in names), f"{path}:{node.lineno} reads the raw options of {key!r}"
