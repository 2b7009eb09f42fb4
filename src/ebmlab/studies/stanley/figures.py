"""STANLEY Figs 1, 4-6 (PNG, headless), and the steps that read the jobs' outputs for them.

* stanley_rings: generated rings samples every ``plot_every`` iterations, one row per
  sampler (STANLEY on top, Langevin below, as the paper's Fig 1), true samples first;
* stanley_rings_distance: the distance of generated to true samples over iterations;
* stanley_fid_<dataset>: the score of every sampler against iterations (Figs 4-5). The
  y-axis names the metric: an Inception FID, or the labelled substitute / stand-in;
* stanley_inpainting: originals, masked inputs, then one row of fills per sampler (Fig 6);
* stanley_samples_<dataset>: each curve's final samples side by side (Figs 2-3);
* stanley_grid_<dataset>: the score of every grid cell against iterations.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ebmlab.io import load_torch
from ebmlab.plotting import plt, save  # Agg backend, set there
from ebmlab.studies.base import RunFolder
from ebmlab.studies.stanley.config import SAMPLER_LABELS as SAMPLER_NAMES

COLORS = {"STANLEY": "tab:red", "Langevin": "tab:blue", "MH": "tab:green", "HMC": "tab:purple",
          "GD (no noise)": "tab:gray", "stanley": "tab:red", "langevin": "tab:blue"}
SCORE_COLUMNS = [("fid", "FID (Inception)"),
                 ("classifier_frechet_substitute", "classifier Frechet distance (substitute, not an FID)"),
                 ("inception_standin_fid", "FID with random-weight Inception (stand-in, code path only)")]


def _order(label: str) -> int:
    return 0 if label.lower() == "stanley" else 1 if label.lower() == "langevin" else 2


#: a rings run's legend name by its sampler (grid cells and seeded runs are labelled by settings)
_BY_SAMPLER = {"stanley": "STANLEY", "langevin": "Langevin", "rwmh": "MH", "hmc": "HMC", "gd": "GD (no noise)"}


def _color(m: dict) -> str:
    return COLORS.get(m["label"]) or COLORS.get(_BY_SAMPLER.get(m.get("sampler"), ""), "tab:orange")


def _run_order(r: dict) -> int:
    return _order(r["metrics"].get("sampler", r["metrics"]["label"]))


def read_rings_runs(run_dirs: list[str]) -> list[dict]:
    """Each rings run's metrics, Fig 1 snapshots (iteration -> points) and true sample."""
    runs = []
    for d in run_dirs:
        folder = RunFolder(d, "run 'rings' first")
        snaps = {int(p.stem): load_torch(p, "run 'rings' again", what="snapshot")["x"]
                 for p in sorted(Path(d).glob("snapshots/*.pt"))}
        truth = torch.tensor(json.loads((Path(d) / "truth.json").read_text())["x"])
        runs.append({"metrics": folder.metrics, "snapshots": snaps, "truth": truth})
    return runs


def rings_figure(runs: list[dict], path: Path) -> None:
    runs = sorted(runs, key=_run_order)
    its = sorted({i for r in runs for i in r["snapshots"]})
    cols = 1 + max(1, len(its))
    fig, axes = plt.subplots(len(runs), cols, figsize=(2.2 * cols, 2.2 * len(runs)), squeeze=False)
    lim = 1.2 * float(max(r["truth"].abs().max() for r in runs))
    for row, r in zip(axes, runs):
        truth = r["truth"]
        row[0].scatter(truth[:, 0], truth[:, 1], s=1, c="k")
        row[0].set_title("data", fontsize=8)
        row[0].set_ylabel(r["metrics"]["label"].replace("/", "\n"), fontsize=7)
        for ax, it in zip(row[1:], its):
            x = r["snapshots"].get(it)
            if x is not None:
                x = x[torch.isfinite(x).all(dim=1)]
                ax.scatter(x[:, 0], x[:, 1], s=1, c=_color(r["metrics"]))
            if x is None and r["metrics"]["diverged"]:
                ax.text(0.5, 0.5, f"diverged at\niteration {r['metrics']['iterations']}", ha="center",
                        va="center", fontsize=8, transform=ax.transAxes)
            ax.set_title(f"iteration {it}", fontsize=8)
        for ax in row:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
    fig.tight_layout()
    save(fig, path)


