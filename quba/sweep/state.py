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
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

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


def read_state(output, suite: str) -> dict | None:
    path = state_path(output, suite)
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except (OSError, json.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


def update_state(output, suite: str, change) -> dict:
    """Apply `change(state)` (in place) to sweep.json under its lock; return the new state."""
    path = state_path(output, suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path):
        state = read_state(output, suite) or {}
        state.setdefault("suite", suite)
        state.setdefault("output", str(output))
        state.setdefault("runs", [])
        state.setdefault("models", {})
        change(state)
        state["updated"] = now()
        atomic_write_text(path, json.dumps(state, indent=1) + "\n")
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


def write_failure(output, suite: str, model: str, info: dict) -> Path:
    path = failure_path(output, suite, model)
    atomic_write_text(path, json.dumps(info, indent=1, default=str) + "\n")
    return path


def clear_failure(output, suite: str, model: str) -> None:
    failure_path(output, suite, model).unlink(missing_ok=True)


def failed_models(output, suite: str) -> dict[str, dict]:
    """{model: failure info} of the failures/ folder."""
    out = {}
    folder = failures_dir(output, suite)
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            info = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(info, dict) and info.get("model"):
            out[str(info["model"])] = info
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
