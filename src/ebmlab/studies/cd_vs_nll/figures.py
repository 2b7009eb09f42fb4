"""Figs 3-5 analogues (chains as rows of frames) and the long-run samples with their class histograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebmlab.io import atomic_savefig, load_npz
from ebmlab.plotting import plt, save, show_grid
from ebmlab.studies import base
from ebmlab.studies.cd_vs_nll.config import REGIME_LABELS
from ebmlab.studies.cd_vs_nll.jobs import REGIMES


def read_runs(run_dirs: list[str]) -> list[tuple[Path, dict]]:
    """(folder, metrics.json) of evaluated runs, in the study's regime order, then by seed."""
    runs = list(zip(map(Path, run_dirs), base.read_runs(run_dirs, "metrics.json", "run 'evaluate' first")))
    order = {r: i for i, r in enumerate(REGIMES)}
    return sorted(runs, key=lambda dm: (order.get(dm[1]["regime"], len(order)), dm[1].get("seed", 0)))


def read_regimes(run_dirs: list[str]) -> dict[str, tuple[Path, dict]]:
    """regime -> (folder, metrics.json) of its first seed (what the figures show)."""
    out: dict[str, tuple[Path, dict]] = {}
    for d, m in read_runs(run_dirs):
        out.setdefault(m["regime"], (d, m))
    return out


def _chain_row(chains, key: str, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames, have = chains[f"{key}__frames"], chains[f"{key}__steps"]
    idx = [int(np.searchsorted(have, s)) for s in steps]
    return frames[idx], have[idx]


def _rows_figure(rows: list[tuple[str, np.ndarray, np.ndarray]], title: str, path: Path) -> None:
    if not rows:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{title}: no chains (diverged or not in eval.figures)", ha="center", va="center")
        atomic_savefig(fig, path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        return
    ncol = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.1 * ncol + 2.2, 1.25 * len(rows) + 0.6), squeeze=False)
    for i, (label, frames, steps) in enumerate(rows):
        for j in range(ncol):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(frames):
                ax.axis("off")
                continue
            img = frames[j]
            ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(f"{int(steps[j])}", fontsize=7)
            if j == 0:
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    save(fig, path)


def write_figures(run_dirs: list[str], out_dir: str | Path) -> None:
    """cd_vs_nll_fig3/4/5.png and cd_vs_nll_samples.png from evaluated runs."""
    out = Path(out_dir)
    runs = read_regimes(run_dirs)
    chains = {}
    for regime, (d, m) in runs.items():
        if not m.get("diverged"):
            chains[regime] = load_npz(d / "chains.npz", "run 'evaluate' first")
    fig3, fig4, fig5 = [], [], []
    for regime, c in chains.items():
        name = REGIME_LABELS.get(regime, regime)
        if "low_data__frames" in c:
            steps = c["meta__fig3"]
            fig3.append((f"{name}\nfrom noise", *_chain_row(c, "low_noise", steps)))
            fig3.append((f"{name}\nfrom a test image", *_chain_row(c, "low_data", steps)))
        if "high_noise__frames" in c:
            short, long_ = c["meta__fig4_short"], c["meta__fig4_long"]
            fig4.append((f"{name}\nlow noise, start A", *_chain_row(c, "low_noise", short)))
            fig4.append((f"{name}\nhigh noise, start A", *_chain_row(c, "high_noise", short)))
            fig4.append((f"{name}\nhigh noise, start A", *_chain_row(c, "high_noise", long_)))
            fig4.append((f"{name}\nhigh noise, start B", *_chain_row(c, "high_noise_b", long_)))
        if "low_noise_deform__frames" in c:
            steps = c["meta__fig5"]
            fig5.append((f"{name}\nsampled with deformations", *_chain_row(c, "low_noise_deform", steps)))
            fig5.append((f"{name}\nsampled without", *_chain_row(c, "low_noise", steps)))
    _rows_figure(fig3, "Fig 3 analogue: long chains from noise and from a test image (step above each frame)",
                 out / "cd_vs_nll_fig3.png")
    _rows_figure(fig4, "Fig 4 analogue: the same start at low and high noise; long high-noise chains from two starts",
                 out / "cd_vs_nll_fig4.png")
    _rows_figure(fig5, "Fig 5 analogue: long chains with and without test-time elastic deformations",
                 out / "cd_vs_nll_fig5.png")
    samples_and_coverage(runs, chains, out / "cd_vs_nll_samples.png")


def samples_and_coverage(runs, chains, path: Path) -> None:
    """36 long-run samples per regime (top) and the class histograms of its chains (bottom)."""
    import torch
    names = list(runs)
    fig, axes = plt.subplots(2, len(names), figsize=(3.2 * len(names), 6.6), squeeze=False)
    for j, regime in enumerate(names):
        m = runs[regime][1]
        ax = axes[0, j]
        ax.axis("off")
        title = REGIME_LABELS.get(regime, regime)
        if regime in chains:
            show_grid(ax, torch.from_numpy(chains[regime]["long_samples"][:36]), nrow=6)
        ax.set_title(title + ("\n(diverged)" if m.get("diverged") else ""), fontsize=8)
        ax = axes[1, j]
        kinds = [("coverage", "noise %g" % m.get("noise_std", 0)), ("coverage_high_noise", "high noise"),
                 ("coverage_deform", "with deformations")]
        width = 0.8 / len(kinds)
        for k, (key, lab) in enumerate(kinds):
            if key in m:
                h = np.asarray(m[key]["histogram"], dtype=float)
                ax.bar(np.arange(h.size) + (k - 1) * width, h / h.sum(), width=width,
                       label=f"{lab}: H={m[key]['entropy']:.2f}")
        ax.set_xticks(range(10))
        ax.set_xlabel("classifier label")
        ax.set_ylim(0, 1)
        if j == 0:
            ax.set_ylabel("fraction of chains")
        if ax.containers:
            ax.legend(fontsize=6)
    fig.suptitle("Long-run samples from uniform noise (top) and their class histograms (bottom)", fontsize=9)
    atomic_savefig(fig, path, dpi=100, bbox_inches="tight")
    plt.close(fig)
