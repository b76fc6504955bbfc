"""The Python API behind every command: one function per job, re-exported by `quba`.

    evaluate     measure a model on a suite's dimensions; write its record and the leaderboard
    evaluate_many  the same for several models (everything checked before the first one starts)
    leaderboard  evaluate many models (or none) and write the leaderboard, correlations and plots
    compare      negative flips and agreement of a model update OLD -> NEW (the work: quba/flips.py)
    certify      certified information gain of a segmentation model (randomized smoothing)
    consistency  MEt3R multi-view consistency of image pairs (the work: quba/met3r/)
    place        a record among its suite's reference leaderboard (z-scores, QUBA score, rank)
    reproduce    records against the published leaderboard: fresh vs published value per dimension

The flow is one way: zoo (models) -> suites (images) -> engine (outputs, dimensions) ->
metrics (formulas) -> store (records, leaderboards) -> ranking (scores) -> report. The engine
returns a record's parts; this layer validates the input once (before any work, so bad input
leaves nothing half-written), makes the record (`quba.store.schema.make_record`), writes it
and places it. The CLI parses, calls one function here and renders.
"""
from __future__ import annotations

import sys

from quba.errors import QubaError
from quba.numbers import check_int
from quba.suites.specs import DEFAULT_SUITE, spec

__all__ = ["evaluate", "evaluate_many", "leaderboard", "compare", "certify", "consistency", "place", "reproduce",
           "load_models", "check_int", "check_bootstrap", "MAX_BOOTSTRAP"]

#: At most this many bootstrap resamples: 95 % intervals are stable at a few thousand, and the
#: vectorised bootstraps hold resamples x images indices in memory at once.
MAX_BOOTSTRAP = 10_000


# --- validation (once, here) -------------------------------------------------------------------

def check_bootstrap(n) -> int:
    """`--bootstrap` as a whole number in [0, MAX_BOOTSTRAP] (one QubaError line otherwise)."""
    return check_int(n, "--bootstrap", 0, maximum=MAX_BOOTSTRAP,
                     why=" (95% intervals are stable at a few thousand resamples)")


#: keywords of `evaluate` that are no run options: they go to `quba.engine.measure_plan` or the plan
ENGINE_EXTRAS = ("cache_root", "replicates", "split_check")


def _checked(kw: dict):
    """(the run's options, the engine's other keywords) of `evaluate`'s keywords, validated (one
    QubaError line for the first problem; an unknown keyword is a TypeError)."""
    from quba.engine.paper_protocol import check_options, check_protocol
    from quba.engine.plan import run_options
    from quba.zoo.eval_transform import check_overrides

    kw = dict(kw)
    extras = {k: kw.pop(k) for k in ENGINE_EXTRAS if k in kw}
    kw["subset"] = check_int(kw.get("subset"), "--subset", 1, allow_none=True)
    kw["bootstrap"] = check_bootstrap(kw.get("bootstrap", 200))
    kw["batch_size"] = check_int(kw.get("batch_size", 256), "--batch-size", 1)
    kw["workers"] = check_int(kw.get("workers", 0), "--loader-workers", 0)
    kw["seed"] = check_int(kw.get("seed", 0), "--seed", 0)
    kw["threads"] = check_int(kw.get("threads"), "--threads", 1, allow_none=True)
    kw["protocol"] = check_protocol(kw.get("protocol", "quba"))
    check_options(kw["protocol"], kw.get("paper_order"), kw.get("paper_train_mode"))
    check_overrides(kw.get("input_size"), kw.get("interpolation"), kw.get("crop_pct"))
    return run_options(**kw), extras


def _suite(suite, data_root=None):
    from quba.engine import load_suite

    return load_suite(suite, data_root)


def _planned(suite, data_root, dims, kw: dict):
    """(suite, the model-free plan, engine extras): the suite loaded and the dimensions resolved, their
    options checked and their requests made once (`quba.engine.plan.plan_requests`), before any model
    loads."""
    from quba.engine.plan import plan_requests

    run, extras = _checked(kw)
    suite_obj = _suite(suite, data_root)
    return suite_obj, plan_requests(suite_obj, dims, run), extras


