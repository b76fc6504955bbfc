"""QUBA-mini's split builders: what the suite is made of (sizes, contrast, the split names) and the
functions that draw each split from the suite seed alone.

Every builder returns the arrays of one split: "images" uint8 [N,3,H,W] (or "view1"/"view2" for
the multiview pairs), "labels" int64 [N] and per-image metadata as "meta__<key>" arrays, which is
also the layout of the split's cache file. A split is drawn from its own generator
(`split_rng(seed, name)`), so splits can be made in any order and in any process with the same
bytes. The corruption splits (ImageNet-C applied to val) are quba/suites/mini_corrupt.py; the
suite object, its cache and its parallel generation are quba/suites/mini.py and
quba/suites/mini_cache.py; the rendering primitives are quba/suites/mini_render.py.
"""
from __future__ import annotations

import zlib

import numpy as np

from quba.suites import mini_render as R
from quba.suites.base import SplitInfo

VERSION = "2"
IMAGE_SIZE = 32
MULTIVIEW_SIZE = 64
# Classification images span the intensities [0.25, 0.75]: at full contrast the
# colour and shape cues are so far apart that eps = 8/255 (the QUBA attack budget)
# barely moves a standard model; at half contrast it is as damaging as on ImageNet.
CONTRAST = 0.5
P_TYPICAL = 0.85  # probability of the class-typical texture / background in train and val
SIZES = {
    "train_per_class": 250,
    "val_per_class": 50,
    "corruption_per_class": 20,
    "ood_per_class": 20,
    "cue_conflict_per_pair": 2,
    "bg_per_class": 25,
    "segmentation": 240,
    "multiview_per_level": 10,
}
CORRUPTIONS = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
]
SEVERITIES = [1, 2, 3, 4, 5]
OOD_NAMES = ["edge", "silhouette", "sketch", "stylized", "rendition"]
CONTENT_LEVELS = [0.05, 0.1, 0.2, 0.4]
POSE_LEVELS_DEG = [1.0, 2.0, 4.0, 8.0]
TEXTURE_MODES = ("class", "tied", "random", "scrambled")
BACKGROUND_MODES = ("class", "tied", "random")

CLASS_NAMES = tuple(R.SHAPE_NAMES)
TEXTURE_NAMES = tuple(R.TEXTURE_NAMES)
BACKGROUND_NAMES = tuple(R.BACKGROUND_NAMES)
NUM_CLASSES = len(CLASS_NAMES)


def _split_infos() -> dict[str, SplitInfo]:
    infos = [SplitInfo("train", "train"), SplitInfo("val", "clean")]
    infos += [SplitInfo.corrupted(c, s) for c in CORRUPTIONS for s in SEVERITIES]
    infos += [SplitInfo.ood(o) for o in OOD_NAMES]
    infos += [SplitInfo("cue_conflict", "cue_conflict"), SplitInfo.background("mixed_same"),
              SplitInfo.background("mixed_rand"), SplitInfo("segmentation", "segmentation"),
              SplitInfo("multiview", "multiview")]
    return {i.name: i for i in infos}


#: Every split of QUBA-mini, in the suite's order, with what it is (`MiniSuite.split_info`).
SPLITS: dict[str, SplitInfo] = _split_infos()


def split_names() -> list[str]:
    """Every split of QUBA-mini, in the suite's order."""
    return list(SPLITS)


def seed_of(*parts) -> int:
    """A stable 32-bit seed from strings/ints (crc32 of their joined text)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0xFFFFFFFF


def to_uint8_chw(imgs: np.ndarray, contrast: float | None = None) -> np.ndarray:
    """float [N,H,W,3] in [0,1] -> uint8 [N,3,H,W]. Classification images are compressed
    to the intensity range 0.5 +- CONTRAST/2 (see CONTRAST)."""
    c = CONTRAST if contrast is None else contrast
    imgs = 0.5 + (np.clip(imgs, 0, 1) - 0.5) * c
    return np.clip(np.round(imgs * 255.0), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2).copy()


def split_rng(seed: int, name: str) -> np.random.Generator:
    """The generator a split is drawn from: seeded by the suite seed and the split's name."""
    return np.random.default_rng([seed, seed_of("mini", VERSION, name)])


