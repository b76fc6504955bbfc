"""Sweep bookkeeping on disk: `<output>/<suite>/sweep.json` and `<output>/<suite>/failures/`.

sweep.json (read by `quba sweep --status`)::

    suite, output, updated
    runs:   [{started, host, pid, executor, argv}]            one per `quba sweep` invocation
    models: {id: {state, host, pid, started, finished, seconds, reason, stage}}
            state: planned | running | done | cached | failed | skipped

It is written atomically (temp file + rename) under a `filelock` lock beside
it, by the driver (plan, outcome) and by the workers (`running`, with host and
start time), so several workers and even two sweeps into one output never
lose each other's updates. A failure leaves `failures/<model>.json` (error,
stage, host, traceback tail, time), removed again once the model succeeds.

Both are bookkeeping (the records are the results), read defensively: a
sweep.json that is not JSON, or JSON of another shape, is one line for
`--status` and one warning for a sweep, which starts it afresh; a folder or a
named pipe in its place is one line (move it away). A failure file that is
damaged, of another shape, a folder or a pipe is skipped with one warning; the
failed models are those of the readable failure files and those sweep.json
marks failed, so `--retry-failed` and `--status` agree.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from quba.errors import QubaError
from quba.integrity import NotRegularFile, read_regular, warn
from quba.paths import atomic_write_text
from quba.store.records import safe_name

STATE_FILE = "sweep.json"
LOCK_TIMEOUT_S = 120


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def suite_dir(output, suite: str) -> Path:
    return Path(output) / suite


def state_path(output, suite: str) -> Path:
    return suite_dir(output, suite) / STATE_FILE


def failures_dir(output, suite: str) -> Path:
    return suite_dir(output, suite) / "failures"


def failure_path(output, suite: str, model: str) -> Path:
    return failures_dir(output, suite) / f"{safe_name(model)}.json"


def _lock(path: Path):
    from filelock import FileLock

    return FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)


def _shape_problem(state) -> str | None:
    """Why `state` is not a sweep.json of this layout (see the module docstring), or None."""
    if not isinstance(state, dict):
        return f"a JSON {type(state).__name__}, not an object"
    models, runs = state.get("models", {}), state.get("runs", [])
    if not isinstance(models, dict) or not all(isinstance(e, dict) for e in models.values()):
        return "'models' is not an object of objects"
    if not all(isinstance(e.get("state", ""), str) for e in models.values()):
        return "a model's 'state' is not a string"
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        return "'runs' is not a list of objects"
    return None


def _load_json(path: Path, check) -> tuple[object | None, str | None]:
    """(the JSON at `path`, None) when it passes `check`; (None, why not) otherwise; (None, None) if
    there is no file. A folder or named pipe there is a why-not, never a hang."""
    try:
        data = json.loads(read_regular(path).decode("utf-8"))
    except FileNotFoundError:
        return None, None
    except NotRegularFile as exc:
        return None, f"{exc.kind}, not a file"
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc.__class__.__name__})"
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "damaged (not JSON)"
    problem = check(data)
    return (None, f"of another shape ({problem})") if problem else (data, None)


def read_state(output, suite: str) -> dict | None:
    """sweep.json, or None when there is none. A damaged one is a QubaError (one line)."""
    path = state_path(output, suite)
    state, why = _load_json(path, _shape_problem)
    if why and why.endswith("not a file"):
        raise QubaError(f"sweep state {path} is {why}; move it away")
    if why:
        raise QubaError(f"sweep state {path} is {why}; the next 'quba sweep' into this folder starts it afresh "
                        "(the records hold the results), or move it away")
    return state


def update_state(output, suite: str, change) -> dict:
    """Apply `change(state)` (in place) to sweep.json under its lock; return the new state. A damaged
    sweep.json is replaced (one warning); a folder or pipe in its place, or one that cannot be
    written, is a QubaError."""
    path = state_path(output, suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _lock(path):
            state, why = _load_json(path, _shape_problem)
            if why and why.endswith("not a file"):
                raise QubaError(f"sweep state {path} is {why}; move it away")
            if why:
                warn(f"sweep state {path} was {why}; started afresh (the records hold the results)")
            state = state or {}
            state.setdefault("suite", suite)
            state.setdefault("output", str(output))
            state.setdefault("runs", [])
            state.setdefault("models", {})
            change(state)
            state["updated"] = now()
            atomic_write_text(path, json.dumps(state, indent=1) + "\n")
    except OSError as exc:  # its lock file a folder, a full disk, ...
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise QubaError(f"cannot update the sweep state {path}: {exc.strerror or exc.__class__.__name__}{where}; "
                        "free space, fix permissions or move what is in the way") from None
    return state


def set_models(output, suite: str, entries: dict[str, dict]) -> None:
    """Replace the entries of these models (others, e.g. another sweep's, are kept)."""

    def change(state):
        state["models"].update(entries)

    update_state(output, suite, change)


def mark(output, suite: str, model: str, **fields) -> None:
    """Update one model's entry (fields with None values are dropped)."""

    def change(state):
        entry = state["models"].setdefault(model, {})
        entry.update({k: v for k, v in fields.items() if v is not None})
        if fields.get("state") in ("done", "cached"):
            for k in ("reason", "stage"):
                entry.pop(k, None)

    update_state(output, suite, change)


def write_failure(output, suite: str, model: str, info: dict) -> Path | None:
    """Write the model's failure file; one that cannot be written (a folder in its place, a full disk)
    is one warning: sweep.json holds the failure too."""
    path = failure_path(output, suite, model)
    try:
        atomic_write_text(path, json.dumps(info, indent=1, default=str) + "\n")
    except OSError as exc:
        warn(f"could not write the failure file {path} ({exc.strerror or exc.__class__.__name__}); the failure "
             f"is in {STATE_FILE} (quba sweep --status)")
        return None
    return path


def clear_failure(output, suite: str, model: str) -> None:
    path = failure_path(output, suite, model)
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:  # a folder in its place
        warn(f"could not remove the failure file {path} of {model}, which succeeded "
             f"({exc.strerror or exc.__class__.__name__}); remove it")


def _failure_problem(info) -> str | None:
    if not isinstance(info, dict):
        return f"a JSON {type(info).__name__}, not an object"
    if not isinstance(info.get("model"), str) or not info["model"]:
        return "no 'model' name"
    return None


def failed_models(output, suite: str) -> dict[str, dict]:
    """{model: failure info}: the readable failure files, and the models sweep.json marks failed
    (a damaged failure file is skipped with one warning each)."""
    out = {}
    folder = failures_dir(output, suite)
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        info, why = _load_json(p, _failure_problem)
        if why:
            warn(f"failure file {p} is {why}; skipped (delete it; {STATE_FILE} still lists the failure)")
            continue
        out[info["model"]] = info
    state, _ = _load_json(state_path(output, suite), _shape_problem)
    for model, entry in (state or {}).get("models", {}).items():
        if entry.get("state") == "failed" and model not in out:
            out[model] = {"model": model, "suite": suite, "error": entry.get("reason"), "stage": entry.get("stage"),
                          "host": entry.get("host"), "time": entry.get("finished")}
    return out


def render_status(state: dict) -> str:
    """The text of `quba sweep --status`."""
    models = state.get("models", {})
    counts: dict[str, int] = {}
    for e in models.values():
        counts[e.get("state", "?")] = counts.get(e.get("state", "?"), 0) + 1
    order = ("planned", "running", "done", "cached", "failed", "skipped")
    runs = state.get("runs", [])
    last = runs[-1] if runs else {}
    lines = [f"sweep of suite {state.get('suite')} in {state.get('output')} (updated {state.get('updated')}"
             + (f"; last started {last.get('started')} on {last.get('host')}, executor "
                f"{last.get('executor') or 'none (nothing to run)'}" if last else "") + ")",
             f"{len(models)} model(s): " + ", ".join(f"{counts.get(k, 0)} {k}" for k in order)]
    for kind in ("running", "failed", "skipped", "planned"):
        rows = [(m, e) for m, e in models.items() if e.get("state") == kind]
        if not rows:
            continue
        lines.append(f"{kind}:")
        for m, e in rows:
            if kind == "running":
                gone = " - gone (killed?): rerun the sweep" if not _alive(e.get("host"), e.get("pid")) else ""
                lines.append(f"  {m}  on {e.get('host')} (pid {e.get('pid')}) since {e.get('started')}{gone}")
            elif kind == "failed":
                lines.append(f"  {m}  [{e.get('stage')} on {e.get('host')}] {e.get('reason')}")
            elif kind == "skipped":
                lines.append(f"  {m}  {e.get('reason')}")
            else:
                lines.append(f"  {m}")
    return "\n".join(lines)


def _alive(host, pid) -> bool:
    """False only when the process is known to be gone (on this host); True when it cannot be told."""
    import os
    import socket

    if host != socket.gethostname() or not pid:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OSError):
        return True
    return True
