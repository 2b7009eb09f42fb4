"""Thesis Figs 4.12-4.16 from trained JEM runs (PNG, headless).

* ``<prefix>_accuracy``: held-out accuracy per epoch, one line per sampler (Fig 4.12);
* ``<prefix>_acceptance_mala``: MALA's acceptance probability per chain step at a few
  training iterations (Fig 4.13);
* ``<prefix>_acceptance_sgld``: the same probability for SGLD, computed but not applied
  (Fig 4.14);
* ``<prefix>_acceptance_trend``: the per-iteration mean of both over training (Fig 4.15);
* ``<prefix>_inv_precond``: pSGLD's mean 1/G = lambda + sqrt(V) per iteration, one panel
  per lambda (Fig 4.16);
* ``<prefix>_samples``: replay-buffer samples of every run.

A panel whose run is not part of the set says so instead of failing. With several seeds per
run, Fig 4.12 draws every seed (the spread) and the other figures the first seed of each run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebmlab.io import require_file
from ebmlab.plotting import missing, plt, save
from ebmlab.studies.base import RunFolder
from ebmlab.studies.jem.jobs import FIGURES  # noqa: F401  (the figure names, also read by the rule file)

HINT = "run the 'train' step first"

COLORS = {"langevin": "tab:green", "psgld": "tab:pink", "mala": "tab:red"}


class Run(RunFolder):
    """A run folder (metrics.json, history.csv, chains.json) with its sampler and a title."""

    def __init__(self, folder: Path):
        super().__init__(folder, HINT)
        if self.chains is None:   # every JEM run writes its chain log
            require_file(Path(folder) / "chains.json", HINT)
        self.sampler = self.metrics["sampler"]
        self.seed = self.metrics.get("seed")
        self.test = self.metrics["sampler_config"].get("test")

    @property
    def title(self) -> str:
        lam = self.metrics["sampler_config"].get("lam")
        name = f"{self.label} (lambda = {lam:g})" if lam is not None else self.label
        return f"{name}, seed {self.seed}" if self.seed is not None else name


def first_seeds(runs: list[Run]) -> list[Run]:
    """The first seed of each run label, in the order given."""
    out: dict[str, Run] = {}
    for r in runs:
        if r.label not in out or (r.seed or 0) < (out[r.label].seed or 0):
            out[r.label] = r
    return [r for r in runs if out.get(r.label) is r]


def _diverged_note(ax, run: Run) -> None:
    at = run.metrics.get("diverged_at_iteration")
    if at is not None:
        ax.axvline(at, color="k", ls=":", lw=1)
        ax.text(at, ax.get_ylim()[1], " diverged", va="top", fontsize=8)


def accuracy_figure(runs: list[Run], path: Path) -> None:
    """Fig 4.12: test (solid) and validation (dashed) accuracy against epochs."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    drawn, labelled = False, set()
    for r in runs:
        per_epoch = r.metrics["iterations_per_epoch"]
        x, y = r.series("test_acc")
        if not x:
            continue
        color = COLORS.get(r.sampler) if r.test != "exact" else "tab:purple"
        small_lam = r.metrics["sampler_config"].get("lam", 1.0) != 1.0
        n = sum(q.label == r.label for q in runs)
        name = None if r.label in labelled else (r.label if n == 1 else f"{r.label} ({n} seeds)")
        labelled.add(r.label)
        ax.plot([(i + 1) / per_epoch for i in x], y, marker="o", ms=3, color=color, label=name,
                ls="--" if small_lam else "-")
        drawn = True
    if not drawn:
        missing(ax, "evaluated")
    else:
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"test accuracy (noise std {runs[0].metrics['eval_noise']:g})")
        ax.legend(fontsize=8)
    data = runs[0].metrics["data"] if runs else ""
    ax.set_title(f"Fig 4.12: accuracy per sampler ({data})")
    save(fig, path)


def _nearest(chains: list[dict], wanted: list[int]) -> list[dict]:
    out = []
    for w in wanted:
        best = min(chains, key=lambda c: abs(c["iteration"] - w))
        if best not in out:
            out.append(best)
    return out