def build(seed: int, name: str) -> dict:
    """The arrays of split `name` of the suite with `seed` (every split but the corruption ones,
    which corrupt val's images: quba.suites.mini_corrupt.corrupt_split)."""
    if name == "train":
        return draw(SIZES["train_per_class"], split_rng(seed, name), "class", "class")
    if name == "val":
        return draw(SIZES["val_per_class"], split_rng(seed, name), "class", "class")
    info = SPLITS[name]
    if info.family == "ood":
        return ood(seed, info.variant)
    if name == "cue_conflict":
        return cue_conflict(seed)
    if info.family == "background":
        return backgrounds(seed, info.variant)
    if name == "segmentation":
        return segmentation(seed)
    if name == "multiview":
        return multiview(seed)
    raise AssertionError(name)  # pragma: no cover


def pick(rng, label: int, mode: str, n_choices: int) -> int:
    if mode == "tied":
        return label
    if mode == "random":
        return int(rng.integers(n_choices))
    return label if rng.random() < P_TYPICAL else int(rng.integers(n_choices))


def draw(per_class: int, rng, texture: str, background: str) -> dict:
    n = per_class * NUM_CLASSES
    labels = (np.arange(n) % NUM_CLASSES)[rng.permutation(n)]
    return draw_labels(labels, rng, texture, background)


def draw_labels(labels: np.ndarray, rng, texture: str, background: str) -> dict:
    S = IMAGE_SIZE
    n = len(labels)
    imgs = np.empty((n, S, S, 3), np.float32)
    masks = np.empty((n, S, S), bool)
    tex = np.empty(n, np.int64)
    bgs = np.empty(n, np.int64)
    shapes = np.empty(n, np.int64)
    poses = np.empty((n, 4), np.float32)
    for i, y in enumerate(labels):
        y = int(y)
        shape = y
        if texture == "scrambled":
            t = y
            shape = int(rng.integers(NUM_CLASSES))
        else:
            t = pick(rng, y, texture, len(TEXTURE_NAMES))
        b = pick(rng, y, background, len(BACKGROUND_NAMES))
        pose = R.random_pose(rng, S)
        alpha = R.shape_alpha(CLASS_NAMES[shape], S, *pose)
        img = R.composite(R.texture_image(t, S, rng), R.background_image(b, S, rng), alpha)
        if texture == "scrambled":  # shuffle image and mask with the same tiles
            both = R.scramble_tiles(np.concatenate([img, alpha[..., None]], axis=2), rng)
            img, alpha = both[..., :3], both[..., 3]
        imgs[i] = img + rng.normal(0, 0.015, size=img.shape)
        masks[i] = alpha >= 0.5
        tex[i], bgs[i], shapes[i], poses[i] = t, b, shape, pose
    return {"images": to_uint8_chw(imgs), "labels": np.asarray(labels, np.int64),
            "meta__mask": masks, "meta__shape": shapes, "meta__texture": tex,
            "meta__background": bgs, "meta__pose": poses}


def ood(seed: int, kind: str) -> dict:
    S = IMAGE_SIZE
    rng = split_rng(seed, "ood/" + kind)
    n = SIZES["ood_per_class"] * NUM_CLASSES
    labels = (np.arange(n) % NUM_CLASSES)[rng.permutation(n)]
    imgs = np.empty((n, S, S, 3), np.float32)
    masks = np.empty((n, S, S), bool)
    tex = np.full(n, -1, np.int64)
    bg_tex = np.full(n, -1, np.int64)
    poses = np.empty((n, 4), np.float32)
    for i, y in enumerate(labels):
        name = CLASS_NAMES[y]
        pose = R.random_pose(rng, S)
        alpha = R.shape_alpha(name, S, *pose)
        if kind == "edge":
            img = R.to_gray3(1.0 - R.edges_from_alpha(alpha))
        elif kind == "silhouette":
            img = R.to_gray3(1.0 - alpha)
        elif kind == "sketch":
            paper = rng.uniform(0.9, 0.98) + rng.normal(0, 0.015, size=(S, S))
            ink = np.zeros((S, S), np.float32)
            for _ in range(2):
                jitter = pose + np.array([*rng.normal(0, 0.4, 2), 0.0, rng.normal(0, 3)], np.float32)
                a = R.shape_alpha(name, S, *jitter, warp=R.smooth_warp(rng, 0.06))
                ink = np.maximum(ink, R.edges_from_alpha(a) * rng.uniform(0.5, 0.8))
            img = R.to_gray3(np.clip(paper - ink, 0, 1))
        elif kind == "stylized":
            j = int(rng.choice([c for c in range(NUM_CLASSES) if c != y]))
            k = int(rng.choice([c for c in range(NUM_CLASSES) if c not in (y, j)]))
            fg = R.texture_image(j, S, rng)
            bg = 0.45 * R.texture_image(k, S, rng) + 0.25
            img = R.composite(fg, bg, alpha)
            tex[i], bg_tex[i] = j, k
        elif kind == "rendition":
            paper = R.hsv(rng.uniform(0, 360), 0.15, 0.95) * np.ones((S, S, 3), np.float32)
            shadow = np.roll(alpha, (1, 1), axis=(0, 1))
            paper = R.composite(np.full((S, S, 3), 0.6, np.float32), paper, 0.6 * shadow)
            outer = R.shape_alpha(name, S, pose[0], pose[1], pose[2] * 1.15, pose[3])
            fill = R.hsv(rng.uniform(0, 360), 0.65, 0.85) * np.ones((S, S, 3), np.float32)
            img = R.composite(np.zeros((S, S, 3), np.float32), paper, outer)
            img = R.composite(fill, img, alpha)
        else:  # pragma: no cover
            raise AssertionError(kind)
        imgs[i] = img
        masks[i] = alpha >= 0.5
        poses[i] = pose
    return {"images": to_uint8_chw(imgs), "labels": labels.astype(np.int64), "meta__mask": masks,
            "meta__shape": labels.astype(np.int64), "meta__texture": tex,
            "meta__background": np.full(n, -1, np.int64), "meta__background_texture": bg_tex,
            "meta__pose": poses}


