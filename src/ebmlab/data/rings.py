"""The 2-D rings toy of STANLEY's Fig 1 (after Nijkamp et al.'s short-run toy).

``groups`` concentric rings of radii r_k = radius * k (k = 1..groups); a point picks a
ring, a uniform angle and a radius r_k + N(0, std^2). STANLEY section 5 says "a
standard deviation of 0.15 as in Nijkamp et al."; their rings config has 4 rings of unit
spacing and width 0.15, which are the defaults here. Ring weights: equal, or
proportional to the radius (equal density along the circumference) as a parameter.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from torch import Tensor

from ebmlab.config import POSITIVE, Bound, field


@dataclasses.dataclass
class RingsConfig:
    """Rings data set and its training split."""

    groups: int = field(4, bound=Bound(lo=1), doc="number of rings")
    radius: float = field(1.0, bound=POSITIVE, doc="radius of the innermost ring = spacing between rings")
    std: float = field(0.15, bound=POSITIVE, doc="radial std of every ring")
    weights: Literal["equal", "radius"] = field("equal", doc="ring probabilities: equal or proportional to radius")
    n_train: int = field(10000, bound=Bound(lo=1), doc="training points (a fixed draw)")

    @property
    def radii(self) -> list[float]:
        return [self.radius * (k + 1) for k in range(self.groups)]

    @property
    def box(self) -> tuple[float, float]:
        """A square holding nearly all the mass (uniform chain starts, if chosen)."""
        r = self.radius * self.groups + 4 * self.std
        return (-r, r)

    @property
    def probs(self) -> Tensor:
        w = torch.tensor(self.radii) if self.weights == "radius" else torch.ones(self.groups)
        return w / w.sum()


def rings(n: int, cfg: RingsConfig, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` points (n, 2) and their ring index (n,)."""
    ring = torch.multinomial(cfg.probs, n, replacement=True, generator=generator)
    r = torch.tensor(cfg.radii)[ring] + cfg.std * torch.randn(n, generator=generator)
    theta = 2 * math.pi * torch.rand(n, generator=generator)
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1), ring


@dataclasses.dataclass
class PointSet:
    """Float points behind the image trainer's data interface (no conversion)."""

    x: Tensor

    def to_float(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return x.float()


__all__ = ["RingsConfig", "rings", "PointSet"]
