"""The appendix's Figs 1-2 layout for one run's learning diagnostics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebmlab.io import atomic_savefig
from ebmlab.plotting import plt


def figure(d_st: np.ndarray, r_t: np.ndarray, summary: dict, path: str | Path, title: str = "") -> None:
    """The appendix's 2x2 layout, with d_st's histogram beside its trace."""
    fig = plt.figure(figsize=(11, 7))
    gs = fig.add_gridspec(2, 3, width_ratios=[3.2, 1, 4.2], wspace=0.35, hspace=0.35)
    it = np.arange(d_st.size)
    ax = fig.add_subplot(gs[0, 0])
    ax.plot(it, d_st, lw=0.6, color="tab:blue")
    ax.axhline(0, color="k", lw=0.6)
    b = int(summary["burn_in"] * d_st.size)
    ax.axvspan(0, b, color="0.9", lw=0)
    ax.set(xlabel="iteration t", ylabel="d_st = E(x+) - E(x-)", title="energy difference")
    axh = fig.add_subplot(gs[0, 1], sharey=ax)
    finite = d_st[np.isfinite(d_st)][b:]
    if finite.size:
        axh.hist(finite, bins=30, orientation="horizontal", color="tab:blue", alpha=0.7)
    axh.axhline(0, color="k", lw=0.6)
    axh.set(xlabel="count", title="tail histogram")
    axh.tick_params(labelleft=False)
    ax = fig.add_subplot(gs[0, 2])
    ax.plot(it, r_t, lw=0.6, color="tab:orange")
    ax.set(xlabel="iteration t", ylabel="r_t", title="Langevin gradient magnitude")
    ax = fig.add_subplot(gs[1, 0:2])
    ax.bar(summary["xcorr_lags"], summary["xcorr_d_st_r_t"], color="tab:purple", width=0.8)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="lag k", ylabel="corr(d_st[t], r_t[t+k])", title="cross-correlation of d_st and r_t")
    ax = fig.add_subplot(gs[1, 2])
    lags = np.arange(len(summary["acf_d_st"]))
    ax.bar(lags - 0.2, summary["acf_d_st"], width=0.4, label="d_st", color="tab:blue")
    ax.bar(lags + 0.2, summary["acf_r_t"], width=0.4, label="r_t", color="tab:orange")
    if "threshold" in summary:
        ax.axhline(summary["threshold"], color="tab:red", ls="--", lw=0.8, label="-2/sqrt(n)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="lag", ylabel="auto-correlation", title="auto-correlation (tail)")
    ax.legend(fontsize=8)
    label = summary.get("label", "?")
    rho = summary.get("acf_lag1", float("nan"))
    fig.suptitle(f"{title}  oscillation: {label} (lag-1 acf of d_st {rho:.2f}; grey: burn-in)".strip())
    atomic_savefig(fig, path, dpi=100, bbox_inches="tight")  # the committed figures' resolution
    plt.close(fig)


def summary_figure(table: list[dict], title: str, path: str | Path) -> None:
    """Every run of a study: lag-1 auto-correlation of d_st against the tail mean of r_t,
    marked by outcome, with the strong-oscillation threshold and the appendix's r_t range."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.axvspan(0.08, 0.15, color="tab:green", alpha=0.12, lw=0, label="r_t range at eps 0.015")
    for outcome, marker, color in (("convergent", "o", "tab:blue"), ("diverged", "x", "tab:red")):
        pts = [(r["r_t_tail_mean"], r["acf_lag1"], r["run"]) for r in table
               if r["outcome"] == outcome and r["r_t_tail_mean"] != "" and r["acf_lag1"] != ""]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, label=outcome)
            for x, y, run in pts:
                ax.annotate(run, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    th = [r["threshold"] for r in table if isinstance(r.get("threshold"), float)]
    if th:
        ax.axhline(min(th), color="tab:red", ls="--", lw=0.8, label="-2/sqrt(n) (strong below)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xscale("log")
    ax.set(xlabel="r_t, tail mean (log)", ylabel="lag-1 auto-correlation of d_st", title=title)
    if not table:
        ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center")
    ax.legend(fontsize=7)
    atomic_savefig(fig, path, dpi=100, bbox_inches="tight")
    plt.close(fig)