def cue_conflict(seed: int) -> dict:
    S = IMAGE_SIZE
    rng = split_rng(seed, "cue_conflict")
    C = NUM_CLASSES
    pairs = [(i, j) for i in range(C) for j in range(C) if i != j] * SIZES["cue_conflict_per_pair"]
    pairs = np.array(pairs)[rng.permutation(len(pairs))]
    n = len(pairs)
    imgs = np.empty((n, S, S, 3), np.float32)
    masks = np.empty((n, S, S), bool)
    poses = np.empty((n, 4), np.float32)
    for k, (i, j) in enumerate(pairs):
        pose = R.random_pose(rng, S)
        alpha = R.shape_alpha(CLASS_NAMES[i], S, *pose)
        img = R.composite(R.texture_image(int(j), S, rng),
                          R.background_image(R.PLAIN_BACKGROUND, S, rng), alpha)
        imgs[k] = img + rng.normal(0, 0.015, size=img.shape)
        masks[k] = alpha >= 0.5
        poses[k] = pose
    return {"images": to_uint8_chw(imgs), "labels": pairs[:, 0].astype(np.int64), "meta__mask": masks,
            "meta__shape": pairs[:, 0].astype(np.int64), "meta__texture": pairs[:, 1].astype(np.int64),
            "meta__background": np.full(n, R.PLAIN_BACKGROUND, np.int64), "meta__pose": poses}


def backgrounds(seed: int, kind: str) -> dict:
    """Same foregrounds (val-like texture) for both variants; backgrounds drawn from the
    class's own background distribution (mixed_same) or a random class's (mixed_rand)."""
    S = IMAGE_SIZE
    C = NUM_CLASSES
    fg_rng = split_rng(seed, "bg/foreground")
    n = SIZES["bg_per_class"] * C
    labels = (np.arange(n) % C)[fg_rng.permutation(n)]
    fgs, alphas, tex, poses = [], [], np.empty(n, np.int64), np.empty((n, 4), np.float32)
    for i, y in enumerate(labels):
        tex[i] = pick(fg_rng, int(y), "class", len(TEXTURE_NAMES))
        poses[i] = R.random_pose(fg_rng, S)
        alphas.append(R.shape_alpha(CLASS_NAMES[y], S, *poses[i]))
        fgs.append(R.texture_image(int(tex[i]), S, fg_rng))
    rng = split_rng(seed, "bg/" + kind)
    imgs = np.empty((n, S, S, 3), np.float32)
    bgs = np.empty(n, np.int64)
    src = np.empty(n, np.int64)
    for i, y in enumerate(labels):
        src[i] = y if kind == "mixed_same" else int(rng.integers(C))
        bgs[i] = pick(rng, int(src[i]), "class", len(BACKGROUND_NAMES))
        img = R.composite(fgs[i], R.background_image(int(bgs[i]), S, rng), alphas[i])
        imgs[i] = img + rng.normal(0, 0.015, size=img.shape)
    return {"images": to_uint8_chw(imgs), "labels": labels.astype(np.int64),
            "meta__mask": np.stack(alphas) >= 0.5, "meta__shape": labels.astype(np.int64),
            "meta__texture": tex, "meta__background": bgs, "meta__background_class": src,
            "meta__pose": poses}


