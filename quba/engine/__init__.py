"""The evaluation engine: `measure_model(model, suite, dims)` -> a record's parts.

Flow: resolve model, suite and dimensions; collect the union of the
dimensions' `SplitRequest`s (quba/dimensions/__init__.py hook contract); check that
every split exists (before any work); run each request through the model once
(`runner.Runner`, cached on disk by `cache.PredictionCache`); compute every
dimension and its bootstrap interval from the cached outputs (`measure`);
return the record's parts. Writing them (`quba.store`) and placing the model
among a reference (`quba.ranking`) is the API's job (quba/api.py): the engine
imports neither. Input is validated once, by the API; the engine trusts it.
"""
from __future__ import annotations

import platform

from quba.errors import QubaError
from quba.numbers import finite_or_none

__all__ = ["measure_model", "resolve_model", "resolve_dims", "dimension_setup", "requested_setup"]


def resolve_model(model):
    """A `LoadedModel` from a LoadedModel, an nn.Module or a spec for `quba.zoo.load_model`."""
    from torch import nn

    from quba.zoo.base import LoadedModel

    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, nn.Module):
        name = getattr(model, "quba_id", None) or type(model).__name__
        return LoadedModel(id=str(name), module=model, source="python")
    if isinstance(model, str):
        if not model.strip():
            raise QubaError("empty model name; give a model id (see 'quba zoo list') or FILE.py:FUNCTION")
        from quba.zoo import load_model

        return load_model(model)
    raise QubaError(f"cannot evaluate a {type(model).__name__}; give a model id, FILE.py:FUNCTION, "
                    "an nn.Module or a LoadedModel")


def resolve_dims(dims) -> list[str]:
    """Canonical dimension names (default: the nine), each with engine hooks."""
    from quba import dimensions as D

    if dims is None:
        names = list(D.NINE)
    else:
        if isinstance(dims, str):
            dims = [dims]
        names = []
        for item in dims:
            for part in str(item).split(","):
                if part.strip():
                    names.append(D.canonical(part))
        if not names:
            raise QubaError("no dimension given; name some (e.g. --dims accuracy shape_bias) or omit --dims")
    names = list(dict.fromkeys(names))
    for n in names:
        if not D.get(n).measurable:
            raise QubaError(f"dimension {n} has no engine hooks (nothing registers how to measure it); "
                            f"measurable: {', '.join(d for d, v in D.all_dimensions().items() if v.measurable)}")
    return names


def load_suite(suite, data_root=None):
    """A suite object from a suite object (a `quba.suites.base.Suite`) or a name (`quba.suites.load_suite`)."""
    if not isinstance(suite, str):
        from quba.suites.base import Suite

        if not isinstance(suite, Suite):
            raise QubaError(f"cannot evaluate on a {type(suite).__name__}; give a suite name or a "
                            "quba.suites.base.Suite (docs/adding-a-suite.md)")
        return suite
    from quba.suites import load_suite as by_name

    return by_name(suite, data_root=data_root) if data_root is not None else by_name(suite)


def _versions() -> dict:
    """The record's provenance versions: the stack of the cache key (runner.stack_versions) but Pillow,
    plus quba, numpy and Python."""
    import numpy

    import quba
    from quba.engine.runner import stack_versions

    stack = stack_versions()
    return {"quba": quba.__version__, "torch": stack["torch"], "numpy": numpy.__version__,
            "python": platform.python_version(), "torchvision": stack["torchvision"], "timm": stack["timm"],
            "open_clip": stack["open_clip_torch"]}


def collect_requests(dim_objs, suite, opts, originals: dict | None = None):
    """Union of the requests; 'logits' wins over 'decisions' for the same outputs. A dimension's
    request may be routed to other outputs (`paper_protocol.route`: under the paper protocol's
    train mode all, a dimension measured after the attacks reads that run's outputs); `originals`,
    when given, is filled with {dimension: {routed request: the request the dimension made}}."""
    from quba.dimensions import SplitRequest
    from quba.engine.paper_protocol import route

    merged: dict[tuple, SplitRequest] = {}
    per_dim: dict[str, list[SplitRequest]] = {}
    for dim in dim_objs:
        dim.parse_options(opts)  # an unknown option fails before any work
        reqs = list(dim.needs(suite, opts) or [])
        for r in reqs:
            if not isinstance(r, SplitRequest):
                raise TypeError(f"dimension {dim.name}: needs() must return SplitRequest objects, got {r!r}")
        routed = [route(dim.name, r, opts) for r in reqs]
        if originals is not None:
            originals[dim.name] = dict(zip(routed, reqs))
        per_dim[dim.name] = routed
        for r in routed:
            key = (r.split, r.attack, tuple(r.params), r.model)
            old = merged.get(key)
            if old is None or (old.outputs == "decisions" and r.outputs == "logits"):
                merged[key] = SplitRequest(r.split, r.attack, tuple(r.params), r.model,
                                           "logits" if (old and old.outputs == "logits") else r.outputs)
    return merged, per_dim