# --- evaluate ------------------------------------------------------------------------------------

def evaluate(model, suite=DEFAULT_SUITE, dims=None, *, output="results", place: bool = False,
             data_root=None, **kw) -> dict:
    """Measure `model` on `dims` (default: the nine QUBA dimensions) of `suite`.

    model: a model id (see `quba zoo list`), "FILE.py:FUNCTION", an nn.Module (taking [0, 1]
      images, returning logits) or a `quba.zoo.base.LoadedModel`.
    output: results folder; the record goes to `<output>/<suite>/records/` and the suite's
      leaderboard `<output>/<suite>/leaderboard.csv` is regenerated (None: write nothing).
    place: also place the model among its suite's reference leaderboard (`place`), under
      the record's "reference" key.
    Other keywords: those of `quba.engine.measure_model` (subset, bootstrap, device,
    batch_size, workers, seed, strict, progress, options, cache_root, precision, threads,
    protocol, paper_order, paper_train_mode, input_size, interpolation, crop_pct, replicates).
    options: the dimensions' options, {dimension: {key: value}} (quba/dimensions/options.py).
    Returns the record (quba/store/schema.py), with "path" when written.
    """
    from quba.engine import resolve_model

    suite_obj, requests, extras = _planned(suite, data_root, dims, kw)
    _check_writable(output, suite_obj)
    return _evaluate_one(resolve_model(model), requests, output=output, place_it=place, **extras)


def evaluate_many(models, suite=DEFAULT_SUITE, dims=None, *, checkpoint=None, arch=None, remap_keys: bool = False,
                  output="results", place: bool = True, data_root=None, each=None, **kw) -> list[dict]:
    """`evaluate` for several models; every model is loaded and every option checked before the
    first evaluation starts. checkpoint/arch/remap_keys: see `load_models`. each(record): called
    after each model (the CLI prints as it goes). Returns the records, placed when `place`."""
    models = list(models)
    if arch and not checkpoint and not models:
        raise QubaError("--arch NAME goes with --checkpoint PATH (the architecture of your weights)")
    if not models and not (checkpoint and arch):
        raise QubaError("no model given; name one, e.g. 'quba evaluate mini-cnn-standard' (list: quba zoo list), "
                        "or --checkpoint PATH --arch NAME")
    suite_obj, requests, extras = _planned(suite, data_root, dims, kw)  # bad dimension or option: before loading
    _check_writable(output, suite_obj)
    loaded = load_models(models, checkpoint, arch, remap_keys=remap_keys)
    out = []
    for m in loaded:
        rec = _evaluate_one(m, requests, output=output, place_it=place, **extras)
        if each is not None:
            each(rec)
        out.append(rec)
    return out


def _check_writable(output, suite_obj) -> None:
    if output is not None:
        from quba.store.records import check_writable

        check_writable(output, suite_obj.name)


def _evaluate_one(loaded, requests, *, output, place_it: bool, split_check=None, cache_root=None,
                  replicates=None) -> dict:
    from quba.datasets import completeness_hook, data_provenance
    from quba.engine import measure_plan
    from quba.store.schema import make_record

    suite_obj = requests.suite
    if split_check is None:
        split_check = completeness_hook(suite_obj)  # incomplete splits: warned, recorded
    plan = requests.with_model(loaded, split_check=split_check)
    parts = measure_plan(plan, cache_root=cache_root, replicates=replicates)
    made = data_provenance(suite_obj, parts["splits"])  # a subset root, generated ImageNet-C
    if made:
        parts["provenance"]["data"] = made
    record = make_record(**parts)
    if output is not None:
        from quba.store.leaderboard import write_leaderboard
        from quba.store.records import write_record

        for note in setup_changes(output, record):
            print(f"note: {note}", file=sys.stderr)
        path = write_record(output, record)
        write_leaderboard(output, suite_obj.name)
        record["path"] = str(path)
    if place_it:
        record["reference"] = place(record)
    return record


