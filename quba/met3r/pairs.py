"""MEt3R's inputs: view pairs from a folder (`load_pair_folder`, the layout of `quba consistency
--help`) or from a suite's multiview split (`suite_pairs`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from quba.errors import QubaError
from quba.met3r.geometry import Geometry, known_geometry


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
GEOMETRY_FILE = "geometry.npz"


def _find_view(folder: Path, stem: str) -> Path | None:
    for suf in IMAGE_SUFFIXES:
        for cand in (folder / f"{stem}{suf}", folder / f"{stem}{suf.upper()}"):
            if cand.is_file():
                return cand
    return None


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise QubaError(f"cannot read image {str(path)!r} ({exc.__class__.__name__}); replace or remove it") from None
    return arr.transpose(2, 0, 1).copy()


def _read_geometry(path: Path, shape1, shape2) -> Geometry:
    try:
        with np.load(path, allow_pickle=False) as z:
            g = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise QubaError(f"cannot read {str(path)!r} as .npz ({exc.__class__.__name__}); see 'quba consistency "
                        "--help' for its arrays") from None
    missing = [k for k in ("depth1", "depth2", "T_21") if k not in g]
    if "K" not in g and not ("K1" in g and "K2" in g):
        missing.append("K (or K1 and K2)")
    if missing:
        raise QubaError(f"{str(path)!r} lacks {', '.join(missing)}; it needs depth1, depth2, K (or K1, K2), T_21")
    K1 = g.get("K1", g.get("K"))
    K2 = g.get("K2", g.get("K"))
    for name, d, shape in (("depth1", g["depth1"], shape1), ("depth2", g["depth2"], shape2)):
        if d.shape != tuple(shape):
            raise QubaError(f"{str(path)!r}: {name} has shape {d.shape} but its view is {tuple(shape)}")
    centre = float(g["pixel_centre"]) if "pixel_centre" in g else 0.5
    return known_geometry(g["depth1"], g["depth2"], K1, K2, g["T_21"], pixel_centre=centre)


def load_pair_folder(root, need_geometry: bool = True):
    """Pairs from a folder: one subfolder per pair (sorted by name) holding
    `view1.<ext>`, `view2.<ext>` and, for the known-geometry source,
    `geometry.npz` (depth1 [H1,W1], depth2 [H2,W2] z-depth, K [3,3] or K1/K2,
    T_21 [4,4] camera-1 -> camera-2, optional pixel_centre).

    Returns (ids, views1 list of uint8 [3,H,W], views2, geometries or None).
    """
    root = Path(root)
    if not root.is_dir():
        raise QubaError(f"pairs folder {str(root)!r} does not exist; give a folder of pair subfolders or 'mini'")
    ids, v1s, v2s, geos = [], [], [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        a, b = _find_view(sub, "view1"), _find_view(sub, "view2")
        if a is None and b is None:
            continue
        if a is None or b is None:
            raise QubaError(f"pair {sub.name!r} has {'view1' if a else 'view2'} but no "
                            f"{'view2' if a else 'view1'} image")
        v1, v2 = _read_image(a), _read_image(b)
        ids.append(sub.name)
        v1s.append(v1)
        v2s.append(v2)
        if need_geometry:
            gfile = sub / GEOMETRY_FILE
            if not gfile.is_file():
                raise QubaError(f"pair {sub.name!r} has no {GEOMETRY_FILE}; add depth/intrinsics/pose or use a "
                                "learned reconstructor (--geometry module:factory)")
            geos.append(_read_geometry(gfile, v1.shape[1:], v2.shape[1:]))
    if not ids:
        raise QubaError(f"no pairs in {str(root)!r}: expected subfolders with view1.png and view2.png")
    return ids, v1s, v2s, (geos if need_geometry else None)


def suite_pairs(suite: str, seed: int = 0):
    """A suite's multiview split as (ids, view1 uint8 [P,3,H,W], view2, geometries, meta)."""
    from quba.suites import load_suite

    suite_obj = load_suite(suite, seed=seed)
    if "multiview" not in suite_obj.split_names():
        raise QubaError(f"suite {suite!r} has no multiview split; give a folder of pairs")
    sp = suite_obj.split("multiview")
    m = sp.meta
    v1, v2 = np.asarray(sp.view1), np.asarray(sp.view2)
    geos = [known_geometry(m["depth1"][i], m["depth2"][i], m["K"][i], m["K"][i], m["T_21"][i])
            for i in range(len(v1))]
    ids = [f"{suite}-{i:03d}" for i in range(len(v1))]
    return ids, v1, v2, geos, m


def content_levels(suite: str) -> tuple:
    """The target content-change levels of a suite's multiview pairs (empty if it declares none)."""
    from quba.suites import load_suite

    return tuple(load_suite(suite).content_levels)
