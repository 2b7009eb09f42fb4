"""Toy 2-D data sets with known structure."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from ebmlab.config import POSITIVE, Bound, check, field

GMM4_CENTERS = ((10.0, 0.0), (0.0, 10.0), (-10.0, 0.0), (0.0, -10.0))


@dataclasses.dataclass
class GaussianMixtureConfig:
    """Equal-weight mixture of isotropic Gaussians (thesis section 4.1: 4 unit-variance components)."""

    centers: list[tuple[float, float]] = field(default_factory=lambda: [list(c) for c in GMM4_CENTERS])
    std: float = field(1.0, bound=POSITIVE, doc="per-coordinate std of every component")
    n_train: int = field(1000, bound=Bound(lo=1), doc="number of training points")

    def __post_init__(self):
        check(len(self.centers) >= 1, "centers must not be empty")


def gaussian_mixture(n: int, centers, std: float, generator: torch.Generator | None = None
                     ) -> tuple[Tensor, Tensor]:
    """``n`` points from an equal-weight mixture; returns (points (n, d), component labels (n,))."""
    c = torch.as_tensor(centers, dtype=torch.float32)
    labels = torch.randint(len(c), (n,), generator=generator)
    x = c[labels] + std * torch.randn((n, c.shape[1]), generator=generator)
    return x, labels
