"""Rendering for QUBA-mini: shapes, textures, backgrounds, renditions and 3D scenes.

Everything here is a pure function of its arguments and an explicit
`numpy.random.Generator`; images are float32 HWC in [0, 1] until the suite
turns them into uint8 CHW tensors.

Shapes live in a normalised frame (object roughly inside the unit disc, y
pointing down like image rows). A *pose* (centre, half-size in pixels,
rotation) maps that frame onto the pixel grid; coverage is computed by 4x4
supersampling, so masks are anti-aliased (`alpha` in [0, 1]) and the binary
foreground mask is `alpha >= 0.5`.
"""
from __future__ import annotations

import colorsys
import functools

import numpy as np

# ----------------------------------------------------------------------------
# Shapes
# ----------------------------------------------------------------------------

SHAPE_NAMES = [
    "circle", "square", "triangle", "star", "cross", "ring",
    "hexagon", "heart", "arrow", "crescent", "diamond", "ellipse",
]

# 3-level hierarchy: fine -> mid -> coarse.
SHAPE_PARENTS = {
    "circle": ["round", "curved"],
    "ellipse": ["round", "curved"],
    "ring": ["round", "curved"],
    "heart": ["organic", "curved"],
    "crescent": ["organic", "curved"],
    "square": ["convex_polygon", "straight"],
    "triangle": ["convex_polygon", "straight"],
    "hexagon": ["convex_polygon", "straight"],
    "diamond": ["convex_polygon", "straight"],
    "star": ["concave_polygon", "straight"],
    "cross": ["concave_polygon", "straight"],
    "arrow": ["concave_polygon", "straight"],
}


def _regular(n: int, r: float, start_deg: float) -> np.ndarray:
    a = np.deg2rad(start_deg + 360.0 * np.arange(n) / n)
    return np.stack([r * np.cos(a), -r * np.sin(a)], axis=1)


def _star(n: int, r_out: float, r_in: float) -> np.ndarray:
    a = np.deg2rad(90.0 + 180.0 * np.arange(2 * n) / n)
    r = np.where(np.arange(2 * n) % 2 == 0, r_out, r_in)
    return np.stack([r * np.cos(a), -r * np.sin(a)], axis=1)


_W = 0.3  # half-width of the cross arms
POLYGONS = {
    "square": np.array([[-0.75, -0.75], [0.75, -0.75], [0.75, 0.75], [-0.75, 0.75]]),
    "triangle": _regular(3, 1.0, 90.0) + np.array([0.0, 0.15]),
    "star": _star(5, 1.0, 0.42),
    "cross": np.array([[-_W, -1], [_W, -1], [_W, -_W], [1, -_W], [1, _W], [_W, _W], [_W, 1],
                       [-_W, 1], [-_W, _W], [-1, _W], [-1, -_W], [-_W, -_W]], dtype=float),
    "hexagon": _regular(6, 0.92, 0.0),
    "arrow": np.array([[-0.95, -0.24], [0.1, -0.24], [0.1, -0.62], [0.95, 0.0], [0.1, 0.62],
                       [0.1, 0.24], [-0.95, 0.24]]),
    "diamond": np.array([[0.0, -1.0], [0.55, 0.0], [0.0, 1.0], [-0.55, 0.0]]),
}


