"""Known-answer check of the mini zoo: does each variant have the property it was built for?

    python benchmarks/mini_zoo_properties.py [IDS...]

Prints, per shipped mini model, on the seed-0 QUBA-mini suite: clean accuracy,
ECE (15 bins), shape bias on cue_conflict, object focus (bg/mixed_same vs
bg/mixed_rand), FGSM and PGD-10 accuracy relative to clean (eps 8/255, first 300
val images), OOD accuracies and mean accuracy over five corruptions at severity 3.
These are local re-implementations for a quick look; the benchmark's own metrics
live in quba.metrics.
"""
from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F


def ece(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf, hit = p.max(1), p.argmax(1) == y
    idx = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    return float(sum(abs(hit[idx == b].mean() - conf[idx == b].mean()) * (idx == b).mean()
                     for b in range(bins) if (idx == b).any()))


def attack_accuracy(m, x, y, eps=8 / 255, steps=1, alpha=None, seed=0):
    """FGSM (steps=1, no random start) or PGD (L-inf, random start, step alpha)."""
    g0 = torch.Generator().manual_seed(seed)
    if steps == 1:
        d, alpha = torch.zeros_like(x), eps
    else:
        d = (torch.rand(x.shape, generator=g0) * 2 - 1) * eps
    for _ in range(steps):
        d.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(m((x + d).clamp(0, 1)), y), d)
        d = (d.detach() + alpha * g.sign()).clamp(-eps, eps)
    with torch.no_grad():
        return float((m((x + d).clamp(0, 1)).argmax(1) == y).float().mean())


def properties(model_id: str, suite) -> dict:
    from quba.zoo import mini
    from quba.zoo.mini.train import predict_logits

    m = mini.load(model_id).module

    def acc(name):
        sp = suite.split(name)
        return float((predict_logits(m, sp.images).argmax(1).numpy() == sp.labels).mean())

    val = suite.split("val")
    p = predict_logits(m, val.images).softmax(1).numpy()
    a = float((p.argmax(1) == val.labels).mean())
    cc = suite.split("cue_conflict")
    pc = predict_logits(m, cc.images).argmax(1).numpy()
    sh, tx = (pc == cc.meta["shape"]).sum(), (pc == cc.meta["texture"]).sum()
    x, y = val.images[:300].float() / 255, torch.as_tensor(val.labels[:300])
    clean = float((predict_logits(m, val.images[:300]).argmax(1) == y).float().mean())
    out = {"acc": a, "ece": ece(p, val.labels), "shape_bias": sh / max(sh + tx, 1),
           "obj_focus": 1 - (acc("bg/mixed_same") - acc("bg/mixed_rand")) / a,
           "fgsm_rel": attack_accuracy(m, x, y) / clean,
           "pgd_rel": attack_accuracy(m, x, y, steps=10, alpha=2 / 255) / clean}
    for o in ("edge", "silhouette", "sketch", "stylized", "rendition"):
        out[o] = acc("ood/" + o)
    out["corr_s3"] = float(np.mean([acc(f"corruption/{c}/3") for c in
                                    ("gaussian_noise", "defocus_blur", "fog", "contrast", "jpeg_compression")]))
    return out


def main(ids: list[str]) -> None:
    torch.set_num_threads(2)
    from quba.suites.mini import MiniSuite
    from quba.zoo import mini

    suite = MiniSuite(seed=0)
    for i in ids or mini.list_ids():
        r = mini.row(i)
        if r["task"] != "classification" or not mini.weights_path(i).exists():
            continue
        props = properties(i, suite)
        print(f"{i:24s} " + " ".join(f"{k}={v:.3f}" for k, v in props.items()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