def measure_model(model, suite, dims=None, *, data_root=None, subset=None, bootstrap=200, device="auto",
                  batch_size=256, workers=0, seed=0, strict=False, progress=True,
                  options: dict | None = None, cache_root=None, precision="auto", threads=None,
                  protocol: str = "quba", input_size=None, interpolation=None, crop_pct=None,
                  replicates: dict | None = None, split_check=None, paper_order=None,
                  paper_train_mode=None) -> dict:
    """Measure `model` on `dims` (default: the nine QUBA dimensions) of `suite`.

    model: a model id (`mini-...`, catalog ids), "FILE.py:FUNCTION", an nn.Module
      (taking [0, 1] images, returning logits) or a `quba.zoo.base.LoadedModel`.
    suite: a suite name (with `data_root` for suites read from disk) or a loaded suite object.
    dims: names or aliases (list or comma-separated); only their splits run.
    subset: N images per class (fixed, stratified); bootstrap: resamples (0: off).
    device: auto | cpu | cuda | cuda:i. precision: auto (bf16 autocast on CUDA, fp32 on CPU) |
      fp32 | bf16; part of the cache key and recorded per split. threads: torch threads of
      this process (default: torch's, all cores).
    protocol: quba (default) | paper: adversarial robustness as the QUBA
      authors' code measured it (quba/engine/paper_protocol.py); paper_order
      (shuffled | suite) and paper_train_mode (attack | all) are its options.
    input_size, interpolation, crop_pct: the ImageNet evaluation transform a
      module without its own preprocess gets on image-file suites
      (quba/zoo/eval_transform.py; a timm module's pretrained_cfg gives the
      defaults, these override).
    replicates: a dict to fill with each dimension's `bootstrap` bootstrap
      replicates (paired across models: same seed, same draws; rank stability).
    options: per-dimension options, passed to hooks as opts[<dimension>].
      cache_root: folder of the prediction cache (default $QUBA_CACHE/predictions).
    split_check: called with the loaded splits ({name: split}) before any forward pass; returns
      {name: {"complete": bool, ...}} (quba.datasets.completeness_hook: counts against the
      expected ones, one warning line when short), kept per split in the record.
    Returns the keyword arguments of `quba.store.schema.make_record` (model, suite,
    dimensions, splits, metadata, provenance, pass counts); `quba.api.evaluate` validates
    the input before and makes, writes and places the record after. Nothing is written.
    """
    from quba import dimensions as D
    from quba.engine import measure
    from quba.engine.cache import PredictionCache, ScoreCache
    from quba.engine.runner import Runner, resolve_device, resolve_precision
    from quba.suites.base import Split

    # 1. Resolve (the API validated the input before).
    names = resolve_dims(dims)
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    suite_obj = load_suite(suite, data_root)
    loaded = resolve_model(model)
    code_fingerprint = loaded.code_fingerprint()  # as loaded (the sweep verifies a record against this)
    transform_source = "model" if loaded.preprocess is not None else None
    opts = {"seed": seed, "subset": subset, "bootstrap": bootstrap, "device": str(dev), "batch_size": batch_size,
            "workers": workers, "strict": strict, "progress": progress, "protocol": protocol,
            "precision": precision, **_paper_opts(protocol, paper_order, paper_train_mode), **(options or {})}
    dim_objs = [D.get(n) for n in names]
    originals: dict = {}
    requests, per_dim = collect_requests(dim_objs, suite_obj, opts, originals)
    known_splits = set(suite_obj.split_names())
    # a generated suite makes its missing splits in parallel, in the background while the model runs
    # on the splits already there (val first); other suites prepare nothing
    needed = [r.split for d in dim_objs for r in per_dim[d.name] if r.split in known_splits]
    pending = set(suite_obj.prepare(needed, background=True)) - {"val"}
    splits = {}
    for dim in dim_objs:
        for r in per_dim[dim.name]:
            if r.split in splits:
                continue
            if r.split not in known_splits:
                _finish(suite_obj)
                raise QubaError(f"dimension {dim.name} needs split {r.split!r}, which suite "
                                f"{suite_obj.name!r} does not have")
            if r.split in pending:
                continue  # generated in the background; the runner waits for it when it gets there
            try:
                splits[r.split] = suite_obj.split(r.split)
            except QubaError as exc:
                _finish(suite_obj)
                msg = str(exc)
                raise QubaError(msg if dim.name in msg else f"{dim.name}: {msg}") from None
            if not isinstance(splits[r.split], Split):
                _finish(suite_obj)
                raise QubaError(f"suite {suite_obj.name!r} gave a {type(splits[r.split]).__name__} for split "
                                f"{r.split!r}, not a quba.suites.base.Split (docs/adding-a-suite.md)")
            if len(splits[r.split]) == 0:
                _finish(suite_obj)
                raise QubaError(f"{dim.name}: split {r.split!r} of suite {suite_obj.name!r} has no images")
    statuses = split_check(splits) if split_check is not None else {}
    if loaded.preprocess is None and _needs_transform(splits.values()):
        loaded, transform_source = with_eval_transform(loaded, input_size, interpolation, crop_pct)
    # 2. Outputs: each request once, from the cache when it is there.
    cache = PredictionCache(cache_root)
    common = dict(device=dev, batch_size=batch_size, workers=workers, seed=seed, subset=subset, strict=strict,
                  progress=progress, cache=cache, precision=precision, threads=threads)
    runners = {None: Runner(loaded, suite_obj, **common)}
    runners[None]._splits.update(splits)
    outputs = {}
    try:
        for r in requests.values():
            if r.model not in runners:
                runners[r.model] = Runner(resolve_model(r.model), suite_obj, **common)
                runners[r.model]._splits.update(splits)
            outputs[r] = runners[r.model].outputs(r)
    finally:
        for run in runners.values():
            run.close()
        _finish(suite_obj)
    by_loose = {(r.split, r.attack, tuple(r.params), r.model): o for r, o in outputs.items()}

    # 3. Dimensions and their intervals.
    results, details = {}, {}
    for dim in dim_objs:
        asked = originals.get(dim.name, {})  # the dimension reads its outputs under the requests it made
        mine = {asked.get(r, r): by_loose[(r.split, r.attack, tuple(r.params), r.model)] for r in per_dim[dim.name]}
        ctx = measure.Context(dimension=dim.name, suite=suite_obj, model=loaded, opts=opts, device=dev,
                              outputs=mine, split_fn=lambda n: splits[n] if n in splits else suite_obj.split(n))
        ctx.fingerprints = {"model_fingerprint": runners[None].fingerprint, "model_code": runners[None].code_fingerprint}
        fields = {asked.get(r, r): runners[r.model].cache_fields(r) for r in per_dim[dim.name] if r.model in runners}
        res, value, lo, hi, reps = measure.measure(dim, ctx, bootstrap, seed, cache=ScoreCache(cache_root),
                                                   request_fields=fields)
        if bootstrap > 0 and replicates is not None:
            import numpy as np

            replicates[dim.name] = reps if reps is not None and reps.size else np.full(bootstrap, value)
        entry = {k: finite_or_none(v, lenient=False) for k, v in (("value", value), ("lo", lo), ("hi", hi))}
        if isinstance(res, dict):
            extra = {k: v for k, v in res.items() if k != "value"}
            if extra:
                entry["details"] = _jsonable(extra)
        setup = dimension_setup(dim.name, opts, entry.get("details"))
        if setup:
            entry["setup"] = setup
        results[dim.name] = entry

    # 4. The record's parts (quba.store.schema.make_record).
    main = runners[None]
    forward, attack, split_info = {}, {}, {}
    for run in runners.values():
        forward.update(run.forward_passes)
        attack.update(run.attack_passes)
    for r, out in outputs.items():
        run = runners[r.model]
        key_fields = run.cache_fields(r)
        split_info[r.key] = {"images": len(out), "skipped": out.skipped, "cached": r.key in run.from_cache,
                             "seconds": round(run.seconds.get(r.key, 0.0), 3), "outputs": r.outputs,
                             "device": key_fields["device"], "precision": key_fields["precision"]}
        if r.split in statuses:
            split_info[r.key].update(statuses[r.split])
        if r.attack:
            attack.setdefault(r.key, 0)
        else:
            forward.setdefault(r.key, 0)
    meta = _metadata(loaded)
    return {
        "model": loaded.id,
        "suite": suite_obj.name,
        "dimensions": results,
        "forward_passes": forward,
        "attack_passes": attack,
        "splits": split_info,
        "metadata": meta,
        "provenance": {
            **_versions(), "seed": seed, "device": str(dev),
            "device_name": _device_name(dev), "autocast": "bfloat16" if precision == "bf16" else None,
            "precision": precision, "protocol": protocol,
            "paper_options": {"order": opts["paper_order"], "train_mode": opts["paper_train_mode"]}
            if "paper_order" in opts else None,
            "transform": _transform_of(loaded),
            "transform_source": transform_source,
            "suite": suite_obj.name, "suite_version": str(suite_obj.version),
            "suite_fingerprint": suite_obj.fingerprint(), "model_fingerprint": main.fingerprint,
            "code_fingerprint": code_fingerprint,
            "transform_overrides": transform_overrides(input_size, interpolation, crop_pct),
            "subset": subset, "subset_seed": 0 if subset else None, "bootstrap": bootstrap,
            "batch_size": batch_size, "parameters_m": loaded.parameters_m,
            "parameters_full_m": loaded.parameters_full_m,
        },
    }