def _inside_polygon(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over points."""
    inside = np.zeros(px.shape, dtype=bool)
    n = len(poly)
    for k in range(n):
        x1, y1 = poly[k]
        x2, y2 = poly[(k + 1) % n]
        cond = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (x2 - x1) * (py - y1) / (y2 - y1) + x1
        inside ^= cond & (px < xint)
    return inside


def inside_shape(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether normalised points (x right, y down) lie inside shape `name`."""
    if name in POLYGONS:
        return _inside_polygon(x, y, POLYGONS[name])
    r2 = x * x + y * y
    if name == "circle":
        return r2 <= 0.85 ** 2
    if name == "ellipse":
        return (x / 0.98) ** 2 + (y / 0.5) ** 2 <= 1.0
    if name == "ring":
        return (r2 <= 0.95 ** 2) & (r2 >= 0.52 ** 2)
    if name == "crescent":
        return (r2 <= 0.92 ** 2) & ((x - 0.42) ** 2 + (y + 0.05) ** 2 >= 0.72 ** 2)
    if name == "heart":
        X = x * 1.18
        Y = -y * 1.18 + 0.12
        return (X * X + Y * Y - 1.0) ** 3 - X * X * Y ** 3 <= 0.0
    raise KeyError(name)


_SS = 4  # supersampling factor per axis


def shape_alpha(name: str, size: int, cx: float, cy: float, scale: float, angle_deg: float,
                warp: np.ndarray | None = None) -> np.ndarray:
    """Anti-aliased coverage [size, size] of a shape with the given pose.

    cx, cy: centre in pixels; scale: pixels per normalised unit; angle_deg:
    counter-clockwise rotation. `warp` (optional, callable (u, v) -> (du, dv)
    in normalised units) displaces the shape frame before the inside test
    (sketches). Coverage is the mean of a 4x4 subpixel grid; only pixels within
    one pixel of the boundary (where the centre test changes) are supersampled,
    the rest are fully in or out (exact for features wider than a pixel).
    """
    t = np.deg2rad(angle_deg)
    c, s = np.float32(np.cos(t)), np.float32(np.sin(t))
    cx, cy, inv = np.float32(cx), np.float32(cy), np.float32(1.0 / scale)

    def test(px, py):
        dx, dy = (px - cx) * inv, (py - cy) * inv
        # inverse rotation (image y points down, so ccw on screen is -t here)
        u = c * dx - s * dy
        v = s * dx + c * dy
        if warp is not None:
            du, dv = warp(u, v)
            u, v = u + du, v + dv
        return inside_shape(name, u, v)

    xx, yy = _grid(size)
    centre = test(xx, yy)
    p = np.pad(centre, 1, mode="edge")
    edge = np.zeros_like(centre)
    for oy in (0, 1, 2):
        for ox in (0, 1, 2):
            edge |= p[oy:oy + size, ox:ox + size] != centre
    p = np.pad(edge, 1)
    band = edge.copy()
    for oy in (0, 1, 2):
        for ox in (0, 1, 2):
            band |= p[oy:oy + size, ox:ox + size]
    alpha = centre.astype(np.float32)
    idx = np.flatnonzero(band)
    if len(idx):
        offs = _SUB_OFFSETS
        sx = xx.ravel()[idx][:, None] + offs[None, :, 0]
        sy = yy.ravel()[idx][:, None] + offs[None, :, 1]
        alpha.ravel()[idx] = test(sx, sy).mean(axis=1)
    return alpha


_o = ((np.arange(_SS) + 0.5) / _SS - 0.5).astype(np.float32)
_SUB_OFFSETS = np.stack(np.meshgrid(_o, _o, indexing="xy"), axis=-1).reshape(-1, 2)


def random_pose(rng: np.random.Generator, size: int, small: bool = False) -> np.ndarray:
    """(cx, cy, scale, angle_deg) for one object, float32."""
    if small:
        scale = rng.uniform(0.2, 0.3) * size
        cx, cy = rng.uniform(0.25 * size, 0.75 * size, size=2)
    else:
        scale = rng.uniform(0.3, 0.42) * size
        cx, cy = size / 2 + rng.uniform(-0.09, 0.09, size=2) * size
    angle = rng.uniform(-25.0, 25.0)
    return np.array([cx, cy, scale, angle], dtype=np.float32)


def smooth_warp(rng: np.random.Generator, amplitude: float):
    """A smooth random displacement field (u, v) -> (du, dv) in normalised units:
    a sum of two random low-frequency sinusoids per axis."""
    k = rng.normal(0, 2.0, size=(2, 2, 2)).astype(np.float32)
    ph = rng.uniform(0, 2 * np.pi, size=(2, 2)).astype(np.float32)
    amp = np.float32(amplitude / np.sqrt(2))

    def warp(u, v):
        du = amp * (np.sin(k[0, 0, 0] * u + k[0, 0, 1] * v + ph[0, 0]) + np.sin(k[0, 1, 0] * u + k[0, 1, 1] * v + ph[0, 1]))
        dv = amp * (np.sin(k[1, 0, 0] * u + k[1, 0, 1] * v + ph[1, 0]) + np.sin(k[1, 1, 0] * u + k[1, 1, 1] * v + ph[1, 1]))
        return du, dv

    return warp


def _upsample(coarse: np.ndarray, n: int) -> np.ndarray:
    """Bilinear upsampling of a small 2D grid to n x n."""
    h, w = coarse.shape
    y0, x0, fy, fx = _upsample_index(h, w, n)
    a = coarse[y0][:, x0]
    b = coarse[y0][:, x0 + 1]
    c = coarse[y0 + 1][:, x0]
    d = coarse[y0 + 1][:, x0 + 1]
    return ((1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * d)).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _upsample_index(h: int, w: int, n: int):
    ys = np.linspace(0, h - 1, n)
    xs = np.linspace(0, w - 1, n)
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 2)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 2)
    fy = (ys - y0)[:, None].astype(np.float32)
    fx = (xs - x0)[None, :].astype(np.float32)
    return y0, x0, fy, fx


