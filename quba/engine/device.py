"""The device, the precision and memory of a run: `--device`, `--precision`, and what an
out-of-memory error looks like (CUDA or CPU) and how much memory is free.

Split out of quba/engine/runner.py (issue 20.5); `quba.engine.runner` re-exports the public names.
"""
from __future__ import annotations

from quba.errors import QubaError


def resolve_device(spec: str = "auto"):
    """'auto' | 'cpu' | 'cuda' | 'cuda:i' -> torch.device; QubaError if unusable."""
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        idx = spec[5:] if spec.startswith("cuda:") else "0"
        if not idx.isdigit():
            raise QubaError(f"bad device {spec!r}; use auto, cpu, cuda or cuda:<index>")
        if not torch.cuda.is_available():
            raise QubaError(f"device {spec!r} asked for, but no CUDA device is available; use --device cpu")
        if int(idx) >= torch.cuda.device_count():
            raise QubaError(f"device {spec!r} does not exist ({torch.cuda.device_count()} CUDA device(s)); "
                            f"use cuda:0..cuda:{torch.cuda.device_count() - 1}")
        return torch.device(f"cuda:{idx}")
    raise QubaError(f"bad device {spec!r}; use auto, cpu, cuda or cuda:<index>")


PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str | None, device) -> str:
    """'auto' (bf16 autocast on CUDA, fp32 elsewhere) | 'fp32' | 'bf16' -> 'fp32' or 'bf16'."""
    p = (precision or "auto").strip().lower()
    if p not in PRECISIONS:
        raise QubaError(f"bad precision {precision!r}; use auto (bf16 on CUDA, fp32 on CPU), fp32 or bf16")
    if p == "auto":
        return "bf16" if getattr(device, "type", str(device)) == "cuda" else "fp32"
    return p


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocator's out-of-memory error (CUDA or CPU)."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    msg = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        isinstance(exc, MemoryError) or "out of memory" in msg or "can't allocate memory" in msg
        or "failed to allocate" in msg)


def release_memory(device) -> None:
    import gc

    gc.collect()
    if getattr(device, "type", "") == "cuda":
        import torch

        torch.cuda.empty_cache()


def free_bytes(device) -> int:
    """Memory an attack may use: half the free CUDA memory, or half the available RAM."""
    import os

    if getattr(device, "type", "") == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.5)
    except (ValueError, OSError, AttributeError):
        return 4 << 30
