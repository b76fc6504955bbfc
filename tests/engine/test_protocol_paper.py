"""`--protocol paper` (issue 10.1): the QUBA authors' adversarial pipeline, image for image.

The reference below re-implements the authors' code path as written in visinf/beyond-accuracy
(`helper/models/model_wrappers.py` AbstractModel, `helper/benchmarks.py:test_adversarial_robustness`,
`eval.py:benchmark`) with torchattacks 3.5.1's Attack.__call__, PGD and FGSM, object for object:
a wrapper whose eval()/train() bypass nn.Module's (so its own `training` stays True), attacks that
switch it to eval and "restore" train, clean and adversarial passes after each attack, PGD then FGSM.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats.mstats import gmean
from torch import nn

import quba
from quba.dimensions import SplitRequest
from quba.engine.cache import PredictionCache
from quba.engine.runner import Runner
from quba.suites import load_suite
from quba.zoo import load_model

SUBSET, BATCH, SEED = 6, 24, 3


# ---------------------------------------------------------------- the authors' code path, re-implemented
class AbstractModel(nn.Module):
    """helper/models/model_wrappers.py: eval()/train() reach only the inner model."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def __call__(self, input):
        return self.model(input)

    def eval(self):
        self.model.eval()

    def train(self):
        self.model.train()