def setup_changes(output, record: dict) -> list[str]:
    """Lines about what `record` replaces in the record on disk: a dimension measured again under
    another setup (another attribution method, another protocol), and the dimensions a record of
    another setup held (another transform, seed, code ...: records are merged only when their setups
    agree, `quba.store.records.MERGE_KEYS`), so a value is never swapped or dropped silently."""
    from quba.store import records as store_records

    path = store_records.record_path(output, record["suite"], record["model"])
    if not path.exists():
        return []
    try:
        old = store_records.read_record(path)
    except QubaError:
        return []
    notes = []
    differ = store_records.setup_difference(old, record) if old.get("model") == record["model"] else {}
    dropped = [d for d in (old.get("dimensions") or {}) if d not in record["dimensions"]]
    if differ and dropped:
        what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in differ.items())
        notes.append(f"{path} held {', '.join(dropped)} of {record['model']} measured with another setup ({what}); "
                     "this evaluation replaces the record (records of different setups are never merged): "
                     "evaluate those dimensions again with this setup to have them")
    for name, entry in record["dimensions"].items():
        before = (old.get("dimensions") or {}).get(name)
        if not before:
            continue
        was = before.get("setup") or {}
        now = entry.get("setup") or {}
        changed = {k: (was.get(k), now.get(k)) for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)}
        if changed and was:
            what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
            notes.append(f"{name} of {record['model']} in {path} was measured with another setup ({what}); "
                         f"its value {before.get('value')} is replaced by {entry.get('value')}")
    return notes


def load_models(specs, checkpoint=None, arch=None, remap_keys: bool = False):
    """Load every model before any evaluation starts (a bad spec fails before work).

    checkpoint/arch (--checkpoint PATH --arch NAME): with --arch, the checkpoint is one more model
    (in that architecture); without, it replaces the weights of the single catalog model named.
    remap_keys (--remap-keys): the checkpoint's tensors are paired with the architecture's by
    order, not by name (quba.zoo.sources.common.remap_by_order)."""
    from pathlib import Path

    from quba.engine import resolve_model
    from quba.zoo import CHECKPOINT_SUFFIXES, load_model

    specs = list(specs)
    if arch and not checkpoint:
        files = [s for s in specs if str(s).lower().endswith(CHECKPOINT_SUFFIXES)]
        if len(files) != 1:
            raise QubaError("--arch NAME goes with --checkpoint PATH (the architecture of your weights)")
        checkpoint = files[0]  # 'quba evaluate PATH.safetensors --arch NAME' means the same
        specs = [s for s in specs if s != checkpoint]
    if checkpoint is None:
        if remap_keys:
            raise QubaError("--remap-keys goes with --checkpoint PATH (it renames the checkpoint's tensors)")
        return [resolve_model(s) for s in specs]
    if not Path(checkpoint).is_file():
        from quba.integrity import why_not_a_file

        raise QubaError(f"checkpoint {str(checkpoint)!r} {why_not_a_file(checkpoint)}; give the path of a "
                        ".safetensors or tensor-only torch file")
    if arch:
        return [resolve_model(s) for s in specs] + [load_model(str(checkpoint), arch=arch, remap_keys=remap_keys)]
    if len(specs) != 1:
        raise QubaError("--checkpoint without --arch loads your weights into one catalog model: name exactly "
                        "one (e.g. 'quba evaluate ResNet18 --checkpoint PATH'), or give --arch NAME")
    return [load_model(specs[0], checkpoint=str(checkpoint), remap_keys=remap_keys)]


def place(record: dict, weights=None) -> dict:
    """{reference, quba, rank, n, z, contribution, note, warnings}: `record` among its suite's
    reference leaderboard (quba/ranking/placement.py)."""
    from quba.ranking.placement import place as _place

    return _place(record, weights=weights)


# --- leaderboard ---------------------------------------------------------------------------------