def chain_acceptance_figure(runs: list[Run], sampler: str, iterations: list[int], path: Path, title: str) -> None:
    """Figs 4.13/4.14: acceptance probability against the chain step, at chosen iterations."""
    chosen = [r for r in first_seeds(runs) if r.sampler == sampler and any("accept_prob" in c for c in r.chains)]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    if not chosen:
        missing(ax, sampler)
    for r in chosen:
        logged = [c for c in r.chains if "accept_prob" in c]
        for c in _nearest(logged, iterations):
            steps = np.arange(1, len(c["accept_prob"]) + 1)
            ax.plot(steps, c["accept_prob"], marker=".", label=f"{r.label}, iteration {c['iteration']}")
    if chosen:
        ax.set_xlabel("step in the chain")
        ax.set_ylabel("acceptance probability (mean over chains)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    ax.set_title(title)
    save(fig, path)


def acceptance_trend_figure(runs: list[Run], path: Path) -> None:
    """Fig 4.15: mean acceptance probability per training iteration, SGLD (a) and MALA (b)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, sampler, name in ((axes[0], "langevin", "(a) SGLD, computed not applied"), (axes[1], "mala", "(b) MALA")):
        chosen = [r for r in first_seeds(runs) if r.sampler == sampler and r.series("accept_prob_mean")[0]]
        if not chosen:
            missing(ax, sampler)
        for r in chosen:
            x, y = r.series("accept_prob_mean")
            ax.plot(x, y, lw=0.8, color=COLORS.get(sampler) if r.test != "exact" else "tab:purple", label=r.label)
            _diverged_note(ax, r)
        if chosen:
            ax.set_xlabel("training iteration")
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=8)
        ax.set_title(f"Fig 4.15 {name}")
    axes[0].set_ylabel("acceptance probability")
    save(fig, path)


def inv_precond_figure(runs: list[Run], path: Path) -> None:
    """Fig 4.16: mean 1/G over training, one panel per pSGLD run (smallest lambda first)."""
    chosen = sorted((r for r in first_seeds(runs) if r.sampler == "psgld"),
                    key=lambda r: r.metrics["sampler_config"]["lam"])
    fig, axes = plt.subplots(1, max(1, len(chosen)), figsize=(5.5 * max(1, len(chosen)), 4), squeeze=False)
    if not chosen:
        missing(axes[0, 0], "pSGLD")
    for ax, r in zip(axes[0], chosen):
        x, y = r.series("precond_inv_mean_mean")
        ax.plot(x, y, lw=0.8, color=COLORS["psgld"])
        if y and min(y) > 0 and max(y) / min(y) > 20:
            ax.set_yscale("log")
        ax.set_xlabel("training iteration")
        ax.set_ylabel("mean 1/G = lambda + sqrt(V)")
        ax.set_title(f"Fig 4.16: {r.title}")
        _diverged_note(ax, r)
    save(fig, path)


def samples_figure(runs: list[Run], path: Path) -> None:
    runs = first_seeds(runs)
    fig, axes = plt.subplots(1, max(1, len(runs)), figsize=(4 * max(1, len(runs)), 4.3), squeeze=False)
    for ax, r in zip(axes[0], runs):
        image = plt.imread(r.folder / "samples.png")
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)   # one-channel data: grey PNG
        ax.axis("off")
        ax.set_title(f"{r.title}: {r.metrics['status']}", fontsize=9)
    if not runs:
        missing(axes[0, 0], "trained")
    save(fig, path)


ORDER = {"langevin": 0, "psgld": 1, "mala": 3}


def write_figures(run_dirs: list[Path], out_dir: Path, prefix: str, chain_iterations: list[int] | None) -> None:
    runs = sorted((Run(d) for d in run_dirs),
                  key=lambda r: (ORDER.get(r.sampler, 9), -r.metrics["sampler_config"].get("lam", 0), r.label,
                                 r.seed or 0))
    if chain_iterations is None:
        chain_iterations = runs[0].metrics.get("chain_iterations", [0]) if runs else [0]
    name = lambda key: out_dir / f"{prefix}_{key}.png"  # noqa: E731
    accuracy_figure(runs, name("accuracy"))
    chain_acceptance_figure(runs, "mala", chain_iterations, name("acceptance_mala"),
                            "Fig 4.13: MALA acceptance along the chain")
    chain_acceptance_figure(runs, "langevin", chain_iterations, name("acceptance_sgld"),
                            "Fig 4.14: SGLD acceptance along the chain (computed, not applied)")
    acceptance_trend_figure(runs, name("acceptance_trend"))
    inv_precond_figure(runs, name("inv_precond"))
    samples_figure(runs, name("samples"))