class Attack:
    """torchattacks 3.5.1 Attack.__call__ (default: model_training False, no normalisation set)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, inputs, labels):
        given_training = self.model.training
        self.model.eval()  # _change_model_mode
        adv = self.forward(inputs, labels)
        if given_training:  # _recover_model_mode
            self.model.train()
        return adv


class PGD(Attack):
    def __init__(self, model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True):
        super().__init__(model)
        self.eps, self.alpha, self.steps, self.random_start = eps, alpha, steps, random_start

    def forward(self, images, labels):
        images = images.clone().detach()
        labels = labels.clone().detach()
        loss = nn.CrossEntropyLoss()
        adv_images = images.clone().detach()
        if self.random_start:
            adv_images = adv_images + torch.empty_like(adv_images).uniform_(-self.eps, self.eps)
            adv_images = torch.clamp(adv_images, min=0, max=1).detach()
        for _ in range(self.steps):
            adv_images.requires_grad = True
            cost = loss(self.model(adv_images), labels)
            grad = torch.autograd.grad(cost, adv_images, retain_graph=False, create_graph=False)[0]
            adv_images = adv_images.detach() + self.alpha * grad.sign()
            delta = torch.clamp(adv_images - images, min=-self.eps, max=self.eps)
            adv_images = torch.clamp(images + delta, min=0, max=1).detach()
        return adv_images


class FGSM(Attack):
    def __init__(self, model, eps=8 / 255):
        super().__init__(model)
        self.eps = eps

    def forward(self, images, labels):
        images = images.clone().detach()
        labels = labels.clone().detach()
        images.requires_grad = True
        cost = nn.CrossEntropyLoss()(self.model(images), labels)
        grad = torch.autograd.grad(cost, images, retain_graph=False, create_graph=False)[0]
        return torch.clamp(images + self.eps * grad.sign(), min=0, max=1).detach()


def authors_adversarial_robustness(model, loader, attack):
    """helper/benchmarks.py:test_adversarial_robustness, also returning the per-image predictions."""
    chosen = PGD(model) if attack == "PGD" else FGSM(model, eps=8 / 255)
    correct = correct_corr = total = 0
    clean_preds, adv_preds = [], []
    for input, target in loader:
        input.requires_grad = True
        adv_inputs = chosen(input, target)
        outputs = model(input)
        correct += torch.eq(outputs.argmax(1), target).sum().item()
        outputs_corr = model(adv_inputs)
        correct_corr += torch.eq(outputs_corr.argmax(1), target).sum().item()
        total += target.size(0)
        clean_preds.append(outputs.argmax(1).numpy())
        adv_preds.append(outputs_corr.argmax(1).numpy())
    return correct_corr / total / (correct / total), np.concatenate(clean_preds), np.concatenate(adv_preds)


class Normalised(nn.Module):
    """The network the authors' wrapper holds: it takes the transform's normalised tensors."""

    def __init__(self, mini):
        super().__init__()
        self.mini = mini

    def forward(self, z):
        return self.mini.backbone(z) * self.mini.logit_scale


def authors_pipeline(model_id, images, labels):
    mini = load_model(model_id).module
    wrapper = AbstractModel(Normalised(mini))
    z = (torch.from_numpy(images).float() / 255.0 - mini.mean) / mini.std  # ToTensor + Normalize
    y = torch.as_tensor(labels, dtype=torch.long)
    loader = [(z[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(y), BATCH)]  # suite order (theirs: shuffled)
    torch.manual_seed(SEED)  # eval.py main()
    wrapper.eval()  # eval.py benchmark()
    pgd = authors_adversarial_robustness(wrapper, loader, "PGD")
    fgsm = authors_adversarial_robustness(wrapper, loader, "FGSM")
    return float(gmean([pgd[0], fgsm[0]])), pgd, fgsm


# ---------------------------------------------------------------- the tests
@pytest.mark.slow
def test_paper_protocol_equals_the_authors_pipeline_image_for_image(tmp_path):
    model_id = "mini-cnn-standard"
    cache = tmp_path / "pred"
    rec = quba.evaluate(model_id, "mini", ["adversarial_robustness"], protocol="paper", subset=SUBSET,
                        batch_size=BATCH, seed=SEED, bootstrap=0, output=None, progress=False, device="cpu",
                        cache_root=cache)
    suite = load_suite("mini")
    loaded = load_model(model_id)
    runner = Runner(loaded, suite, device="cpu", batch_size=BATCH, subset=SUBSET, seed=SEED, progress=False,
                    cache=PredictionCache(cache))
    outs = {a: runner.outputs(SplitRequest("val", a)) for a in
            ("paper_pgd_clean", "paper_pgd", "paper_fgsm_clean", "paper_fgsm")}
    assert len(runner.from_cache) == 4  # all four came from evaluate's single pass
    val = suite.split("val")
    idx = outs["paper_pgd"].index
    images = np.asarray(val.images)[idx] if not torch.is_tensor(val.images) else val.images[idx].numpy()
    value, pgd, fgsm = authors_pipeline(model_id, images, np.asarray(val.labels)[idx])
    np.testing.assert_array_equal(outs["paper_pgd_clean"].preds, pgd[1])
    np.testing.assert_array_equal(outs["paper_pgd"].preds, pgd[2])
    np.testing.assert_array_equal(outs["paper_fgsm_clean"].preds, fgsm[1])
    np.testing.assert_array_equal(outs["paper_fgsm"].preds, fgsm[2])
    assert rec["dimensions"]["adversarial_robustness"]["value"] == pytest.approx(value, abs=1e-12)
    assert rec["dimensions"]["adversarial_robustness"]["setup"] == {"protocol": "paper"}
    assert rec["provenance"]["protocol"] == "paper"
    # the train-mode side effect stays inside the dimension: weights and mode restored
    assert loaded.fingerprint() == rec["provenance"]["model_fingerprint"]
    # and it is not quba's protocol: same model, same images, another value
    quba_rec = quba.evaluate(model_id, "mini", ["adversarial_robustness"], subset=SUBSET, batch_size=BATCH,
                             seed=SEED, bootstrap=0, output=None, progress=False, device="cpu", cache_root=cache)
    assert quba_rec["dimensions"]["adversarial_robustness"]["setup"] == {"protocol": "quba"}
    assert quba_rec["dimensions"]["adversarial_robustness"]["value"] != pytest.approx(value, abs=1e-3)


def test_paper_protocol_restores_weights_and_eval_mode(tmp_path):
    loaded = load_model("mini-cnn-standard")
    before = loaded.fingerprint()
    suite = load_suite("mini")
    runner = Runner(loaded, suite, device="cpu", batch_size=16, subset=1, progress=False,
                    cache=PredictionCache(tmp_path))
    out = runner.outputs(SplitRequest("val", "paper_fgsm"))
    assert len(out) == 12 and not loaded.module.training
    from quba.zoo.base import weights_fingerprint

    assert weights_fingerprint(loaded.module) == before  # BatchNorm running stats put back


def test_placement_warns_once_per_dimension_under_another_protocol():
    from quba.api import place

    def record(protocol):
        return {"model": "x", "suite": "imagenet", "provenance": {"protocol": protocol},
                "dimensions": {"accuracy": {"value": 0.8},
                               "adversarial_robustness": {"value": 0.2, "setup": {"protocol": protocol}}}}

    warned = place(record("quba"))["warnings"]
    assert len(warned) == 1 and "adversarial_robustness" in warned[0] and "--protocol paper" in warned[0]
    assert "\n" not in warned[0]
    assert place(record("paper"))["warnings"] == []


def test_unknown_protocol_is_one_clear_error():
    from quba.errors import QubaError

    with pytest.raises(QubaError, match="unknown protocol"):
        quba.evaluate("mini-cnn-standard", "mini", ["accuracy"], protocol="authors", output=None)
