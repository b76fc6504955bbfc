"""Certified segmentation by randomized smoothing, flat and adaptive-hierarchical.

Pure functions over counts and label maps (numpy in, numbers out). The noise
sampling that produces the counts lives in `quba.dimensions.certify`.

Flat certification follows SegCertify (Fischer, Baader & Vechev, "Scalable
Certified Segmentation via Randomized Smoothing", ICML 2021, Alg. 1): per
pixel, the mode ĉ of n0 noisy predictions; the count k of ĉ among n further
noisy predictions; the one-sided binomial test of H0: p_ĉ ≤ τ,

    pvalue = P[Binom(n, τ) ≥ k],

corrected over the pixels of one image (Holm or Bonferroni, family-wise error
α); a pixel whose test does not reject abstains. A certified pixel keeps ĉ
under every L2 perturbation of the input of norm < R = σ Φ⁻¹(τ).

The adaptive variant follows Anani, Lorenz, Schiele & Fritz, "Adaptive
Hierarchical Certification for Segmentation using Randomized Smoothing"
(ICML 2024, Sec. 4): the top-1 minus top-2 margin of the mean softmax over the
n0 samples selects a hierarchy level per pixel through thresholds; the n0 and
n predictions (and the label) are mapped to that level's nodes before the
mode, the count and the test. Its score is the certified information gain

    CIG = Σ_{certified, correct pixels} (log K − log |leaves(node)|)
          / (#non-ignored pixels · log K)            ∈ [0, 1],

with K fine classes: a pixel certified at a fine class gains log K, one
certified at a node covering all classes gains 0. When every pixel stays at
the fine level CIG is the certified pixel accuracy. cCIG averages the same
ratio per ground-truth class (Anani et al., Sec. 5.1).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from quba.errors import QubaError

CORRECTIONS = ("holm", "bonferroni")


# --------------------------------------------------------------------------- hierarchy
@dataclass
class Hierarchy:
    """A label hierarchy over K fine classes with L levels (level 0 = fine).

    `node_of[l, c]` is the index of fine class c's node at level l;
    `node_names[l][j]` names node j of level l; `leaves[l][j]` counts the fine
    classes under node j of level l. Level 0 is the identity.
    """

    levels: list[str]
    class_names: list[str]
    node_of: np.ndarray  # int64 [L, K]
    node_names: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.node_of = np.asarray(self.node_of, dtype=np.int64)
        L, K = self.node_of.shape
        if L != len(self.levels) or K != len(self.class_names):
            raise QubaError(f"hierarchy shape {self.node_of.shape} does not match {len(self.levels)} levels "
                            f"x {len(self.class_names)} classes")
        if not np.array_equal(self.node_of[0], np.arange(K)):
            raise QubaError("hierarchy level 0 must be the fine classes themselves")
        if not self.node_names:
            self.node_names = [[f"{self.levels[l]}:{j}" for j in range(int(self.node_of[l].max()) + 1)]
                               for l in range(L)]
        self.leaves = [np.bincount(self.node_of[l], minlength=len(self.node_names[l])) for l in range(L)]

    @property
    def num_levels(self) -> int:
        return len(self.levels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def flat(cls, class_names: Sequence[str]) -> "Hierarchy":
        K = len(class_names)
        return cls(["fine"], list(class_names), np.arange(K)[None, :], [list(class_names)])

    @classmethod
    def from_parents(cls, class_names: Sequence[str], levels: Sequence[str],
                     parents: Mapping[str, Sequence[str]]) -> "Hierarchy":
        """Build from `parents[fine] = [ancestor at level 1, ancestor at level 2, ...]`.

        A class missing from `parents` (e.g. background) is its own node at
        every level. Nodes are numbered in order of first appearance.
        """
        class_names = list(class_names)
        levels = list(levels)
        if not levels:
            raise QubaError("hierarchy needs at least one level (the fine classes)")
        unknown = [c for c in parents if c not in class_names]
        if unknown:
            from quba.errors import closest
            raise QubaError(f"hierarchy names class {unknown[0]!r}{closest(unknown[0], class_names)}, "
                            f"which is not among the model's {len(class_names)} classes")
        L, K = len(levels), len(class_names)
        node_of = np.zeros((L, K), dtype=np.int64)
        node_of[0] = np.arange(K)
        names: list[list[str]] = [list(class_names)]
        for l in range(1, L):
            index: dict[str, int] = {}
            for c, cname in enumerate(class_names):
                anc = parents.get(cname)
                if anc is None:
                    node = cname  # own node at every level
                else:
                    if len(anc) < l:
                        raise QubaError(f"class {cname!r} lists {len(anc)} ancestors; the hierarchy has "
                                        f"{L - 1} levels above the fine one ({', '.join(levels[1:])})")
                    node = str(anc[l - 1])
                node_of[l, c] = index.setdefault(node, len(index))
            names.append(list(index))
        h = cls(levels, class_names, node_of, names)
        for l in range(2, L):  # nesting: a level-(l-1) node must sit in one level-l node
            for j in range(len(names[l - 1])):
                ups = np.unique(node_of[l][node_of[l - 1] == j])
                if len(ups) > 1:
                    raise QubaError(f"hierarchy is not nested: {levels[l - 1]} node {names[l - 1][j]!r} falls "
                                    f"under several {levels[l]} nodes")
        return h


def load_hierarchy_json(path: str | Path, class_names: Sequence[str]) -> Hierarchy:
    """Read a user hierarchy (JSON) over `class_names`.

    Accepted forms: {"levels": ["fine", "mid", ...], "parents": {fine: [mid, ...]}}
    or a plain mapping {fine: [ancestor, ...]} (levels named fine, level1, ...).
    This is file I/O, used by the CLI; the metric functions take a Hierarchy.
    """
    from quba.integrity import NotRegularFile, read_regular

    path = Path(path)
    try:
        data = json.loads(read_regular(path).decode("utf-8", errors="replace"))  # a named pipe: not a hang
    except NotRegularFile as exc:
        raise QubaError(f"hierarchy file {str(path)!r} is {exc.kind}, not a file; pass a JSON file") from None
    except FileNotFoundError:
        raise QubaError(f"hierarchy file {str(path)!r} does not exist; pass a JSON file mapping fine class -> ancestors")
    except json.JSONDecodeError as exc:
        raise QubaError(f"hierarchy file {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno})")
    if isinstance(data, dict) and "parents" in data:
        parents = data["parents"]
        levels = data.get("levels")
    else:
        parents = data
        levels = None
    if not isinstance(parents, dict) or not all(isinstance(v, list) for v in parents.values()):
        raise QubaError(f"hierarchy file {str(path)!r} must map each fine class to a list of ancestors")
    depth = max((len(v) for v in parents.values()), default=0)
    if levels is None:
        levels = ["fine"] + [f"level{i}" for i in range(1, depth + 1)]
    if len(levels) != depth + 1:
        raise QubaError(f"hierarchy file {str(path)!r} names {len(levels)} levels but classes list up to "
                        f"{depth} ancestors; expected {depth + 1} levels")
    return Hierarchy.from_parents(class_names, levels, parents)


# --------------------------------------------------------------------------- statistics
def binomial_pvalues(counts: np.ndarray, n: int, tau: float) -> np.ndarray:
    """One-sided binomial p-values of H0: p ≤ τ given k successes of n:
    `P[Binom(n, τ) ≥ k]` (scipy.stats.binomtest(k, n, τ, 'greater') elementwise)."""
    k = np.asarray(counts)
    if not 0.0 < tau < 1.0:
        raise QubaError(f"tau must lie in (0, 1), got {tau}")
    return stats.binom.sf(k - 1, n, tau)


def holm_reject(pvalues: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down procedure (Holm 1979): sort p ascending; reject the
    first i hypotheses while p_(j) ≤ α/(m − j) for all j < i (0-based).
    Controls the family-wise error at α. Returns a boolean mask."""
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    m = p.size
    if m == 0:
        return np.zeros(np.shape(pvalues), dtype=bool)
    order = np.argsort(p, kind="stable")
    ok = p[order] <= alpha / (m - np.arange(m))
    n_rej = m if ok.all() else int(np.argmin(ok))
    reject = np.zeros(m, dtype=bool)
    reject[order[:n_rej]] = True
    return reject.reshape(np.shape(pvalues))


