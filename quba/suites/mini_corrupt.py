"""QUBA-mini's corruption splits: the 15 ImageNet-C corruptions (the `imagecorruptions` package's
functions) at severities 1-5 applied to a fixed stratified subset of val, deterministically per
image (`corruption_seed`). `corrupt_one` also corrupts the ImageNet suite's generated splits
(quba/suites/imagenet.py). While a split is made, frost's photos are read once
(`_frost_file_cache`) and glass blur's numba kernel is compiled once per machine."""
from __future__ import annotations

import numpy as np

from quba.suites.mini_build import NUM_CLASSES, SIZES, seed_of


def corruption_subset(val_labels: np.ndarray) -> np.ndarray:
    """Indices into val of the fixed stratified subset that corruption splits use:
    the first `corruption_per_class` val images of each class, in val order."""
    k = SIZES["corruption_per_class"]
    return np.sort(np.concatenate([np.flatnonzero(val_labels == c)[:k] for c in range(NUM_CLASSES)]))


def corrupt_split(seed: int, images: np.ndarray, labels: np.ndarray, meta: dict, idx: np.ndarray, cname: str,
                  severity: int) -> dict:
    """The arrays of split corruption/<cname>/<severity>: val's `images` (uint8 [N,3,H,W]) at
    `idx` (`corruption_subset`'s indices) corrupted, with their `labels`, their `meta` arrays and
    "meta__val_index". numpy's global random state is restored afterwards."""
    from imagecorruptions import corrupt

    src = np.asarray(images)[idx].transpose(0, 2, 3, 1)
    out = np.empty_like(src)
    state = np.random.get_state()
    try:
        with _frost_file_cache():
            for k, i in enumerate(idx):
                s = corruption_seed(seed, cname, severity, int(i))
                out[k] = corrupt_one(src[k], cname, severity, s, corrupt)
    finally:
        np.random.set_state(state)
    arrays = {"images": out.transpose(0, 3, 1, 2).copy(), "labels": labels[idx].copy(),
              "meta__val_index": idx.astype(np.int64)}
    for k, v in meta.items():
        arrays["meta__" + k] = v[idx].copy()
    return arrays


def corruption_seed(seed: int, name: str, severity: int, index: int) -> int:
    """The numpy seed of one corruption call: crc32 of (suite seed, corruption, severity, val index)."""
    return seed_of("mini-corruption", seed, name, severity, index)


def corrupt_one(image_hwc: np.ndarray, name: str, severity: int, seed: int, corrupt=None) -> np.ndarray:
    """Apply one ImageNet-C corruption with `imagecorruptions.corrupt`, deterministically.

    Seeds numpy's global RNG with `seed` (and passes `seed` to the functions
    that take their own: glass_blur, impulse_noise) -- the caller restores the
    global state if it cares.
    """
    if corrupt is None:
        from imagecorruptions import corrupt
    np.random.seed(seed)
    kw = {"seed": seed} if name in ("glass_blur", "impulse_noise") else {}
    return corrupt(image_hwc, severity=severity, corruption_name=name, **kw)


class _CachedFrostCv2:
    """Stands in for `cv2` inside `imagecorruptions.corruptions` while a corruption split
    is generated: `imread` (the frost photos, re-read from disk on every `frost` call)
    and `resize` of those photos are memoised; everything else is cv2 itself.
    Outputs are identical to the plain package call (tested); only the disk reads go."""

    def __init__(self, cv2):
        self._cv2 = cv2
        self._read: dict = {}
        self._resized: dict = {}

    def __getattr__(self, name):
        return getattr(self._cv2, name)

    def imread(self, path, *args):
        key = (str(path), args)
        if key not in self._read:
            img = self._cv2.imread(path, *args)
            img.setflags(write=False)
            self._read[key] = img
        return self._read[key]

    def resize(self, src, dsize=None, *args, **kwargs):
        if not any(src is v for v in self._read.values()):
            return self._cv2.resize(src, dsize, *args, **kwargs)
        key = (id(src), tuple(dsize), args, tuple(sorted(kwargs.items())))
        if key not in self._resized:
            out = self._cv2.resize(src, dsize, *args, **kwargs)
            out.setflags(write=False)
            self._resized[key] = out
        return self._resized[key]


_FROST_PROXY = None


class _frost_file_cache:
    def __enter__(self):
        global _FROST_PROXY
        from imagecorruptions import corruptions as C

        self._module = C
        self._orig = C.cv2
        if _FROST_PROXY is None or _FROST_PROXY._cv2 is not self._orig:
            _FROST_PROXY = _CachedFrostCv2(self._orig)
        C.cv2 = _FROST_PROXY
        _enable_glass_blur_cache(C)
        return self

    def __exit__(self, *exc):
        self._module.cv2 = self._orig
        return False


def _enable_glass_blur_cache(module) -> None:
    """glass_blur's numba kernel takes seconds to compile in every new process; ask
    numba to cache the compiled code on disk (same code, compiled once per machine)."""
    fn = getattr(module, "_shuffle_pixels_njit_glass_blur", None)
    if fn is None or getattr(fn, "_quba_cache_enabled", False):
        return
    try:
        fn.enable_caching()
        fn._quba_cache_enabled = True
    except Exception:  # read-only install or a numba without caching: compile in memory
        pass