def expand_models(tokens, suite: str) -> list[str]:
    """Model ids from zoo groups and ids (classification models only: a segmentation model has no
    logits); none named: the suite's default groups (quba/suites/specs.py)."""
    from quba.errors import closest
    from quba.zoo import CHECKPOINT_SUFFIXES
    from quba.zoo.catalog import all_groups, catalog, select

    if not tokens:
        s = spec(suite)
        if s is None or not s.default_groups:
            raise QubaError(f"name the models to evaluate on suite {suite!r} with --models GROUP|ID ...")
        tokens = list(s.default_groups)
    rows = catalog()
    by_id = {r["id"]: r for r in rows}
    groups = {g.lower(): g for g in all_groups(rows)}
    out: list[str] = []
    for tok in tokens:
        for part in str(tok).split(","):
            part = part.strip()
            if not part:
                continue
            if part in by_id:
                out.append(part)
            elif part.lower() in groups:
                out.extend(r["id"] for r in select(rows, group=part)
                           if (r.get("task") or "classification") == "classification")
            elif ".py:" in part or part.lower().endswith(CHECKPOINT_SUFFIXES):
                out.append(part)  # a custom file, or a checkpoint for --arch
            else:
                raise QubaError(f"unknown model or group {part!r}{closest(part, list(by_id) + list(groups.values()))}; "
                                "see 'quba zoo list'")
    return list(dict.fromkeys(out))


def leaderboard(models=None, suite=DEFAULT_SUITE, dims=None, *, records_only: bool = False, html: bool = False,
                output="results", checkpoint=None, arch=None, remap_keys: bool = False, data_root=None, log=None,
                **kw) -> dict:
    """Evaluate the models (groups or ids; none: the suite's default groups), then regenerate
    `<output>/<suite>/leaderboard.csv` and write correlations, radar plots and a heatmap beside it
    (`quba.report.write_report`); html: also the interactive `report.html`. records_only: evaluate
    nothing, regenerate from the records. log(line): progress lines.
    Returns {leaderboard, correlations, heatmap, radar, notes, html}."""
    from pathlib import Path

    from quba.report import write_report
    from quba.store.leaderboard import write_leaderboard

    if records_only:
        path = write_leaderboard(output, suite)
        if path is None:
            raise QubaError(f"no records under {Path(output) / suite / 'records'}; evaluate models first")
    else:
        ids = expand_models(models, suite) if (models or not (checkpoint and arch)) else []
        if not ids and not checkpoint:
            raise QubaError("no models to evaluate (the groups given are empty)")
        total = len(ids) + (1 if checkpoint and arch else 0)
        counter = iter(range(1, total + 1))

        def each(rec):
            if log is not None:
                log(f"[{next(counter)}/{total}] {rec['model']}")

        recs = evaluate_many(ids, suite, dims, checkpoint=checkpoint, arch=arch, remap_keys=remap_keys,
                             output=output, place=False, data_root=data_root, each=each, **kw)
        path = Path(output) / (recs[0]["suite"] if recs else suite) / "leaderboard.csv"
    rep = dict(write_report(path, path.parent))
    rep["leaderboard"] = path
    rep["html"] = None
    if html:
        from quba.report.html import write_report_html

        suite_name = path.parent.name
        s = spec(suite_name)
        sources = (["reference"] if s is not None and s.report_with_reference else []) + [str(path)]
        rep["html"] = write_report_html(path.parent / "report.html", sources, suite=suite_name)
    return rep


# --- reproduce -----------------------------------------------------------------------------------

def reproduce(output="results", suite=None, *, against=None, models=None) -> dict:
    """The reproduction report (quba/ranking/reproduction.py): every record under
    `<output>/<suite>/records/` whose model has a row in a published leaderboard, dimension by
    dimension: fresh value and 95 % interval, published value, difference, whether the published
    value lies inside the interval, and what makes the row not like for like (protocol, subset,
    incomplete splits, skipped images, a data root described by its own manifest, generated
    ImageNet-C).

    suite: default the paper's (imagenet). against: None or "paper": the suite's shipped
    reference leaderboard (the paper's 326 rows for imagenet, measured under the paper's
    protocol; mini_reference.csv for mini); or a leaderboard CSV (its rows' protocol is not
    known: protocol differences are not named). models: only these records (ids).
    Returns quba.ranking.reproduction.compare's dict plus "records" (the folder read)."""
    from quba.ranking.reproduction import reproduce as from_records

    return from_records(output, suite, against=against, models=models)