def dimension_setup(name: str, opts: dict, details: dict | None = None) -> dict:
    """What, besides the model and the suite, decides a dimension's value, stored with the value in
    the record: the protocol (for the dimensions whose protocols differ; under `--protocol paper` also
    its options and the batch size, `paper_protocol.setup`), the options the user gave the dimension
    (from its options declaration, so a plugin's are covered), and the attribution method it resolved
    to (details). `requested_setup` is the part the options decide (the sweep compares it)."""
    setup = requested_setup(name, opts)
    if isinstance(details, dict) and isinstance(details.get("method"), str):
        setup["method"] = details["method"]
    return setup


def requested_setup(name: str, opts: dict) -> dict:
    """The part of a dimension's setup that the evaluation's options decide, before any work:
    {protocol, paper, options}, each only where it applies (see `dimension_setup`)."""
    import dataclasses

    from quba import dimensions as D
    from quba.engine import paper_protocol as P

    opts = opts or {}
    setup = {}
    if name in P.PROTOCOL_DIMENSIONS:
        setup["protocol"] = str(opts.get("protocol") or "quba")
    setup.update(P.setup(name, opts))
    parsed = D.get(name).parse_options(opts) if D.is_known(name) else None
    given = {k: v for k, v in dataclasses.asdict(parsed).items() if v is not None} if parsed is not None else {}
    if given:
        setup["options"] = _jsonable(given)
    return setup


