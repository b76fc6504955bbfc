"""SegCertify driver: randomized smoothing for segmentation models, flat or adaptive.

A segmentation model takes images in [0, 1] (float, NCHW) and returns logits
[N, K, H, W] over K fine classes. For each image, `certify_segmentation`
draws Gaussian noise of std σ in [0, 1] pixel space (not clamped, as in Cohen
et al. 2019), in batches, from a generator seeded per image
(`seed * 1_000_003 + index`), and runs the two sampling phases of SegCertify
(Fischer et al., ICML 2021, Alg. 1):

1. n0 samples: per-pixel mode of the predictions (adaptive: the mean softmax's
   top-2 margin first picks each pixel's hierarchy level, and the predictions
   are mapped to that level's nodes before the mode; Anani et al., ICML 2024);
2. n further samples: per-pixel count of that mode (at the pixel's level).

The counts go to the pure functions in `quba.metrics.certification` (binomial
test against τ, Holm/Bonferroni over the image's pixels, abstain).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from quba.errors import QubaError
from quba.metrics import certification as cm

#: Default margin thresholds (fine -> coarser) per number of levels above the fine one.
DEFAULT_THRESHOLDS = {1: (0.5,), 2: (0.6, 0.3), 3: (0.7, 0.45, 0.2)}


@dataclass
class CertifyConfig:
    sigma: float = 0.25
    n0: int = 10
    n: int = 100
    tau: float = 0.75
    alpha: float = 0.001
    correction: str = "holm"
    adaptive: bool = True
    thresholds: Sequence[float] | None = None  # None: DEFAULT_THRESHOLDS for the hierarchy's depth
    batch_size: int = 32
    seed: int = 0

    def validate(self, hierarchy: cm.Hierarchy) -> tuple[float, ...]:
        if self.sigma < 0:
            raise QubaError(f"--sigma must be >= 0, got {self.sigma}")
        if self.n0 < 1 or self.n < 1:
            raise QubaError(f"--n0 and --n must be at least 1, got n0={self.n0}, n={self.n}")
        if not 0.5 <= self.tau < 1.0:
            raise QubaError(f"--tau must lie in [0.5, 1), got {self.tau}")
        if not 0.0 < self.alpha < 1.0:
            raise QubaError(f"--alpha must lie in (0, 1), got {self.alpha}")
        if self.correction not in cm.CORRECTIONS:
            raise QubaError(f"unknown correction {self.correction!r}; choose one of {', '.join(cm.CORRECTIONS)}")
        if self.batch_size < 1:
            raise QubaError(f"batch size must be at least 1, got {self.batch_size}")
        depth = hierarchy.num_levels - 1
        if not self.adaptive or depth == 0:
            return ()
        t = tuple(self.thresholds) if self.thresholds is not None else DEFAULT_THRESHOLDS.get(
            depth, tuple(np.linspace(0.7, 0.2, depth)))
        if len(t) != depth:
            raise QubaError(f"the hierarchy has {depth} levels above the fine one, so it needs {depth} "
                            f"thresholds; got {len(t)}")
        cm.select_levels(np.zeros(1), t)  # validates ordering
        return t


@dataclass
class CertifyResult:
    summary: dict
    config: dict
    per_image: list[dict] = field(default_factory=list)
    # Maps, [N, H, W]: certified node at the pixel's level, the level, certified mask, radius.
    nodes: np.ndarray | None = None
    levels: np.ndarray | None = None
    certified: np.ndarray | None = None
    radius: np.ndarray | None = None


def _to_float(img) -> "torch.Tensor":
    import torch

    t = torch.as_tensor(np.asarray(img))
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    return t.float()


def _sample(model, x, count, sigma, gen, batch_size, K, want_probs, bar):
    """Yield (argmax [b,H,W], softmax sum [K,H,W] or None) over `count` noisy copies of x."""
    import torch

    done = 0
    while done < count:
        b = min(batch_size, count - done)
        noise = torch.randn((b, *x.shape), generator=gen, dtype=torch.float32).to(x.device)
        batch = x.unsqueeze(0) + sigma * noise
        logits = model(batch).float()
        if logits.ndim != 4 or logits.shape[1] != K or logits.shape[2:] != x.shape[1:]:
            raise QubaError(f"a segmentation model must return logits [N, {K}, H, W] at input size; "
                            f"got {tuple(logits.shape)} for input {tuple(batch.shape)}")
        psum = torch.softmax(logits.double(), dim=1).sum(0).cpu() if want_probs else None
        yield logits.argmax(1).cpu(), psum
        done += b
        if bar is not None:
            bar.update(b)


def certify_image(model, image, hierarchy: cm.Hierarchy, config: CertifyConfig, thresholds, gen, bar=None,
                  device="cpu"):
    """Certify one image [3, H, W]; returns dict of maps (numpy, [H, W]) and the family size."""
    import torch

    x = _to_float(image).to(device)
    K = hierarchy.num_classes
    node_of = torch.as_tensor(hierarchy.node_of)  # [L, K]
    M = max(len(n) for n in hierarchy.node_names)  # most nodes at any level
    H, W = x.shape[1:]
    # Phase 1: n0 samples -> softmax mean (for the level) and predictions (for the mode).
    preds0 = []
    psum = torch.zeros((K, H, W), dtype=torch.float64)
    for pred, ps in _sample(model, x, config.n0, config.sigma, gen, config.batch_size, K, config.adaptive, bar):
        preds0.append(pred)
        if ps is not None:
            psum += ps
    preds0 = torch.cat(preds0)  # [n0, H, W]
    if thresholds:
        margin = cm.top2_margin((psum / config.n0).numpy(), axis=0)
        levels = torch.as_tensor(cm.select_levels(margin, thresholds))
    else:
        levels = torch.zeros((H, W), dtype=torch.long)
    nodes0 = node_of[levels.unsqueeze(0).expand_as(preds0), preds0]  # [n0, H, W]
    votes = torch.zeros((M, H, W), dtype=torch.long)
    votes.scatter_add_(0, nodes0, torch.ones_like(nodes0))
    mode = votes.argmax(0)  # [H, W]
    # Phase 2: n samples -> count of the mode at each pixel's level.
    counts = torch.zeros((H, W), dtype=torch.long)
    for pred, _ in _sample(model, x, config.n, config.sigma, gen, config.batch_size, K, False, bar):
        mapped = node_of[levels.unsqueeze(0).expand_as(pred), pred]
        counts += (mapped == mode.unsqueeze(0)).sum(0)
    dec = cm.certify_counts(counts.numpy(), config.n, config.tau, config.alpha, config.correction)
    radius = np.where(dec["certified"], cm.certified_radius(dec["p_lower"], config.sigma), 0.0)
    return {"nodes": mode.numpy(), "levels": levels.numpy(), "certified": dec["certified"],
            "counts": counts.numpy(), "radius": radius, "m": dec["m"]}


def certify_segmentation(model, images, labels, hierarchy: cm.Hierarchy, config: CertifyConfig | None = None,
                         ignore_index: int = -1, progress: bool = True, desc: str = "certify",
                         device="cpu") -> CertifyResult:
    """Certify every image of `images` ([N, 3, H, W], uint8 or float in [0, 1]) against
    `labels` ([N, H, W] fine class indices, `ignore_index` left out).

    `model` is called in eval mode under no_grad. Returns the summary of
    `quba.metrics.certification.summarize` plus the certified radius σΦ⁻¹(τ)
    that every certified pixel is guaranteed (jointly, at family-wise level α).
    """
    import torch
    from tqdm.auto import tqdm

    config = config or CertifyConfig()
    thresholds = config.validate(hierarchy)
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or labels.ndim != 3 or images.shape[0] != labels.shape[0] \
            or images.shape[2:] != labels.shape[1:]:
        raise QubaError(f"images must be [N, C, H, W] and labels [N, H, W] of the same N, H, W; got "
                        f"{images.shape} and {labels.shape}")
    was_training = model.training
    model.eval()
    N = images.shape[0]
    out = {k: [] for k in ("nodes", "levels", "certified", "radius")}
    per_image = []
    bar = tqdm(total=N * (config.n0 + config.n), desc=desc, unit="sample", disable=not progress,
               leave=False)
    try:
        with torch.no_grad():
            for i in range(N):
                gen = torch.Generator().manual_seed(int(config.seed) * 1_000_003 + i)
                r = certify_image(model, images[i], hierarchy, config, thresholds, gen, bar, device)
                for k in out:
                    out[k].append(r[k])
                s = cm.summarize(r["nodes"], r["levels"], r["certified"], labels[i], hierarchy, ignore_index)
                per_image.append({"index": i, "cig": s["certified_information_gain"], "pixels": s["pixels"],
                                  "abstain_rate": s["abstain_rate"], "certified_accuracy": s["certified_accuracy"]})
    finally:
        bar.close()
        model.train(was_training)
    maps = {k: np.stack(v) for k, v in out.items()}
    summary = cm.summarize(maps["nodes"], maps["levels"], maps["certified"], labels, hierarchy, ignore_index,
                           radius=maps["radius"])
    from scipy.stats import norm
    summary["certified_radius_tau"] = float(config.sigma * norm.ppf(config.tau))
    cfg = asdict(config)
    cfg["thresholds"] = list(thresholds)
    cfg["mode"] = "adaptive" if thresholds else "flat"
    return CertifyResult(summary=summary, config=cfg, per_image=per_image, **maps)


# --------------------------------------------------------------------------- suite helpers and engine hooks
DIMENSION = "certified_information_gain"
SPLIT = "segmentation"
BACKGROUND = "background"


def suite_hierarchy(suite, hierarchy_file=None) -> cm.Hierarchy:
    """The hierarchy over background + the suite's classes (label-map index = class index).

    From `hierarchy_file` (JSON, fine class -> ancestors) when given, else the
    suite's `hierarchy` attribute ({"levels", "parents"}), else flat. Background
    is its own node at every level.
    """
    names = [BACKGROUND, *list(suite.class_names)]
    if hierarchy_file:
        return cm.load_hierarchy_json(hierarchy_file, names)
    h = suite.hierarchy
    if h:
        return cm.Hierarchy.from_parents(names, h["levels"], h["parents"])
    return cm.Hierarchy.flat(names)


def segmentation_data(suite, images: int | None = None):
    """(images uint8 [N, 3, H, W], label maps [N, H, W]) of the suite's segmentation split."""
    if SPLIT not in suite.split_names():
        raise QubaError(f"suite {suite.name!r} has no {SPLIT!r} split (images with label maps); certification "
                        "runs on QUBA-mini's (--suite mini) or any suite that provides one")
    sp = suite.split(SPLIT)
    if "seg" not in sp.meta:
        raise QubaError(f"split {SPLIT!r} of suite {suite.name!r} carries no label maps (meta 'seg')")
    n = len(sp)
    if images is not None:
        if int(images) < 1:
            raise QubaError(f"--images must be at least 1, got {images}")
        n = min(n, int(images))
    return np.asarray(sp.images[:n]), np.asarray(sp.meta["seg"][:n])


