"""Exact normalisers of 2-d energies by quadrature on a square grid.

For a density exp(-E(x)) / Z on the plane, Z is a 2-d integral: the midpoint rule on a fine
grid gives log Z (and so an exact test NLL) up to the grid's error, and the grid's cell
probabilities give exact draws (a cell by its mass, then a uniform point inside it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Grid:
    """Midpoints of a res x res grid on [-extent, extent]^2, their energies and log cell masses."""

    points: Tensor      # (res * res, 2)
    cell: float         # cell width
    log_mass: Tensor    # (res * res,) log of each cell's probability under exp(-E) / Z
    log_z: float
    edge_mass: float    # probability in the outermost ring of cells (a check that the grid is wide enough)


def grid(energy: Callable[[Tensor], Tensor], extent: float, resolution: int, batch: int = 65536) -> Grid:
    h = 2.0 * extent / resolution
    axis = -extent + h * (torch.arange(resolution, dtype=torch.float64) + 0.5)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).float()
    with torch.no_grad():
        e = torch.cat([energy(points[i:i + batch]).double().reshape(-1) for i in range(0, len(points), batch)])
    log_w = -e
    log_z_cells = torch.logsumexp(log_w, 0)
    log_mass = log_w - log_z_cells
    ring = torch.zeros(resolution, resolution, dtype=torch.bool)
    ring[[0, -1], :] = True
    ring[:, [0, -1]] = True
    edge = float(log_mass.exp()[ring.reshape(-1)].sum())
    return Grid(points, h, log_mass, float(log_z_cells) + 2 * math.log(h), edge)


def test_nll(energy: Callable[[Tensor], Tensor], x_test: Tensor, g: Grid) -> float:
    """Mean -log p(x) = mean E(x) + log Z over the test points."""
    with torch.no_grad():
        return float(energy(x_test).double().mean()) + g.log_z


def draws(g: Grid, n: int, generator: torch.Generator) -> Tensor:
    """``n`` exact draws of the grid's density: a cell by its mass, a uniform point in it."""
    idx = torch.multinomial(g.log_mass.exp(), n, replacement=True, generator=generator)
    jitter = (torch.rand((n, 2), generator=generator) - 0.5) * g.cell
    return g.points[idx] + jitter.float()


def mixture_energy(centers, std: float) -> Callable[[Tensor], Tensor]:
    """E(x) = -log p(x) of the equal-weight isotropic mixture (normalised: Z = 1)."""
    c = torch.as_tensor(centers, dtype=torch.float32)
    k, d = c.shape

    def energy(x: Tensor) -> Tensor:
        sq = ((x[:, None, :] - c[None].to(x)) ** 2).sum(-1)
        log_p = torch.logsumexp(-0.5 * sq / std ** 2, 1) - math.log(k) - d * math.log(std * math.sqrt(2 * math.pi))
        return -log_p

    return energy
