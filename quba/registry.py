"""One registry for everything a contributor can add to quba: dimensions, model sources, suites
and sweep executors.

Each kind has one `Registry` (a name -> entry mapping), kept beside the contract of its kind:

    kind            registry                              entry-point group     a plugin module may hold
    dimension       quba.dimensions.REGISTRY              quba.dimensions       DIMENSIONS
    model source    quba.zoo.registry.SOURCES             quba.model_sources    MODEL_SOURCES
    suite           quba.suites.specs.SPECS               quba.suites           SUITES
    executor        quba.sweep.executors.EXECUTORS        quba.executors        EXECUTORS

An entry is an object or a lazy ``"module:attr"`` (or ``"module"``) string, imported on first use,
so importing a registry imports nothing heavy. Registering a *different* object under a taken
name (or alias) is refused with one error unless ``replace=True``; registering the same one again
(a plugin loaded twice) is a no-op. Installed packages add entries through the kind's entry-point
group, read on the first lookup of a name the registry does not know (an entry point's name is the
entry's name and its value the lazy reference, so reading them imports nothing); `load_plugin`
(``--plugin MODULE``) imports a module, which may register entries of any kinds, by calling the
kinds' ``register`` or by holding the constants above. docs/adding-a-dimension.md,
docs/adding-a-model-source.md, docs/adding-a-suite.md, docs/adding-an-executor.md.

The pattern is lm-eval's lazy registry and setuptools' entry points; importing this module
imports nothing of quba but its errors.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from quba.errors import QubaError, closest

#: Where each kind's registry lives (imported on demand by `registries`; every one is light).
KINDS: dict[str, str] = {
    "dimension": "quba.dimensions:REGISTRY",
    "model source": "quba.zoo.registry:SOURCES",
    "suite": "quba.suites.specs:SPECS",
    "executor": "quba.sweep.executors:EXECUTORS",
}

_REF = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")


class RegistryError(QubaError):
    """A name registered twice with different objects, or an entry that is not of its kind."""


def is_ref(value) -> bool:
    """Whether `value` is a lazy reference: ``"module:attr"`` or ``"module"``."""
    return isinstance(value, str) and bool(_REF.match(value.strip()))


def resolve_ref(ref: str):
    """The object a ``"module:attr"`` (attr may be dotted) or ``"module"`` reference names."""
    module, _, attr = ref.strip().partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


@dataclass
class _Entry:
    ref: str | None  # the lazy reference, None for an object registered as such
    obj: Any = None  # the resolved (and checked) object; None until first use
    origin: str = ""  # where it came from, for messages ("entry point ...", "plugin ...")
    resolved: bool = False


class Registry:
    """Named entries of one kind (see the module docstring).

    kind: the word used in messages ("suite"). group: its entry-point group. module_attr: the
    constant a plugin module may hold (a dict {name: object or reference}, or a list of objects
    that carry their ``name``). check(name, obj) -> obj: validates (and may convert) an entry on
    first use; raises TypeError or ValueError with what is wrong. name_of / aliases_of: an object's
    own name and aliases, for ``register(obj)``. on_entry_point(registry, ep): how an entry point
    adds entries (default: lazily, ep.name -> ep.value). hint: appended to "unknown" messages.
    """

    def __init__(self, kind: str, group: str, *, module_attr: str | None = None,
                 check: Callable[[str, Any], Any] | None = None, name_of: Callable[[Any], str] | None = None,
                 aliases_of: Callable[[Any], tuple] | None = None,
                 on_entry_point: Callable[["Registry", Any], None] | None = None, hint: str = ""):
        self.kind, self.group, self.module_attr, self.hint = kind, group, module_attr, hint
        self._check, self._name_of, self._aliases_of, self._on_ep = check, name_of, aliases_of, on_entry_point
        self._entries: dict[str, _Entry] = {}
        self._keys: dict[str, str] = {}  # lower-case name or alias -> name
        self._entry_points_read = False

    # -- adding --------------------------------------------------------------------------------
    def register(self, name, obj=None, *, replace: bool = False, aliases=(), origin: str = ""):
        """Add an entry: ``register(name, obj_or_ref)`` or ``register(obj)`` (its own name). The
        same object (or the same reference) again is a no-op; a different one under a taken name or
        alias is a RegistryError unless ``replace=True``. Returns the object (or the reference)."""
        if obj is None:
            obj = name
            if self._name_of is None:
                raise RegistryError(f"register a {self.kind} as register(name, object)")
            name = self._name_of(obj)
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"a {self.kind} needs a non-empty name, got {name!r}")
        name = name.strip()
        ref = obj.strip() if is_ref(obj) else None
        if isinstance(obj, str) and ref is None:
            raise RegistryError(f"{self.kind} {name!r}: {obj!r} is no 'module:attr' reference")
        if ref is None and self._check is not None:  # an object is checked now, a reference on first use
            obj = self._checked(name, obj)
        if ref is None and self._aliases_of is not None:
            aliases = (*aliases, *self._aliases_of(obj))
        old = self._entries.get(name)
        if old is not None and not replace:
            if self._same(name, old, ref, obj):
                return old.obj if old.resolved else (old.ref if old.ref is not None else old.obj)
            where = f" (from {old.origin})" if old.origin else ""
            raise RegistryError(f"{self.kind} {name!r} is already registered{where} with another definition; "
                                f"choose another name, or register it with replace=True to replace it")
        for key in (name, *aliases):
            owner = self._keys.get(key.lower())
            if owner is not None and owner != name:
                raise RegistryError(f"{self.kind} {name!r}: name or alias {key!r} is taken by {owner!r}")
        if old is not None:
            self.unregister(name)
        self._entries[name] = _Entry(ref=ref, obj=None if ref else obj, origin=origin, resolved=ref is None)
        for key in (name, *aliases):
            self._keys[key.lower()] = name
        return obj

    def unregister(self, name: str) -> None:
        """Remove an entry and its aliases (tests; a plugin that replaces itself)."""
        self._entries.pop(name, None)
        for k in [k for k, v in self._keys.items() if v == name]:
            self._keys.pop(k)

    def declare(self, declared, origin: str = "") -> list[str]:
        """Register what a plugin declares: a dict {name: object or reference}, one object that
        carries its name, or a list of such objects. Returns the names."""
        if isinstance(declared, dict):
            for n, o in declared.items():
                self.register(n, o, origin=origin)
            return [str(n).strip() for n in declared]
        if isinstance(declared, (list, tuple)):
            return [n for o in declared for n in self.declare(o, origin)]
        if self._name_of is None:
            raise RegistryError(f"declare {self.kind}s as a dict {{name: object or 'module:attr'}}")
        obj = self.register(declared, origin=origin)
        return [self._name_of(obj)]

    def from_module(self, module, origin: str = "") -> list[str]:
        """Register the constant `module_attr` of a plugin module, if it has one."""
        declared = vars(module).get(self.module_attr) if self.module_attr else None
        if declared is None or isinstance(declared, Registry):  # a registry imported under that name
            return []
        return self.declare(declared, origin)

    # -- looking up ------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """The registered name for `name` (case-insensitive, aliases accepted); QubaError if unknown."""
        key = str(name).strip().lower()
        if key not in self._keys:
            self.read_entry_points()
        if key in self._keys:
            return self._keys[key]
        known = self.names()
        raise QubaError(f"unknown {self.kind} {name!r}{closest(str(name), list(self._keys))}; "
                        f"known: {', '.join(known) or 'none'}{self.hint}")

    def get(self, name: str):
        """The entry of `name`, imported and checked on first use (QubaError if unknown or broken)."""
        name = self.canonical(name)
        entry = self._entries[name]
        if not entry.resolved:
            try:
                obj = resolve_ref(entry.ref)
            except (ImportError, AttributeError) as exc:
                where = f" ({entry.origin})" if entry.origin else ""
                raise QubaError(f"cannot load {self.kind} {name!r} from {entry.ref!r}{where}: {exc}") from None
            entry.obj = self._checked(name, obj) if self._check is not None else obj
            entry.resolved = True
        return entry.obj

    def ref(self, name: str) -> str | None:
        """The lazy reference an entry was registered with (None for an object)."""
        return self._entries[self.canonical(name)].ref

    def __contains__(self, name) -> bool:
        if not isinstance(name, str):
            return False
        key = name.strip().lower()
        if key not in self._keys:
            self.read_entry_points()
        return key in self._keys

    def names(self) -> list[str]:
        """Every registered name, in the order of registration (entry points included; nothing imported)."""
        self.read_entry_points()
        return list(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def values(self) -> list:
        """Every entry, imported (for kinds whose entries are light: dimensions, suite specs)."""
        return [self.get(n) for n in self.names()]

    def items(self) -> list[tuple[str, Any]]:
        return [(n, self.get(n)) for n in self.names()]

    def copy(self) -> "Registry":
        """An independent registry with the same entries (tests swap one in with monkeypatch)."""
        new = Registry(self.kind, self.group, module_attr=self.module_attr, check=self._check, name_of=self._name_of,
                       aliases_of=self._aliases_of, on_entry_point=self._on_ep, hint=self.hint)
        new._entries = {k: _Entry(e.ref, e.obj, e.origin, e.resolved) for k, e in self._entries.items()}
        new._keys = dict(self._keys)
        new._entry_points_read = self._entry_points_read
        return new

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"

    # -- entry points ----------------------------------------------------------------------------
    def read_entry_points(self, force: bool = False) -> None:
        """Add the entries installed packages declare under `group` (once; `force`: again). A broken
        or conflicting entry point is one warning, not a failure: a third party's bug must not break
        quba."""
        if self._entry_points_read and not force:
            return
        self._entry_points_read = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            try:
                if self._on_ep is not None:
                    self._on_ep(self, ep)
                else:
                    self.register(ep.name, ep.value, origin=f"entry point {ep.group}:{ep.name}")
            except Exception as exc:  # noqa: BLE001
                import warnings

                warnings.warn(f"quba: {self.kind} plugin {ep.name} ({ep.value}) failed to load: {exc}", stacklevel=2)

    # -- internals -------------------------------------------------------------------------------
    def _checked(self, name: str, obj):
        try:
            return self._check(name, obj)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, QubaError):
                raise
            raise RegistryError(f"{self.kind} {name!r}: {exc}") from None

    def _same(self, name: str, old: _Entry, ref: str | None, obj) -> bool:
        if ref is not None and old.ref is not None:
            return ref == old.ref
        if ref is not None:  # a reference for an object registered as such: the same if it names it
            try:
                return self._identical(old.obj, self._checked(name, resolve_ref(ref)))
            except (ImportError, AttributeError, QubaError):
                return False
        try:
            mine = self.get(name)
        except QubaError:
            return False
        return self._identical(mine, obj)

    @staticmethod
    def _identical(a, b) -> bool:
        if a is b:
            return True
        try:
            return bool(a == b)
        except Exception:  # noqa: BLE001 - an object whose == raises is not equal
            return False


def registries() -> dict[str, Registry]:
    """{kind: its registry}, every kind (imports each registry's light module)."""
    return {kind: resolve_ref(ref) for kind, ref in KINDS.items()}


# -- plugins -----------------------------------------------------------------------------------------
def import_plugin(module: str):
    """Import a plugin module: a dotted name on the path, or a .py file (imported under its stem, so
    its lazy references can name it as "stem:attr"; the same file twice is imported once).
    QubaError if it cannot be imported."""
    import sys
    from pathlib import Path

    spec = str(module).strip()
    if not (spec.endswith(".py") or "/" in spec or "\\" in spec):
        try:
            return importlib.import_module(spec)
        except ImportError as exc:
            raise QubaError(f"--plugin {spec}: cannot import it ({exc}); put its folder on PYTHONPATH or give "
                            "the path of the .py file") from None
    path = Path(spec)
    if not path.is_file():
        from quba.integrity import why_not_a_file

        raise QubaError(f"--plugin {spec} {why_not_a_file(path)}; give a module name or a .py file")
    name = path.stem
    have = sys.modules.get(name)
    if have is not None and getattr(have, "__file__", None) and Path(have.__file__).resolve() == path.resolve():
        return have  # imported before (the CLI run twice in one process): its registrations stand
    from importlib import util

    mod_spec = util.spec_from_file_location(name, path)
    mod = util.module_from_spec(mod_spec)
    sys.modules[name] = mod
    try:
        mod_spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def load_plugin(module: str) -> dict[str, list[str]]:
    """Import a plugin module so that what it offers registers: its calls to the kinds' ``register``
    and its constants (`Registry.module_attr`: DIMENSIONS, MODEL_SOURCES, SUITES, EXECUTORS).
    Returns {kind: names it added or declared} for the kinds it touched. QubaError (one line)
    if it cannot be imported or registers something wrongly."""
    spec = str(module).strip()
    regs = registries()
    before = {k: set(r._entries) for k, r in regs.items()}
    try:
        mod = import_plugin(spec)
        declared = {k: r.from_module(mod, origin=f"plugin {spec}") for k, r in regs.items()}
    except QubaError as exc:
        msg = str(exc)
        raise QubaError(msg if msg.startswith("--plugin") else f"--plugin {spec}: {msg}") from None
    except ValueError as exc:
        raise QubaError(f"--plugin {spec}: {exc}") from None
    out = {}
    for k, r in regs.items():
        names = sorted(set(r._entries) - before[k] | set(declared[k]))
        if names:
            out[k] = names
    return out


def load_plugins(modules) -> dict[str, list[str]]:
    """`load_plugin` for each module; {kind: names} over all of them."""
    out: dict[str, list[str]] = {}
    for m in modules or []:
        for kind, names in load_plugin(m).items():
            out.setdefault(kind, []).extend(n for n in names if n not in out.get(kind, []))
    return out
