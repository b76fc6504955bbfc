"""Forward passes: each requested split runs through a model once, counted and cached.

A `Runner` owns one model on one device. `outputs(request)` returns the
model's outputs on a split (clean, or under an FGSM/PGD attack), from the
on-disk cache when it is there and otherwise by running the split in batches
and caching the result. A forward pre-hook on the model counts every image
that goes through it, per request: `forward_passes` (clean splits) and
`attack_passes` (every pass an attack makes, including the final pass over the
adversarial images), so "one pass per clean image" is checked by counting, not
by assumption.
"""
from __future__ import annotations

import sys
import time
import zlib

import numpy as np

from quba.dimensions import SplitRequest
from quba.engine.cache import CachedOutputs, PredictionCache
from quba.engine.outputs import SplitOutputs, softmax
from quba.errors import ModelOutOfMemory, QubaError, model_exit_error

#: docs/metrics.md#adversarial-robustness attack settings (pixel space [0, 1]).
ATTACK_DEFAULTS: dict[str, dict] = {
    "fgsm": {"eps": 8 / 255},
    "pgd": {"eps": 8 / 255, "alpha": 2 / 255, "steps": 10, "random_start": True},
}


_STACK: dict | None = None


def stack_versions() -> dict:
    """The versions of what computes the logits (torch, torchvision, timm, open_clip, Pillow): part of
    the cache key, so an upgrade recomputes instead of serving numbers of the old stack under the new
    one's provenance."""
    global _STACK
    if _STACK is None:
        from importlib import metadata

        import torch

        out = {"torch": torch.__version__}
        for dist in ("torchvision", "timm", "open_clip_torch", "pillow"):  # from metadata: importing them is slow
            try:
                out[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                out[dist] = None
        _STACK = out
    return dict(_STACK)


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


def stratified_subset(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of a fixed, stratified subset: `per_class` images of every label
    (all of a class that has fewer), chosen by a permutation seeded by (seed,
    class) only, so splits that share labels (val and its corruptions) get the
    same images. Sorted."""
    labels = np.asarray(labels)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        perm = np.random.default_rng([seed, int(c) & 0xFFFFFFFF]).permutation(len(idx))
        chosen.append(idx[np.sort(perm[:per_class])])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def describe_preprocess(preprocess) -> str | None:
    """A stable description of a model's image transform (part of the cache key and the record):
    torchvision/timm transforms by their repr, anything else by its qualified name."""
    if preprocess is None:
        return None
    desc = getattr(preprocess, "quba_description", None)
    if desc:
        return str(desc)
    mod = type(preprocess).__module__ or ""
    if mod.startswith(("torchvision", "timm", "quba")) or hasattr(preprocess, "transforms"):
        return " ".join(repr(preprocess).split())
    return f"{mod}.{getattr(preprocess, '__qualname__', type(preprocess).__qualname__)}"


def attack_params(request: SplitRequest, seed: int, batch_size: int) -> dict:
    """The full, cache-relevant parameters of an attacked request."""
    if request.attack is None:
        return {}
    from quba.engine import paper_protocol

    if paper_protocol.is_paper(request.attack):
        return paper_protocol.params(request, seed, batch_size)
    if request.attack not in ATTACK_DEFAULTS:
        raise QubaError(f"unknown attack {request.attack!r}; known: {', '.join(ATTACK_DEFAULTS)}")
    params = {**ATTACK_DEFAULTS[request.attack], **dict(request.params)}
    if request.attack == "pgd" and params.get("random_start", True):
        # the random start is drawn per batch from (seed, batch start)
        params.update(seed=seed, batch_size=batch_size)
    return params


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


class _Pipeline:
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


class Runner:
    """Runs one model over requested splits of one suite, once each."""

    def __init__(self, model, suite, *, device="cpu", batch_size=256, workers=0, seed=0,
                 subset=None, strict=False, progress=True, cache: PredictionCache | None = None,
                 precision="auto", threads=None, attack_batch=None, keep_decoded_bytes=None,
                 fingerprints: tuple | None = None, suite_fingerprint: str | None = None):
        """fingerprints: (weights, code) of `model` and suite_fingerprint, when the caller hashed them
        already (`quba.engine.plan.Plan`); else each is hashed once, on first use."""
        import torch

        self.model = model
        self.suite = suite
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.seed = int(seed)
        self.subset = subset
        self.strict = strict
        self.progress = progress
        self.cache = cache if cache is not None else PredictionCache()
        self.forward_passes: dict[str, int] = {}
        self.attack_passes: dict[str, int] = {}
        self.from_cache: list[str] = []
        self.skipped: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._bucket: dict | None = None
        self._fingerprint, self._code_fingerprint = fingerprints or (None, None)
        self._suite_fingerprint = suite_fingerprint
        self._splits: dict = {}
        self._moved = False
        self.precision = resolve_precision(precision, self.device)
        self.threads = threads
        self.attack_batch = None if attack_batch is None else int(attack_batch)  # None: chosen by memory
        self._pipeline = _Pipeline(self, keep_decoded_bytes)
        self._hook = model.module.register_forward_pre_hook(self._count)

    # -- bookkeeping -------------------------------------------------------
    def _count(self, module, args):
        if self._bucket is not None and args:
            x = args[0]
            n = int(x.shape[0]) if hasattr(x, "shape") and len(x.shape) else 1
            self._bucket[self._bucket_key] = self._bucket.get(self._bucket_key, 0) + n

    def close(self) -> None:
        self._hook.remove()
        self._pipeline.close()

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self.model.fingerprint()
        return self._fingerprint

    @property
    def code_fingerprint(self) -> str:
        """The model's code (classes, their files, attributes, transform: quba/zoo/fingerprint.py),
        hashed once per runner like the weights."""
        if self._code_fingerprint is None:
            self._code_fingerprint = self.model.code_fingerprint()
        return self._code_fingerprint

    @property
    def suite_fingerprint(self) -> str:
        if self._suite_fingerprint is None:
            self._suite_fingerprint = self.suite.fingerprint()
        return self._suite_fingerprint

    def split(self, name: str):
        if name not in self._splits:
            self._splits[name] = self.suite.split(name)
        return self._splits[name]

    def indices(self, split) -> np.ndarray:
        n = len(split)
        if self.subset is None:
            return np.arange(n, dtype=np.int64)
        return stratified_subset(split.labels, int(self.subset))

    def cache_fields(self, request: SplitRequest) -> dict:
        """The cache key of a request's outputs on this runner (`quba.engine.plan.cache_fields`, the
        one function that makes keys; a plan hands its requests' keys to `outputs`)."""
        from quba.engine.plan import cache_fields

        return cache_fields(request, model=self.model, fingerprint=self.fingerprint,
                            code_fingerprint=self.code_fingerprint, suite=self.suite,
                            suite_fingerprint=self.suite_fingerprint, device=self.device, precision=self.precision,
                            subset=self.subset, seed=self.seed, batch_size=self.batch_size)

    # -- the work ----------------------------------------------------------
    def outputs(self, request: SplitRequest, fields: dict | None = None) -> SplitOutputs:
        """The outputs of `request`, read from or written to the cache under `fields` (a plan's key
        of the request; None: `cache_fields`)."""
        split = self.split(request.split)
        fields = self.cache_fields(request) if fields is None else fields
        need_logits = request.outputs == "logits"
        out = self.cache.load(fields, need_logits=need_logits)
        if out is None and request.attack is not None and request.attack.startswith("paper_"):
            from quba.engine import paper_protocol

            out = paper_protocol.run(self, request, split)  # every output of the authors' pipeline, cached
        elif out is None:
            out = self._run(request, split, fields)
            self.save(fields, out, request.key)
        else:
            self.from_cache.append(request.key)
            if self.strict and len(out.skipped):  # cached without --strict: still an unreadable file
                raise QubaError(self._unreadable_message(split, int(out.skipped[0])))
        self.skipped[request.key] = int(len(out.skipped))
        meta = {k: np.asarray(v)[out.index] for k, v in (split.meta or {}).items()}
        return SplitOutputs(name=request.key, index=out.index, labels=out.labels, preds=out.preds,
                            decisions=out.decisions, logits=out.logits, meta=meta, decision=split.decision,
                            skipped=len(out.skipped))

    def save(self, fields: dict, out: CachedOutputs, where: str) -> None:
        """Cache `out` once it is known to be whole (rows = images, finite logits, one class count):
        bad outputs are an error naming the model, never a cache file that poisons later runs."""
        problem = out.problem()
        if problem:
            raise QubaError(f"model {self.model.id!r} gave unusable outputs on {where!r} ({problem}); "
                            "fix the model (nothing was recorded or cached for it)")
        self.cache.save(fields, out)

    def _prepare(self):
        if not self._moved:
            with self._model_errors(f"moving it to {self.device}"):  # e.g. a module on the meta device
                self.model.module.to(self.device)
            if self.device.type == "cuda":  # faster convolutions there; CPU keeps the layout the
                import torch  # shipped (CPU) numbers were made with: its logits move at ~1e-6 otherwise

                self.model.module.to(memory_format=torch.channels_last)
            self._moved = True
        self.model.module.eval()
        self._pipeline.set_threads()

    def _batches(self, split, indices: np.ndarray):
        """Yield (x on device, indices, skipped indices) batches of `indices`.

        In-memory uint8 splits are sliced directly. Image folders go through the runner's
        `_Pipeline`: one set of DataLoader workers for all splits, and a split's decoded batches
        kept for the next request on the same images (val's FGSM and PGD reuse what its clean pass
        decoded)."""
        import torch

        images = split.images
        if images is not None and self.model.preprocess is None:  # in-memory uint8 [N,3,H,W] fast path
            if not torch.is_tensor(images):
                images = torch.from_numpy(np.ascontiguousarray(images))
            whole = len(indices) == len(images) and np.array_equal(indices, np.arange(len(images)))
            for start in range(0, len(indices), self.batch_size):
                idx = indices[start:start + self.batch_size]
                x = images[start:start + len(idx)] if whole else images[torch.from_numpy(idx)]
                yield self._to_device(x.to(self.device).float().div_(255.0)), idx, []
            return
        for x, idx, skipped in self._pipeline.batches(split, indices):
            if skipped and self.strict:
                raise QubaError(self._unreadable_message(split, skipped[0]))
            yield x, idx, skipped

    def _to_device(self, x):
        import torch

        if self.device.type == "cuda":
            x = x.to(self.device, non_blocking=True)
            return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
        return x

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
                _release_memory(self.device)
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

    @staticmethod
    def _unreadable_message(split, index: int) -> str:
        paths = split.paths
        where = f"{paths[index]}" if paths is not None else f"image {index}"
        return (f"unreadable image in split {split.name!r}: {where}; fix or remove it, "
                "or drop --strict to skip and count unreadable images")

    def _autocast(self):
        import contextlib

        import torch

        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _check_eval(self, where: str) -> None:
        if self.model.module.training:
            raise QubaError(f"model {self.model.id!r} switched itself to train mode during {where}; "
                            "quba measures models in eval() mode only")

    # -- output checks (every batch: nothing wrong is ever scored or cached) -----
    def _expected_classes(self) -> int | None:
        """Logit columns the suite's label space (or the model's zero-shot head) implies."""
        names = self.suite.class_names
        n = len(names) if names is not None else None
        return n if n else self.model.num_classes

    def _checked_logits(self, z, expected: int | None, where: str, rows: int | None = None) -> np.ndarray:
        import torch

        mid = self.model.id
        if not torch.is_tensor(z) or z.ndim != 2:
            raise QubaError(f"model {mid!r} must return logits [batch, classes], "
                            f"got {type(z).__name__} {tuple(getattr(z, 'shape', ()))} on {where}")
        if rows is not None and z.shape[0] != rows:
            raise QubaError(f"model {mid!r} returned {z.shape[0]} rows of logits for a batch of {rows} images "
                            f"on {where}; it must return one row per image (nothing was recorded or cached for it)")
        head = self.model.num_classes
        if head and z.shape[1] != head:
            raise QubaError(f"model {mid!r} returned {z.shape[1]} classes on {where}, but its classification "
                            f"head has {head}; nothing was recorded for it")
        if expected and z.shape[1] != expected:
            raise QubaError(f"model {mid!r} returned {z.shape[1]} classes on {where}, but suite "
                            f"{self.suite.name!r} has {expected}; give a model with {expected} outputs "
                            "(nothing was recorded for it)")
        z = z.float().cpu().numpy()
        if not np.isfinite(z).all():
            bad = int(np.flatnonzero(~np.isfinite(z).all(axis=1))[0])
            raise QubaError(f"model {mid!r} returned non-finite logits (NaN or inf) on {where}, row {bad}; "
                            "nothing was recorded for it")
        return z

    def _model_errors(self, where: str):
        """One QubaError line for an exception raised by the model's own code."""
        import contextlib

        mid = self.model.id

        @contextlib.contextmanager
        def guard():
            try:
                yield
            except QubaError:
                raise
            except (SystemExit, KeyboardInterrupt) as exc:  # sys.exit() in the model; its own KeyboardInterrupt
                err = model_exit_error(exc, f"model {mid!r}", where)
                if err is None:
                    raise  # a real Ctrl-C
                raise err from None
            except Exception as exc:  # noqa: BLE001 - the user's model code: any error becomes one line
                if is_out_of_memory(exc):  # its own type: `quba sweep` retries it at half the batch
                    raise ModelOutOfMemory(f"out of memory in {where} of model {mid!r}; lower --batch-size") \
                        from None
                msg = (str(exc).strip().splitlines() or [""])[0][:300]
                raise QubaError(f"model {mid!r} raised {type(exc).__name__} in {where}: {msg}; fix the model "
                                "(nothing was recorded for it)") from None
        return guard()

    def _guarded(self, batches, key: str):
        """`batches`, with an error of the model's preprocess (raised here, or in a DataLoader worker,
        which wraps it in its traceback) as one line naming the model and the split."""
        from quba.suites.base import PreprocessError

        mid, it = self.model.id, iter(batches)
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except PreprocessError as exc:
                lines = [ln for ln in str(exc).splitlines() if ln.strip()]
                what = lines[-1].split(": ", 1)[-1] if len(lines) > 1 else str(exc)  # a worker's: the last line
                raise QubaError(f"model {mid!r} on split {key!r}: {what}; fix the preprocess (nothing was "
                                "recorded for it)") from None
            except (SystemExit, KeyboardInterrupt) as exc:
                err = model_exit_error(exc, f"the preprocess of model {mid!r}", f"split {key!r}")
                if err is None:
                    raise
                raise err from None
            except QubaError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. a DataLoader worker that died (os._exit in a preprocess)
                msg = (str(exc).strip().splitlines() or [""])[0][:300]
                raise QubaError(f"model {mid!r} on split {key!r}: reading its images failed ({type(exc).__name__}: "
                                f"{msg}); check its preprocess, or run with --loader-workers 0 to see more") from None
            yield item

    def _run(self, request: SplitRequest, split, fields: dict) -> CachedOutputs:
        import torch
        from tqdm import tqdm

        self._prepare()
        indices = self.indices(split)
        keep_logits = request.outputs == "logits"
        params = fields["params"]
        if request.attack:
            from quba.engine import attacks

            attack_fn = getattr(attacks, request.attack)
        counter = self.attack_passes if request.attack else self.forward_passes
        counter.setdefault(request.key, 0)
        self._bucket, self._bucket_key = counter, request.key
        done_idx, preds, decisions, logits_all, skipped_all = [], [], [], [], []
        t0 = time.perf_counter()
        bar = tqdm(total=len(indices), desc=f"{self.model.id} {request.key}", unit="img", file=sys.stderr,
                   disable=not self.progress, leave=False, dynamic_ncols=True)
        expected = self._expected_classes()
        try:
            for batch, (x, idx, skipped) in enumerate(self._guarded(self._batches(split, indices), request.key)):
                skipped_all.extend(skipped)
                if x is not None:
                    where = f"split {request.key!r}, batch {batch} (images {int(idx[0])}..{int(idx[-1])})"
                    if request.attack:
                        with self._model_errors(f"the {request.attack} attack on {where}"):
                            x = self._attack(request, attack_fn, params, split, x, idx)
                        self._check_eval(f"the {request.attack} attack on {request.split!r}")
                    with self._model_errors(f"the forward pass on {where}"), torch.inference_mode(), \
                            self._autocast():
                        z = self.model.module(x)
                    self._check_eval(f"the forward pass on {request.key!r}")
                    z = self._checked_logits(z, expected, where, rows=len(idx))
                    p = softmax(z)
                    preds.append(z.argmax(axis=1))
                    decisions.append(np.asarray(split.decision.predict(p)))
                    if keep_logits:
                        logits_all.append(z.astype(np.float32))
                    done_idx.append(idx)
                bar.update(len(idx) + len(skipped))
        finally:
            bar.close()
            self._bucket = None
        self.seconds[request.key] = time.perf_counter() - t0
        index = np.concatenate(done_idx) if done_idx else np.zeros(0, np.int64)
        n_classes = logits_all[0].shape[1] if logits_all else 0
        return CachedOutputs(
            index=index, labels=np.asarray(split.labels)[index].astype(np.int64),
            preds=np.concatenate(preds) if preds else np.zeros(0, np.int64),
            decisions=np.concatenate(decisions) if decisions else np.zeros(0, np.int64),
            logits=(np.concatenate(logits_all) if logits_all else np.zeros((0, n_classes), np.float32))
            if keep_logits else None,
            skipped=np.asarray(sorted(skipped_all), dtype=np.int64),
            info={"passes": counter.get(request.key, 0), "seconds": self.seconds[request.key],
                  "device": str(self.device)},
        )


# -- attack batch and out-of-memory --------------------------------------------------------
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


def _release_memory(device) -> None:
    import gc

    gc.collect()
    if getattr(device, "type", "") == "cuda":
        import torch

        torch.cuda.empty_cache()


def _free_bytes(device) -> int:
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
    return int(max(1, min(batch_size, _free_bytes(device) // per_image)))
