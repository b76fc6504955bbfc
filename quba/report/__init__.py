"""Plots from leaderboards only (never from models): a radar plot per model and a
correlation heatmap, as PNGs via matplotlib's Agg canvas (no display needed).

`write_report(leaderboard_csv, out_dir)` writes `correlations.csv` (Spearman ρ
per pair of dimensions, `quba.ranking.correlate`), `plots/radar_<model>.png`
and `plots/correlation_heatmap.png`.
"""
from quba.report.plots import correlation_heatmap, radar_plot, write_report

__all__ = ["correlation_heatmap", "radar_plot", "write_report"]