# ----------------------------------------------------------------------------
# Textures (object fill) and backgrounds
# ----------------------------------------------------------------------------

def hsv(h_deg: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb((h_deg % 360.0) / 360.0, np.clip(s, 0, 1), np.clip(v, 0, 1)),
                    dtype=np.float32)


# name, hue (deg), saturation, pattern
TEXTURES = [
    ("red_stripes", 0, 0.9, "stripes_h"),
    ("orange_dots", 30, 0.95, "dots"),
    ("yellow_checker", 55, 0.95, "checker"),
    ("lime_zigzag", 85, 0.9, "zigzag"),
    ("green_grid", 125, 0.9, "grid"),
    ("teal_waves", 165, 0.9, "waves"),
    ("cyan_diagonal", 190, 0.9, "diagonal"),
    ("blue_rings", 222, 0.9, "rings"),
    ("indigo_speckle", 252, 0.8, "speckle"),
    ("purple_vstripes", 282, 0.85, "stripes_v"),
    ("magenta_blotches", 312, 0.9, "blotches"),
    ("pink_gradient", 342, 0.45, "gradient"),
]
TEXTURE_NAMES = [t[0] for t in TEXTURES]

BACKGROUND_NAMES = ["sky", "grass", "sand", "water", "brick", "snow", "forest", "night",
                    "desert", "wood", "gravel", "carpet", "plain"]
PLAIN_BACKGROUND = BACKGROUND_NAMES.index("plain")


@functools.lru_cache(maxsize=8)
def _grid(size: int):
    yy, xx = np.meshgrid(np.arange(size, dtype=np.float32) + 0.5, np.arange(size, dtype=np.float32) + 0.5,
                         indexing="ij")
    return xx, yy


