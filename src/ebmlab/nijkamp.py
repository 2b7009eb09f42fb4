"""Nijkamp et al.'s learning diagnostics for any image-EBM training run (practical appendix D).

From the per-iteration log of a run (``history.csv`` of the image trainer, columns
``d_st`` = mean E(x+) - mean E(x-) and ``r_t`` = mean Langevin input-gradient norm):

* d_st over iterations and its histogram, r_t over iterations;
* the auto-correlation of d_st (and of r_t), and the cross-correlation
  corr(d_st[t], r_t[t + k]) for lags k in [-max_lag, max_lag];
* an oscillation label from the tail of the run (the last ``1 - burn_in`` of it):

  - ``none``: d_st keeps one sign (fewer than 10% or more than 90% positive): no
    oscillation around 0, the learning is drifting;
  - ``strong``: the lag-1 auto-correlation of d_st is below -2 / sqrt(n), the 95% band
    of white noise, i.e. an expansion update tends to follow a contraction one;
  - ``weak`` otherwise (the sign of d_st does not depend on recent iterations);
  - ``too_short``: fewer than 4 logged iterations in the tail (e.g. a run that diverged
    at once): the figure is drawn with what there is.

The figure follows the appendix's Figs 1-2: d_st (upper left, with its histogram),
r_t (upper right), cross-correlation (lower left), auto-correlations (lower right).

    python -m ebmlab.nijkamp --history results/.../history.csv --figure fig.png --metrics m.json
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from ebmlab.cli import guarded, require_file
from ebmlab.errors import ConfigError
from ebmlab.io import atomic_write_json


def autocorr(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample auto-correlation rho(0..max_lag) (biased estimator, rho(0) = 1)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n < 2:
        return np.full(max_lag + 1, np.nan)
    x = x - x.mean()
    var = float(np.dot(x, x))
    if var == 0:
        return np.full(max_lag + 1, np.nan)
    return np.array([np.dot(x[: n - k], x[k:]) / var if k < n else np.nan for k in range(max_lag + 1)])


def crosscorr(x: np.ndarray, y: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """corr(x[t], y[t + k]) for k = -max_lag..max_lag (biased estimator)."""
    lags = np.arange(-max_lag, max_lag + 1)
    n = np.size(x)
    if n < 2:
        return lags, np.full(lags.size, np.nan)
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    norm = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    if norm == 0:
        return lags, np.full(lags.size, np.nan)
    out = []
    for k in lags:
        if abs(k) >= n:
            out.append(np.nan)
        elif k >= 0:
            out.append(np.dot(x[: n - k], y[k:]) / norm)
        else:
            out.append(np.dot(x[-k:], y[: n + k]) / norm)
    return lags, np.array(out)


def oscillation(d_st: np.ndarray, burn_in: float = 0.5) -> dict:
    """The label and the numbers it rests on, from the tail of the run."""
    d = np.asarray(d_st, dtype=np.float64)
    d = d[np.isfinite(d)]
    tail = d[int(burn_in * d.size):]
    n = tail.size
    if n < 4:
        return {"label": "too_short", "n": int(n)}
    rho1 = float(autocorr(tail, 1)[1])
    threshold = -2.0 / math.sqrt(n)
    positive = float(np.mean(tail > 0))
    if positive < 0.1 or positive > 0.9:
        label = "none"
    elif rho1 < threshold:
        label = "strong"
    else:
        label = "weak"
    return {"label": label, "acf_lag1": rho1, "threshold": threshold, "fraction_positive": positive,
            "mean": float(tail.mean()), "std": float(tail.std(ddof=1)), "n": int(n),
            "sign_changes": float(np.mean(np.sign(tail[1:]) != np.sign(tail[:-1])))}


def read_history(path: str | Path, d_col: str = "d_st", r_col: str = "r_t") -> tuple[np.ndarray, np.ndarray]:
    path = require_file(path, "train the run first")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(path, newline="") as fh:
        header = next(csv.reader(fh), [])
    for col in (d_col, r_col):
        if col not in header:
            raise ConfigError(f"{path}: no column {col!r} (columns: {', '.join(header)})")

    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")

    return np.array([num(r[d_col]) for r in rows]), np.array([num(r[r_col]) for r in rows])


def summarise(d_st: np.ndarray, r_t: np.ndarray, burn_in: float = 0.5, max_lag: int = 20) -> dict:
    lag = min(max_lag, max(1, d_st.size - 1))
    tail = slice(int(burn_in * d_st.size), None)
    return {
        **oscillation(d_st, burn_in),
        "burn_in": burn_in,
        "iterations": int(d_st.size),
        "r_t_tail_mean": float(np.nanmean(r_t[tail])) if np.isfinite(r_t[tail]).any() else float("nan"),
        "acf_d_st": autocorr(d_st[tail], lag).tolist(),
        "acf_r_t": autocorr(r_t[tail], lag).tolist(),
        "xcorr_lags": crosscorr(d_st[tail], r_t[tail], lag)[0].tolist(),
        "xcorr_d_st_r_t": crosscorr(d_st[tail], r_t[tail], lag)[1].tolist(),
    }


def figure(d_st: np.ndarray, r_t: np.ndarray, summary: dict, path: str | Path, title: str = "") -> None:
    """The appendix's 2x2 layout, with d_st's histogram beside its trace."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ebmlab.io import atomic_savefig

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
    atomic_savefig(fig, path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _json_safe(v):
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return None if isinstance(v, float) and not math.isfinite(v) else v


def diagnose(history: str | Path, figure_path: str | Path | None, metrics_path: str | Path | None,
             title: str = "", burn_in: float = 0.5, max_lag: int = 20) -> dict:
    """Read one run's history, write its figure and metrics; returns the summary."""
    if not 0 <= burn_in < 1:
        raise ConfigError(f"burn_in must lie in [0, 1), got {burn_in}")
    d, r = read_history(history)
    summary = summarise(d, r, burn_in, max_lag)
    if figure_path:
        figure(d, r, summary, figure_path, title)
    if metrics_path:  # strict JSON: undefined correlations (too few iterations) become null
        atomic_write_json(metrics_path, _json_safe({"history": str(history), "title": title, **summary}))
    return summary


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ebmlab.nijkamp", description=__doc__.split("\n\n")[0])
    p.add_argument("--history", required=True, help="a run's history.csv (columns d_st and r_t)")
    p.add_argument("--figure", help="PNG to write")
    p.add_argument("--metrics", help="JSON to write (label, acf, cross-correlation)")
    p.add_argument("--title", default="")
    p.add_argument("--burn-in", type=float, default=0.5, help="fraction of iterations left out of the label")
    p.add_argument("--max-lag", type=int, default=20)
    args = p.parse_args(argv)
    s = diagnose(args.history, args.figure, args.metrics, args.title, args.burn_in, args.max_lag)
    print(f"{args.history}: oscillation {s['label']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