def bonferroni_reject(pvalues: np.ndarray, alpha: float) -> np.ndarray:
    """Bonferroni: reject where p ≤ α/m."""
    p = np.asarray(pvalues, dtype=np.float64)
    return p <= alpha / max(p.size, 1)


def reject(pvalues: np.ndarray, alpha: float, correction: str = "holm") -> np.ndarray:
    if correction == "holm":
        return holm_reject(pvalues, alpha)
    if correction == "bonferroni":
        return bonferroni_reject(pvalues, alpha)
    raise QubaError(f"unknown correction {correction!r}; choose one of {', '.join(CORRECTIONS)}")


def clopper_pearson_lower(counts: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """One-sided (1 − α) Clopper–Pearson lower bound on a binomial proportion:
    `Beta⁻¹(α; k, n − k + 1)`, 0 for k = 0 (Cohen et al., ICML 2019, Sec. 3.2)."""
    k = np.asarray(counts, dtype=np.float64)
    out = np.zeros_like(k)
    pos = k > 0
    out[pos] = stats.beta.ppf(alpha, k[pos], n - k[pos] + 1)
    return out


def certified_radius(p_lower: np.ndarray, sigma: float) -> np.ndarray:
    """L2 radius `σ Φ⁻¹(p_lower)` (Cohen et al. 2019, Thm. 1); 0 where p_lower ≤ 1/2."""
    p = np.clip(np.asarray(p_lower, dtype=np.float64), 0.0, 1.0 - 1e-16)
    return np.where(p > 0.5, sigma * stats.norm.ppf(p), 0.0)


# --------------------------------------------------------------------------- level selection
def top2_margin(mean_probs: np.ndarray, axis: int = 0) -> np.ndarray:
    """Top-1 minus top-2 of the mean softmax along `axis` (the class axis)."""
    p = np.moveaxis(np.asarray(mean_probs, dtype=np.float64), axis, -1)
    if p.shape[-1] < 2:
        return np.ones(p.shape[:-1])
    part = np.partition(p, -2, axis=-1)
    return part[..., -1] - part[..., -2]


def select_levels(margin: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Hierarchy level per pixel from the margin: with thresholds
    t_1 ≥ t_2 ≥ … ≥ t_{L−1}, level = #{i : margin < t_i}; a margin ≥ t_1
    keeps the fine level 0, one below every threshold goes to level L − 1
    (Anani et al. 2024, Sec. 4.1, threshold function H)."""
    t = np.asarray(list(thresholds), dtype=np.float64)
    if t.size and np.any(np.diff(t) > 0):
        raise QubaError(f"hierarchy thresholds must be non-increasing (fine to coarse), got {list(thresholds)}")
    m = np.asarray(margin, dtype=np.float64)
    return (m[..., None] < t).sum(axis=-1).astype(np.int64)


# --------------------------------------------------------------------------- per-image decision
def certify_counts(counts: np.ndarray, n: int, tau: float, alpha: float,
                   correction: str = "holm", tested: np.ndarray | None = None) -> dict:
    """The per-image certificate from counts of the n0-mode among n samples.

    `counts`: int [H, W] (any shape: one image's pixels form the family);
    `tested`: optional bool mask of pixels in the family (others abstain and do
    not count towards the correction). Returns `certified` (bool), `pvalue`,
    `p_lower` (Clopper–Pearson at the Bonferroni level α/m, simultaneously
    valid over the image) and `m` (family size).
    """
    if n < 1:
        raise QubaError(f"n must be at least 1, got {n}")
    if not 0.0 < alpha < 1.0:
        raise QubaError(f"alpha must lie in (0, 1), got {alpha}")
    counts = np.asarray(counts)
    if np.any(counts < 0) or np.any(counts > n):
        raise ValueError("counts must lie in [0, n]")
    mask = np.ones(counts.shape, dtype=bool) if tested is None else np.asarray(tested, dtype=bool)
    pv = np.ones(counts.shape, dtype=np.float64)
    pv[mask] = binomial_pvalues(counts[mask], n, tau)
    certified = np.zeros(counts.shape, dtype=bool)
    certified[mask] = reject(pv[mask], alpha, correction)
    m = int(mask.sum())
    p_lower = np.zeros(counts.shape, dtype=np.float64)
    p_lower[mask] = clopper_pearson_lower(counts[mask], n, alpha / max(m, 1))
    return {"certified": certified, "pvalue": pv, "p_lower": p_lower, "m": m}


# --------------------------------------------------------------------------- summary
def information_gain(levels: np.ndarray, nodes: np.ndarray, hierarchy: Hierarchy) -> np.ndarray:
    """Per-pixel gain `log K − log |leaves(node)|` of predicting `nodes` at `levels`."""
    K = hierarchy.num_classes
    leaves = np.ones(np.shape(levels), dtype=np.float64)
    for l in range(hierarchy.num_levels):
        sel = levels == l
        leaves[sel] = hierarchy.leaves[l][nodes[sel]]
    return np.log(K) - np.log(leaves)


def summarize(pred_nodes: np.ndarray, levels: np.ndarray, certified: np.ndarray, labels: np.ndarray,
              hierarchy: Hierarchy, ignore_index: int = -1, radius: np.ndarray | None = None) -> dict:
    """Scores over a batch of certified label maps (all arrays [N, H, W] or flat).

    `pred_nodes`: certified node index at the pixel's level (ignored where not
    certified); `levels`: the level per pixel; `labels`: fine ground truth with
    `ignore_index` for pixels left out; `radius`: optional per-pixel radius.

    Returns CIG, cCIG, abstain rate, certified accuracy (correct at the pixel's
    level), per-level counts, and the mean radius over certified pixels.
    """
    labels = np.asarray(labels).ravel()
    keep = labels != ignore_index
    y = labels[keep].astype(np.int64)
    lv = np.asarray(levels).ravel()[keep].astype(np.int64)
    node = np.asarray(pred_nodes).ravel()[keep].astype(np.int64)
    cert = np.asarray(certified, dtype=bool).ravel()[keep]
    K = hierarchy.num_classes
    if y.size and (y.min() < 0 or y.max() >= K):
        raise QubaError(f"labels must lie in [0, {K}) or equal ignore_index {ignore_index}")
    N = int(y.size)
    true_node = hierarchy.node_of[lv, y]
    correct = cert & (node == true_node)
    gain = np.where(correct, information_gain(lv, np.where(cert, node, 0), hierarchy), 0.0)
    logK = np.log(K) if K > 1 else 1.0
    cig = float(gain.sum() / (N * logK)) if N else float("nan")
    per_class = {}
    for c in np.unique(y):
        sel = y == c
        per_class[hierarchy.class_names[c]] = float(gain[sel].sum() / (sel.sum() * logK))
    ccig = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    per_level = {}
    for l, name in enumerate(hierarchy.levels):
        at = cert & (lv == l)
        n_at, n_ok = int(at.sum()), int((correct & (lv == l)).sum())
        per_level[name] = {
            "selected": int((lv == l).sum()),
            "certified": n_at,
            "correct": n_ok,
            "certified_accuracy": n_ok / N if N else float("nan"),  # share of all pixels
            "precision": n_ok / n_at if n_at else float("nan"),  # correct among certified here
        }
    out = {
        "certified_information_gain": cig,
        "class_certified_information_gain": ccig,
        "abstain_rate": float(1.0 - cert.mean()) if N else float("nan"),
        "certified_accuracy": float(correct.mean()) if N else float("nan"),
        "pixels": N,
        "per_level": per_level,
        "per_class_cig": per_class,
    }
    if radius is not None:
        r = np.asarray(radius, dtype=np.float64).ravel()[keep]
        out["mean_certified_radius"] = float(r[cert].mean()) if cert.any() else 0.0
    return out


def pooled_cig(cig, pixels, sample_weight=None):
    """CIG over several images from each image's CIG_i and pixel count N_i:
    ``Σ_i w_i CIG_i N_i / Σ_i w_i N_i`` (Anani et al. 2024, Sec. 5: the information of the
    certified pixels over all pixels; count weights ``sample_weight`` [N] or [B, N], e.g. bootstrap
    draws, default 1). nan when no pixel is weighted."""
    from quba.metrics._checks import sample_weights

    c = np.asarray(cig, dtype=np.float64)
    n = np.asarray(pixels, dtype=np.float64)
    w = sample_weights(sample_weight, c.size)
    if w is None:
        w = np.ones(c.size)
    num, den = w @ (c * n), w @ n
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(out) if np.ndim(out) == 0 else out
