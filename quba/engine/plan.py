"""The plan of an evaluation: every split request and its cache key, decided once, in one place.

`plan_requests(suite, dims, run)` is the part no model decides: the dimensions resolved, their
options filled and checked (`quba.dimensions.options`), each dimension's requests (its `needs`
hook, routed by the protocol: `paper_protocol.route`) and their union ('logits' wins over
'decisions' for the same outputs). `Requests.with_model(model)` adds what the model decides:
the device and precision resolved, the splits checked and loaded, the model resolved (with the
ImageNet evaluation transform where the splits are image files), every other model a request
names (a teacher, a reference model) resolved, their fingerprints and the suite's hashed, and
the cache fields of every request (`cache_fields`), each computed once. `make_plan` does both.

`quba.engine.measure_model`, the sweep's driver (which splits a model's requests into tasks:
`Requests.shards`) and each of its split tasks go through these with the same `RunOptions`,
and the runner reads the outputs under the plan's fields, so a split task fills exactly the
cache entries its model task reads.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from quba.errors import QubaError

__all__ = ["RunOptions", "Requests", "Plan", "plan_requests", "make_plan", "cache_fields"]


@dataclass(frozen=True)
class RunOptions:
    """The options of one evaluation (`quba.engine.measure_model`'s keywords; `quba.evaluate`
    validates them first). Those that decide values: subset, seed, bootstrap, precision, protocol
    and its options, the transform overrides, the batch size (PGD's random start and the paper
    protocol's batch statistics) and the dimensions' own `options`."""

    subset: int | None = None
    bootstrap: int = 200
    device: str = "auto"
    batch_size: int = 256
    workers: int = 0
    seed: int = 0
    strict: bool = False
    progress: bool = True
    precision: str = "auto"
    threads: int | None = None
    protocol: str = "quba"
    paper_order: str | None = None
    paper_train_mode: str | None = None
    input_size: int | None = None
    interpolation: str | None = None
    crop_pct: float | None = None
    #: the dimensions' options as given ({dimension: {key: value}}: `quba.dimensions.options`)
    options: dict | None = None

    @property
    def paper(self):
        """The paper protocol's options (`paper_protocol.PaperOptions`), None under the quba protocol."""
        from quba.engine.paper_protocol import check_options

        return check_options(self.protocol or "quba", self.paper_order, self.paper_train_mode)

    def hook_opts(self, device=None, precision=None) -> dict:
        """The run's options as the dimensions' hooks read them (`HookOptions`); `device` and
        `precision` as resolved on this machine (None: as given)."""
        paper = self.paper
        return {"seed": self.seed, "subset": self.subset, "bootstrap": self.bootstrap,
                "device": str(device if device is not None else self.device), "batch_size": self.batch_size,
                "workers": self.workers, "strict": self.strict, "progress": self.progress,
                "protocol": self.protocol or "quba", "precision": precision or self.precision,
                **({"paper_order": paper.order, "paper_train_mode": paper.train_mode} if paper else {})}

    def transform_overrides(self) -> dict | None:
        """--input-size/--interpolation/--crop-pct as given (None: none), for the provenance."""
        given = {"input_size": self.input_size, "interpolation": self.interpolation, "crop_pct": self.crop_pct}
        given = {k: v for k, v in given.items() if v is not None}
        return given or None


# ---------------------------------------------------------------- requests (no model)

@dataclass
class Requests:
    """What the dimensions read, before any model: see `plan_requests`."""

    suite: object
    run: RunOptions
    dims: list[str]  # canonical names, in order
    dimensions: list  # their `quba.dimensions.Dimension`s
    options: dict  # {dimension: its options dataclass (None: declares none)}, checked
    given: dict  # {dimension: {key: typed value}}: the options as given, normalised
    requests: list  # the union (`SplitRequest`s, in order of first request)
    per_dim: dict  # {dimension: {the request it made: the request in `requests` that serves it}}

    def hook_opts(self, name: str, device=None, precision=None):
        """The `opts` a dimension's hooks get (`quba.dimensions.options.HookOptions`)."""
        from quba.dimensions.options import HookOptions

        return HookOptions(self.run.hook_opts(device, precision), name, self.options.get(name))

    def by_key(self) -> dict:
        """{request key: request} of the union."""
        return {r.key: r for r in self.requests}

    def shards(self) -> list[tuple[str, list[str]]]:
        """[(name, [request keys])]: the requests split into independent units of work (the sweep's
        --split-tasks): one per request, except the outputs one run of the paper protocol makes
        together (its attacks' clean and adversarial outputs, and under train mode all the passes
        after them: `paper_protocol.run`), which are one unit."""
        from quba.engine.paper_protocol import is_paper

        together = [r.key for r in self.requests if r.model is None and is_paper(r.attack)]
        units = []
        for r in self.requests:
            if r.key not in together:
                units.append((r.key, [r.key]))
            elif r.key == together[0]:
                units.append((f"{r.key}+{len(together) - 1} (one paper-protocol run)" if len(together) > 1
                              else r.key, together))
        return units

    def with_model(self, model, *, only=None, split_check=None) -> "Plan":
        """The plan for `model` (see the module docstring). only: the request keys to plan (a split
        task's; default all). split_check: called with the loaded splits before any work (see
        `quba.engine.measure_model`)."""
        return Plan.make(self, model, only=only, split_check=split_check)


def plan_requests(suite, dims, run: RunOptions) -> Requests:
    """The requests of `dims` on `suite` under `run` (no model; see the module docstring). Every
    dimension is resolved, its options checked and its `needs` called here, once: an unknown
    dimension or option, or a suite that cannot serve one, fails before any model loads."""
    from quba import dimensions as D
    from quba.dimensions import SplitRequest
    from quba.dimensions.options import HookOptions, check, normalize
    from quba.engine import resolve_dims
    from quba.engine.paper_protocol import route

    names = resolve_dims(dims)
    given = normalize(run.options)
    dim_objs = [D.get(n) for n in names]
    options = {d.name: check(d, given.get(d.name)) for d in dim_objs}
    base = run.hook_opts()
    merged: dict[tuple, SplitRequest] = {}
    routed_of: dict[str, dict] = {}
    for dim in dim_objs:
        opts = HookOptions(base, dim.name, options[dim.name])
        reqs = list(dim.needs(suite, opts) or [])
        for r in reqs:
            if not isinstance(r, SplitRequest):
                raise TypeError(f"dimension {dim.name}: needs() must return SplitRequest objects, got {r!r}")
        routed_of[dim.name] = {r: route(dim.name, r, opts) for r in reqs}
        for r in routed_of[dim.name].values():
            key = _loose(r)
            old = merged.get(key)
            if old is None or (old.outputs == "decisions" and r.outputs == "logits"):
                merged[key] = SplitRequest(r.split, r.attack, tuple(r.params), r.model,
                                           "logits" if (old and old.outputs == "logits") else r.outputs)
    per_dim = {name: {asked: merged[_loose(r)] for asked, r in routed.items()} for name, routed in routed_of.items()}
    return Requests(suite=suite, run=run, dims=names, dimensions=dim_objs, options=options, given=given,
                    requests=list(merged.values()), per_dim=per_dim)


def _loose(r) -> tuple:
    """What identifies a request's outputs, whatever outputs kind it asks for."""
    return (r.split, r.attack, tuple(r.params), r.model)


# ---------------------------------------------------------------- the plan (with a model)

def cache_fields(request, *, model, fingerprint: str, code_fingerprint: str, suite, suite_fingerprint: str,
                 device, precision: str, subset, seed: int, batch_size: int) -> dict:
    """Everything that changes a request's outputs, the key of the prediction cache: weights, the
    model's code (its classes and their files, attributes, transform), image transform, device type
    and precision, suite, split, subset, attack and its parameters (the protocol and its options
    among them), the software stack. The one function that makes a key (`Plan` for the requests it
    plans, `Runner.cache_fields` for the other outputs a paper-protocol run writes)."""
    from quba.engine import paper_protocol
    from quba.engine.keys import attack_params, describe_preprocess, stack_versions

    return {
        "model_fingerprint": fingerprint,
        "model_code": code_fingerprint,
        "input_size": list(model.input_size) if model.input_size else None,
        "preprocess": describe_preprocess(model.preprocess),
        "device": getattr(device, "type", str(device)),
        "precision": "fp32" if paper_protocol.is_paper(request.attack) else precision,
        "suite": suite.name,
        "suite_version": str(suite.version),
        "suite_fingerprint": suite_fingerprint,
        "split": request.split,
        "subset": subset,
        "attack": request.attack,
        "params": attack_params(request, seed, batch_size),
        "stack": stack_versions(),
    }


@dataclass
class Plan:
    """One model's evaluation, decided before any forward pass (see the module docstring)."""

    requests: Requests
    model: object  # the LoadedModel evaluated (with the evaluation transform where it needs one)
    device: object  # torch.device
    precision: str  # fp32 | bf16
    selected: list  # the requests this plan runs (all, or a split task's)
    models: dict  # {None: model, spec: LoadedModel of another model a request names}
    fingerprints: dict  # {spec: (weights fingerprint, code fingerprint)}, hashed once
    suite_fingerprint: str
    code_fingerprint: str  # the model's code as loaded (the sweep verifies a record against this)
    transform_source: str | None
    fields: dict  # {request: cache fields}, each made once (`cache_fields`)
    splits: dict  # {split name: loaded split}
    statuses: dict = field(default_factory=dict)  # {split name: split_check's status}
    opts: dict = field(default_factory=dict)  # {dimension: HookOptions}

    @property
    def run(self) -> RunOptions:
        return self.requests.run

    @property
    def suite(self):
        return self.requests.suite

    @classmethod
    def make(cls, requests: Requests, model, *, only=None, split_check=None) -> "Plan":
        from quba.engine import _finish, _needs_transform, resolve_model, with_eval_transform
        from quba.engine.device import resolve_device, resolve_precision

        run, suite = requests.run, requests.suite
        dev = resolve_device(run.device)
        precision = resolve_precision(run.precision, dev)
        loaded = resolve_model(model)
        if only is None:
            selected = list(requests.requests)
        else:
            by_key = requests.by_key()
            unknown = [k for k in only if k not in by_key]
            if unknown:
                raise QubaError(f"no split request {unknown[0]!r} in this evaluation's plan; known: "
                                f"{', '.join(by_key)}")
            selected = [by_key[k] for k in only]
        try:
            splits, statuses = _load_splits(requests, selected, split_check)
            code_fp = loaded.code_fingerprint()  # as loaded
            untransformed = loaded
            transform_source = "model" if loaded.preprocess is not None else None
            if loaded.preprocess is None and _needs_transform(splits.values()):
                loaded, transform_source = with_eval_transform(loaded, run.input_size, run.interpolation,
                                                               run.crop_pct)
            models = {None: loaded}
            for r in selected:
                if r.model not in models:
                    models[r.model] = resolve_model(r.model)
            fps = {spec: (m.fingerprint(), code_fp if m is untransformed else m.code_fingerprint())
                   for spec, m in models.items()}
            suite_fp = suite.fingerprint()
            fields = {r: cache_fields(r, model=models[r.model], fingerprint=fps[r.model][0],
                                      code_fingerprint=fps[r.model][1], suite=suite, suite_fingerprint=suite_fp,
                                      device=dev, precision=precision, subset=run.subset, seed=run.seed,
                                      batch_size=run.batch_size)
                      for r in selected}
        except BaseException:
            _finish(suite)  # a generated suite's background work ends with the evaluation
            raise
        opts = {name: requests.hook_opts(name, dev, precision) for name in requests.dims}
        return cls(requests=requests, model=loaded, device=dev, precision=precision, selected=selected, models=models,
                   fingerprints=fps, suite_fingerprint=suite_fp, code_fingerprint=code_fp,
                   transform_source=transform_source, fields=fields, splits=splits, statuses=statuses, opts=opts)

    def runner_kwargs(self) -> dict:
        """The keywords of every `quba.engine.runner.Runner` of this plan (cache and fingerprints apart)."""
        run = self.run
        return dict(device=self.device, batch_size=run.batch_size, workers=run.workers, seed=run.seed,
                    subset=run.subset, strict=run.strict, progress=run.progress, precision=self.precision,
                    threads=run.threads)


def _load_splits(requests: Requests, selected: list, split_check) -> tuple[dict, dict]:
    """({name: split}, {name: status}) of the selected requests' splits: each checked to exist and
    hold images before any work; a generated suite's missing ones are made in the background
    while the model runs on those already there (the runner waits for them)."""
    from quba.suites.base import Split

    suite = requests.suite
    known = set(suite.split_names())
    chosen = set(selected)
    mine = [(dim.name, r) for dim in requests.dimensions for r in requests.per_dim[dim.name].values() if r in chosen]
    # a generated suite makes val first, the rest in parallel in the background; others prepare nothing
    pending = set(suite.prepare([r.split for _, r in mine if r.split in known], background=True)) - {"val"}
    splits = {}
    for name, r in mine:
        if r.split in splits:
            continue
        if r.split not in known:
            raise QubaError(f"dimension {name} needs split {r.split!r}, which suite {suite.name!r} does not have")
        if r.split in pending:
            continue  # generated in the background; the runner waits for it when it gets there
        try:
            splits[r.split] = suite.split(r.split)
        except QubaError as exc:
            msg = str(exc)
            raise QubaError(msg if name in msg else f"{name}: {msg}") from None
        if not isinstance(splits[r.split], Split):
            raise QubaError(f"suite {suite.name!r} gave a {type(splits[r.split]).__name__} for split {r.split!r}, "
                            "not a quba.suites.base.Split (docs/adding-a-suite.md)")
        if len(splits[r.split]) == 0:
            raise QubaError(f"{name}: split {r.split!r} of suite {suite.name!r} has no images")
    statuses = split_check(splits) if split_check is not None else {}
    return splits, statuses


def make_plan(model, suite, dims, run: RunOptions, *, only=None, split_check=None) -> Plan:
    """`plan_requests(suite, dims, run).with_model(model, ...)`: the one way from (model, suite,
    dimensions, options) to the requests and their cache keys."""
    return plan_requests(suite, dims, run).with_model(model, only=only, split_check=split_check)


def run_options(**kw) -> RunOptions:
    """RunOptions from `measure_model`'s keywords (an unknown one is a TypeError, as a call's)."""
    names = {f.name for f in dataclasses.fields(RunOptions)}
    bad = [k for k in kw if k not in names]
    if bad:
        raise TypeError(f"unexpected keyword argument {bad[0]!r}")
    return RunOptions(**kw)
