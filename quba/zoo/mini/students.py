"""Distilled students of a mini teacher: plain KD and explanation-enhanced KD (e²KD).

Teacher: ``TEACHER_ID`` (the standard mini CNN; its weights must exist, i.e. it is
trained first — it comes first in catalog.csv). Student: the mini CNN at half
width (``mini_cnn_student``, ~4x fewer parameters).

Recipes (both: the `train` split, AdamW, one-cycle learning rate, batch 64,
random 2-pixel translation and horizontal flip, ``DEFAULT_STEPS`` steps, seeded;
the teacher stays in eval mode):

  kd     Hinton et al., "Distilling the Knowledge in a Neural Network" (2015):
         ``L = T² · KL(softmax(z_T / T) ‖ softmax(z_S / T))``, T = 4 (no label term,
         as the e²KD baselines).
  e2kd   Parchami-Araghi et al., "Good Teachers Explain: Explanation-Enhanced
         Knowledge Distillation" (ECCV 2024, Sec. 3, Eq. 2):
         ``L = L_KD + λ · (1 − cos(E_T(x), E_S(x)))``, λ = ``LAMBDA``, where E is the
         attribution map both models give for the *teacher's* top-1 class. E is
         input×gradient — the attribution quba measures explanation similarity
         with — and the student's map is differentiated through (double backprop).
         To keep training near a minute on 2 cores the explanation term uses the
         first ``EXPLAIN_BATCH`` = 32 images of each batch of 64 (the KD term all 64).

Known answer (tests/engine/test_agreement.py): the e²KD student's explanations are
more similar to the teacher's than the plain-KD student's.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from quba.errors import QubaError
from quba.zoo.mini import register_arch, register_recipe
from quba.zoo.mini.bcos import train_steps

TEACHER_ID = "mini-cnn-standard"
TEMPERATURE = 4.0
LAMBDA = 1.0
DEFAULT_STEPS = 300
EXPLAIN_BATCH = 32  # images per batch that carry the explanation term (keeps e2kd near a minute)
STUDENT_WIDTHS = (16, 24, 32, 48, 64)


@register_arch("mini_cnn_student")
def mini_cnn_student(num_classes: int = 12) -> nn.Module:
    from quba.zoo.mini.models import MiniClassifier, SmallCNN

    return MiniClassifier(SmallCNN(num_classes, widths=STUDENT_WIDTHS))


def load_teacher(teacher_id: str = TEACHER_ID) -> nn.Module:
    from quba.zoo.mini import load, weights_path

    if not weights_path(teacher_id).exists():
        raise QubaError(f"the students distil {teacher_id!r}, which has no weights yet; "
                        f"run 'quba zoo train-mini {teacher_id}' first")
    teacher = load(teacher_id).module.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float = TEMPERATURE) -> torch.Tensor:
    """T² · KL(softmax(z_T/T) ‖ softmax(z_S/T)), batch mean (Hinton et al. 2015)."""
    return F.kl_div(F.log_softmax(student_logits / t, 1), F.log_softmax(teacher_logits / t, 1),
                    reduction="batchmean", log_target=True) * t * t


def explanation_loss(e_teacher: torch.Tensor, e_student: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of 1 − cos(flattened E_T, flattened E_S) (e²KD, Eq. 2)."""
    return (1 - F.cosine_similarity(e_teacher.flatten(1), e_student.flatten(1), dim=1, eps=1e-8)).mean()


def distil(student: nn.Module, teacher: nn.Module, images, labels, *, steps: int, seed: int,
           explanation_weight: float = 0.0, progress: bool = True, desc: str = "kd") -> nn.Module:
    """Train ``student`` to match ``teacher`` (KD; plus e²KD's explanation term when
    ``explanation_weight`` > 0). Labels only fix the data order; the loss does not use them."""
    from quba.zoo.attribution import input_x_gradient

    torch.manual_seed(seed)
    teacher.eval()

    def loss_fn(x, _y):
        with torch.no_grad():
            z_t = teacher(x)
        loss = kd_loss(student(x), z_t)
        if explanation_weight > 0:  # on the first EXPLAIN_BATCH images: double backprop is the cost
            xe, target = x[:EXPLAIN_BATCH], z_t[:EXPLAIN_BATCH].argmax(1)
            e_t = input_x_gradient(teacher, xe, target).detach()
            e_s = input_x_gradient(student, xe, target, create_graph=True)
            loss = loss + explanation_weight * explanation_loss(e_t, e_s)
        return loss

    return train_steps(student, images, labels, loss_fn, steps=steps, seed=seed, progress=progress, desc=desc)


@register_recipe("kd")
def kd(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, teacher=None, **_):
    """Plain knowledge distillation from ``TEACHER_ID`` on the `train` split."""
    tr = suite.split("train")
    distil(model, teacher if teacher is not None else load_teacher(), tr.images, tr.labels,
           steps=steps or DEFAULT_STEPS, seed=seed, progress=progress, desc="kd")
    return {"teacher": TEACHER_ID}


@register_recipe("e2kd")
def e2kd(model, suite, *, seed: int = 0, steps: int | None = None, progress: bool = True, teacher=None, **_):
    """Explanation-enhanced KD (KD + λ·(1 − cos) of input×gradient maps) from ``TEACHER_ID``."""
    tr = suite.split("train")
    distil(model, teacher if teacher is not None else load_teacher(), tr.images, tr.labels,
           steps=steps or DEFAULT_STEPS, seed=seed, explanation_weight=LAMBDA, progress=progress, desc="e2kd")
    return {"teacher": TEACHER_ID}
