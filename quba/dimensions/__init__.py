"""The quality dimensions quba knows: one declaration each, and the registry.

A dimension is declared once, as data (`Dimension`): its name, direction, aliases,
title, the values its definition allows, the *roles* of the splits it reads (a
suite says which of its splits serves which role: `quba.suites.base.role_splits`),
an options dataclass, and its hooks as lazy ``"module:attr"`` strings (resolved
on first call, the lm-eval registry pattern). So the registry is complete after
``import quba.dimensions`` alone, whatever else was or was not imported, and the
dimensions never import the engine. The declarations of quba's own dimensions
are in `quba/dimensions/builtin.py`; their hooks in `quba/dimensions/quba9.py`
(the nine QUBA dimensions), `quba/dimensions/beyond.py` and `quba/dimensions/certify.py`.
A third-party dimension registers through the entry-point group
``quba.dimensions`` or ``--plugin MODULE`` (`load_plugin`): see
docs/adding-a-dimension.md.

The nine QUBA dimensions follow Hesse et al., "Beyond Accuracy" (Sec. 3) and
docs/metrics.md#the-nine-quba-dimensions.

Hook contract
-------------
``needs(suite, opts) -> list[SplitRequest]``
    The model outputs the dimension reads. `suite` is the loaded suite, `opts`
    the run's options (a dict: "seed", "subset", "bootstrap", "device",
    "batch_size", "workers", "strict", "progress", "protocol", "precision"); a
    dimension that declares an options dataclass reads its own options filled in
    and checked as ``opts.options`` here and ``ctx.options`` in the other hooks
    (`quba.dimensions.options`: given as ``options={name: {...}}`` or
    ``--option NAME.KEY=VALUE``), never from raw dicts. A
    `SplitRequest` names a split of the suite (ask the suite which one serves a
    role: ``role_splits(suite, "clean")``) and optionally ``attack`` (None,
    "fgsm" or "pgd", with ``params``), ``model`` (another model's spec, e.g. a
    teacher: the engine loads, runs and caches it the same way) and ``outputs``
    ("logits" or "decisions"). Raise `quba.errors.QubaError` if the suite
    cannot serve the dimension. A dimension that needs no model outputs returns [].

``scores(ctx) -> Scores`` (optional)
    For a dimension that runs the model itself (pointing game, attributions,
    certification): its per-unit scores (per image, per grid), computed once;
    the engine caches them on disk (checksummed, beside the prediction cache)
    and hands them to `compute` as ``ctx.scores()``.

``compute(ctx) -> float | dict``
    The value: routes the cached outputs (``ctx.outputs(request)``) or scores
    (``ctx.scores()``) into the pure functions of `quba.metrics`, passing
    ``sample_weight=ctx.weight(request)`` (or ``ctx.weight("scores")``). The
    engine calls it once with no weights (the point value; ``ctx.weight``
    returns None) and once with count weights [B, N] of B bootstrap resamples
    (every metric accepts them, the scikit-learn convention), where it returns
    the B replicates (an array, or a dict whose "value" is one). One formula
    serves the value and its interval; there is no per-dimension bootstrap.
    (A metric may compute its weighted form by another algorithm, checked equal
    to the unweighted one: the calibration error bins resamples over the full
    sample's sort, quba/metrics/calibration.py.)
    Return a float, or a dict with key "value" plus JSON-able details, which the
    record keeps under ``details[<dimension>]``.

The engine draws the resamples (`quba.engine.measure.Context.draws`): per split,
images with replacement, shared by all requests on that split (clean, attacked,
other models: paired), from a generator seeded by (seed, dimension), so every
model gets the same draws. A dimension declared ``sampling=False`` (a count, e.g.
parameters) has no sampling uncertainty: its interval is the value itself.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from quba.errors import QubaError, closest
from quba.registry import Registry, RegistryError


@dataclass(frozen=True)
class SplitRequest:
    """One set of model outputs a dimension reads (see the hook contract above)."""

    split: str
    attack: str | None = None  # None | "fgsm" | "pgd"
    params: tuple = ()  # ((key, value), ...): attack parameters, part of the cache key
    model: str | None = None  # None: the model under evaluation; else a model spec
    outputs: str = "logits"  # "logits" | "decisions"

    @property
    def key(self) -> str:
        """Readable identity used in records: split, then attack and model if any."""
        k = self.split
        if self.attack:
            k += f"@{self.attack}"
        if self.model:
            k += f"[{self.model}]"
        return k


@dataclass
class Scores:
    """Per-unit scores of a dimension that runs the model itself (``scores`` hook).

    ``values``: arrays of one length (the units: images, grids), resampled together;
    ``info``: JSON-able details kept in the record."""

    values: dict
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0


class Hook:
    """A callable given as ``"module:attr"``, imported on first call (lazy: declaring a
    dimension imports nothing of the engine)."""

    def __init__(self, ref: str):
        if not isinstance(ref, str) or ref.count(":") != 1:
            raise ValueError(f"a hook is 'module:attr', got {ref!r}")
        self.ref = ref
        self._fn = None

    def resolve(self) -> Callable:
        if self._fn is None:
            module, attr = self.ref.split(":")
            try:
                self._fn = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise QubaError(f"cannot load hook {self.ref!r} ({exc}); check the dimension's declaration") from None
        return self._fn

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Hook({self.ref!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Hook) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)


def _hook(h):
    return Hook(h) if isinstance(h, str) else h


@dataclass(frozen=True)
class Dimension:
    name: str
    higher_is_better: bool
    title: str
    description: str
    source: str = "Hesse et al., Beyond Accuracy (QUBA), Sec. 3"
    paper: bool = False  # one of the nine QUBA dimensions
    aliases: tuple[str, ...] = ()
    # Engine hooks (see the module docstring), each a callable or a lazy "module:attr" string.
    needs: Callable[..., Any] | str | None = field(default=None, compare=False)
    compute: Callable[..., Any] | str | None = field(default=None, compare=False)
    scores: Callable[..., Any] | str | None = field(default=None, compare=False)
    #: The values the definition allows, (low, high) inclusive; leaderboards with values
    #: outside are refused (`quba.ranking.leaderboard.prepare`). Unbounded by default.
    valid_range: tuple[float, float] = (float("-inf"), float("inf"))
    #: The split roles it reads (a suite maps each to split names: `quba.suites.base.role_splits`).
    roles: tuple[str, ...] = ()
    #: Its options: a dataclass (or "module:Class") filled from ``opts[<name>]``; None: no options.
    options: Any = field(default=None, compare=False)
    #: False for a count with no sampling uncertainty (parameters): its interval is the value.
    sampling: bool = True

    def __post_init__(self):
        for f in ("needs", "compute", "scores"):
            object.__setattr__(self, f, _hook(getattr(self, f)))
        if isinstance(self.options, str):
            object.__setattr__(self, "options", Hook(self.options))

    @property
    def measurable(self) -> bool:
        return self.needs is not None and self.compute is not None

    def parse_options(self, opts: dict | None):
        """The options dataclass filled from ``opts[<name>]`` and checked
        (`quba.dimensions.options.check`: an unknown key or a value of the wrong type is a QubaError
        naming the known ones); None without one."""
        from quba.dimensions.options import check

        return check(self, (opts or {}).get(self.name))


def _check(name: str, dim):
    if not isinstance(dim, Dimension):
        raise TypeError(f"register() takes a quba.dimensions.Dimension, got {type(dim).__name__}")
    return dim


def _register_from(obj) -> list[str]:
    """Register what a plugin offers: a Dimension, a list of them, a module that holds
    `DIMENSIONS` (one that called `register` itself needs nothing more), or a function
    returning one of these (an entry point may name a factory)."""
    if isinstance(obj, Dimension):
        return [register(obj).name]
    if isinstance(obj, (list, tuple)):
        return [n for o in obj for n in _register_from(o)]
    if hasattr(obj, "__file__") or hasattr(obj, "__path__"):  # a module
        dims = vars(obj).get("DIMENSIONS")
        return _register_from(dims) if dims is not None else []
    if callable(obj):
        return _register_from(obj())
    raise ValueError(f"a plugin offers Dimensions, a list of them or a module; got {type(obj).__name__}")


ENTRY_POINT_GROUP = "quba.dimensions"
#: The dimensions (quba.registry.Registry): quba's own (builtin.py), the entry-point group
#: ``quba.dimensions`` (each entry: a Dimension, a list, a module or a callable returning them;
#: read on the first lookup of an unknown name) and ``--plugin MODULE`` (`load_plugin`).
REGISTRY = Registry("dimension", ENTRY_POINT_GROUP, module_attr="DIMENSIONS", check=_check,
                    name_of=lambda d: d.name, aliases_of=lambda d: tuple(d.aliases),
                    on_entry_point=lambda reg, ep: _register_from(ep.load()),
                    hint=" (a plugin's dimension: pass --plugin MODULE)")


def register(dim: Dimension, replace: bool = False) -> Dimension:
    """Add a dimension (replace=True: replace the declaration of that name). The same declaration
    again is a no-op; another one under a taken name or alias is refused (quba.registry.RegistryError,
    a ValueError)."""
    if not isinstance(dim, Dimension):
        raise RegistryError(f"register() takes a quba.dimensions.Dimension, got {type(dim).__name__}")
    REGISTRY.register(dim, replace=replace)
    return REGISTRY.get(dim.name)


def unregister(name: str) -> None:
    """Remove a dimension and its aliases (tests, plugins that replace themselves)."""
    REGISTRY.unregister(name)


def attach(name: str, *, needs=None, compute=None, scores=None) -> Dimension:
    """Attach engine hooks to a registered dimension (keeps its name, direction, aliases)."""
    import dataclasses

    dim = get(name)
    dim = dataclasses.replace(dim, needs=needs or dim.needs, compute=compute or dim.compute,
                              scores=scores or dim.scores)
    REGISTRY.register(dim, replace=True)
    return dim


def all_dimensions() -> dict[str, Dimension]:
    return dict(REGISTRY.items())


def canonical(name: str) -> str:
    """Canonical name of a dimension, accepting aliases; QubaError if unknown."""
    return REGISTRY.canonical(name)


def get(name: str) -> Dimension:
    return REGISTRY.get(name)


def is_known(name: str) -> bool:
    return name in REGISTRY


def higher_is_better(name: str) -> bool:
    return get(name).higher_is_better


# -- plugins -----------------------------------------------------------------------------
def load_plugin(module: str) -> list[str]:
    """Import a plugin module (a dotted name, or a path to a .py file) so what it declares registers
    (`quba.registry.load_plugin`: dimensions, and any other kinds it adds); returns the dimension
    names it declared through ``DIMENSIONS`` or `register`. QubaError if it cannot load."""
    from quba.registry import load_plugin as load

    return load(module).get("dimension", [])


def load_plugins(modules) -> list[str]:
    names = []
    for m in modules or []:
        names += load_plugin(m)
    return names


from quba.dimensions.builtin import NINE  # noqa: E402  (the declarations: the registry is complete)

__all__ = ["SplitRequest", "Scores", "Hook", "Dimension", "register", "unregister", "attach", "all_dimensions",
           "canonical", "get", "is_known", "higher_is_better", "load_plugin", "load_plugins", "NINE",
           "ENTRY_POINT_GROUP", "REGISTRY"]
