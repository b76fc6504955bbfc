"""The evaluation engine: `measure_model(model, suite, dims)` -> a record's parts.

Flow: the plan (`quba.engine.plan`): model, suite and dimensions resolved, the
dimensions' options checked, the union of their `SplitRequest`s (quba/dimensions/__init__.py
hook contract), every split checked to exist (before any work), and the cache key of each
request, all once; run each request through the model once (`fill`: `runner.Runner`,
cached on disk by `cache.PredictionCache` under the plan's keys); compute every
dimension and its bootstrap interval from the cached outputs (`measure`);
return the record's parts, the run's cost in the provenance. Writing them (`quba.store`) and placing the model
among a reference (`quba.ranking`) is the API's job (quba/api.py): the engine
imports neither. Input is validated once, by the API; the engine trusts it.
"""
from __future__ import annotations

import platform

from quba.errors import QubaError
from quba.numbers import finite_or_none

__all__ = ["measure_model", "measure_plan", "fill", "resolve_model", "resolve_dims", "dimension_setup",
           "requested_setup"]


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


def measure_model(model, suite, dims=None, *, data_root=None, cache_root=None, replicates: dict | None = None,
                  split_check=None, **run) -> dict:
    """Measure `model` on `dims` (default: the nine QUBA dimensions) of `suite`.

    model: a model id (`mini-...`, catalog ids), "FILE.py:FUNCTION", an nn.Module
      (taking [0, 1] images, returning logits) or a `quba.zoo.base.LoadedModel`.
    suite: a suite name (with `data_root` for suites read from disk) or a loaded suite object.
    dims: names or aliases (list or comma-separated); only their splits run.
    run: the run's options (`quba.engine.plan.RunOptions`; an unknown keyword is a TypeError):
      subset: N images per class (fixed, stratified); bootstrap: resamples (0: off);
      device: auto | cpu | cuda | cuda:i; precision: auto (bf16 autocast on CUDA, fp32 on CPU) |
      fp32 | bf16, part of the cache key and recorded per split; threads: torch threads of this
      process (default: torch's, all cores); batch_size, workers, seed, strict, progress;
      protocol: quba (default) | paper: adversarial robustness as the QUBA authors' code measured
      it (quba/engine/paper_protocol.py), paper_order (shuffled | suite) and paper_train_mode
      (attack | all) its options; input_size, interpolation, crop_pct: the ImageNet evaluation
      transform a module without its own preprocess gets on image-file suites
      (quba/zoo/eval_transform.py; a timm module's pretrained_cfg gives the defaults, these
      override); options: the dimensions' options, {dimension: {key: value}}
      (quba/dimensions/options.py), handed to their hooks as `ctx.options`.
    cache_root: folder of the prediction cache (default $QUBA_CACHE/predictions).
    replicates: a dict to fill with each dimension's `bootstrap` bootstrap
      replicates (paired across models: same seed, same draws; rank stability).
    split_check: called with the loaded splits ({name: split}) before any forward pass; returns
      {name: {"complete": bool, ...}} (quba.datasets.completeness_hook: counts against the
      expected ones, one warning line when short), kept per split in the record.
    Returns the keyword arguments of `quba.store.schema.make_record` (model, suite,
    dimensions, splits, metadata, provenance, pass counts); `quba.api.evaluate` validates
    the input before and makes, writes and places the record after. Nothing is written.
    """
    from quba.engine.plan import make_plan, run_options

    plan = make_plan(model, load_suite(suite, data_root), dims, run_options(**run), split_check=split_check)
    return measure_plan(plan, cache_root=cache_root, replicates=replicates)


def measure_plan(plan, *, cache_root=None, replicates: dict | None = None) -> dict:
    """`measure_model` of a made plan (`quba.engine.plan`): its outputs (`fill`), every dimension
    and its interval from them, the record's parts."""
    outputs, runners = fill(plan, cache_root)
    results = _dimensions(plan, outputs, cache_root, replicates)
    return _record_parts(plan, outputs, runners, results)


def fill(plan, cache_root=None):
    """({request: SplitOutputs}, {model spec: Runner}) of the plan's selected requests: each run
    once, under the plan's cache fields, from the prediction cache when it is there. The runners
    are closed (their counts kept); a generated suite's background work is ended."""
    from quba.engine.cache import PredictionCache
    from quba.engine.runner import Runner

    cache = PredictionCache(cache_root)
    runners, outputs = {}, {}
    try:
        for r in plan.selected:
            run = runners.get(r.model)
            if run is None:
                run = runners[r.model] = Runner(plan.models[r.model], plan.suite, cache=cache,
                                                fingerprints=plan.fingerprints[r.model],
                                                suite_fingerprint=plan.suite_fingerprint, **plan.runner_kwargs())
                run._splits.update(plan.splits)
            outputs[r] = run.outputs(r, plan.fields[r])
    finally:
        for run in runners.values():
            run.close()
        _finish(plan.suite)
    return outputs, runners


