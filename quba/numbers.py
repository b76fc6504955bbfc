"""One small numeric helper shared by the engine, the store, ranking and the report."""
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
