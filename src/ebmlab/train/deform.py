"""Elastic-deformation transitions (Gagnon & Lajoie 6.3) with the ``elasticdeform`` package.

A deformation draws a random displacement (in pixels, N(0, sigma^2)) for each point of
a ``points`` x ``points`` control grid, per image, and warps the image with
``elasticdeform.deform_grid`` (spline interpolation of the displacement field, the
implementation the paper cites: van Tulder 2021). Displacements come from the caller's
``torch.Generator``, so a resumed run repeats them. Spline interpolation of order 3
can overshoot the pixel range; results are clipped back into ``value_range``.

Used two ways: every start point drawn from the replay buffer is warped during
training (an ``augment`` transition of the image trainer), and at test time a
sampler callback warps the chains every ``every`` Langevin steps.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal

import numpy as np
import torch
from torch import Tensor

from ebmlab.errors import DataError
from ebmlab.config import NONNEG, Bound, field

INSTALL_HINT = ("reinstall it from source so it is compiled against the installed numpy: "
                "pip install --force-reinstall --no-deps --no-binary elasticdeform elasticdeform==0.5.1")


def elasticdeform_module():
    """The ``elasticdeform`` module, or a one-line DataError saying how to repair the install."""
    try:
        import elasticdeform
    except Exception as err:  # the PyPI wheel of 0.5.1 is built against numpy 1.x
        raise DataError(f"the elasticdeform package does not load ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else ''}); {INSTALL_HINT}") from None
    return elasticdeform


@dataclasses.dataclass
class ElasticConfig:
    """Random elastic deformation of each image (elasticdeform.deform_grid)."""

    sigma: float = field(1.0, bound=NONNEG, doc="std of the control-point displacements, in pixels")
    points: int = field(3, bound=Bound(lo=2), doc="control points per image axis")
    order: int = field(3, bound=Bound(lo=0, hi=5), doc="spline order of the interpolation")
    mode: Literal["constant", "nearest", "mirror", "reflect", "wrap"] = field(
        "constant", doc="how pixels outside the image are filled; constant = the range's low value")


def elastic_deform(x: Tensor, cfg: ElasticConfig, gen: torch.Generator,
                   value_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """Warp every image of ``x`` (shape (n, C, H, W)) with its own random displacement field."""
    lib = elasticdeform_module()
    lo, hi = value_range
    n = x.shape[0]
    disp = cfg.sigma * torch.randn((n, 2, cfg.points, cfg.points), generator=gen, device=gen.device,
                                   dtype=torch.float64)
    disp = disp.cpu().numpy()
    imgs = x.detach().cpu().numpy()
    axes = (imgs.ndim - 3, imgs.ndim - 2)  # (H, W) of each (C, H, W) image
    out = np.stack([lib.deform_grid(imgs[i], disp[i], order=cfg.order, mode=cfg.mode, cval=lo, axis=axes)
                    for i in range(n)])
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype).clamp_(lo, hi)


def elastic_augment(cfg: ElasticConfig, value_range: tuple[float, float]) -> Callable[[Tensor, torch.Generator], Tensor]:
    """Builder for the image trainer's augmentation registry: ``f(x, generator)``."""
    elasticdeform_module()  # fail before training starts, not at the first draw
    return lambda x, gen: elastic_deform(x, cfg, gen, value_range)


def deformation_callback(cfg: ElasticConfig, every: int, gen: torch.Generator,
                         value_range: tuple[float, float] = (0.0, 1.0), mask: Tensor | None = None):
    """Sampler callback: warp the chains (those in ``mask``) after every ``every``-th step."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    elasticdeform_module()

    def callback(step: int, x: Tensor) -> Tensor | None:
        if (step + 1) % every:
            return None
        if mask is None:
            return elastic_deform(x, cfg, gen, value_range)
        x = x.clone()
        x[mask] = elastic_deform(x[mask], cfg, gen, value_range)
        return x

    return callback
