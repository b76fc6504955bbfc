"""Loaders: a catalog row, a local checkpoint or a user's Python file -> LoadedModel.

Sources (the `source` column of the catalog):
  timm         identifier = timm architecture, pretrained_tag = timm tag
  torchvision  identifier = builder name,      pretrained_tag = weights enum member
  open_clip    identifier = model name,        pretrained_tag = pretrained tag (zero-shot head)
  bcos         identifier = bcos.models.pretrained entry point
  hub          identifier = `timm:<name.tag>` + weights URL (tag), `quba:<recipe>(<arg>)` + URLs,
               `robustbench:<name>` (needs the robustbench package), `mobileclip:<name>` + URL
               (needs Apple's mobileclip package)
  unavailable  the notes say why
"""
from __future__ import annotations

import contextlib
import importlib.util
import re

import torch

from quba.errors import QubaError
from quba.zoo.base import LoadedModel, count_parameters_m
from quba.zoo.loaders.common import (
    Classifier,
    crop_size_of,
    fetching,
    load_into,
    make_preprocess,
    parse_preprocess,
    read_checkpoint,
    url_state_dict,
)

from quba.zoo.catalog import SOURCES  # noqa: E402,F401  (re-exported)
_RECIPE_RE = re.compile(r"^quba:(\w+)\((.*)\)$")


def hub_kind(identifier: str) -> str:
    return identifier.split(":", 1)[0] if ":" in identifier else ""


class _MetaParameters(torch.overrides.TorchFunctionMode):
    """Allocate parameter-sized tensors on the meta device (no memory, no init
    cost) while small helpers (arange, linspace, tensor) stay on the CPU, so
    that constructors which compute with them (drop-path schedules, relative
    position tables) still run."""

    _FACTORIES = (torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn, torch.empty_strided)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._FACTORIES and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        name = getattr(func, "__name__", "")
        if (name.endswith("_") and not name.endswith("__") and args and isinstance(args[0], torch.Tensor)
                and args[0].is_meta):
            return args[0]  # in-place initialisation of a meta tensor: nothing to do (and slow to trace)
        return func(*args, **kwargs)


@contextlib.contextmanager
def _on(device):
    """Construct on `device` (the meta device builds without memory, for counting)."""
    if str(device) == "meta":
        with _MetaParameters():
            yield
    else:
        yield


def _hub_model(row: dict, pretrained: bool):
    """-> (inner model, preprocess, mean, std) for a `hub` row."""
    ident, tag = row["identifier"], row["pretrained_tag"]
    kind = hub_kind(ident)
    if kind == "timm":
        from quba.zoo.loaders.sources import timm_create, timm_preprocess

        model = timm_create(ident.split(":", 1)[1], pretrained=False, model_id=row["id"])
        if pretrained:
            load_into(model, url_state_dict(tag, row["id"]), f"weights of {row['id']!r} ({tag})")
        pre, mean, std = timm_preprocess(model)
        return model, pre, mean, std
    if kind == "quba":
        from quba.zoo.loaders.recipes import RECIPES

        m = _RECIPE_RE.match(ident)
        if not m or m.group(1) not in RECIPES:
            raise QubaError(f"{row['id']!r} names an unknown quba recipe {ident!r}")
        urls = [u for u in tag.split(";") if u]
        return RECIPES[m.group(1)](m.group(2), urls, pretrained, row["id"]), None, None, None
    if kind == "robustbench":
        if importlib.util.find_spec("robustbench") is None:
            raise QubaError(
                f"{row['id']!r} comes from RobustBench: pip install robustbench (it pins timm 1.0.9, so use a "
                "separate environment) or pass --checkpoint PATH --arch NAME")
        from robustbench.utils import load_model as rb_load  # type: ignore

        from quba.zoo.loaders.common import weights_dir

        if not pretrained:
            raise QubaError(f"{row['id']!r}: RobustBench builds its models only with their weights")
        cache = weights_dir("robustbench")
        with fetching(row["id"], f"RobustBench ({ident})"):
            model = rb_load(model_name=ident.split(":", 1)[1], dataset="imagenet", threat_model="Linf",
                            model_dir=str(cache) if cache else "./models")
        return model, None, None, None  # RobustBench models normalise inside
    raise QubaError(f"{row['id']!r} has hub identifier {ident!r} of unknown kind")


