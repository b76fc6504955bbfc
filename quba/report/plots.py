"""Radar plots and correlation heatmaps from a leaderboard (matplotlib, Agg canvas)."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from quba import csvsafe, dimensions
from quba.errors import QubaError
from quba.paths import atomic_write_bytes, atomic_write_text


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def _z_scale(frame, d: str):
    """x -> clip((z + 3) / 6, 0, 1), z oriented against the leaderboard's mean and sample std of `d`
    (0.5 everywhere when the column has no spread); works on scalars and arrays."""
    col = frame[d].astype(float)
    mu, sd = col.mean(), col.std(ddof=1)
    sign = 1.0 if dimensions.higher_is_better(d) else -1.0
    if not (math.isfinite(sd) and sd > 0):
        return lambda x: x * 0 + 0.5
    return lambda x: np.clip((sign * (x - mu) / sd + 3) / 6, 0, 1)


def radar_scores(frame, dims: list[str]):
    """Oriented z-scores against the leaderboard's own mean and sample std, mapped to
    [0, 1] as clip((z + 3) / 6): 0.5 is the population mean, outward is better."""
    return {d: _z_scale(frame, d)(frame[d].astype(float)) for d in dims}


def _radar_axes(dims: list[str], size: float):
    """A polar figure with one spoke per dimension (labels, σ rings) and the dashed population
    mean; returns (fig, ax, angles, ring)."""
    angles = np.linspace(0, 2 * np.pi, len(dims), endpoint=False)
    fig = _figure(size, size)
    ax = fig.add_subplot(111, projection="polar")
    ring = np.r_[angles, angles[:1]]
    ax.plot(ring, [0.5] * len(ring), ls="--", lw=0.8, color="grey", label="population mean")
    ax.set_xticks(angles)
    ax.set_xticklabels([dimensions.get(d).title + (" ↑" if dimensions.higher_is_better(d) else " ↓")
                        for d in dims], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_yticks([0.25, 0.5, 0.75])
    ax.set_yticklabels(["-1.5σ", "mean", "+1.5σ"], fontsize=6)
    return fig, ax, angles, ring


def radar_plot(frame, model: str, path, dims: list[str] | None = None) -> Path:
    """One model's profile over the leaderboard's dimensions (outward = better)."""
    from quba.ranking.leaderboard import dimension_columns

    dims = dims or [d for d in dimension_columns(frame) if frame[d].notna().any()]
    if len(dims) < 3:
        raise QubaError(f"a radar plot needs at least 3 dimensions; the leaderboard has {dims}")
    scores = radar_scores(frame, dims)
    row = frame.index[frame["model"] == model]
    if len(row) == 0:
        raise QubaError(f"model {model!r} is not in the leaderboard")
    i = row[0]
    vals = [float(scores[d][i]) if np.isfinite(scores[d][i]) else 0.0 for d in dims]
    fig, ax, _, ring = _radar_axes(dims, 5.2)
    ax.plot(ring, vals + vals[:1], color="C0", lw=2, label=model)
    ax.fill(ring, vals + vals[:1], color="C0", alpha=0.25)
    ax.set_title(f"{model}\n(oriented z-score vs. the {len(frame)} models; outward = better)", fontsize=9)
    ax.legend(loc="lower right", bbox_to_anchor=(1.25, -0.12), fontsize=7)
    return _save(fig, path)


def radar_compare(frame, models: list[str], path, dims: list[str] | None = None, title: str | None = None) -> Path:
    """Several models' profiles on one radar, each value's 95 % interval as a radial bar
    (from the ``<dim>_lo`` / ``<dim>_hi`` columns), scaled like `radar_scores` against the
    whole leaderboard ``frame`` (its mean is the dashed ring; outward = better)."""
    from quba.ranking.leaderboard import dimension_columns

    dims = dims or [d for d in dimension_columns(frame) if frame[d].notna().any()]
    if len(dims) < 3:
        raise QubaError(f"a radar plot needs at least 3 dimensions; the leaderboard has {dims}")
    missing = [m for m in models if m not in set(frame["model"])]
    if missing:
        raise QubaError(f"model(s) {', '.join(missing)} not in the leaderboard")

    scalers = {d: _z_scale(frame, d) for d in dims}

    def scaled(d, x):
        return float(scalers[d](float(x)))

    fig, ax, angles, ring = _radar_axes(dims, 6.0)
    for k, model in enumerate(models):
        row = frame[frame["model"] == model].iloc[0]
        vals = [scaled(d, float(row[d])) for d in dims]
        color = f"C{k}"
        ax.plot(ring, vals + vals[:1], color=color, lw=1.8, label=model)
        ax.fill(ring, vals + vals[:1], color=color, alpha=0.08)
        for a, d in zip(angles, dims):
            lo, hi = row.get(f"{d}_lo"), row.get(f"{d}_hi")
            if lo is not None and hi is not None and np.isfinite(float(lo)) and np.isfinite(float(hi)):
                ax.plot([a + 0.02 * (k - 1)] * 2, [scaled(d, float(lo)), scaled(d, float(hi))], color=color, lw=3,
                        alpha=0.6, solid_capstyle="butt")
    ax.set_title(title or f"oriented z-score vs. the {len(frame)} models; outward = better; bars: 95 % intervals",
                 fontsize=9)
    ax.legend(loc="lower right", bbox_to_anchor=(1.3, -0.15), fontsize=7)
    return _save(fig, path)


def correlation_matrix(long_frame):
    """Square ρ matrix from `quba.ranking.correlate`'s long frame (dim_a, dim_b, rho)."""
    import pandas as pd

    dims = list(dict.fromkeys(list(long_frame["dim_a"]) + list(long_frame["dim_b"])))
    m = pd.DataFrame(np.eye(len(dims)), index=dims, columns=dims)
    for _, r in long_frame.iterrows():
        m.loc[r["dim_a"], r["dim_b"]] = m.loc[r["dim_b"], r["dim_a"]] = r["rho"]
    return m


