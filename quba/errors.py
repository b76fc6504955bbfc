"""One error type for bad input: the CLI prints its message as one line and exits 2."""


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
