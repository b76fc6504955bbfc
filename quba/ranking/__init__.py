"""Ranking models by the QUBA score over leaderboards.

API (the CLI commands `quba rank`, `quba recommend`, `quba correlate` call these):

- `load_leaderboard(paths=None) -> DataFrame`: the shipped paper leaderboard, or
  CSVs combined (a ``leaderboard`` column names each row's file);
- `rank(leaderboard=None, *, weights=None, preset=None, reference=None, filters=None,
  renormalise=False, top=None, sensitivity=0, concentration=100, seed=0) -> Ranking`;
- `recommend(leaderboard=None, *, prefer=(), preset=None, weights=None, filters=None,
  top=3, samples=1000, concentration=100, seed=0) -> Recommendation`;
- `correlate(leaderboard=None, *, dims=None, oriented=False, filters=None) -> DataFrame`
  (dim_a, dim_b, rho, p_value, n);
- `Filters(max_params=None, architecture=(), paradigm=(), pretraining_data=(), name=(),
  suite=None, exclude_missing=False)`: which rows the three consider, one object for all
  (the filters as keyword arguments of the three are deprecated).

See `score` for the formula and the reference population, `weights` for weight
specs and presets, `sensitivity` for the Dirichlet weight sensitivity.
"""
# Imported lazily so that `quba --help` (which reads the presets from
# quba.ranking.weights) does not pay for pandas and scipy.
_WHERE = {
    "correlate": "correlation",
    "load_leaderboard": "leaderboard", "dimension_columns": "leaderboard", "REFERENCE_CSV": "leaderboard",
    "recommend": "recommendation", "Recommendation": "recommendation",
    "rank": "score", "Ranking": "score", "Reference": "score", "Filters": "score", "oriented_z": "score",
    "quba_scores": "score", "resolve_reference": "score",
    "weight_sensitivity": "sensitivity",
    "PRESETS": "weights", "get_preset": "weights", "parse_spec": "weights", "resolve_weights": "weights",
}
__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"quba.ranking.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'quba.ranking' has no attribute {name!r}")
