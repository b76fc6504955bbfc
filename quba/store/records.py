"""One JSON record per (model, suite) on disk (the schema: quba/store/schema.py).

The record holds values, and in `provenance.cost` what the run that wrote it
cost (forward passes, attack passes, splits served from the cache); re-evaluating
a model with the same values leaves its file byte-identical (not even rewritten:
the mtime stays; the cost is still that of the run that wrote it). How each
run went -- `created`, `forward_passes` (clean passes of this evaluation, 0:
served from cache), `attack_passes` (every pass the attacks made) and per split
`cached`, `seconds`, `outputs` -- is appended as one JSON line per evaluation to
the run log beside it, `<name>.runs.jsonl`. `evaluate()` returns both together.

Writing merges with an existing record of the same model, suite, suite
fingerprint, model fingerprint and subset (so `--dims a` then `--dims b` gives
one record with both); anything else replaces it. A writer holds an
inter-process lock on the record file (`quba.integrity.locked`), re-reads it
under the lock, merges and writes atomically, so concurrent evaluations never
drop each other's dimensions.

File names are injective: a lower-case id of [a-z0-9._-] is its own file name
(`mini-cnn-standard.json`); any other id becomes its sanitised form plus `~`
and 10 hex digits of its SHA-256 (`coll_a_b.py_build~1a2b3c4d5e.json`), so
different ids never share a file, on case-insensitive file systems too. A
record whose `model` differs from the one being written is never replaced.

Reading validates the structure (one line naming the file otherwise) and the
checksum (a damaged or hand-edited record is refused, never read as a wrong
number). Format-1 records (no checksum, run data inline) still load.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from quba.errors import QubaError
from quba.paths import atomic_write_text
from quba.store.schema import FORMAT, RUN_KEYS, checksum, validate  # noqa: F401  (re-exported)
from quba.store.schema import json_default as _json_default
SPLIT_RUN_KEYS = ("cached", "seconds", "outputs")
_SAFE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,119}")


def legacy_safe_name(model: str) -> str:
    """The file name of format-1 quba (not injective; kept to find old records)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(model)).strip("._") or "model"
    return name[:150]


def safe_name(model: str) -> str:
    """An injective file name for a model id (see the module docstring)."""
    model = str(model)
    if _SAFE_ID.fullmatch(model) and not model.endswith("."):
        return model
    digest = hashlib.sha256(model.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{legacy_safe_name(model)[:100]}~{digest}"


def records_dir(output, suite: str) -> Path:
    return Path(output) / suite / "records"


def record_path(output, suite: str, model: str) -> Path:
    return records_dir(output, suite) / f"{safe_name(model)}.json"


def run_log_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".runs.jsonl")


def read_record(path) -> dict:
    """A record's values (run data of format-1 records dropped), validated."""
    from quba.integrity import NotRegularFile, read_regular

    try:
        rec = json.loads(read_regular(path).decode("utf-8"))  # a named pipe there: one line, not a hang
    except NotRegularFile as exc:
        raise QubaError(f"record {path} is {exc.kind}, not a file; move it away and evaluate the model "
                        "again") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QubaError(f"record {path} is not readable JSON ({exc.__class__.__name__}); "
                        "delete it and evaluate the model again") from None
    return values_part(validate(rec, path))


def load_records(output, suite: str) -> list[dict]:
    folder = records_dir(output, suite)
    if not folder.is_dir():
        return []
    out, seen = [], {}
    for p in sorted(folder.glob("*.json")):
        if p.name.startswith("."):
            continue
        rec = read_record(p)
        key = (rec["model"], rec["suite"])
        if key in seen:
            raise QubaError(f"records {seen[key]} and {p} are both for model {rec['model']!r}; "
                            "delete the older one")
        seen[key] = p
        out.append(rec)
    return out


def values_part(record: dict) -> dict:
    """The record as stored: no run data, format 2 (checksum added when written)."""
    rec = {k: v for k, v in record.items() if k not in RUN_KEYS and k != "checksum"}
    rec["format"] = FORMAT
    if isinstance(rec.get("splits"), dict):
        rec["splits"] = {k: ({a: b for a, b in v.items() if a not in SPLIT_RUN_KEYS} if isinstance(v, dict) else v)
                         for k, v in rec["splits"].items()}
    return rec


def run_part(record: dict) -> dict:
    """What this evaluation says about itself (one line of the run log)."""
    entry = {k: record[k] for k in ("created", "forward_passes", "attack_passes") if k in record}
    entry["dimensions"] = sorted(record.get("dimensions", {}))
    entry["splits"] = {k: {a: b for a, b in v.items() if a in SPLIT_RUN_KEYS}
                       for k, v in (record.get("splits") or {}).items() if isinstance(v, dict)}
    return entry


#: Provenance that decides every dimension of a record: records that differ in any are not merged
#: (issue 23.4: a merged record said 32 px / nearest while its calibration was measured at 224 px).
#: What decides single dimensions (protocol, paper options, attribution method, the dimension's
#: options) is each dimension's `setup`; device and precision are recorded per split.
MERGE_KEYS = ("suite", "suite_fingerprint", "model_fingerprint", "code_fingerprint", "subset", "seed", "bootstrap",
              "transform", "transform_overrides")


def setup_difference(a: dict, b: dict) -> dict:
    """{provenance key: (a's, b's)} of the MERGE_KEYS two records of one model differ in."""
    pa, pb = a.get("provenance", {}), b.get("provenance", {})
    return {k: (pa.get(k), pb.get(k)) for k in MERGE_KEYS if pa.get(k) != pb.get(k)}