def _dimensions(plan, outputs: dict, cache_root, replicates) -> dict:
    """{dimension: its record entry}: each dimension and its interval from the plan's outputs."""
    from quba.engine import measure
    from quba.engine.cache import ScoreCache

    run, splits, suite = plan.run, plan.splits, plan.suite
    scores = ScoreCache(cache_root)
    fps = {"model_fingerprint": plan.fingerprints[None][0], "model_code": plan.fingerprints[None][1],
           "suite_fingerprint": plan.suite_fingerprint}
    results = {}
    for dim in plan.requests.dimensions:
        served = plan.requests.per_dim[dim.name]  # {the request it made: the request that serves it}
        ctx = measure.Context(dimension=dim.name, suite=suite, model=plan.model, opts=plan.opts[dim.name],
                              device=plan.device, outputs={asked: outputs[r] for asked, r in served.items()},
                              split_fn=lambda n: splits[n] if n in splits else suite.split(n))
        ctx.fingerprints = fps
        ctx.models = plan.models  # {spec: LoadedModel}: a teacher or reference, resolved once by the plan
        res, value, lo, hi, reps = measure.measure(dim, ctx, run.bootstrap, run.seed, cache=scores,
                                                   request_fields={a: plan.fields[r] for a, r in served.items()})
        if run.bootstrap > 0 and replicates is not None:
            import numpy as np

            replicates[dim.name] = reps if reps is not None and reps.size else np.full(run.bootstrap, value)
        entry = {k: finite_or_none(v, lenient=False) for k, v in (("value", value), ("lo", lo), ("hi", hi))}
        if isinstance(res, dict):
            extra = {k: v for k, v in res.items() if k != "value"}
            if extra:
                entry["details"] = _jsonable(extra)
        setup = dimension_setup(dim.name, plan.opts[dim.name], entry.get("details"), plan.requests.given)
        if setup:
            entry["setup"] = setup
        results[dim.name] = entry
    return results


def _record_parts(plan, outputs: dict, runners: dict, results: dict) -> dict:
    """The record's parts (quba.store.schema.make_record), with the run's cost in the provenance."""
    run, loaded, dev = plan.run, plan.model, plan.device
    forward, attack, split_info = {}, {}, {}
    for runner in runners.values():
        forward.update(runner.forward_passes)
        attack.update(runner.attack_passes)
    for r, out in outputs.items():
        runner, key_fields = runners[r.model], plan.fields[r]
        split_info[r.key] = {"images": len(out), "skipped": out.skipped, "cached": r.key in runner.from_cache,
                             "seconds": round(runner.seconds.get(r.key, 0.0), 3), "outputs": r.outputs,
                             "device": key_fields["device"], "precision": key_fields["precision"]}
        if r.split in plan.statuses:
            split_info[r.key].update(plan.statuses[r.split])
        if r.attack:
            attack.setdefault(r.key, 0)
        else:
            forward.setdefault(r.key, 0)
    paper = run.paper
    return {
        "model": loaded.id,
        "suite": plan.suite.name,
        "dimensions": results,
        "forward_passes": forward,
        "attack_passes": attack,
        "splits": split_info,
        "metadata": _metadata(loaded),
        "provenance": {
            **_versions(), "seed": run.seed, "device": str(dev),
            "device_name": _device_name(dev), "autocast": "bfloat16" if plan.precision == "bf16" else None,
            "precision": plan.precision, "protocol": run.protocol,
            "paper_options": {"order": paper.order, "train_mode": paper.train_mode} if paper else None,
            "transform": _transform_of(loaded),
            "transform_source": plan.transform_source,
            "suite": plan.suite.name, "suite_version": str(plan.suite.version),
            "suite_fingerprint": plan.suite_fingerprint, "model_fingerprint": plan.fingerprints[None][0],
            "code_fingerprint": plan.code_fingerprint,
            "transform_overrides": run.transform_overrides(),
            "subset": run.subset, "subset_seed": 0 if run.subset else None, "bootstrap": run.bootstrap,
            "batch_size": run.batch_size, "parameters_m": loaded.parameters_m,
            "parameters_full_m": loaded.parameters_full_m,
            "cost": run_cost(forward, attack, split_info),
        },
    }


def run_cost(forward: dict, attack: dict, splits: dict) -> dict:
    """What the run that wrote a record cost: forward passes, attack passes (every pass an attack
    made), and how many of its split requests were served from the prediction cache."""
    return {"forward_passes": int(sum(forward.values())), "attack_passes": int(sum(attack.values())),
            "splits_from_cache": sum(1 for s in splits.values() if s.get("cached")), "splits": len(splits)}


def dimension_setup(name: str, opts: dict, details: dict | None = None, options: dict | None = None) -> dict:
    """What, besides the model and the suite, decides a dimension's value, stored with the value in
    the record: the protocol (for the dimensions whose protocols differ; under `--protocol paper` also
    its options and the batch size, `paper_protocol.setup`), the options the user gave the dimension
    (from its options declaration, so a plugin's are covered), and the attribution method it resolved
    to (details). `requested_setup` is the part the options decide (the sweep compares it)."""
    setup = requested_setup(name, opts, options)
    if isinstance(details, dict) and isinstance(details.get("method"), str):
        setup["method"] = details["method"]
    return setup


def requested_setup(name: str, opts: dict, options: dict | None = None) -> dict:
    """The part of a dimension's setup that the evaluation's options decide, before any work:
    {protocol, paper, options}, each only where it applies (see `dimension_setup`). opts: the run's
    options (protocol, paper options, batch size); options: the dimensions' options as given
    ({dimension: {key: value}}; None: the dict entries of `opts`, its older form)."""
    import dataclasses

    from quba import dimensions as D
    from quba.dimensions.options import check, normalize
    from quba.engine import paper_protocol as P

    opts = opts or {}
    if options is None:
        options = {k: v for k, v in opts.items() if isinstance(v, dict)}
    setup = {}
    if name in P.PROTOCOL_DIMENSIONS:
        setup["protocol"] = str(opts.get("protocol") or "quba")
    setup.update(P.setup(name, opts))
    parsed = check(D.get(name), normalize(options).get(D.canonical(name))) if D.is_known(name) else None
    given = {k: v for k, v in dataclasses.asdict(parsed).items() if v is not None} if parsed is not None else {}
    if given:
        setup["options"] = _jsonable(given)
    return setup


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
