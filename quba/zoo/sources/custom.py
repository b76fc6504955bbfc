"""Source `custom`: your own Python file, `path/to/file.py:function` -> function() -> nn.Module (or
(module, preprocess)). Not a catalog source: `quba.zoo.load_model("file.py:build")` uses it."""
from __future__ import annotations

import importlib.util

import torch

from quba.errors import QubaError
from quba.zoo.base import LoadedModel, check_usable
from quba.zoo.sources.common import crop_size_of


def load(spec: str, device="cpu") -> LoadedModel:
    """`path/to/file.py:function` -> function() -> nn.Module or (module, preprocess).

    This runs the user's own named file (that is the point). The module must
    take [0, 1] images and return logits, normalising inside."""
    import hashlib
    from pathlib import Path

    from quba.errors import model_exit_error

    path_s, _, fn_name = spec.rpartition(":")
    path = Path(path_s)
    problem = check(spec)
    if problem:
        raise QubaError(problem)
    name = "quba_custom_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    mod_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except (SystemExit, KeyboardInterrupt) as exc:
        if (err := model_exit_error(exc, f"importing {path_s!r}", "its top level")) is None:
            raise
        raise err from None
    except Exception as exc:
        msg = (str(exc).strip().splitlines() or [""])[0][:300]
        raise QubaError(f"importing {path_s!r} failed: {type(exc).__name__}: {msg}") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise QubaError(f"{path_s!r} has no function {fn_name!r}")
    try:
        out = fn()
    except QubaError:
        raise
    except (SystemExit, KeyboardInterrupt) as exc:
        if (err := model_exit_error(exc, f"{fn_name}() in {path_s!r}", "building the model")) is None:
            raise
        raise err from None
    except Exception as exc:  # noqa: BLE001 - the user's own code: any error becomes one line
        msg = (str(exc).strip().splitlines() or [""])[0][:300]
        raise QubaError(f"{fn_name}() in {path_s!r} raised {type(exc).__name__}: {msg}; fix the function") from None
    pre = None
    if isinstance(out, tuple) and len(out) == 2:
        out, pre = out
    if not isinstance(out, torch.nn.Module):
        raise QubaError(f"{spec} returned {type(out).__name__}, not a torch.nn.Module (or (module, preprocess))")
    check_usable(out, pre, spec)
    crop = crop_size_of(pre) if pre is not None else None
    return LoadedModel(id=spec, module=out.eval().to(device), preprocess=pre,
                       input_size=(3, *crop) if crop else None, source="custom", meta={"file": str(path)})


def check(spec: str) -> str | None:
    """None when `spec` has the form `FILE.py:FUNCTION` and the file exists, else why not
    (without importing it)."""
    from pathlib import Path

    from quba.integrity import why_not_a_file

    path_s, _, fn_name = str(spec).rpartition(":")
    if not Path(path_s).is_file():  # a named pipe would block the import
        return f"custom model file {path_s!r} {why_not_a_file(path_s)}; use path/to/file.py:function"
    if not fn_name.isidentifier():
        return f"custom model spec {spec!r} needs a function name after ':'"
    return None


def available(spec) -> bool:
    """Whether `spec` names a custom model file (`FILE.py:FUNCTION`)."""
    from pathlib import Path

    spec = str(spec)
    return ".py:" in spec or (":" in spec and Path(spec.rpartition(":")[0]).suffix == ".py")
