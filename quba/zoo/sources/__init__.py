"""Model sources: where a model's architecture and weights come from, one module per source.

Each source module has

    load(...)       build the model (catalog sources: `load(row, pretrained, device)` -> `Built`,
                    wrapped here into a LoadedModel, or a finished LoadedModel)
    check(...)      None when the identifier exists in the installed library, else why not
                    (`python tools/build_zoo_catalog.py --check`)
    available(...)  whether this installation can load it (`quba zoo list --available`)

Catalog sources (the `source` column of quba/data/zoo_catalog.csv) take a catalog row:
timm, torchvision, open_clip, bcos, hub (whose identifier prefix picks robustbench,
mobileclip, a timm URL or a quba builder: hub.KINDS), mini, unavailable. The checkpoint
and custom sources take a file (`quba.zoo.load_model`). The sources are registered by name in
`quba.zoo.registry.SOURCES` (`REGISTRY` here): a new source is a module and one registration,
here or from your own package (`register`, the entry-point group ``quba.model_sources`` or
``--plugin MODULE``; docs/adding-a-model-source.md).
"""
from __future__ import annotations

import contextlib

import torch

from quba.errors import QubaError
from quba.zoo.base import LoadedModel, count_parameters_m
from quba.zoo.registry import SOURCES as REGISTRY  # name -> module, each imported when first used
from quba.zoo.sources.common import Built, Classifier, crop_size_of, make_preprocess, parse_preprocess


def register(name: str, module, replace: bool = False):
    """Add a source under `name`: a module (or object) with load/check/available, or its dotted
    module name (imported when first used). Another source under a taken name is refused unless
    `replace` (quba.registry.RegistryError)."""
    return REGISTRY.register(name, module, replace=replace)


def get(name: str):
    """The module of source `name` (QubaError naming the known ones otherwise)."""
    return REGISTRY.get(name)


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
    if source not in REGISTRY:
        raise QubaError(f"{row['id']!r} has unknown source {source!r}; one of {', '.join(REGISTRY.names())} "
                        "(a plugin's source: pass --plugin MODULE)")
    with _on(device):
        built = get(source).load(row, pretrained, device)
        if isinstance(built, LoadedModel):
            return built
        return _wrap(row, built, pretrained, device)


def _wrap(row: dict, built: Built, pretrained: bool, device) -> LoadedModel:
    """The common end of every catalog source: the catalog's own preprocess (when the paper used
    one), the normalising wrapper, eval mode, parameter counts."""
    pre, mean, std = built.preprocess, built.mean, built.std
    spec = row.get("preprocess") or ""
    if spec:  # the paper's own transform
        p = parse_preprocess(spec)
        pre = make_preprocess(p["resize"], p["crop"], p.get("interpolation", "bilinear"),
                              p.get("resize_mode", "shortest"))
        mean, std = p.get("mean"), p.get("std")
    module = Classifier(built.model, mean, std, add_inverse=built.add_inverse).eval()
    if str(device) != "meta":
        module = module.to(device)
    crop = crop_size_of(pre) if pre is not None else None
    params = count_parameters_m(module)
    full = built.parameters_full_m
    source = row["source"]
    return LoadedModel(
        id=row["id"],
        module=module,
        preprocess=pre,
        input_size=(3, *crop) if crop else None,
        num_classes=built.num_classes,
        parameters_m=params,
        parameters_full_m=full if full is not None else params,
        source=source,
        meta={k: row.get(k, "") for k in ("identifier", "pretrained_tag", "preprocess", "notes")}
        | {"pretrained": pretrained, "mean": mean, "std": std},
        fingerprint_override=(f"{source}:{row['identifier']}:{row['pretrained_tag']}" if pretrained else None),
    )


def identifier_problem(row: dict) -> str | None:
    """None when the row's identifier exists in the installed library, else why not."""
    if row["source"] not in REGISTRY:
        return f"unknown source {row['source']}"
    return get(row["source"]).check(row)


def is_available(row: dict) -> bool:
    """Whether this installation can load the entry (weights may still need a download)."""
    return row["source"] in REGISTRY and bool(get(row["source"]).available(row))


def source_of(row: dict) -> str:
    """The source that loads `row`: its `source` column, or for a `hub` row the source its
    identifier prefix names when that is a source module of its own (robustbench, mobileclip)."""
    from quba.zoo.sources import hub

    own = hub.KINDS.get(hub.kind(row["identifier"])) if row["source"] == "hub" else None
    return own if isinstance(own, str) else row["source"]
