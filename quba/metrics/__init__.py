"""Metrics: pure functions, numpy arrays in, numbers out (no torch, no file I/O).

Each function documents its formula and cites docs/metrics.md (the protocol) and the
paper it comes from (Hesse et al., "Beyond Accuracy", Sec. 3, unless noted).
`decisions` holds the ImageNet label-space mappings (constants from the
package's data files).
"""
from quba.metrics.balance import class_balance, class_balance_parts
from quba.metrics.calibration import adaptive_calibration_error, calibration_error, expected_calibration_error
from quba.metrics.classification import accuracy, gmean, relative_accuracy
from quba.metrics.robustness import (IMAGENET_C_CORRUPTIONS, SEVERITIES, adversarial_robustness,
                                     corruption_robustness, object_focus, ood_robustness)
from quba.metrics.shape import shape_bias, texture_class_from_filename

__all__ = [
    "accuracy", "relative_accuracy", "gmean",
    "expected_calibration_error", "adaptive_calibration_error", "calibration_error",
    "class_balance", "class_balance_parts",
    "adversarial_robustness", "corruption_robustness", "ood_robustness", "object_focus",
    "IMAGENET_C_CORRUPTIONS", "SEVERITIES",
    "shape_bias", "texture_class_from_filename",
]