def correlation_heatmap(matrix, path, title: str = "Spearman ρ between dimensions") -> Path:
    dims = list(matrix.index)
    fig = _figure(1.0 + 0.75 * len(dims), 0.6 + 0.7 * len(dims))
    ax = fig.add_subplot(111)
    im = ax.imshow(matrix.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(dims)))
    ax.set_yticks(range(len(dims)))
    ax.set_xticklabels(dims, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(dims, fontsize=8)
    for a in range(len(dims)):
        for b in range(len(dims)):
            v = matrix.iat[a, b]
            if np.isfinite(v):
                ax.text(b, a, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(v) > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def write_report(leaderboard_csv, out_dir=None) -> dict:
    """Correlation CSV, radar plot per model and heatmap for a leaderboard CSV.

    Returns {"correlations": path|None, "heatmap": path|None, "radar": [paths], "notes": [...]}.
    """
    from quba.ranking import correlate
    from quba.ranking.leaderboard import load_leaderboard
    from quba.store.records import safe_name

    leaderboard_csv = Path(leaderboard_csv)
    out_dir = Path(out_dir) if out_dir is not None else leaderboard_csv.parent
    frame = load_leaderboard(leaderboard_csv).reset_index(drop=True)
    result = {"correlations": None, "heatmap": None, "radar": [], "notes": []}
    try:
        long = correlate(frame)
    except QubaError as exc:
        result["notes"].append(f"no correlations: {exc}")
    else:
        result["correlations"] = out_dir / "correlations.csv"
        atomic_write_text(result["correlations"], csvsafe.to_csv(long, index=False, float_format="%.6g"))
        matrix = correlation_matrix(long)
        result["heatmap"] = correlation_heatmap(
            matrix, out_dir / "plots" / "correlation_heatmap.png",
            title=f"Spearman ρ between dimensions ({len(frame)} models)")
    try:
        for model in frame["model"]:
            result["radar"].append(radar_plot(frame, model, out_dir / "plots" / f"radar_{safe_name(model)}.png"))
    except QubaError as exc:
        result["notes"].append(f"no radar plots: {exc}")
    return result
