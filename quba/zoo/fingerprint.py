"""Fingerprints of a loaded model: what decides its outputs, hashed for the cache key and the record.

Two parts, hashed separately so the expensive one is hashed once:

- ``weights_fingerprint``: the state dict — parameters and persistent buffers, by
  name, shape, dtype and bytes (the record's ``model_fingerprint``; a catalog
  model with pinned published weights uses its id and tag instead).
- ``code_fingerprint``: everything else that changes the logits although the
  weights do not (issue 23.4: a temperature ``T = 1`` → ``T = 50`` in a custom
  file was served from the cache; two modules without parameters shared one
  key). For every submodule, in order: its name and class (module + qualname);
  for every class in its method resolution order that is not part of the
  versioned stack (torch, torchvision, timm, open_clip: their versions are in
  the cache key, `quba.engine.keys.stack_versions`) the bytes of the file that
  defines it and the byte code of its own functions (so a change in ``forward``
  or in a module-level constant it reads is seen even where no source file is
  left); its non-parameter attributes (floats such as a temperature, ints,
  strings, tuples, dtypes, plain tensors and arrays by their bytes, functions by
  their code) — nn.Module's own bookkeeping left out; its non-persistent buffers
  (not in the state dict) by their bytes; a TorchScript module's code. Then the
  image transform (`preprocess`) by the same rules, and extra files (the
  ``FILE.py`` of a ``FILE.py:FUNCTION`` model) by their bytes.

Not covered, deliberately: hooks registered on the module (quba registers its
own counting hook), and code reached only through global state outside the
module's files (a function of another package the forward pass calls: give that
package a version, or edit the model's file, to invalidate).
"""
from __future__ import annotations

import hashlib
import inspect
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

#: Packages whose code is keyed by their version (quba.engine.keys.stack_versions), not their files.
STACK_PACKAGES = frozenset({"torch", "torchvision", "timm", "open_clip"})
#: Depth to which attributes of plain objects (a preprocess, a config) are followed.
MAX_DEPTH = 6
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


