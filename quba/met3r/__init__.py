"""MEt3R multi-view consistency of image pairs (`quba consistency`): geometry source, dense
features, z-buffered splatting.

Pipeline per pair (Asim et al., CVPR 2025, Sec. 3; metric in `quba.metrics.met3r`):

1. **Geometry** (`Geometry`): both views' point maps in view 1's camera
   frame, the intrinsics of both cameras, and `T_21` (view-1 camera coords →
   view-2 camera coords, 4x4). Sources are pluggable:
   - `known_geometry(depth1, depth2, K1, K2, T_21)`: known z-depth, intrinsics and
     relative pose (synthetic renders such as QUBA-mini's `multiview` split);
   - a learned pairwise reconstructor, any callable
     `reconstructor(view1, view2) -> Geometry` (views float [3, H, W] in
     [0, 1]); see `PairwiseReconstructor` for how DUSt3R/MASt3R plug in.
2. **Features** (`FeatureExtractor`): dense [C, H, W] features of each view at
   image size. `DinoFeatures` wraps a DINO-family timm ViT whose weights are on
   disk (never downloaded); `ProceduralFeatures` is the offline fallback.
3. **Rendering** (`splat`): each view's points, carrying their features, are
   forward-splatted into a camera with a z-buffer: a point covers the 2x2
   pixels whose centres surround its projection; per pixel the nearest depth
   wins, and among points within 3 % of that depth the one whose projection is
   closest to the pixel centre. Rendering into camera c (c = 1, 2) gives
   F1→c, F2→c and their coverage; S = 1 − cos on pixels covered by both.
   Both views go through the same renderer, so its artefacts cancel.

Pixel convention: pixel (u, v) has its centre at (u + 0.5, v + 0.5) in the
coordinates K maps to (QUBA-mini's renderer; pass `pixel_centre=0.0` for
OpenCV-style intrinsics whose pixel centres sit at integers).

Modules: `geometry` (Geometry, known depth, reconstructor plug-ins), `features` (DINO,
procedural), `render` (splatting and the score of pairs), `pairs` (view pairs from a folder or
a suite), `record` (bootstrap interval, groups, the met3r record) and `run` (the whole job behind
`quba.consistency`, which checks its arguments first). The formula is `quba.metrics.met3r`;
nothing here is the engine: MEt3R scores image pairs, not a model's outputs. The parts are
re-exported here.
"""
from __future__ import annotations

from quba.met3r.features import (DINO_DEFAULT, DinoFeatures, FeatureExtractor, ProceduralFeatures,
                                 find_dino_weights, make_features)
from quba.met3r.geometry import Geometry, PairwiseReconstructor, known_geometry, load_reconstructor, unproject
from quba.met3r.pairs import GEOMETRY_FILE, IMAGE_SUFFIXES, content_levels, load_pair_folder, suite_pairs
from quba.met3r.record import bootstrap_pairs, met3r_record, pair_groups
from quba.met3r.render import evaluate_pairs, pair_score, splat

__all__ = ["Geometry", "PairwiseReconstructor", "known_geometry", "load_reconstructor", "unproject",
           "FeatureExtractor", "ProceduralFeatures", "DinoFeatures", "DINO_DEFAULT", "find_dino_weights",
           "make_features", "splat", "pair_score", "evaluate_pairs", "IMAGE_SUFFIXES", "GEOMETRY_FILE",
           "load_pair_folder", "suite_pairs", "content_levels", "bootstrap_pairs", "pair_groups", "met3r_record"]