@dataclass
class CertifyOptions(CertifyConfig):
    """The options of the certified_information_gain dimension: CertifyConfig, plus how many images
    of the segmentation split (None: all) and a hierarchy JSON file (None: the suite's). The noise
    seed defaults to the run's --seed."""

    seed: int | None = None
    images: int | None = None
    hierarchy: str | None = None


def config_of(options: CertifyOptions | None, seed: int = 0) -> CertifyConfig:
    """The CertifyConfig of the dimension's options (its noise seed: the run's `seed` unless given)."""
    o = options or CertifyOptions()
    fields = {k: getattr(o, k) for k in CertifyConfig.__dataclass_fields__}
    fields["seed"] = int(seed if o.seed is None else o.seed)
    return CertifyConfig(**fields)


def check_options(suite, options: CertifyOptions | None, seed: int = 0) -> CertifyConfig:
    """The config, validated against the suite's hierarchy and split (one QubaError line), before any work."""
    config = config_of(options, seed)
    config.validate(suite_hierarchy(suite, getattr(options, "hierarchy", None)))
    images = getattr(options, "images", None)
    if images is not None and images < 1:
        raise QubaError(f"--images must be at least 1, got {images}")
    return config


def run_for(model, suite, options: CertifyOptions | None = None, device="cpu", progress: bool = True,
            seed: int = 0) -> CertifyResult:
    """Certify a loaded model on the suite's segmentation split with the dimension's options (the
    noise seed: the run's `seed` unless the options give one)."""
    config = config_of(options, seed)
    hierarchy_file = getattr(options, "hierarchy", None)
    module = getattr(model, "module", model)
    hierarchy = suite_hierarchy(suite, hierarchy_file)
    images, labels = segmentation_data(suite, getattr(options, "images", None))
    res = certify_segmentation(module.to(device), images, labels, hierarchy, config, progress=progress,
                               desc=f"certify {getattr(model, 'id', '')}".strip(), device=device)
    res.config.update({"images": int(len(images)), "hierarchy": hierarchy_file or "suite",
                       "levels": hierarchy.levels, "classes": hierarchy.num_classes})
    return res


