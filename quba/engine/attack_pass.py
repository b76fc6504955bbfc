"""Attack passes of a `Runner`: a batch's adversarial images, attacked in sub-batches that fit in
memory (chosen by a one-image probe, halved on out-of-memory), with PGD's random start drawn
so that the result does not depend on the sub-batch size.

Split out of quba/engine/runner.py (issue 20.5); `Runner` takes these methods from `AttackPasses`.
"""
from __future__ import annotations

import zlib

import numpy as np

from quba.dimensions import SplitRequest
from quba.engine.device import free_bytes, is_out_of_memory, release_memory
from quba.errors import QubaError


class AttackPasses:
    """The attack half of `quba.engine.runner.Runner` (a mixin: it reads the runner's model, device,
    seed, batch size, attack batch, precision and pass counter)."""

    def _attack(self, request: SplitRequest, attack_fn, params: dict, split, x, idx):
        """The adversarial images of one batch, attacked in sub-batches of `attack_batch` images
        (chosen by memory on first use; halved and retried on out-of-memory). PGD's random start
        is drawn for the whole batch from (seed, split, first image) as before and sliced, so the
        result does not depend on the sub-batch size."""
        import torch

        y = torch.as_tensor(np.asarray(split.labels)[idx], dtype=torch.long, device=self.device)
        kwargs = {k: v for k, v in params.items() if k not in ("seed", "batch_size")}
        noise = None
        if request.attack == "pgd" and kwargs.get("random_start", True):
            gen = torch.Generator(device=self.device)
            gen.manual_seed(zlib.crc32(f"{self.seed}:{request.split}:{int(idx[0])}".encode()))
            noise = torch.rand(x.shape, generator=gen, device=gen.device, dtype=torch.float32)
        if self.attack_batch is None:
            self.attack_batch = choose_attack_batch(self.model.module, x[:1], self.device, self.batch_size,
                                                    self._uncounted())
        parts, start = [], 0
        while start < len(x):
            size = min(self.attack_batch, len(x) - start)
            sub = slice(start, start + size)
            extra = {"start_noise": noise[sub]} if noise is not None else {}
            try:
                with self._autocast():
                    parts.append(attack_fn(self.model.module, x[sub], y[sub], **kwargs, **extra))
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not is_out_of_memory(exc):
                    raise
                release_memory(self.device)
                if size <= 1:
                    raise QubaError(f"out of memory attacking a single image of {request.split!r} with "
                                    f"{request.attack} on {self.device}; use a smaller model input or "
                                    "--device cpu") from None
                self.attack_batch = max(1, size // 2)
                continue
            start += size
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _uncounted(self):
        """A context in which forward passes are not counted (the attack-batch probe)."""
        import contextlib

        runner = self

        @contextlib.contextmanager
        def ctx():
            bucket, runner._bucket = runner._bucket, None
            try:
                yield
            finally:
                runner._bucket = bucket

        return ctx()


def choose_attack_batch(module, x1, device, batch_size: int, uncounted) -> int:
    """Images per attack sub-batch: what fits in half the free memory, by a one-image probe
    (a forward pass with gradients whose activations are summed by hooks; counted nowhere),
    at most `batch_size`. Out-of-memory during an attack still halves it (Runner._attack)."""
    import torch

    sizes = []

    def hook(_m, _inp, out):
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if torch.is_tensor(t):
                sizes.append(t.numel() * t.element_size())

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with uncounted, torch.enable_grad():
            module(x1.detach().clone().requires_grad_(True))
    except Exception as exc:  # noqa: BLE001
        if not is_out_of_memory(exc):
            raise
        return 1
    finally:
        for h in handles:
            h.remove()
    per_image = max(1, 3 * sum(sizes) + 3 * x1.numel() * 4)  # saved activations, their gradients, inputs
    return int(max(1, min(batch_size, free_bytes(device) // per_image)))