def weights_fingerprint(module: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()[:16]


def code_fingerprint(module: nn.Module, preprocess=None, files=()) -> str:
    """16 hex digits over the module's code, classes, attributes and transform (module docstring)."""
    h = _Hasher()
    for name, m in module.named_modules(remove_duplicate=False):
        h.add("module", name)
        h.add_class(type(m))
        state = {k: v for k, v in vars(m).items() if k not in _MODULE_INTERNALS}
        for k in sorted(state):
            h.add("attr", k)
            h.value(state[k], 1)
        for k in sorted(m._non_persistent_buffers_set):  # not in the state dict, so not in the weights' hash
            buf = m._buffers.get(k)
            if buf is not None:
                h.add("buffer", k)
                h.value(buf, 1)
        if isinstance(m, torch.jit.ScriptModule):
            try:
                h.add("script", m.code)
            except Exception:  # noqa: BLE001 - a scripted module without readable code: its class only
                pass
    h.add("preprocess")
    h.value(preprocess, 0)
    for f in files:
        h.add("file")
        h.file(f)
    return h.hexdigest()[:16]


def _top_package(obj) -> str:
    return (getattr(obj, "__module__", None) or "").split(".", 1)[0]


class _Hasher:
    def __init__(self):
        self._h = hashlib.sha256()
        self._classes: set = set()
        self._files: dict = {}

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def add(self, *parts) -> None:
        for p in parts:
            b = p if isinstance(p, bytes) else str(p).encode("utf-8", "surrogatepass")
            self._h.update(len(b).to_bytes(8, "little") + b)

    def file(self, path) -> None:
        """A file's bytes (read once per fingerprint: a file edited between two evaluations is seen)."""
        path = str(path)
        if path not in self._files:
            try:
                self._files[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                self._files[path] = "unreadable"
        self.add(path.rsplit("/", 1)[-1], self._files[path])

    def add_class(self, cls) -> None:
        self.add("class", f"{cls.__module__}.{cls.__qualname__}")
        if cls in self._classes:
            return
        self._classes.add(cls)
        for base in cls.__mro__:
            if base is object or _top_package(base) in STACK_PACKAGES:
                continue
            self.add("base", f"{base.__module__}.{base.__qualname__}")
            self._source_file(base)
            for k in sorted(vars(base)):
                v = vars(base)[k]
                fn = getattr(v, "__func__", v)  # staticmethod / classmethod
                if isinstance(fn, property):
                    fn = fn.fget
                if isinstance(fn, types.FunctionType):
                    self.add("method", k)
                    self._code(fn.__code__)
                elif not k.startswith("__") and isinstance(v, (int, float, str, bytes, bool, tuple, type(None))):
                    self.add("class attr", k, repr(v))

    def _source_file(self, obj) -> None:
        mod = sys.modules.get(getattr(obj, "__module__", "") or "")
        path = getattr(mod, "__file__", None)
        if path is None:
            try:
                path = inspect.getsourcefile(obj)
            except (TypeError, OSError):
                path = None
        if path:
            self.file(path)

    def _code(self, code: types.CodeType) -> None:
        self.add(code.co_code, repr(code.co_names), repr(code.co_varnames))
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                self._code(c)
            else:
                self.add(repr(c))

    def value(self, v, depth: int) -> None:
        """A value's content, never its address (a repr with `0x...` would change every run)."""
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
            self.add(type(v).__name__, repr(v))
        elif isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            self.add("tensor", str(t.dtype), str(tuple(t.shape)))
            self.add(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            self.add("array", a.dtype.str, str(a.shape))
            self.add(a.tobytes() if a.dtype != object else repr(a.tolist()))
        elif isinstance(v, (torch.dtype, torch.device, torch.Size, np.dtype)):
            self.add(type(v).__name__, str(v))
        elif isinstance(v, nn.Module):  # a module held outside _modules (a torchvision transform): its class
            self.add_class(type(v))  # and attributes; its weights are not walked (they may be another model's)
            if depth < MAX_DEPTH:
                self.value({k: x for k, x in vars(v).items() if k not in _MODULE_INTERNALS}, depth + 1)
        elif isinstance(v, (list, tuple, set, frozenset)):
            items = sorted(v, key=repr) if isinstance(v, (set, frozenset)) else v
            self.add(type(v).__name__, len(items))
            if depth < MAX_DEPTH:
                for x in items:
                    self.value(x, depth + 1)
        elif isinstance(v, dict):
            self.add("dict", len(v))
            if depth < MAX_DEPTH:
                for k in sorted(v, key=repr):
                    self.add(repr(k) if isinstance(k, (str, int, float, bool, type(None))) else type(k).__name__)
                    self.value(v[k], depth + 1)
        elif isinstance(v, (types.FunctionType, types.MethodType)):
            fn = getattr(v, "__func__", v)
            self.add("function", f"{fn.__module__}.{fn.__qualname__}")
            if _top_package(fn) not in STACK_PACKAGES:
                self._code(fn.__code__)
                self._source_file(fn)
                for cell in fn.__closure__ or ():
                    try:
                        self.value(cell.cell_contents, depth + 1)
                    except ValueError:  # an empty cell
                        pass
            if isinstance(v, types.MethodType) and not isinstance(v.__self__, nn.Module) and depth < MAX_DEPTH:
                self.value(v.__self__, depth + 1)
        elif isinstance(v, type):
            self.add_class(v)
        elif hasattr(v, "func") and hasattr(v, "args") and hasattr(v, "keywords"):  # functools.partial
            self.add("partial")
            for x in (v.func, v.args, v.keywords):
                self.value(x, depth + 1)
        else:
            cls = type(v)
            self.add("object", f"{cls.__module__}.{cls.__qualname__}")
            if _top_package(cls) not in STACK_PACKAGES and cls.__module__ != "builtins":
                self.add_class(cls)
            state = getattr(v, "__dict__", None)
            if isinstance(state, dict) and depth < MAX_DEPTH:
                self.value(state, depth + 1)
            elif hasattr(cls, "__slots__") and depth < MAX_DEPTH:
                self.value({s: getattr(v, s, None) for s in cls.__slots__ if isinstance(s, str)}, depth + 1)