def pattern(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A [size, size] pattern in [0, 1] with random phase/orientation jitter."""
    xx, yy = _grid(size)
    t = np.deg2rad(rng.uniform(-10, 10))
    u = np.cos(t) * xx - np.sin(t) * yy
    v = np.sin(t) * xx + np.cos(t) * yy
    period = rng.uniform(5.0, 7.0)
    ph = rng.uniform(0, 2 * np.pi)
    if kind == "stripes_h":
        return (np.sin(2 * np.pi * v / period + ph) > 0).astype(np.float32)
    if kind == "stripes_v":
        return (np.sin(2 * np.pi * u / period + ph) > 0).astype(np.float32)
    if kind == "diagonal":
        return (np.sin(2 * np.pi * (u + v) / (1.4 * period) + ph) > 0).astype(np.float32)
    if kind == "checker":
        q = period * 0.7
        o = rng.uniform(0, q, size=2)
        return ((np.floor((u + o[0]) / q) + np.floor((v + o[1]) / q)) % 2).astype(np.float32)
    if kind == "dots":
        o = rng.uniform(0, period, size=2)
        du = (u + o[0]) % period - period / 2
        dv = (v + o[1]) % period - period / 2
        return (du * du + dv * dv > (0.3 * period) ** 2).astype(np.float32)
    if kind == "grid":
        o = rng.uniform(0, period, size=2)
        lu = np.abs((u + o[0]) % period - period / 2) > 0.9
        lv = np.abs((v + o[1]) % period - period / 2) > 0.9
        return (lu & lv).astype(np.float32)
    if kind == "waves":
        return (np.sin(2 * np.pi * (v + 1.8 * np.sin(2 * np.pi * u / 10 + ph)) / period) > 0).astype(np.float32)
    if kind == "rings":
        c = rng.uniform(0, size, size=2)
        r = np.sqrt((xx - c[0]) ** 2 + (yy - c[1]) ** 2)
        return (np.sin(2 * np.pi * r / (0.8 * period) + ph) > 0).astype(np.float32)
    if kind == "zigzag":
        tri = np.abs(((u / period) + ph) % 1.0 - 0.5) * period
        return (np.sin(2 * np.pi * (v + 1.2 * tri) / period) > 0).astype(np.float32)
    if kind == "speckle":
        return (rng.random((size, size)) > 0.5).astype(np.float32)
    if kind == "blotches":
        return (_upsample(rng.normal(size=(6, 6)).astype(np.float32), size) > 0).astype(np.float32)
    if kind == "gradient":
        return np.clip((u + v) / (2 * size) + rng.uniform(-0.2, 0.2), 0, 1).astype(np.float32)
    raise KeyError(kind)


def texture_image(tex: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Texture `tex` as a float32 [size, size, 3] image."""
    _, hue, sat, kind = TEXTURES[tex]
    h = hue + rng.uniform(-6, 6)
    v_hi = rng.uniform(0.85, 1.0)
    a = hsv(h, sat, v_hi)
    b = hsv(h, sat * 0.9, v_hi * rng.uniform(0.35, 0.5))
    if kind == "gradient":
        b = hsv(h, sat, v_hi * 0.6)
    p = pattern(kind, size, rng)[..., None]
    return (p * a + (1 - p) * b).astype(np.float32)


def background_image(bg: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Background `bg` as a float32 [size, size, 3] image (muted, low contrast)."""
    name = BACKGROUND_NAMES[bg]
    xx, yy = _grid(size)
    j = rng.uniform(-0.04, 0.04)
    noise = rng.normal(0, 1, size=(size, size)).astype(np.float32)
    low = _upsample(rng.normal(0, 1, size=(5, 5)).astype(np.float32), size)

    def mix(c1, c2, p):
        p = np.clip(p, 0, 1)[..., None]
        return c1 * (1 - p) + c2 * p

    if name == "sky":
        img = mix(hsv(205, 0.5, 0.9 + j), hsv(200, 0.15, 0.98), yy / size)
    elif name == "grass":
        img = mix(hsv(100, 0.55, 0.45 + j), hsv(90, 0.6, 0.6), 0.5 + 0.25 * noise)
    elif name == "sand":
        img = mix(hsv(40, 0.3, 0.8 + j), hsv(35, 0.35, 0.7), 0.5 + 0.4 * low)
    elif name == "water":
        w = np.sin(2 * np.pi * (yy + 1.5 * np.sin(xx / 4 + rng.uniform(0, 6))) / 8)
        img = mix(hsv(215, 0.7, 0.35 + j), hsv(205, 0.6, 0.5), 0.5 + 0.5 * w)
    elif name == "brick":
        row = np.floor((yy + rng.uniform(0, 6)) / 6)
        mortar = (((yy + 0) % 6) < 1) | ((((xx + 5 * (row % 2)) % 10)) < 1)
        img = mix(hsv(10, 0.55, 0.55 + j), hsv(30, 0.1, 0.75), mortar.astype(np.float32))
    elif name == "snow":
        img = mix(hsv(210, 0.05, 0.93 + j), hsv(210, 0.1, 0.8), 0.3 + 0.2 * noise)
    elif name == "forest":
        img = mix(hsv(140, 0.6, 0.12 + j), hsv(120, 0.5, 0.35), 0.5 + 0.6 * low)
    elif name == "night":
        stars = (rng.random((size, size)) > 0.97).astype(np.float32)
        img = mix(hsv(235, 0.6, 0.12 + j), hsv(60, 0.1, 0.95), stars)
    elif name == "desert":
        img = mix(hsv(28, 0.55, 0.85 + j), hsv(15, 0.6, 0.6), np.clip((yy - size * 0.4) / (0.3 * size), 0, 1))
    elif name == "wood":
        g = np.sin(2 * np.pi * (xx + 2.0 * low) / 5 + rng.uniform(0, 6))
        img = mix(hsv(28, 0.6, 0.4 + j), hsv(30, 0.55, 0.55), 0.5 + 0.5 * g)
    elif name == "gravel":
        c = _upsample(rng.normal(size=(16, 16)).astype(np.float32), size)
        img = mix(hsv(0, 0.0, 0.35 + j), hsv(30, 0.05, 0.65), 0.5 + 0.5 * c)
    elif name == "carpet":
        ch = ((np.floor(xx / 2) + np.floor(yy / 2)) % 2)
        img = mix(hsv(275, 0.3, 0.45 + j), hsv(270, 0.3, 0.55), ch)
    elif name == "plain":
        img = mix(hsv(0, 0.0, 0.5 + j), hsv(0, 0.0, 0.55), 0.5 + 0.2 * noise)
    else:  # pragma: no cover
        raise KeyError(name)
    return np.clip(img, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------
# Composites and renditions
# ----------------------------------------------------------------------------

def composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return fg * a + bg * (1 - a)


def edges_from_alpha(alpha: np.ndarray) -> np.ndarray:
    """Outline strength in [0, 1] from an anti-aliased coverage map."""
    p = np.pad(alpha, 1, mode="edge")
    gx = p[1:-1, 2:] - p[1:-1, :-2]
    gy = p[2:, 1:-1] - p[:-2, 1:-1]
    return np.clip(np.sqrt(gx * gx + gy * gy) * 1.2, 0, 1)


def to_gray3(x: np.ndarray) -> np.ndarray:
    return np.repeat(x[..., None], 3, axis=2).astype(np.float32)


def scramble_tiles(img: np.ndarray, rng: np.random.Generator, tile: int = 8) -> np.ndarray:
    """Shuffle non-overlapping tiles (destroys global shape, keeps local texture)."""
    h, w, c = img.shape
    th, tw = h // tile, w // tile
    tiles = img.reshape(th, tile, tw, tile, c).transpose(0, 2, 1, 3, 4).reshape(th * tw, tile, tile, c)
    tiles = tiles[rng.permutation(th * tw)]
    # random 90-degree rotation per tile
    tiles = np.stack([np.rot90(t, k=int(k)) for t, k in zip(tiles, rng.integers(0, 4, size=len(tiles)))])
    return tiles.reshape(th, tw, tile, tile, c).transpose(0, 2, 1, 3, 4).reshape(h, w, c)


# ----------------------------------------------------------------------------
# Multi-view scenes: a tiny ray caster over planes and axis-aligned boxes
# ----------------------------------------------------------------------------

def intrinsics(size: int, fov_deg: float = 60.0) -> np.ndarray:
    f = size / (2 * np.tan(np.deg2rad(fov_deg) / 2))
    return np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], dtype=np.float64)


def rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    t = np.deg2rad(angle_deg)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K


def random_scene(rng: np.random.Generator) -> dict:
    """A room-like scene in camera-1 coordinates (x right, y down, z forward)."""
    wall_z = rng.uniform(7.0, 9.0)
    floor_y = rng.uniform(1.0, 1.5)
    boxes = []
    for _ in range(int(rng.integers(2, 4))):
        half = rng.uniform(0.3, 0.7, size=3)
        cz = rng.uniform(3.0, 6.0)
        cx = rng.uniform(-1.0, 1.0) * cz * 0.35
        cy = floor_y - half[1] if rng.random() < 0.7 else rng.uniform(-0.5, 0.5)
        c = np.array([cx, cy, cz])
        boxes.append((c - half, c + half))
    surfaces = [_surface_params(rng) for _ in range(2 + len(boxes))]
    return {"wall_z": wall_z, "floor_y": floor_y, "boxes": boxes, "surfaces": surfaces}


def _surface_params(rng: np.random.Generator) -> dict:
    return {
        "c1": hsv(rng.uniform(0, 360), rng.uniform(0.4, 0.9), rng.uniform(0.6, 0.95)),
        "c2": hsv(rng.uniform(0, 360), rng.uniform(0.4, 0.9), rng.uniform(0.2, 0.5)),
        "freq": rng.uniform(1.0, 3.0, size=3),
        "phase": rng.uniform(0, 2 * np.pi, size=3),
        "checker": rng.uniform(0.3, 0.8),
    }


def _surface_color(p: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Procedural texture as a function of surface coordinates (a, b) -> RGB."""
    f, ph = p["freq"], p["phase"]
    s = (np.sin(f[0] * a * 3 + ph[0]) + np.sin(f[1] * b * 3 + ph[1])
         + np.sin(f[2] * (a + b) * 2 + ph[2])) / 3
    q = p["checker"]
    ch = (np.floor(a / q) + np.floor(b / q)) % 2
    m = np.clip(0.5 + 0.35 * s + 0.3 * (ch - 0.5), 0, 1)[..., None]
    return p["c1"] * m + p["c2"] * (1 - m)


def raycast(scene: dict, origin: np.ndarray, dirs: np.ndarray, alt: dict | None = None):
    """Trace rays (origin [3], dirs [M, 3], camera-1 frame).

    Returns (rgb [M, 3], points [M, 3]). `alt` = {"center", "radius", "surface"}:
    points within `radius` of `center` take the alternative texture (content change).
    """
    M = len(dirs)
    t_best = np.full(M, np.inf)
    sid = np.full(M, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # back wall z = wall_z
        t = (scene["wall_z"] - origin[2]) / dirs[:, 2]
        ok = (t > 1e-6) & (t < t_best)
        t_best[ok], sid[ok] = t[ok], 0
        # floor y = floor_y
        t = (scene["floor_y"] - origin[1]) / dirs[:, 1]
        ok = (t > 1e-6) & (t < t_best)
        t_best[ok], sid[ok] = t[ok], 1
        for k, (lo, hi) in enumerate(scene["boxes"]):
            t1 = (lo - origin) / dirs
            t2 = (hi - origin) / dirs
            lo_t, hi_t = np.minimum(t1, t2), np.maximum(t1, t2)
            # fmax/fmin skip NaN (0/0 when a ray runs inside a slab's plane)
            tmin = np.fmax(np.fmax(lo_t[:, 0], lo_t[:, 1]), lo_t[:, 2])
            tmax = np.fmin(np.fmin(hi_t[:, 0], hi_t[:, 1]), hi_t[:, 2])
            ok = (tmax >= tmin) & (tmin > 1e-6) & (tmin < t_best)
            t_best[ok], sid[ok] = tmin[ok], 2 + k
    pts = origin + t_best[:, None] * dirs
    rgb = np.zeros((M, 3), dtype=np.float64)
    surfs = scene["surfaces"]
    m = sid == 0
    rgb[m] = _surface_color(surfs[0], pts[m, 0], pts[m, 1])
    m = sid == 1
    rgb[m] = _surface_color(surfs[1], pts[m, 0], pts[m, 2])
    for k, (lo, hi) in enumerate(scene["boxes"]):
        m = np.where(sid == 2 + k)[0]
        if len(m) == 0:
            continue
        p = pts[m]
        # which face: the coordinate closest to a slab boundary
        d = np.minimum(np.abs(p - lo), np.abs(p - hi))
        face = d.argmin(axis=1)
        a = np.where(face == 0, p[:, 1], p[:, 0])
        b = np.where(face == 2, p[:, 1], p[:, 2])
        rgb[m] = _surface_color(surfs[2 + k], a, b) * (1.0 - 0.15 * face[:, None])
    if alt is not None:
        m = np.linalg.norm(pts - alt["center"], axis=1) <= alt["radius"]
        rgb[m] = _surface_color(alt["surface"], pts[m, 0] + pts[m, 2], pts[m, 1])
    return np.clip(rgb, 0, 1), pts


def render_view(scene: dict, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: int,
                alt: dict | None = None, ss: int = 2):
    """Render the view of a camera with X_cam = R X_1 + t (X_1: camera-1 coordinates).

    Returns (rgb float32 [size, size, 3], depth float32 [size, size] (z in this
    camera), points [size, size, 3] in camera-1 coordinates of pixel centres).
    Colour is supersampled ss x ss; depth and points are at pixel centres.
    """
    Kinv = np.linalg.inv(K)
    origin = -R.T @ t

    def rays(offsets):
        uu, vv = np.meshgrid(np.arange(size) + 0.0, np.arange(size) + 0.0, indexing="xy")
        out = []
        for oy in offsets:
            for ox in offsets:
                pix = np.stack([uu + ox, vv + oy, np.ones_like(uu)], axis=-1).reshape(-1, 3)
                d_cam = pix @ Kinv.T
                out.append(d_cam @ R)  # R^T d in row form
        return out

    offs = (np.arange(ss) + 0.5) / ss
    dirs = rays(offs) + rays([0.5])
    M = size * size
    cols, pts = raycast(scene, origin, np.concatenate(dirs), alt)
    rgb = cols[: M * ss * ss].reshape(ss * ss, M, 3).mean(axis=0).reshape(size, size, 3)
    pts = pts[M * ss * ss:]
    depth = (pts @ R.T + t)[:, 2]
    return rgb.astype(np.float32), depth.reshape(size, size).astype(np.float32), pts.reshape(size, size, 3)
