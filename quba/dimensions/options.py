"""Dimension options, one way: declared as a dataclass, given by name, typed and checked once.

A dimension declares its options as a dataclass (`quba.dimensions.Dimension.options`; quba's
own are below and `quba.dimensions.certify:CertifyOptions`). None in a field means "the
dimension's default". They are given

- from Python: ``quba.evaluate(..., options={dimension: {key: value}})`` (a name or alias as the
  key; a bare ``{key: value}`` at the top level is given to every dimension that declares
  ``key``, so one ``"teacher"`` serves both teacher dimensions);
- from the command line: ``--option DIMENSION.KEY=VALUE`` (repeatable, `parse_assignments`),
  whose text is parsed to the field's declared type (int, float, bool, str, a sequence of
  them, each optionally None); the named flags (``--teacher``, ``--attribution``, ...:
  quba/cli/_further_options.py) are aliases of it.

`normalize` turns what was given into {canonical dimension: {key: typed value}}, refusing an
unknown dimension or key (closest-match hint) and a value of the wrong type in one line, before
any work. The engine fills each dimension's dataclass from it once per evaluation
(`check`) and hands it to the hooks as ``ctx.options`` (``opts.options`` in ``needs``:
`HookOptions`); hooks never read raw option dicts.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import math
import types
import typing
from dataclasses import dataclass

from quba.errors import QubaError, closest


def _at_least(dimension: str, obj, minimum: dict) -> None:
    for key, low in minimum.items():
        value = getattr(obj, key)
        if value is not None and value < low:
            raise QubaError(f"option {dimension}.{key} must be >= {low}, got {value}")


@dataclass(frozen=True)
class PointingOptions:
    """interpretability: the grid pointing game (defaults: quba/dimensions/pointing_game.py DEFAULTS)."""

    method: str | None = None  # attribution method; auto: B-cos contribution maps, else input x gradient
    grid_size: int | None = None
    n_grids: int | None = None
    seed: int | None = None
    smooth: int | None = None
    per_class: int | None = None

    def __post_init__(self):
        _at_least("interpretability", self, {"grid_size": 2, "n_grids": 1})


@dataclass(frozen=True)
class FlipOptions:
    """negative_flip_rate: the declared reference ('legacy') model."""

    reference_model: str | None = None


@dataclass(frozen=True)
class TeacherOptions:
    """teacher_agreement: the teacher the model was distilled from."""

    teacher: str | None = None


@dataclass(frozen=True)
class ExplanationOptions:
    """explanation_similarity: the teacher and the attribution method for both models."""

    teacher: str | None = None
    method: str | None = None
    max_images: int | None = None
    batch_size: int | None = None

    def __post_init__(self):
        _at_least("explanation_similarity", self, {"batch_size": 1})


class HookOptions(dict):
    """What a dimension's hooks get as ``opts``: the run's options as a dict ("seed", "subset",
    "bootstrap", "device", "batch_size", "workers", "strict", "progress", "protocol", "precision",
    and under the paper protocol "paper_order", "paper_train_mode"), and `options`, the
    dimension's own options dataclass, filled and checked once per evaluation (None when it
    declares none; ``ctx.options`` is the same object)."""

    def __init__(self, run: dict, dimension: str | None = None, options=None):
        super().__init__(run)
        self.dimension = dimension
        self.options = options


# ---------------------------------------------------------------- declared fields and their types

def options_class(dim):
    """The options dataclass a dimension declares (resolving a lazy "module:Class"), or None."""
    cls = dim.options
    return cls.resolve() if hasattr(cls, "resolve") else cls


def field_types(cls) -> dict:
    """{field name: declared type} of an options dataclass (a type that cannot be resolved: None,
    any value is taken as given)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - a plugin's annotation naming something not importable
        hints = {}
    return {f.name: hints.get(f.name) for f in dataclasses.fields(cls)}