def load_row(row: dict, *, pretrained: bool = True, device="cpu") -> LoadedModel:
    """Build the catalog entry `row` (a dict of the catalog's columns).

    device="meta" builds the architecture without allocating its weights (for
    counting parameters); constructors that cannot run that way are built on the CPU."""
    if str(device) == "meta" and not pretrained:
        try:
            return _load_row(row, pretrained=False, device="meta")
        except (RuntimeError, NotImplementedError):
            return _load_row(row, pretrained=False, device="cpu")
    return _load_row(row, pretrained=pretrained, device=device)


def _load_row(row: dict, *, pretrained: bool, device) -> LoadedModel:
    source = row["source"]
    full = None
    add_inverse = False
    with _on(device):
        if source == "unavailable":
            raise QubaError(f"{row['id']!r} is unavailable: {row.get('notes') or 'no public weights'}; "
                            "with a checkpoint of your own use --checkpoint PATH --arch NAME")
        if source == "timm":
            from quba.zoo.loaders.sources import load_timm

            model, pre, mean, std = load_timm(row, pretrained)
        elif source == "torchvision":
            from quba.zoo.loaders.sources import load_torchvision

            model, pre, mean, std = load_torchvision(row, pretrained)
        elif source == "bcos":
            from quba.zoo.loaders.sources import load_bcos

            model, pre, mean, std = load_bcos(row, pretrained)
            add_inverse = True
        elif source == "open_clip":
            from quba.zoo.loaders.clip import load_open_clip

            model, pre, mean, std, full = load_open_clip(row, pretrained, device=device)
        elif source == "hub" and hub_kind(row["identifier"]) == "mobileclip":
            from quba.zoo.loaders.clip import load_mobileclip

            model, pre, mean, std, full = load_mobileclip(row, pretrained)
        elif source == "hub":
            model, pre, mean, std = _hub_model(row, pretrained)
        elif source == "mini":
            return load_mini(row["id"], pretrained=pretrained, device=device)
        else:
            raise QubaError(f"{row['id']!r} has unknown source {source!r}; one of {SOURCES}")
        spec = row.get("preprocess") or ""
        if spec:  # the paper's own transform
            p = parse_preprocess(spec)
            pre = make_preprocess(p["resize"], p["crop"], p.get("interpolation", "bilinear"),
                                  p.get("resize_mode", "shortest"))
            mean, std = p.get("mean"), p.get("std")
        module = Classifier(model, mean, std, add_inverse=add_inverse)
    module = module.eval()
    if str(device) != "meta":
        module = module.to(device)
    crop = crop_size_of(pre) if pre is not None else None
    params = count_parameters_m(module)
    return LoadedModel(
        id=row["id"],
        module=module,
        preprocess=pre,
        input_size=(3, *crop) if crop else None,
        num_classes=1000,
        parameters_m=params,
        parameters_full_m=full if full is not None else params,
        source=source,
        meta={k: row.get(k, "") for k in ("identifier", "pretrained_tag", "preprocess", "notes")}
        | {"pretrained": pretrained, "mean": mean, "std": std},
        fingerprint_override=(f"{source}:{row['identifier']}:{row['pretrained_tag']}" if pretrained else None),
    )


def load_mini(model_id: str, *, pretrained: bool = True, device="cpu") -> LoadedModel:
    from quba.zoo import mini

    if not pretrained:
        module = mini.build(model_id)
        return LoadedModel(id=model_id, module=module.eval().to(device), input_size=(3, 32, 32), source="mini")
    if not hasattr(mini, "load"):
        raise QubaError(f"mini model {model_id!r} cannot be loaded yet: quba.zoo.mini.load is missing")
    loaded = mini.load(model_id)
    if isinstance(loaded, LoadedModel):
        loaded.module.to(device)
        return loaded
    return LoadedModel(id=model_id, module=loaded.eval().to(device), source="mini")


