"""Small numeric helpers shared by the engine, the store, ranking, the report and the data commands."""
from __future__ import annotations

import math


def finite_or_none(x, lenient: bool = True) -> float | None:
    """`float(x)` when finite, else None (None, NaN, ±inf). `lenient`: anything `float()` refuses
    is None too; otherwise it raises, as `float()` does."""
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        if not lenient:
            raise
        return None
    return x if math.isfinite(x) else None


def check_int(value, what: str, minimum: int, allow_none: bool = False, maximum: int | None = None,
              why: str = ""):
    """`value` as a whole number >= minimum (<= maximum), or one QubaError line naming `what`."""
    from quba.errors import QubaError

    if value is None and allow_none:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        v = int(value.strip() if isinstance(value, str) else value)
        if isinstance(value, float) and v != value:
            raise ValueError
    except (TypeError, ValueError):
        raise QubaError(f"{what} must be a whole number >= {minimum}, got {value!r}") from None
    if v < minimum:
        raise QubaError(f"{what} must be a whole number >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise QubaError(f"{what} must be at most {maximum}, got {v}{why}")
    return v