def _parts(tp) -> tuple[list, bool]:
    """(the non-None alternatives of a type, whether None is allowed)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        args = list(typing.get_args(tp))
        return [a for a in args if a is not type(None)], type(None) in args
    return [tp], False


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def _describe(tp) -> str:
    alts, _ = _parts(tp)
    names = []
    for a in alts:
        origin = typing.get_origin(a)
        if origin is not None and origin not in (typing.Union,):
            inner = [x for x in typing.get_args(a) if x is not Ellipsis]
            names.append(f"a comma-separated list of {_describe(inner[0]) if inner else 'values'}")
        else:
            names.append({bool: "true or false", int: "a whole number", float: "a number",
                          str: "text"}.get(a, getattr(a, "__name__", str(a))))
    return " or ".join(names)


def _one(tp, value):
    """`value` as type `tp` (a str is parsed); ValueError when it is not one."""
    if tp is None or tp is typing.Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (list, tuple, collections.abc.Sequence):
        inner = [x for x in typing.get_args(tp) if x is not Ellipsis]
        items = [s for s in value.replace(",", " ").split()] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError
        conv = [_one(inner[0] if inner else None, x) for x in items]
        return list(conv) if origin is list else tuple(conv)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError
    if tp is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError
    if tp is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            out = float(value)
        elif isinstance(value, str):
            out = float(value.strip())
        else:
            raise ValueError
        if not math.isfinite(out):
            raise ValueError
        return out
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ValueError
    return value


def coerce(dimension: str, key: str, tp, value):
    """`value` (a Python value, or the text of ``--option``) as the declared type `tp`; a
    QubaError line naming the option and the type otherwise."""
    if value is None:
        return None
    alts, optional = _parts(tp)
    if isinstance(value, str) and optional and value.strip().lower() in ("none", "null") and str not in alts:
        return None
    for alt in alts:
        try:
            return _one(alt, value)
        except (ValueError, TypeError):
            continue
    raise QubaError(f"option {dimension}.{key}={value!r}: {key} takes {_describe(tp)}")


# ---------------------------------------------------------------- given -> checked

def check(dim, given: dict | None):
    """The options dataclass of `dim` filled from `given` ({key: value}) and checked (its own
    ``__post_init__`` checks run too); None when the dimension declares no options. An unknown
    key, a value of the wrong type or one its checks refuse: one QubaError line."""
    cls = options_class(dim)
    given = dict(given or {})
    if cls is None:
        if given:
            raise QubaError(f"dimension {dim.name} takes no options (given: {', '.join(sorted(given))})")
        return None
    types_ = field_types(cls)
    bad = [k for k in given if k not in types_]
    if bad:
        raise QubaError(f"unknown option {bad[0]!r} for {dim.name}{closest(bad[0], sorted(types_))}; "
                        f"known: {', '.join(sorted(types_))}")
    typed = {k: coerce(dim.name, k, types_[k], v) for k, v in given.items()}
    try:
        return cls(**{k: v for k, v in typed.items() if v is not None})
    except QubaError:
        raise
    except (TypeError, ValueError) as exc:
        raise QubaError(f"options of {dim.name}: {exc}") from None


def normalize(options: dict | None) -> dict[str, dict]:
    """{canonical dimension: {key: typed value}} of what was given (`options` as
    ``quba.evaluate`` takes it: see the module docstring), every part checked; values left None
    are dropped (the dimension's default)."""
    from quba import dimensions as D

    if not options:
        return {}
    if not isinstance(options, dict):
        raise QubaError(f"options must be a dict {{dimension: {{key: value}}}}, got {type(options).__name__}")
    out: dict[str, dict] = {}
    shared = {}
    for name, given in options.items():
        if isinstance(given, dict) and D.is_known(str(name)):
            canon = D.canonical(str(name))
            out.setdefault(canon, {}).update(given)
        elif isinstance(given, dict):
            raise QubaError(f"options given for unknown dimension {str(name)!r}"
                            f"{closest(str(name), list(D.all_dimensions()))} (a plugin's dimension: pass --plugin "
                            "MODULE)")
        else:
            shared[str(name)] = given
    if shared:  # a bare key: every dimension that declares it
        declaring = {}
        for name, dim in D.all_dimensions().items():
            cls = options_class(dim)
            if cls is not None:
                for k in field_types(cls):
                    declaring.setdefault(k, []).append(name)
        for key, value in shared.items():
            if key not in declaring:
                raise QubaError(f"option {key!r} is neither a dimension nor an option any dimension declares"
                                f"{closest(key, sorted(declaring) + list(D.all_dimensions()))}; give options "
                                "as {dimension: {key: value}}")
            for name in declaring[key]:
                out.setdefault(name, {}).setdefault(key, value)
    checked = {}
    for name, given in out.items():
        dim = D.get(name)
        check(dim, given)  # the whole dimension's options together (its own checks)
        types_ = field_types(options_class(dim))
        typed = {k: coerce(name, k, types_[k], v) for k, v in given.items()}
        typed = {k: v for k, v in typed.items() if v is not None}
        if typed:
            checked[name] = typed
    return checked


def merge(*given: dict) -> dict:
    """Per-dimension option dicts merged key by key (later ones win)."""
    out: dict[str, dict] = {}
    for g in given:
        for name, opts in (g or {}).items():
            out.setdefault(name, {}).update(opts)
    return out


# ---------------------------------------------------------------- the command line

def parse_assignment(text: str) -> tuple[str, str, object]:
    """``DIMENSION.KEY=VALUE`` -> (canonical dimension, key, typed value); one QubaError line for
    a malformed one, an unknown dimension or key (closest-match hint) or a bad value."""
    from quba import dimensions as D

    raw = str(text)
    head, eq, value = raw.partition("=")
    dim_name, dot, key = head.strip().partition(".")
    if not eq or not dot or not dim_name or not key.strip():
        raise QubaError(f"--option {raw!r}: give DIMENSION.KEY=VALUE (e.g. --option interpretability.grid_size=4)")
    key = key.strip()
    if not D.is_known(dim_name):
        raise QubaError(f"--option {raw}: unknown dimension {dim_name!r}{closest(dim_name, list(D.all_dimensions()))}"
                        " (a plugin's dimension: pass --plugin MODULE)")
    dim = D.get(dim_name)
    cls = options_class(dim)
    if cls is None:
        with_options = sorted(n for n, d in D.all_dimensions().items() if d.options is not None)
        raise QubaError(f"--option {raw}: dimension {dim.name} takes no options; these do: {', '.join(with_options)}")
    types_ = field_types(cls)
    if key not in types_:
        raise QubaError(f"--option {raw}: unknown option {key!r} for {dim.name}{closest(key, sorted(types_))}; "
                        f"known: {', '.join(sorted(types_))}")
    try:
        typed = coerce(dim.name, key, types_[key], value)
    except QubaError as exc:
        raise QubaError(f"--option {raw}: {str(exc).split(': ', 1)[-1]}") from None
    return dim.name, key, typed


def parse_assignments(items) -> dict[str, dict]:
    """{dimension: {key: value}} of repeated ``--option DIMENSION.KEY=VALUE`` (a later one wins),
    each dimension's options checked together."""
    from quba import dimensions as D

    out: dict[str, dict] = {}
    for text in items or []:
        dim, key, value = parse_assignment(text)
        out.setdefault(dim, {})[key] = value
    for name, given in out.items():
        try:
            check(D.get(name), given)
        except QubaError as exc:
            raise QubaError(f"--option: {exc}") from None
    return out


def declared() -> dict[str, dict[str, str]]:
    """{dimension: {key: its type in words}} of every registered dimension that takes options
    (the --option help)."""
    from quba import dimensions as D

    out = {}
    for name, dim in D.all_dimensions().items():
        cls = options_class(dim) if dim.options is not None else None
        if cls is not None:
            out[name] = {k: _describe(t) if t is not None else "a value" for k, t in field_types(cls).items()}
    return out