def rings_distance_figure(runs: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    metric = runs[0]["metrics"]["distance"] if runs else "energy"
    panels = [(axes[0], "distance", "noise_floor", f"{metric} distance to true samples"),
              (axes[1], "radial_w1", "noise_floor_radial_w1", "W1 distance of the radii to true samples")]
    for ax, key, floor_key, ylabel in panels:
        for r in sorted(runs, key=_run_order):
            pts = [p for p in r["metrics"]["points"] if p.get(key) is not None]
            label = r["metrics"]["label"] + (" (diverged)" if r["metrics"]["diverged"] else "")
            ax.plot([p["iteration"] for p in pts], [p[key] for p in pts], marker=".", label=label,
                    color=_color(r["metrics"]))
        floor = runs[0]["metrics"].get(floor_key) if runs else None
        if floor:
            ax.axhline(floor, color="k", ls="--", lw=0.8, label="two true samples (floor)")
        ax.set_xlabel("EBM iteration")
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path)


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def curve_figures(rows: list[dict], out_dir: Path, profile: str, prefix: str = "stanley_fid_") -> list[Path]:
    paths = []
    for ds in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == ds]
        col, label = next(((c, lab) for c, lab in SCORE_COLUMNS if any(_num(r.get(c)) is not None for r in mine)),
                          (None, None))
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        if col is None:
            ax.text(0.5, 0.5, "no score in this profile", ha="center", va="center", transform=ax.transAxes)
        else:
            for s in sorted({r["sampler"] for r in mine}, key=_order):
                pts = [(r["iteration"], _num(r[col])) for r in mine if r["sampler"] == s]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s, color=COLORS.get(s))
            if len({r["sampler"] for r in mine}) > 5:   # a grid: the legend beside the axes
                ax.legend(fontsize=6, bbox_to_anchor=(1.02, 1), loc="upper left")
            ax.set_ylabel(label)
            ax.legend(fontsize=8)
        ax.set_xlabel("EBM iteration")
        data = mine[0]["data"] if mine else ds
        ax.set_title(f"{data} ({profile} profile)", fontsize=9)
        fig.tight_layout()
        path = out_dir / f"{prefix}{ds}.png"
        save(fig, path)
        paths.append(path)
    return paths


def _show(ax, img):
    img = img.detach().float().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(img.permute(1, 2, 0))
    ax.set_xticks([])
    ax.set_yticks([])


def inpainting_figure(x: torch.Tensor, mask: torch.Tensor, filled: dict, path: Path, title: str) -> None:
    rows = [("original", x), ("masked", x * (1 - mask) + 0.5 * mask)] + list(filled.items())
    n = x.shape[0]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.4 * len(rows)), squeeze=False)
    for (name, imgs), axrow in zip(rows, axes):
        for k, ax in enumerate(axrow):
            if imgs is None:
                ax.axis("off")
                if k == 0:
                    ax.text(0, 0.5, f"{name}: non-finite fill", fontsize=8, transform=ax.transAxes)
                continue
            _show(ax, imgs[k])
        axrow[0].set_ylabel(name.replace(" (", "\n("), fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save(fig, path)


#: Figs 2-3 order their panels so: Langevin, STANLEY, MH, HMC, GD
SAMPLE_ORDER = ["langevin", "stanley", "mh", "hmc", "gd"]


def samples_figure(grids: dict[str, str], path: Path, title: str) -> None:
    """One panel per curve: its sample grid (a PNG the scoring job wrote), in the paper's order."""
    labels = sorted(grids, key=lambda k: SAMPLE_ORDER.index(k) if k in SAMPLE_ORDER else len(SAMPLE_ORDER))
    fig, axes = plt.subplots(1, len(labels), figsize=(3 * len(labels), 3.3), squeeze=False)
    for ax, label in zip(axes[0], labels):
        ax.imshow(plt.imread(grids[label]), cmap="gray")
        ax.set_title(SAMPLER_NAMES.get(label, label), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save(fig, path)
