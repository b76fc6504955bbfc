"""`quba consistency`'s job: read the pairs, score them, summarise, and write the record if asked.
`quba.api.consistency` validates the arguments and calls `consistency` here."""
from __future__ import annotations

from quba.numbers import finite_or_none


def consistency(pairs, *, geometry="known", features="auto", dino_model=None, dino_weights=None, seed=0,
                limit=None, bootstrap=200, record=None, output="results", progress=True) -> dict:
    """MEt3R of `pairs` (a folder of pair subfolders or the name of a suite with a multiview
    split), arguments as `quba.api.consistency` checked them. Returns what `quba consistency
    --format json` prints (with "record": its path when `record` names one)."""
    from quba.met3r.features import make_features
    from quba.met3r.geometry import load_reconstructor
    from quba.met3r.pairs import content_levels, load_pair_folder, suite_pairs
    from quba.met3r.record import bootstrap_pairs, met3r_record, pair_groups
    from quba.met3r.render import evaluate_pairs
    from quba.suites import SPECS

    known = geometry == "known"
    reconstructor = None if known else load_reconstructor(geometry)
    meta = None
    if pairs in SPECS.names():
        ids, v1, v2, geos, meta = suite_pairs(pairs, seed)
        suite_name = pairs
    else:
        ids, v1, v2, geos = load_pair_folder(pairs, need_geometry=known)
        suite_name = "pairs"
    if limit is not None:
        ids, v1, v2 = ids[:limit], v1[:limit], v2[:limit]
        geos = geos[:limit] if geos is not None else None
    if record is not None:
        from quba.store.records import check_writable

        check_writable(output, suite_name)
    kw = {"dino_weights": dino_weights, "seed": seed}
    if dino_model:
        kw["dino_model"] = dino_model
    feats = make_features(features, **kw)
    res = evaluate_pairs(v1, v2, reconstructor if reconstructor is not None else geos, feats, progress=progress)
    detail = res.pop("pairs_detail")
    res["pairs_count"] = res.pop("pairs")
    for p in detail:
        p["pair"] = ids[p.pop("index")]
    if meta is not None:
        for i, p in enumerate(detail):
            p["kind"] = str(meta["kind"][i])
            p["change"] = float(meta["change"][i])
    lo, hi = bootstrap_pairs([p["mean"] for p in detail], bootstrap, seed)
    groups = pair_groups(detail, content_levels(suite_name)) if meta is not None else None
    out = {"source": pairs, "geometry": geometry, **res, "lo": finite_or_none(lo), "hi": finite_or_none(hi),
           "groups": groups, "pairs": detail}
    out = jsonable(out)
    if record is not None:
        from quba.store.leaderboard import write_leaderboard
        from quba.store.records import write_record

        rec = met3r_record(out, record, suite_name, limit=limit, seed=seed, bootstrap=bootstrap)
        out["record"] = str(write_record(output, rec))
        write_leaderboard(output, suite_name)
    return out


def jsonable(obj):
    """`obj` with string keys, lists for tuples, plain Python numbers for numpy scalars and None
    for non-finite floats (what `json.dumps` writes as standard JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float):
        return finite_or_none(obj)
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return jsonable(obj.item())
    return obj
