"""Sample-to-sample distances for low-dimensional toys (STANLEY rings: distance to truth).

Energy distance (Szekely & Rizzo): D^2(P, Q) = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,
zero iff P = Q. The V-statistic below uses all pairs (including i = j, whose
distance is 0), so it is >= 0 for any two samples and exactly 0 for identical ones.

The V-statistic's expected value for two samples of size n from the same distribution is
about 2 E|X - X'| / n, not 0: compare values with that floor (the rings job reports it).

MMD^2 with a Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 bandwidth^2)), same V-statistic.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _mean_cdist(a: Tensor, b: Tensor) -> Tensor:
    return torch.cdist(a.double(), b.double()).mean()


def energy_distance(x: Tensor, y: Tensor) -> float:
    """Squared energy distance between samples x (n, d) and y (m, d)."""
    _check(x, y)
    return float(2 * _mean_cdist(x, y) - _mean_cdist(x, x) - _mean_cdist(y, y))


def mmd_rbf(x: Tensor, y: Tensor, bandwidth: float = 1.0) -> float:
    """Squared maximum mean discrepancy with a Gaussian kernel of the given bandwidth."""
    _check(x, y)
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")

    def k(a, b):
        return torch.exp(-torch.cdist(a.double(), b.double()).pow(2) / (2 * bandwidth ** 2)).mean()

    return float(k(x, x) + k(y, y) - 2 * k(x, y))


def _check(x: Tensor, y: Tensor) -> None:
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need two (n, d) samples of the same d, got {tuple(x.shape)} and {tuple(y.shape)}")


def radial_w1(x: Tensor, y: Tensor) -> float:
    """1-Wasserstein distance between the distributions of |x| and |y| (the radii of 2-D points):
    for rings it measures whether the points sit on the right circles, which the energy
    distance barely sees at a few thousand points."""
    _check(x, y)
    rx, ry = x.double().norm(dim=1).sort().values, y.double().norm(dim=1).sort().values
    # quantile functions on a common grid: exact for equal sizes, interpolated otherwise
    n = max(len(rx), len(ry))
    q = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return float((_quantile(rx, q) - _quantile(ry, q)).abs().mean())


def _quantile(sorted_v: Tensor, q: Tensor) -> Tensor:
    idx = torch.clamp((q * len(sorted_v)).floor().long(), max=len(sorted_v) - 1)
    return sorted_v[idx]


DISTANCES = {"energy": energy_distance, "mmd": mmd_rbf, "radial_w1": radial_w1}

__all__ = ["energy_distance", "mmd_rbf", "radial_w1", "DISTANCES"]
