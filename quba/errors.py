"""One error type for bad input: the CLI prints its message as one line and exits 2."""
import contextlib


class QubaError(ValueError):
    """Bad input or an unmet precondition the user can fix (a ValueError, so callers that catch
    ValueError for bad arguments catch it too).

    The message is a single line saying what was wrong and what to do.
    """

    exit_code = 2


class ModelOutOfMemory(QubaError):
    """The model ran out of (accelerator) memory: a one-line error that a sweep may retry at a
    smaller batch size."""


def closest(name: str, choices, n: int = 3) -> str:
    """A ' (did you mean: a, b?)' hint for an unknown name, or ''."""
    import difflib

    choices = list(choices)
    lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.5)
    if not hits:
        return ""
    return " (did you mean: " + ", ".join(lower[h] for h in hits) + "?)"


# ------------------------------------------------------------------ a model's KeyboardInterrupt / sys.exit
_SIGINT_SEEN = False


def _note_sigint(signum, frame):
    global _SIGINT_SEEN
    _SIGINT_SEEN = True
    import signal

    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt, as without this handler


@contextlib.contextmanager
def interrupts_watched():
    """While inside, remember every real Ctrl-C (SIGINT) before it becomes a KeyboardInterrupt, so
    that one a model's own code raises can be told apart (`real_interrupt`). Used by the CLI and by
    sweep tasks; only in the main thread and only over Python's default handler (a notebook's own
    handler is left alone); the previous handler is back afterwards."""
    import signal
    import threading

    global _SIGINT_SEEN
    install = threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if install:
        _SIGINT_SEEN = False
        signal.signal(signal.SIGINT, _note_sigint)
    try:
        yield
    finally:
        if install:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def real_interrupt() -> bool:
    """Whether a KeyboardInterrupt may be the user's Ctrl-C: one was seen, or SIGINTs are not being
    watched here (then it must be treated as one) — unless SIGINT is ignored (a process started in
    the background by a script, or under ``nohup ... &``): then no Ctrl-C can become a
    KeyboardInterrupt, and one raised is the model's own."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    if handler is signal.SIG_IGN:
        return False
    return _SIGINT_SEEN or handler is not _note_sigint


def model_exit_error(exc: BaseException, who: str, where: str) -> QubaError | None:
    """The one-line error for a SystemExit, or a KeyboardInterrupt that is no Ctrl-C, raised by a
    model's own code (`who`: "model 'x'", `where`: "the forward pass on ..."); None for anything
    else (a real Ctrl-C goes on stopping quba)."""
    if isinstance(exc, SystemExit):
        return QubaError(f"{who} called sys.exit({exc.code!r}) in {where}; a model must return logits, not exit "
                         "(nothing was recorded for it)")
    if isinstance(exc, KeyboardInterrupt) and not real_interrupt():
        return QubaError(f"{who} raised KeyboardInterrupt in {where} (no Ctrl-C was pressed); fix the model "
                         "(nothing was recorded for it)")
    return None