# ------------------------------------------------------------------ local files


def build_arch(arch: str, num_classes: int | None = None):
    """An architecture by name, without weights: `timm:NAME`, `torchvision:NAME`,
    or a bare timm name. -> (model, preprocess, mean, std)."""
    kind, _, name = arch.partition(":") if ":" in arch else ("timm", "", arch)
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if kind == "timm":
        import timm

        from quba.zoo.loaders.sources import timm_preprocess

        if not timm.is_model(name.split(".")[0]):
            raise QubaError(f"timm has no architecture {name!r}{_closest_timm(name)}")
        model = timm.create_model(name, pretrained=False, **kwargs)
        return (model, *timm_preprocess(model))
    if kind == "torchvision":
        import torchvision.models as tvm

        from quba.zoo.loaders.sources import torchvision_preprocess

        if name not in tvm.list_models():
            from quba.errors import closest

            raise QubaError(f"torchvision has no model {name!r}{closest(name, tvm.list_models())}")
        model = tvm.get_model(name, weights=None, **kwargs)
        weights = tvm.get_model_weights(name).DEFAULT
        return (model, *torchvision_preprocess(weights))
    raise QubaError(f"--arch {arch!r}: use a timm name, timm:NAME or torchvision:NAME")


def _closest_timm(name: str) -> str:
    import timm

    from quba.errors import closest

    return closest(name, timm.list_models())


def _num_classes_of(state: dict) -> int | None:
    """Classes of a checkpoint: rows of its last 2-D weight named like a head."""
    for key in reversed(list(state)):
        if re.search(r"(^|\.)(head|fc|classifier|last_linear)(\.fc)?\.weight$", key) and state[key].ndim == 2:
            return int(state[key].shape[0])
    return None


def load_checkpoint(path, arch: str, *, model_id: str | None = None, device="cpu") -> LoadedModel:
    """A local checkpoint (safetensors, or a tensor-only torch file) in `arch`."""
    state = read_checkpoint(path)
    model, pre, mean, std = build_arch(arch, _num_classes_of(state))
    load_into(model, state, f"checkpoint {str(path)!r}")
    module = Classifier(model, mean, std).eval().to(device)
    crop = crop_size_of(pre)
    return LoadedModel(id=model_id or f"{arch}@{path}", module=module, preprocess=pre,
                       input_size=(3, *crop) if crop else None,
                       num_classes=getattr(model, "num_classes", None), source="checkpoint",
                       meta={"checkpoint": str(path), "arch": arch})


def load_into_row(row: dict, path, device="cpu") -> LoadedModel:
    """A catalog entry's architecture with the weights of a local checkpoint."""
    loaded = load_row(row, pretrained=False, device="cpu")
    state = read_checkpoint(path)
    target = loaded.module.model
    load_into(target, state, f"checkpoint {str(path)!r} for {row['id']!r}")
    loaded.module.to(device)
    loaded.meta["checkpoint"] = str(path)
    loaded.fingerprint_override = None
    return loaded