# --- compare -------------------------------------------------------------------------------------

from quba.flips import COMPARE_ROWS  # noqa: E402,F401 - the rows of `quba compare`'s table (the CLI's)


def compare(old, new, suite=DEFAULT_SUITE, split="val", *, data_root=None, subset=None, bootstrap=200, seed=0,
            explanations=False, attribution="input_x_gradient", max_images=1000, device="auto", batch_size=256,
            progress=True) -> dict:
    """Negative flips (NFR, NFI, PFR, relative NFR) and top-1 agreement of OLD -> NEW on one split,
    each with a bootstrap 95 % interval (docs/metrics.md#negative-flips); with `explanations`, also
    the explanation similarity of NEW (student) to OLD (teacher). Predictions come from the engine's
    cache. Returns what `quba compare --format json` prints."""
    from quba.engine.runner import resolve_device
    from quba.flips import compare as run

    bootstrap = check_bootstrap(bootstrap)
    subset = check_int(subset, "--subset", 1, allow_none=True)
    max_images = check_int(max_images, "--max-images", 1)
    batch_size = check_int(batch_size, "--batch-size", 1)
    seed = check_int(seed, "--seed", 0)
    dev = resolve_device(device)
    suite_obj = _suite(suite, data_root)
    if explanations:
        from quba.zoo.attribution import check_method

        check_method(attribution)  # unknown method: fail before work
    return run(old, new, suite_obj, split, device=dev, subset=subset, bootstrap=bootstrap, seed=seed,
               explanations=explanations, attribution=attribution, max_images=max_images, batch_size=batch_size,
               progress=progress)


# --- certify -------------------------------------------------------------------------------------

def certify(model, suite=DEFAULT_SUITE, *, options: dict | None = None, bootstrap=200, device="auto", seed=0,
            output="results", data_root=None, progress=True) -> dict:
    """Certify a segmentation model on the suite's 'segmentation' split by randomized smoothing
    (dimension certified_information_gain). options: the dimension's options
    (`quba.dimensions.certify.CertifyOptions`: sigma, n0, n, tau, alpha, correction, adaptive,
    thresholds, batch_size, seed (default: `seed`), hierarchy (a JSON file), images; see `quba
    certify --help`). Every option is checked before the model loads (by the dimension's needs
    hook, as for any dimension). output None: write no record. Returns the record (with "path"
    when written)."""
    from quba.dimensions.certify import DIMENSION

    return evaluate(model, suite, [DIMENSION], bootstrap=bootstrap, device=device, seed=seed, output=output,
                    data_root=data_root, progress=progress, options={DIMENSION: dict(options or {})})


# --- consistency ---------------------------------------------------------------------------------

def consistency(pairs, *, geometry="known", features="auto", dino_model=None, dino_weights=None, seed=0,
                limit=None, bootstrap=200, record=None, output="results", progress=True) -> dict:
    """MEt3R multi-view consistency of image pairs (docs/metrics.md): `pairs` is a folder of pair
    subfolders or the name of a suite with a 'multiview' split (QUBA-mini's). record NAME: also write
    a record for NAME with dimension met3r under `<output>/<suite>/` (suite: that suite, or 'pairs'
    for a folder) and regenerate its leaderboard. Returns what `quba consistency --format json`
    prints (with "record": its path)."""
    from quba.met3r.run import consistency as run

    bootstrap = check_bootstrap(bootstrap)
    limit = check_int(limit, "--limit", 1, allow_none=True)
    seed = check_int(seed, "--seed", 0)
    if record is not None and not str(record).strip():
        raise QubaError("--record needs a non-empty name")
    return run(pairs, geometry=geometry, features=features, dino_model=dino_model, dino_weights=dino_weights,
               seed=seed, limit=limit, bootstrap=bootstrap, record=record, output=output, progress=progress)
