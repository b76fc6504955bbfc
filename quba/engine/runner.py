"""Forward passes: each requested split runs through a model once, counted and cached.

A `Runner` owns one model on one device. `outputs(request)` returns the
model's outputs on a split (clean, or under an FGSM/PGD attack), from the
on-disk cache when it is there and otherwise by running the split in batches
and caching the result. A forward pre-hook on the model counts every image
that goes through it, per request: `forward_passes` (clean splits) and
`attack_passes` (every pass an attack makes, including the final pass over the
adversarial images), so "one pass per clean image" is checked by counting, not
by assumption.

The runner's parts, one module each (issue 20.5), their public names re-exported here:
the cache key's parts (quba/engine/keys.py: stack versions, transform descriptions, attack
parameters, the stratified subset), device, precision and memory (quba/engine/device.py),
decoded batches of image folders (quba/engine/pipeline.py), attack passes
(quba/engine/attack_pass.py) and the checks on every batch's outputs (quba/engine/checks.py).
"""
from __future__ import annotations

import sys
import time

import numpy as np

from quba.dimensions import SplitRequest
from quba.engine.attack_pass import AttackPasses, choose_attack_batch
from quba.engine.cache import CachedOutputs, PredictionCache
from quba.engine.checks import OutputChecks
from quba.engine.device import PRECISIONS, is_out_of_memory, resolve_device, resolve_precision
from quba.engine.keys import ATTACK_DEFAULTS, attack_params, describe_preprocess, stack_versions, stratified_subset
from quba.engine.outputs import SplitOutputs, softmax
from quba.engine.pipeline import Pipeline
from quba.errors import QubaError

__all__ = ["Runner", "cached_outputs", "ATTACK_DEFAULTS", "PRECISIONS", "PredictionCache", "attack_params",
           "choose_attack_batch", "describe_preprocess", "is_out_of_memory", "resolve_device", "resolve_precision",
           "stack_versions", "stratified_subset"]


class Runner(AttackPasses, OutputChecks):
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
        self._pipeline = Pipeline(self, keep_decoded_bytes)
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
        `Pipeline` (quba/engine/pipeline.py): one set of DataLoader workers for all splits, and a split's decoded batches
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




    def _autocast(self):
        import contextlib

        import torch

        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


    # -- output checks (every batch: nothing wrong is ever scored or cached) -----




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


def cached_outputs(model, suite, split: str = "val", *, device="auto", batch_size: int = 256, subset=None,
                   progress: bool = True):
    """Outputs of ``model`` on ``split`` through the engine's prediction cache, and the forward
    passes it took (0 when they were cached): what `quba compare` reads. Returns (LoadedModel,
    SplitOutputs, passes)."""
    import torch

    from quba.engine import resolve_model

    loaded = resolve_model(model)
    if split not in suite.split_names():
        from quba.errors import closest

        raise QubaError(f"suite {suite.name!r} has no split {split!r}{closest(split, suite.split_names())}")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    runner = Runner(loaded, suite, device=dev, batch_size=batch_size, subset=subset,
                    progress=progress, cache=PredictionCache())
    try:
        out = runner.outputs(SplitRequest(split))
    finally:
        runner.close()
    return loaded, out, int(sum(runner.forward_passes.values()))
