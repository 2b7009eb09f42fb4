"""Thesis Figs 4.1-4.5 from evaluated GMM runs."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ebmlab.io import load_npz, read_json
from ebmlab.papers import GMM_LABELS
from ebmlab.plotting import ENERGY_CMAP, plt, save


def data_figure(data: np.ndarray, starts: np.ndarray, path: str | Path) -> None:
    """Thesis Fig 4.1: training points (grey) and chain start points (green)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(starts[:, 0], starts[:, 1], s=4, c="tab:green", alpha=0.5, label="start points x0")
    ax.scatter(data[:, 0], data[:, 1], s=4, c="0.35", alpha=0.8, label="training data")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("4-Gaussian mixture: data and chain starts (Fig 4.1)")
    save(fig, path)


def _energy_background(ax, grid: np.ndarray, energy_map: np.ndarray, alpha: float = 1.0):
    # clip extreme energies so the wells stay visible
    lo, hi = np.percentile(energy_map, [1, 99])
    cs = ax.contourf(grid, grid, np.clip(energy_map, lo, hi), levels=40, cmap=ENERGY_CMAP, alpha=alpha)
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(grid[0], grid[-1])
    ax.set_aspect("equal")
    return cs


def run_figure(s: Mapping[str, np.ndarray], metrics: Mapping, path: str | Path, title: str) -> None:
    """Thesis Figs 4.2-4.5: energy map with samples, and traces from start (star) to end (triangle)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 5))
    cs = _energy_background(a, s["grid"], s["energy_map"])
    fig.colorbar(cs, ax=a, shrink=0.8, label="energy")
    a.scatter(s["finals"][:, 0], s["finals"][:, 1], s=3, c="k", alpha=0.6)
    a.set_title(f"{title}: energy and samples")
    _energy_background(b, s["grid"], s["energy_map"], alpha=0.35)
    for i, tr in enumerate(s["traces"]):
        color = plt.cm.tab10(i % 10)
        b.plot(tr[:, 0], tr[:, 1], lw=0.6, color=color)
        b.scatter(tr[0, 0], tr[0, 1], marker="*", s=90, color=color, edgecolors="k", linewidths=0.5)
        b.scatter(tr[-1, 0], tr[-1, 1], marker="^", s=50, color=color, edgecolors="k", linewidths=0.5)
    b.set_title(f"{title}: traces, R-hat = {metrics['rhat']:.4g}")
    save(fig, path)


def write_figures(run_dirs: list[str], out_dir: str | Path) -> None:
    """gmm_data.png (from the first run) and gmm_<label>.png for each run."""
    out = Path(out_dir)
    first = load_npz(Path(run_dirs[0]) / "samples.npz", "run 'evaluate' first")
    data_figure(first["data"], first["starts_all"], out / "gmm_data.png")
    for d in run_dirs:
        s = load_npz(Path(d) / "samples.npz", "run 'evaluate' first")
        m = read_json(Path(d) / "rhat.json", "run 'evaluate' first")
        run_figure(s, m, out / f"gmm_{m['label']}.png", title=GMM_LABELS.get(m["label"], m["label"]))


def rhat_figure(run_dirs: list[str], compare_dirs: list[str], path: str | Path) -> None:
    """R-hat per sampler with its 95% interval over seeds (every seed as a dot), in the three
    settings: the thesis protocol (thesis values as crosses) and the two fixed energies."""
    from ebmlab.papers import GMM_RHAT
    from ebmlab.studies.gmm.claims import SETTINGS, by_run, interval, sampler_stats
    metrics = [read_json(Path(d) / "rhat.json", "run 'evaluate' first") for d in run_dirs]
    compares = [read_json(Path(d) / "compare.json", "run 'compare' first") for d in compare_dirs]
    panels = {"thesis": {k: [m["rhat"] for m in ms] for k, ms in by_run(metrics).items()}}
    for (energy, label), st in sampler_stats(compares).items():
        panels.setdefault(energy, {})[label] = [r["rhat"] for r in st["runs"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (setting, vals) in zip(axes[0], panels.items()):
        for i, (label, v) in enumerate(vals.items()):
            iv = interval(v)
            ax.scatter([i] * len(v), v, s=12, color="0.5", zorder=2)
            if iv["lo"] is not None:
                # R-hat >= 1 up to noise: a lower end below 1 is drawn at 1
                ax.errorbar([i], [iv["mean"]], yerr=[[iv["mean"] - max(iv["lo"], 1.0)], [iv["hi"] - iv["mean"]]],
                            fmt="o", color="tab:blue", capsize=4, zorder=3)
            if setting == "thesis" and label in GMM_RHAT:
                ax.scatter([i], [GMM_RHAT[label]], marker="x", s=60, color="tab:red", zorder=4,
                           label="thesis" if i == 0 else None)
        ax.set_xticks(range(len(vals)), [GMM_LABELS.get(k, k.upper()) for k in vals], rotation=30, ha="right")
        ax.axhline(1.1, color="0.6", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_title(SETTINGS[setting], fontsize=9)
    axes[0][0].set_ylabel("R-hat (mean, 95% interval over seeds)")
    if "thesis" in panels:
        axes[0][0].legend(fontsize=8)
    save(fig, path)