def segmentation(seed: int) -> dict:
    S = IMAGE_SIZE
    C = NUM_CLASSES
    rng = split_rng(seed, "segmentation")
    n = SIZES["segmentation"]
    imgs = np.empty((n, S, S, 3), np.float32)
    segs = np.zeros((n, S, S), np.int64)
    labels = np.empty(n, np.int64)
    tex, bgs, nobj = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    poses = np.empty((n, 4), np.float32)
    for i in range(n):
        bgs[i] = int(rng.integers(len(BACKGROUND_NAMES)))
        img = R.background_image(int(bgs[i]), S, rng)
        k = int(rng.integers(1, 4))
        objs = []
        for _ in range(k):
            y = int(rng.integers(C))
            t = pick(rng, y, "class", len(TEXTURE_NAMES))
            pose = R.random_pose(rng, S, small=True)
            alpha = R.shape_alpha(CLASS_NAMES[y], S, *pose)
            img = R.composite(R.texture_image(t, S, rng), img, alpha)
            segs[i][alpha >= 0.5] = y + 1
            objs.append((y, t, pose))
        counts = [(segs[i] == y + 1).sum() for y, _, _ in objs]
        best = int(np.argmax(counts))
        labels[i], tex[i], poses[i] = objs[best][0], objs[best][1], objs[best][2]
        nobj[i] = k
        imgs[i] = img + rng.normal(0, 0.015, size=img.shape)
    return {"images": to_uint8_chw(imgs), "labels": labels, "meta__mask": segs > 0, "meta__seg": segs,
            "meta__shape": labels.copy(), "meta__texture": tex, "meta__background": bgs,
            "meta__n_objects": nobj, "meta__pose": poses}


def multiview(seed: int) -> dict:
    S = MULTIVIEW_SIZE
    rng = split_rng(seed, "multiview")
    per = SIZES["multiview_per_level"]
    plan = [("consistent", 0.0)] * (per * len(CONTENT_LEVELS))
    plan += [("content", m) for m in CONTENT_LEVELS for _ in range(per)]
    plan += [("pose", m) for m in POSE_LEVELS_DEG for _ in range(per)]
    P = len(plan)
    K = R.intrinsics(S)
    v1 = np.empty((P, S, S, 3), np.float32)
    v2 = np.empty((P, S, S, 3), np.float32)
    d1 = np.empty((P, S, S), np.float32)
    d2 = np.empty((P, S, S), np.float32)
    T = np.empty((P, 4, 4), np.float32)
    T_true = np.empty((P, 4, 4), np.float32)
    change = np.empty(P, np.float32)
    for p, (kind, mag) in enumerate(plan):
        scene = R.random_scene(rng)
        Rm = R.rotation(rng.normal(size=3), rng.uniform(2.0, 8.0))
        t = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.15, 0.15), rng.uniform(-0.3, 0.3)])
        v1[p], d1[p], _ = R.render_view(scene, K, np.eye(3), np.zeros(3), S)
        R_true, t_true, alt = Rm, t, None
        if kind == "pose":
            dR = R.rotation(rng.normal(size=3), mag)
            dt = rng.normal(size=3)
            dt = dt / np.linalg.norm(dt) * 0.02 * mag
            R_true, t_true = dR @ Rm, dR @ t + dt
        if kind == "content":
            _, _, pts2 = R.render_view(scene, K, Rm, t, S, ss=1)
            pts2 = pts2.reshape(-1, 3)
            centre = pts2[int(rng.integers(len(pts2)))]
            dist = np.linalg.norm(pts2 - centre, axis=1)
            radius = float(np.quantile(dist, mag))
            alt = {"center": centre, "radius": radius, "surface": R._surface_params(rng)}
        v2[p], d2[p], pts = R.render_view(scene, K, R_true, t_true, S, alt=alt)
        if kind == "content":
            inside = np.linalg.norm(pts.reshape(-1, 3) - alt["center"], axis=1) <= alt["radius"]
            change[p] = inside.mean()
        else:
            change[p] = mag
        T[p] = np.eye(4)
        T[p, :3, :3], T[p, :3, 3] = Rm, t
        T_true[p] = np.eye(4)
        T_true[p, :3, :3], T_true[p, :3, 3] = R_true, t_true
    kinds = np.array([k for k, _ in plan])
    return {"view1": to_uint8_chw(v1, 1.0), "view2": to_uint8_chw(v2, 1.0), "meta__depth1": d1,
            "meta__depth2": d2, "meta__K": np.repeat(K[None].astype(np.float32), P, axis=0),
            "meta__T_21": T, "meta__T_21_true": T_true, "meta__consistent": kinds == "consistent", "meta__kind": kinds,
            "meta__change": change}
