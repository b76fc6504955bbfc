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
from quba.errors import QubaError

#: METRICS.md attack settings (pixel space [0, 1]).
ATTACK_DEFAULTS: dict[str, dict] = {
    "fgsm": {"eps": 8 / 255},
    "pgd": {"eps": 8 / 255, "alpha": 2 / 255, "steps": 10, "random_start": True},
}


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


#: Precisions a forward pass can run in: "auto" is bfloat16 autocast on CUDA, float32 elsewhere.
PRECISIONS = ("auto", "float32", "bfloat16")


def resolve_precision(precision: str | None, device) -> str:
    """'auto' | 'float32' | 'bfloat16' -> the precision forward passes run in on `device`."""
    p = str(precision or "auto").strip().lower()
    if p not in PRECISIONS:
        raise QubaError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if p == "auto":
        return "bfloat16" if getattr(device, "type", str(device)) == "cuda" else "float32"
    return p


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

    if request.attack in paper_protocol.ATTACKS:
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


class Runner:
    """Runs one model over requested splits of one suite, once each."""

    def __init__(self, model, suite, *, device="cpu", batch_size=256, workers=0, seed=0,
                 subset=None, strict=False, progress=True, cache: PredictionCache | None = None,
                 precision: str = "auto"):
        import torch

        self.model = model
        self.suite = suite
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.seed = int(seed)
        self.precision = resolve_precision(precision, self.device)
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
        self._fingerprint: str | None = None
        self._splits: dict = {}
        self._moved = False
        self._hook = model.module.register_forward_pre_hook(self._count)

    # -- bookkeeping -------------------------------------------------------
    def _count(self, module, args):
        if self._bucket is not None and args:
            x = args[0]
            n = int(x.shape[0]) if hasattr(x, "shape") and len(x.shape) else 1
            self._bucket[self._bucket_key] = self._bucket.get(self._bucket_key, 0) + n

    def close(self) -> None:
        self._hook.remove()

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self.model.fingerprint()
        return self._fingerprint

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
        """Everything that changes the outputs: weights, image transform, device and precision,
        suite, split, subset, attack and its parameters (the protocol among them)."""
        from quba.engine import paper_protocol

        return {
            "model_fingerprint": self.fingerprint,
            "input_size": list(self.model.input_size) if self.model.input_size else None,
            "preprocess": describe_preprocess(self.model.preprocess),
            "device": self.device.type,
            "precision": "float32" if request.attack in paper_protocol.ATTACKS else self.precision,
            "suite": self.suite.name,
            "suite_version": str(self.suite.version),
            "suite_fingerprint": self.suite.fingerprint(),
            "split": request.split,
            "subset": self.subset,
            "attack": request.attack,
            "params": attack_params(request, self.seed, self.batch_size),
        }

    # -- the work ----------------------------------------------------------
    def outputs(self, request: SplitRequest) -> SplitOutputs:
        split = self.split(request.split)
        fields = self.cache_fields(request)
        need_logits = request.outputs == "logits"
        out = self.cache.load(fields, need_logits=need_logits)
        if out is None and request.attack is not None and request.attack.startswith("paper_"):
            from quba.engine import paper_protocol

            out = paper_protocol.run(self, request, split)  # the four outputs of the authors' pipeline, cached
        elif out is None:
            out = self._run(request, split, fields)
            self.cache.save(fields, out)
        else:
            self.from_cache.append(request.key)
            if self.strict and len(out.skipped):  # cached without --strict: still an unreadable file
                raise QubaError(self._unreadable_message(split, int(out.skipped[0])))
        self.skipped[request.key] = int(len(out.skipped))
        meta = {k: np.asarray(v)[out.index] for k, v in (split.meta or {}).items()}
        return SplitOutputs(name=request.key, index=out.index, labels=out.labels, preds=out.preds,
                            decisions=out.decisions, logits=out.logits, meta=meta, decision=split.decision,
                            skipped=len(out.skipped))

    def _prepare(self):
        if not self._moved:
            self.model.module.to(self.device)
            self._moved = True
        self.model.module.eval()

    def _batches(self, split, indices: np.ndarray):
        """Yield (x on device, indices, skipped indices) batches of `indices`."""
        import torch

        images = getattr(split, "images", None)
        if images is not None and self.model.preprocess is None:  # in-memory uint8 [N,3,H,W] fast path
            if not torch.is_tensor(images):
                images = torch.from_numpy(np.ascontiguousarray(images))
            whole = len(indices) == len(images) and np.array_equal(indices, np.arange(len(images)))
            for start in range(0, len(indices), self.batch_size):
                idx = indices[start:start + self.batch_size]
                x = images[start:start + len(idx)] if whole else images[torch.from_numpy(idx)]
                yield x.to(self.device).float().div_(255.0), idx, []
            return
        from torch.utils.data import DataLoader, Subset

        dataset = split.dataset(self.model.preprocess)
        loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=self.batch_size, shuffle=False,
                            num_workers=self.workers, collate_fn=_collate,
                            pin_memory=self.device.type == "cuda")
        for x, idx, skipped in loader:
            if skipped and self.strict:
                raise QubaError(self._unreadable_message(split, skipped[0]))
            yield (None if x is None else x.to(self.device, non_blocking=True)), idx, skipped

    @staticmethod
    def _unreadable_message(split, index: int) -> str:
        paths = getattr(split, "paths", None)
        where = f"{paths[index]}" if paths is not None else f"image {index}"
        return (f"unreadable image in split {split.name!r}: {where}; fix or remove it, "
                "or drop --strict to skip and count unreadable images")

    def _autocast(self):
        import contextlib

        import torch

        if self.precision == "bfloat16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _check_eval(self, where: str) -> None:
        if self.model.module.training:
            raise QubaError(f"model {self.model.id!r} switched itself to train mode during {where}; "
                            "quba measures models in eval() mode only")

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
        try:
            for x, idx, skipped in self._batches(split, indices):
                skipped_all.extend(skipped)
                if x is not None:
                    if request.attack:
                        y = torch.as_tensor(np.asarray(split.labels)[idx], dtype=torch.long, device=self.device)
                        kwargs = {k: v for k, v in params.items() if k not in ("seed", "batch_size")}
                        if request.attack == "pgd":
                            gen = torch.Generator(device=self.device)
                            gen.manual_seed(zlib.crc32(f"{self.seed}:{request.split}:{int(idx[0])}".encode()))
                            kwargs["generator"] = gen
                        with self._autocast():
                            x = attack_fn(self.model.module, x, y, **kwargs)
                        self._check_eval(f"the {request.attack} attack on {request.split!r}")
                    with torch.inference_mode(), self._autocast():
                        z = self.model.module(x)
                    self._check_eval(f"the forward pass on {request.key!r}")
                    if not torch.is_tensor(z) or z.ndim != 2:
                        raise QubaError(f"model {self.model.id!r} must return logits [batch, classes], "
                                        f"got {type(z).__name__} {tuple(getattr(z, 'shape', ()))}")
                    z = z.float().cpu().numpy()
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
