"""Ranking models by the QUBA score over leaderboards.

API (the CLI commands `quba rank`, `quba recommend`, `quba correlate` call these):

- `load_leaderboard(paths=None) -> DataFrame`: the shipped paper leaderboard, or
  CSVs combined (a ``leaderboard`` column names each row's file);
- `rank(leaderboard=None, *, weights=None, preset=None, reference=None, filters...,
  renormalise=False, top=None, sensitivity=0, concentration=100, seed=0) -> Ranking`;
- `recommend(leaderboard=None, *, prefer=(), preset=None, weights=None, filters...,
  top=3, samples=1000, concentration=100, seed=0) -> Recommendation`;
- `correlate(leaderboard=None, *, dims=None, oriented=False, filters...) -> DataFrame`
  (dim_a, dim_b, rho, p_value, n).

See `score` for the formula and the reference population, `weights` for weight
specs and presets, `sensitivity` for the Dirichlet weight sensitivity.
"""
from quba.ranking.correlate import correlate
from quba.ranking.leaderboard import REFERENCE_CSV, dimension_columns, load_leaderboard
from quba.ranking.recommend import Recommendation, recommend
from quba.ranking.score import Filters, Ranking, Reference, oriented_z, quba_scores, rank, resolve_reference
from quba.ranking.sensitivity import weight_sensitivity
from quba.ranking.weights import PRESETS, get_preset, parse_spec, resolve_weights

__all__ = [
    "load_leaderboard", "rank", "recommend", "correlate", "Ranking", "Recommendation", "Reference", "Filters",
    "PRESETS", "get_preset", "parse_spec", "resolve_weights", "weight_sensitivity", "oriented_z", "quba_scores",
    "resolve_reference", "dimension_columns", "REFERENCE_CSV",
]
