"""The declarations of quba's own dimensions: data only. Hooks are lazy "module:attr" strings,
so importing this imports nothing of the engine (the registry is complete after
``import quba.dimensions``). Directions are declared here and nowhere else."""
from __future__ import annotations

from quba.dimensions import Dimension, register

_UNIT = (0.0, 1.0)  # a share or a rate
_NONNEG = (0.0, float("inf"))  # a count, or accuracy relative to clean accuracy (may exceed 1)
_Q = "quba.dimensions.quba9:"
_B = "quba.dimensions.beyond:"


def _nine(name, hib, title, desc, aliases, roles, valid_range=(float("-inf"), float("inf")), sampling=True):
    return Dimension(name, hib, title, desc, paper=True, aliases=aliases, valid_range=valid_range, roles=roles,
                     needs=f"{_Q}{name}_needs", compute=f"{_Q}{name}_compute", sampling=sampling)


_NINE = [
    _nine("accuracy", True, "Accuracy", "top-1 accuracy on the clean validation split", ("acc",), ("clean",),
          _UNIT),
    _nine("adversarial_robustness", True, "Adversarial robustness",
          "gmean of FGSM and PGD accuracy (eps=8/255) relative to clean accuracy", ("adv", "adversarial"),
          ("clean",), _NONNEG),
    _nine("corruption_robustness", True, "Corruption robustness",
          "mean over 15 corruptions x 5 severities of accuracy relative to clean accuracy",
          ("corruption", "c_robustness"), ("clean", "corruption"), _NONNEG),
    _nine("ood_robustness", True, "OOD robustness",
          "gmean of relative accuracy on edge, silhouette, sketch, stylized and rendition splits", ("ood",),
          ("clean", "ood"), _NONNEG),
    _nine("calibration_error", False, "Calibration error", "gmean(ECE, ACE) on the clean validation split",
          ("calibration", "ece"), ("clean",), _UNIT),
    _nine("class_balance", True, "Class balance",
          "gmean(1 - std of per-class accuracy, 1 - mean within-class std of true-class probability)",
          ("fairness", "balance"), ("clean",), _UNIT),
    _nine("object_focus", True, "Object focus",
          "1 - (acc(mixed_same) - acc(mixed_rand)) / acc on the Backgrounds Challenge",
          ("background_robustness",), ("clean", "bg_same", "bg_rand")),
    _nine("shape_bias", True, "Shape bias", "shape hits / (shape + texture hits) on cue-conflict images",
          ("shape",), ("cue_conflict",), _UNIT),
    _nine("parameters_m", False, "Parameters", "millions of parameters of what classifies an image",
          ("parameters", "params", "size"), (), _NONNEG, sampling=False),
]
for _d in _NINE:
    register(_d)

#: The nine QUBA dimensions in the paper's order.
NINE: tuple[str, ...] = tuple(d.name for d in _NINE)

# -- certified information gain (segmentation; issue 7): hooks in quba/dimensions/certify.py -------
register(Dimension(
    "certified_information_gain", True, "Certified information gain",
    "adaptive hierarchical randomized-smoothing certification of a segmentation model: information of the "
    "certified-correct pixels, sum (log K - log |leaves(node)|) / (pixels * log K), in [0, 1]",
    source="Anani et al., Adaptive Hierarchical Certification for Segmentation, ICML 2024, Sec. 5; "
           "Fischer et al., SegCertify, ICML 2021",
    aliases=("cig",), valid_range=_UNIT, roles=("segmentation",), options="quba.dimensions.certify:CertifyOptions",
    needs="quba.dimensions.certify:hook_needs", scores="quba.dimensions.certify:hook_scores",
    compute="quba.dimensions.certify:hook_compute"))

# -- MEt3R multi-view consistency of generated image pairs (issue 7) ---------------------------
# Measured on image pairs by `quba consistency PAIRS --record NAME` (quba/met3r/),
# not on classifier outputs, so it has no engine hooks; records carry it for the ranking.
register(Dimension(
    "met3r", False, "Multi-view inconsistency (MEt3R)",
    "mean 1 - cos of the two views' dense features rendered into one camera, over the pixels both cover, "
    "both directions averaged; in [0, 2], 0 = consistent",
    source="Asim et al., MEt3R: Measuring Multi-View Consistency in Generated Images, CVPR 2025, Sec. 3",
    aliases=("multiview_consistency", "met3r_score"), valid_range=(0.0, 2.0)))

# -- interpretability, negative flips, teacher-student agreement (issue 6): hooks in quba/dimensions/beyond.py
register(Dimension(
    "interpretability", True, "Interpretability (grid pointing game)",
    "mean share of positive attribution energy in the target cell of n x n grids of confidently and "
    "correctly classified images from distinct classes (chance = 1/n^2); input x gradient, B-cos models "
    "their contribution maps W(x)^T x",
    source="Boehle et al., B-cos Networks, CVPR 2022, Sec. 5.2; CoDA-Nets, CVPR 2021, Sec. 5.2",
    aliases=("pointing_game", "localisation", "localization"), valid_range=_UNIT, roles=("clean",),
    options="quba.dimensions.options:PointingOptions",
    needs=f"{_B}interpretability_needs", scores=f"{_B}interpretability_scores",
    compute=f"{_B}interpretability_compute"))
register(Dimension(
    "negative_flip_rate", False, "Negative flip rate",
    "share of val images the declared reference (legacy) model gets right and this model gets wrong "
    "(--reference-model ID); NFI, PFR, relative NFR and agreement in the record's details",
    source="Yan et al., Positive-Congruent Training, CVPR 2021; Zhao et al., ELODI, TPAMI 2023",
    aliases=("nfr", "negative_flips"), valid_range=_UNIT, roles=("clean",),
    options="quba.dimensions.options:FlipOptions",
    needs=f"{_B}negative_flips_needs", compute=f"{_B}negative_flips_compute"))
register(Dimension(
    "teacher_agreement", True, "Teacher-student agreement",
    "top-1 agreement with the declared teacher on val (--teacher ID)",
    source="Parchami-Araghi et al., Good Teachers Explain (e2KD), ECCV 2024, Sec. 5",
    aliases=("agreement", "top1_agreement"), valid_range=_UNIT, roles=("clean",),
    options="quba.dimensions.options:TeacherOptions",
    needs=f"{_B}teacher_needs", compute=f"{_B}teacher_agreement_compute"))
register(Dimension(
    "explanation_similarity", True, "Explanation similarity to the teacher",
    "mean cosine of the teacher's and the model's input x gradient maps for the teacher's top-1 class on val "
    "(--teacher ID)",
    source="Parchami-Araghi et al., Good Teachers Explain (e2KD), ECCV 2024, Sec. 3, 5",
    aliases=("e2kd", "explanation_agreement"), valid_range=(-1.0, 1.0), roles=("clean",),
    options="quba.dimensions.options:ExplanationOptions",
    needs=f"{_B}teacher_needs", scores=f"{_B}explanation_similarity_scores",
    compute=f"{_B}explanation_similarity_compute"))