def _paper_opts(protocol: str, order, train_mode) -> dict:
    """The paper protocol's options in the engine's options dict (none under the quba protocol)."""
    from quba.engine.paper_protocol import check_options

    o = check_options(protocol, order, train_mode)
    return {} if o is None else {"paper_order": o.order, "paper_train_mode": o.train_mode}


def transform_overrides(input_size=None, interpolation=None, crop_pct=None) -> dict | None:
    """The user's --input-size/--interpolation/--crop-pct as given (None: none), for the provenance."""
    given = {"input_size": input_size, "interpolation": interpolation, "crop_pct": crop_pct}
    given = {k: v for k, v in given.items() if v is not None}
    return given or None


def _finish(suite) -> None:
    """End a generated suite's background split generation (quba.suites.mini.MiniSuite.prepare)."""
    suite.finish()


def _needs_transform(splits) -> bool:
    """Splits of image files (imagenet) need a resize/crop; in-memory tensors (mini) are fed as they are."""
    return any(sp.images is None for sp in splits)


def with_eval_transform(loaded, input_size=None, interpolation=None, crop_pct=None):
    """(a copy of `loaded` with the ImageNet evaluation transform, its source)."""
    import dataclasses

    from quba.zoo.eval_transform import eval_transform
    from quba.zoo.sources.common import crop_size_of

    pre, source = eval_transform(loaded.module, input_size, interpolation, crop_pct)
    crop = crop_size_of(pre)
    return dataclasses.replace(loaded, preprocess=pre, input_size=(3, *crop) if crop else loaded.input_size), source


def _transform_of(loaded):
    from quba.engine.runner import describe_preprocess

    return describe_preprocess(loaded.preprocess)


def _metadata(loaded) -> dict:
    """architecture, paradigm, pretraining_data, source: from the model, else its catalog row."""
    keys = ("architecture", "paradigm", "pretraining_data")
    meta = {k: (loaded.meta or {}).get(k) or None for k in keys}
    if not all(meta.values()) and loaded.source not in ("python", "custom"):
        try:
            from quba.zoo.catalog import get

            row = get(loaded.id)
        except Exception:  # noqa: BLE001 - not a catalog model (custom module or file)
            row = {}
        meta = {k: meta[k] or row.get(k) or None for k in keys}
    meta["source"] = loaded.source
    return meta


def _device_name(dev) -> str:
    if dev.type == "cuda":
        import torch

        return torch.cuda.get_device_name(dev)
    return platform.processor() or platform.machine()



def _jsonable(obj):
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return finite_or_none(obj, lenient=False)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj
