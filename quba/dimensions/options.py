"""Options dataclasses of quba's further dimensions: what ``opts[<dimension>]`` may hold
(`Dimension.parse_options`; the CLI fills them from --reference-model, --teacher,
--attribution, --grid-size, --grids). None means the dimension's default."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PointingOptions:
    """interpretability: the grid pointing game (defaults: quba/engine/pointing_game.py DEFAULTS)."""

    method: str | None = None  # attribution method; auto: B-cos contribution maps, else input x gradient
    grid_size: int | None = None
    n_grids: int | None = None
    seed: int | None = None
    smooth: int | None = None
    per_class: int | None = None


@dataclass(frozen=True)
class FlipOptions:
    """negative_flip_rate: the declared reference ('legacy') model."""

    reference_model: str | None = None


@dataclass(frozen=True)
class TeacherOptions:
    """teacher_agreement: the teacher the model was distilled from."""

    teacher: str | None = None


@dataclass(frozen=True)
class ExplanationOptions:
    """explanation_similarity: the teacher and the attribution method for both models."""

    teacher: str | None = None
    method: str | None = None
    max_images: int | None = None
    batch_size: int | None = None
