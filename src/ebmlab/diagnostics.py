"""MCMC convergence diagnostics.

``rhat`` is the Gelman-Rubin potential scale reduction exactly as thesis section 2.2.6
writes it (Gelman & Rubin 1992, Stan reference manual notation)::

    B    = N / (M - 1) * sum_m (mean_m - mean)^2      between-chain variance
    W    = 1 / M * sum_m s_m^2                        within-chain variance (s_m^2 with N - 1)
    var+ = (N - 1) / N * W + B / N
    R    = sqrt(var+ / W)

``split_rhat`` applies the same formula after cutting every chain in two halves
(2M chains of N // 2 draws; the middle draw of an odd-length chain is dropped), which
also detects chains that drift within themselves.

``bulk_ess`` is the rank-normalised split-chain effective sample size of Vehtari, Gelman,
Simpson, Carpenter and Buerkner (2021, "Rank-normalization, folding, and localization"),
with the multi-chain autocorrelation and Geyer's initial monotone sequence as Stan computes it.

The learning diagnostics of Nijkamp et al. (practical appendix D) read an image trainer's
per-iteration log (``d_st`` = mean E(x+) - mean E(x-), ``r_t`` = mean Langevin input-gradient
norm): ``autocorr``, ``crosscorr``, the ``oscillation`` label of the tail of a run and
``summarise``; ``learning_history`` reads the two columns of a history.csv.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np


def _as_array(draws) -> np.ndarray:
    if hasattr(draws, "detach"):
        draws = draws.detach().cpu().numpy()
    arr = np.asarray(draws, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(f"draws must have shape (chains, draws, ...), got {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"need at least 2 chains and 2 draws, got shape {arr.shape}")
    return arr


def rhat_components(draws) -> dict[str, np.ndarray]:
    """B, W, var+ and R for draws of shape (M chains, N draws, ...); R per trailing element."""
    x = _as_array(draws)
    M, N = x.shape[:2]
    chain_mean = x.mean(axis=1)
    B = N / (M - 1) * ((chain_mean - chain_mean.mean(axis=0)) ** 2).sum(axis=0)
    W = x.var(axis=1, ddof=1).mean(axis=0)
    var_plus = (N - 1) / N * W + B / N
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.sqrt(var_plus / W)
    return {"B": B, "W": W, "var_plus": var_plus, "rhat": R}


def rhat(draws) -> np.ndarray:
    """Gelman-Rubin R-hat (thesis eq. in section 2.2.6); one value per trailing element."""
    return rhat_components(draws)["rhat"]


def split_rhat(draws) -> np.ndarray:
    """R-hat over the 2M half-chains."""
    x = _as_array(draws)
    half = x.shape[1] // 2
    if half < 2:
        raise ValueError(f"split R-hat needs at least 4 draws per chain, got {x.shape[1]}")
    first, second = x[:, :half], x[:, x.shape[1] - half:]
    return rhat(np.concatenate([first, second], axis=0))


def _rank_normal(x: np.ndarray) -> np.ndarray:
    """Pooled ranks mapped to normal scores, (r - 3/8) / (S + 1/4) (Vehtari et al. eq. 14)."""
    from scipy.special import ndtri
    from scipy.stats import rankdata
    r = rankdata(x, method="average").reshape(x.shape)
    return ndtri((r - 0.375) / (x.size + 0.25))


def _ess(x: np.ndarray) -> float:
    """ESS of draws (M chains, N draws) of one scalar: multi-chain autocorrelation, Geyer's
    initial positive and monotone sequence (Stan reference manual, "Effective sample size")."""
    M, N = x.shape
    c = x - x.mean(axis=1, keepdims=True)
    n_fft = 1 << (2 * N - 1).bit_length()
    f = np.fft.rfft(c, n=n_fft, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=n_fft, axis=1)[:, :N] / N      # biased autocovariance
    chain_var = acov[:, 0] * N / (N - 1)
    W = chain_var.mean()
    var_plus = W * (N - 1) / N + (x.mean(axis=1).var(ddof=1) if M > 1 else 0.0)
    if not var_plus > 0:
        return math.nan
    rho = 1.0 - (W - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # sums of adjacent pairs, kept while positive, then made non-increasing
    rho = rho[: 2 * (N // 2)]
    pairs = rho[0::2] + rho[1::2]
    k = np.argmax(pairs <= 0) if np.any(pairs <= 0) else len(pairs)
    pairs = np.minimum.accumulate(pairs[:k])
    tau = -1.0 + 2.0 * pairs.sum()
    return float(M * N / max(tau, 1.0 / math.log10(M * N)))   # Stan's cap on antithetic chains


def bulk_ess(draws) -> np.ndarray:
    """Bulk ESS of draws (M chains, N draws, ...): rank-normalised, each chain split in two;
    one value per trailing element (the draws' total, not per chain)."""
    x = _as_array(draws)
    half = x.shape[1] // 2
    if half < 2:
        raise ValueError(f"bulk ESS needs at least 4 draws per chain, got {x.shape[1]}")
    x = np.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    out = np.array([_ess(_rank_normal(flat[..., j])) for j in range(flat.shape[2])])
    return out.reshape(x.shape[2:])


# ---------------------------------------------------------------------------
# Nijkamp et al.'s learning diagnostics (appendix D)


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
    """The oscillation label of d_st and the numbers it rests on, from the tail of the run.

    ``none``: d_st keeps one sign (under 10% or over 90% positive); ``strong``: its lag-1
    auto-correlation is below -2 / sqrt(n) (the white-noise 95% band); ``weak`` otherwise;
    ``too_short``: fewer than 4 logged iterations in the tail.
    """
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


def summarise(d_st: np.ndarray, r_t: np.ndarray, burn_in: float = 0.5, max_lag: int = 20) -> dict:
    """The oscillation label plus the tail's auto- and cross-correlations of d_st and r_t."""
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


def learning_history(path: str | Path, d_col: str = "d_st", r_col: str = "r_t") -> tuple[np.ndarray, np.ndarray]:
    """Columns ``d_col`` and ``r_col`` of a history.csv (a cell that is not a number: NaN).

    A missing file is a DataError, a missing column a ConfigError (one line each).
    """
    from ebmlab.errors import ConfigError
    from ebmlab.io import require_file
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
