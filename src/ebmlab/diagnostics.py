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
"""

from __future__ import annotations

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
