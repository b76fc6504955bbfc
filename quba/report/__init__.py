"""Plots from leaderboards only (never from models): a radar plot per model and a
correlation heatmap, as PNGs via matplotlib's Agg canvas (no display needed).

`write_report(leaderboard_csv, out_dir)` writes `correlations.csv` (Spearman ρ
per pair of dimensions, `quba.ranking.correlate`), `plots/radar_<model>.png`
and `plots/correlation_heatmap.png`.

`write_report_html(path, leaderboards, suite=None, reference=None, title=None)`
writes the interactive offline page of `quba report` (see `quba.report.html`).
"""
from quba.report.html import build_report_html, write_report_html
from quba.report.plots import correlation_heatmap, radar_plot, write_report

__all__ = ["build_report_html", "correlation_heatmap", "radar_plot", "write_report", "write_report_html"]
