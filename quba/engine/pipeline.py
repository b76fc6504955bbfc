"""Batches of decoded, preprocessed images for a `Runner`: one set of DataLoader workers for all
image-folder splits of a suite, the last split's batches kept for the next request on it.

Split out of quba/engine/runner.py (issue 20.5).
"""
from __future__ import annotations

import numpy as np

from quba.errors import QubaError


def _collate(items):
    import torch

    valid = [(img, i) for img, i in items if img is not None]
    skipped = [int(i) for img, i in items if img is None]
    if not valid:
        return None, np.zeros(0, np.int64), skipped
    try:
        x = torch.stack([torch.as_tensor(img) for img, _ in valid])
    except RuntimeError as exc:
        raise QubaError(f"images of one batch differ in size ({exc}); the model needs a preprocess "
                        "that resizes them (LoadedModel.preprocess)") from None
    return x, np.array([int(i) for _, i in valid], dtype=np.int64), skipped


class _SplitsDataset:
    """Items of any split by key (split name, index): what the persistent workers read."""

    def __init__(self, datasets: dict):
        self.datasets = datasets

    def __getitem__(self, key):
        name, i = key
        return self.datasets[name][i]


class _Batches:
    """A batch sampler whose batches are replaced for every split (the workers stay)."""

    def __init__(self):
        self.batches: list = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _default_keep_bytes() -> int:
    """Decoded images kept for reuse by the next request on a split: 1/8 of RAM, at most 8 GiB."""
    import os

    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        ram = 8 << 30
    return int(min(ram // 8, 8 << 30))


class Pipeline:
    """Decoded, preprocessed batches of one model over the image-folder splits of a suite.

    - One DataLoader for all splits: `workers` processes started once (persistent) over a
      dataset keyed by (split, index), fed a new list of batches per split; with 0 workers the
      main process decodes, with no DataLoader at all. Forking per split cost more than the
      decoding it parallelised.
    - The last split's decoded batches are kept (as uint8 where that is exact, up to
      `keep_bytes`), so a later request on the same images — val's FGSM and PGD after its clean
      pass — decodes nothing again.
    - On CUDA: pinned host memory, each batch's copy to the device queued (non-blocking) before
      the previous batch is handed out, decoding in the workers off the critical path.
    """

    def __init__(self, runner: "Runner", keep_bytes: int | None = None):
        self.runner = runner
        self.keep_bytes = _default_keep_bytes() if keep_bytes is None else int(keep_bytes)
        self.loader = None
        self.sampler = _Batches()
        self.datasets: dict = {}
        self.kept: tuple | None = None  # (split name, indices, batch size, [(x, idx, skipped)], complete?)
        self._threads_before: int | None = None
        self.decoded = 0  # images decoded (for tests and benchmarks)

    # -- threads -----------------------------------------------------------------------
    def set_threads(self) -> None:
        """torch threads of the main process during the run: `threads` (--threads), else torch's own
        default. Measured (docs/evaluating.md#throughput): giving the main process only the cores
        the DataLoader workers leave free made `--loader-workers 2` 1.77x slower than 0 on 2 cores (the
        forward pass dominates; decoding is light), keeping all cores made it 0.99x."""
        import torch

        want = self.runner.threads
        if want is None or int(want) == torch.get_num_threads():
            return
        if self._threads_before is None:
            self._threads_before = torch.get_num_threads()
        torch.set_num_threads(int(want))

    def close(self) -> None:
        import torch

        self._shutdown()
        self.kept = None
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def _shutdown(self) -> None:
        it = getattr(self.loader, "_iterator", None) if self.loader is not None else None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        self.loader = None

    # -- batches ---------------------------------------------------------------------------
    def batches(self, split, indices: np.ndarray):
        run = self.runner
        bs = run.batch_size
        kept = self.kept
        done = 0
        if kept is not None and kept[0] == split.name and kept[2] == bs and np.array_equal(kept[1], indices):
            for x, idx, skipped in kept[3]:
                yield self._device(self._unpack(x)), idx, skipped
                done += len(idx) + len(skipped)
            if kept[4]:
                return
            rest = indices[done:]
            keep = None
        else:
            rest = indices
            keep = []
            self.kept = (split.name, indices.copy(), bs, keep, False)
        held = sum(self._nbytes(b[0]) for b in keep) if keep is not None else 0
        pending = None
        for x, idx, skipped in self._decoded(split, rest, bs):
            self.decoded += len(idx)
            if keep is not None:
                packed = self._pack(x)
                size = self._nbytes(packed)
                if held + size <= self.keep_bytes:
                    keep.append((packed, idx, skipped))
                    held += size
                else:
                    keep = None  # the rest is decoded again next time
            x = None if x is None else self._device(x)
            if pending is not None:
                yield pending
            pending = (x, idx, skipped)
        if pending is not None:
            yield pending
        if keep is not None:
            self.kept = (split.name, indices.copy(), bs, keep, True)

    def _decoded(self, split, indices: np.ndarray, bs: int):
        """(x on the host, idx, skipped) batches, in order, of `indices` (batch-aligned)."""
        run = self.runner
        ds = self.datasets.get(split.name)
        if ds is None:
            ds = self.datasets[split.name] = split.dataset(run.model.preprocess)
            self._shutdown()  # the workers know the datasets they were started with
        chunks = [indices[i:i + bs].tolist() for i in range(0, len(indices), bs)]
        pin = run.device.type == "cuda"
        if run.workers == 0:
            for chunk in chunks:
                x, idx, skipped = _collate([ds[i] for i in chunk])
                yield (x.pin_memory() if pin and x is not None else x), idx, skipped
            return
        if self.loader is None:
            from torch.utils.data import DataLoader

            for name in run._splits:  # every split this runner was handed: one start for all
                if name not in self.datasets:
                    self.datasets[name] = run._splits[name].dataset(run.model.preprocess)
            self.loader = DataLoader(_SplitsDataset(self.datasets), batch_sampler=self.sampler,
                                     num_workers=run.workers, collate_fn=_collate, pin_memory=pin,
                                     persistent_workers=True,
                                     worker_init_fn=_worker_init)
        name = split.name
        self.sampler.batches = [[(name, i) for i in chunk] for chunk in chunks]
        yield from self.loader

    def _device(self, x):
        return x if x is None else self.runner._to_device(x.to(self.runner.device, non_blocking=True))

    @staticmethod
    def _pack(x):
        """uint8 when that gives back exactly the same floats (ToTensor output), else a copy."""
        import torch

        if x is None:
            return None
        if x.dtype == torch.float32:
            q = (x * 255.0).round_().clamp_(0, 255).to(torch.uint8)
            if torch.equal(q.float().div_(255.0), x):
                return q
        return x.clone()

    @staticmethod
    def _unpack(x):
        import torch

        if x is None:
            return None
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.clone()

    @staticmethod
    def _nbytes(x) -> int:
        return 0 if x is None else x.numel() * x.element_size()


def _worker_init(_worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)