def hook_needs(suite, opts) -> list:
    """Engine hook: no cached classifier outputs; the split must exist and the options hold."""
    if SPLIT not in suite.split_names():
        raise QubaError(f"{DIMENSION} needs a {SPLIT!r} split, which suite {suite.name!r} does not have "
                        "(use --suite mini)")
    check_options(suite, opts.options, opts.get("seed", 0))  # bad options fail before any work
    return []


def hook_scores(ctx):
    """Scores hook: certify once; per image its CIG and pixel count (the engine caches them and
    resamples the images), the summary as details."""
    from quba.dimensions import Scores

    res = run_for(ctx.model, ctx.suite, ctx.options, device=ctx.device, progress=ctx.opts.get("progress", True),
                  seed=ctx.opts.get("seed", 0))
    s = res.summary
    info = {"class_certified_information_gain": s["class_certified_information_gain"],
            "abstain_rate": s["abstain_rate"], "certified_accuracy": s["certified_accuracy"],
            "certified_radius_tau": s["certified_radius_tau"],
            "mean_certified_radius": s.get("mean_certified_radius"),
            "per_level": s["per_level"], "pixels": s["pixels"], "config": res.config,
            "certified_information_gain": s["certified_information_gain"]}
    return Scores(values={"cig": np.array([p["cig"] for p in res.per_image], dtype=np.float64),
                          "pixels": np.array([p["pixels"] for p in res.per_image], dtype=np.float64)}, info=info)


def hook_compute(ctx):
    """CIG pooled over images, Σ_i CIG_i·N_i / Σ_i N_i (each image weighted by its pixels and, under
    the bootstrap, by how often it is drawn): `quba.metrics.certification.pooled_cig`."""
    sc = ctx.scores()
    value = cm.pooled_cig(sc.values["cig"], sc.values["pixels"], sample_weight=ctx.weight("scores"))
    if ctx.weighted:
        return value
    info = dict(sc.info)
    return {"value": info.pop("certified_information_gain"), **info}