def _same_setup(a: dict, b: dict) -> bool:
    return a.get("model") == b.get("model") and not setup_difference(a, b)


def merge(old: dict, new: dict) -> dict:
    """`new` plus the dimensions of `old` that `new` did not measure (same setup only)."""
    if not _same_setup(old, new):
        return new
    merged = dict(new)
    merged["dimensions"] = {**old.get("dimensions", {}), **new["dimensions"]}
    merged["splits"] = {**old.get("splits", {}), **new.get("splits", {})}
    if "skipped_images" in merged:
        merged["skipped_images"] = int(sum(int(v.get("skipped", 0) or 0) for v in merged["splits"].values()
                                           if isinstance(v, dict)))
    return merged


#: Provenance about the run that wrote a record rather than its values (`cost`: forward passes, attack
#: passes, splits from the cache): a re-evaluation whose values are equal leaves the file untouched,
#: so the cost it holds is that of the run that wrote it.
RUN_PROVENANCE = ("cost",)


def _comparable(record: dict) -> str:
    """A record's values as canonical JSON, without its checksum and run provenance (what decides
    whether writing it changes the file)."""
    rec = values_part(record)
    rec.pop("checksum", None)
    if isinstance(rec.get("provenance"), dict):
        rec["provenance"] = {k: v for k, v in rec["provenance"].items() if k not in RUN_PROVENANCE}
    return json.dumps(rec, sort_keys=True, default=_json_default)


def encode(record: dict) -> str:
    """The stored text of a record: its values part with a checksum."""
    rec = values_part(record)
    rec["checksum"] = checksum(rec)
    return json.dumps(rec, indent=1, sort_keys=False, default=_json_default) + "\n"


def write_record(output, record: dict, merge_existing: bool = True) -> Path:
    """Write (merge) `record` under `output`; safe under concurrent writers across processes.

    Under the record file's lock: re-read the file, refuse it if it holds another model,
    merge, and replace it atomically only if the values changed; then append this run to
    the run log. Write errors (disk full, read-only folder) are one QubaError line."""
    from quba.integrity import NotRegularFile, check_regular, locked, read_regular, warn

    path = record_path(output, record["suite"], record["model"])
    try:
        check_regular(path)  # a folder or named pipe in its place is not replaced (nor read: a pipe blocks)
        with locked(path):
            old_text, old = None, None
            sources = [path]
            legacy = path.with_name(f"{legacy_safe_name(record['model'])}.json")
            if legacy != path:
                sources.append(legacy)
            for src in sources:
                if not src.exists():
                    continue
                try:
                    rec = read_record(src)
                except QubaError:
                    if src == path:
                        warn(f"record {path} was damaged or not a quba record; this evaluation replaces it")
                    continue
                if rec["model"] != record["model"] or rec["suite"] != record["suite"]:
                    if src == path:
                        raise QubaError(f"record file {path} holds model {rec['model']!r} of suite "
                                        f"{rec['suite']!r}, not {record['model']!r}; move it away (quba never "
                                        "replaces another model's record)")
                    continue  # a legacy name shared with another model: not ours
                old = rec
                if src == path:
                    old_text = read_regular(path).decode("utf-8")
                break
            new = merge(old, record) if (merge_existing and old is not None) else record
            text = encode(new)
            changed = old_text is None or _comparable(new) != _comparable(json.loads(old_text))
            if changed:
                atomic_write_text(path, text)
            _log_run(path, {**run_part(record), "changed": changed})
            if old is not None and legacy != path and legacy.exists() and old_text is None:
                legacy.unlink()  # migrated to the injective name
    except NotRegularFile as exc:
        raise QubaError(f"cannot write the record {path}: {exc.strerror}; move it away (quba replaces only "
                        "files)") from None
    except OSError as exc:
        raise QubaError(f"cannot write the record {path} ({exc.strerror or exc.__class__.__name__}); "
                        "free space or fix permissions, or choose another --output (the model's outputs "
                        "are cached: running again costs no forward passes)") from None
    return path


def _log_run(path: Path, entry: dict) -> None:
    """Append this run to the record's run log. The record is written by now: a log that cannot take
    the line (disk full, a folder in its place) costs that line only, reported in one warning."""
    from quba.integrity import check_regular, warn

    log = run_log_path(path)
    try:
        check_regular(log)  # appending to a named pipe would wait for a reader
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=_json_default) + "\n")
    except OSError as exc:
        warn(f"the record {path} was written, but its run log {log.name} could not take this run "
             f"({exc.strerror or exc.__class__.__name__}); the values are safe (free space, or move the log away)")


def check_writable(output, suite: str) -> Path:
    """Prove the records folder can be created and written, before any work starts.

    Creates nothing: finds the nearest existing folder on the way and checks
    it is a writable folder (a file in the way, or no permission, fails)."""
    import os

    folder = records_dir(output, suite)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    problem = None
    if not probe.is_dir():
        problem = f"{probe} is not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"no permission to write in {probe}"
    else:  # permission bits are not the whole story (/proc, read-only mounts): try a file, removed at once
        import tempfile

        try:
            fd, tmp = tempfile.mkstemp(dir=probe, prefix=".quba-write-check-")
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            problem = f"cannot create files in {probe}: {exc.strerror or exc}"
    if problem:
        raise QubaError(f"cannot write results under {output} ({problem}); choose a writable folder with --output DIR")
    return folder