def load_custom(spec: str, device="cpu") -> LoadedModel:
    """`path/to/file.py:function` -> function() -> nn.Module or (module, preprocess).

    This runs the user's own named file (that is the point). The module must
    take [0, 1] images and return logits, normalising inside."""
    import hashlib
    from pathlib import Path

    path_s, _, fn_name = spec.rpartition(":")
    path = Path(path_s)
    if not path.is_file():
        raise QubaError(f"custom model file {path_s!r} does not exist; use path/to/file.py:function")
    if not fn_name.isidentifier():
        raise QubaError(f"custom model spec {spec!r} needs a function name after ':'")
    name = "quba_custom_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    mod_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
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
    except Exception as exc:  # noqa: BLE001 - the user's own code: any error becomes one line
        msg = (str(exc).strip().splitlines() or [""])[0][:300]
        raise QubaError(f"{fn_name}() in {path_s!r} raised {type(exc).__name__}: {msg}; fix the function") from None
    pre = None
    if isinstance(out, tuple) and len(out) == 2:
        out, pre = out
    if not isinstance(out, torch.nn.Module):
        raise QubaError(f"{spec} returned {type(out).__name__}, not a torch.nn.Module (or (module, preprocess))")
    crop = crop_size_of(pre) if pre is not None else None
    return LoadedModel(id=spec, module=out.eval().to(device), preprocess=pre,
                       input_size=(3, *crop) if crop else None, source="custom", meta={"file": str(path)})


# ------------------------------------------------------------------ catalog checks


def identifier_problem(row: dict) -> str | None:
    """None when the row's identifier exists in the installed library, else why not."""
    source, ident, tag = row["source"], row["identifier"], row["pretrained_tag"]
    if source == "timm":
        import timm

        return None if f"{ident}.{tag}" in _timm_pretrained() else f"timm has no pretrained {ident}.{tag}"
    if source == "torchvision":
        import torchvision.models as tvm

        if ident not in tvm.list_models():
            return f"torchvision has no model {ident}"
        names = [w.name for w in tvm.get_model_weights(ident)]
        return None if tag in names else f"torchvision {ident} has no weights {tag}"
    if source == "open_clip":
        import open_clip

        return None if (ident, tag) in open_clip.list_pretrained() else f"open_clip has no ({ident}, {tag})"
    if source == "bcos":
        import bcos.models.pretrained as bp

        return None if ident in bp.list_available() else f"bcos has no entry {ident}"
    if source == "hub":
        kind = hub_kind(ident)
        if kind == "timm":
            if ident.split(":", 1)[1] not in _timm_pretrained():
                return f"timm has no pretrained {ident}"
            return None if tag.startswith("https://") else "hub timm entry needs a weights URL"
        if kind == "quba":
            from quba.zoo.loaders.recipes import RECIPES

            m = _RECIPE_RE.match(ident)
            if not m or m.group(1) not in RECIPES:
                return f"unknown quba recipe {ident}"
            arg = m.group(2)
            if "." in arg and arg not in _timm_pretrained():
                return f"timm has no pretrained {arg}"
            if not arg.isdigit() and "." not in arg:
                import torchvision.models as tvm

                if arg not in tvm.list_models():
                    return f"torchvision has no model {arg}"
            urls = [u for u in tag.split(";") if u]
            return None if urls and all(u.startswith("https://") for u in urls) else "recipe needs weight URLs"
        if kind == "robustbench":
            return None if re.fullmatch(r"robustbench:\w+(_[\w-]+)+", ident) else f"bad robustbench id {ident}"
        if kind == "mobileclip":
            return None if tag.startswith("https://") else "mobileclip entry needs a weights URL"
        return f"unknown hub identifier {ident}"
    if source == "unavailable":
        return None if row.get("notes") else "unavailable without a reason in notes"
    if source == "mini":
        return None
    return f"unknown source {source}"


_TIMM_PRETRAINED: set | None = None


def _timm_pretrained() -> set:
    global _TIMM_PRETRAINED
    if _TIMM_PRETRAINED is None:
        import timm

        _TIMM_PRETRAINED = set(timm.list_models(pretrained=True))
    return _TIMM_PRETRAINED


def is_available(row: dict) -> bool:
    """Whether this installation can load the entry (weights may still need a download)."""
    source = row["source"]
    if source == "unavailable":
        return False
    if source == "hub":
        kind = hub_kind(row["identifier"])
        if kind == "robustbench":
            return importlib.util.find_spec("robustbench") is not None
        if kind == "mobileclip":
            return importlib.util.find_spec("mobileclip") is not None
    if source == "bcos":
        return importlib.util.find_spec("bcos") is not None
    return True
