"""Data-augmentation transitions for replay-buffer start points (thesis 3.2.2; Du et al. 2020).

Every start point drawn from the buffer is transformed before the chain runs on it, so
chains can jump far in pixel space while staying image-like (Gagnon & Lajoie 5.3.2).
The transforms are batched tensor operations that draw all their randomness from the
caller's ``torch.Generator``, so a resumed run repeats them exactly.

``du2020`` follows the CIFAR-10 transform of the code the thesis built on: a random
resized crop (area fraction in ``crop_scale``, aspect ratio in ``crop_ratio``), a
horizontal flip, colour jitter of strength s (brightness, contrast and saturation
factors in [1 - 0.8 s, 1 + 0.8 s], applied with probability ``color_prob``; no hue
shift) and grey-scale with probability ``gray_prob``. Colour operations apply to
3-channel images only. ``none`` leaves the start points unchanged (that code's MNIST
setting); ``elastic`` warps each image (ebmlab.train.deform). Further transitions register here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ebmlab.config import UNIT, Bound, Registry, Tagged, TaggedType, check, field

Augment = Callable[[Tensor, torch.Generator], Tensor]


@dataclasses.dataclass
class NoAugmentConfig:
    """Start points are used as drawn."""


@dataclasses.dataclass
class Du2020AugmentConfig:
    """Random resized crop, flip, colour jitter and grey-scale (Du et al. 2020, CIFAR-10)."""

    crop_scale: tuple[float, float] | None = field((0.08, 1.0), doc="area fraction range of the crop; null = no crop")
    crop_ratio: tuple[float, float] = field((3 / 4, 4 / 3), doc="aspect-ratio range of the crop")
    flip: bool = field(True, doc="horizontal flip with probability 1/2")
    color_strength: float = field(1.0, bound=Bound(lo=0.0), doc="jitter strength s; 0 = no colour jitter")
    color_prob: float = field(0.8, bound=UNIT, doc="probability of colour jitter per image")
    gray_prob: float = field(0.2, bound=UNIT, doc="probability of grey-scale per image")

    def __post_init__(self):
        if self.crop_scale is not None:
            lo, hi = self.crop_scale
            check(0 < lo <= hi <= 1, f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        check(0 < self.crop_ratio[0] <= self.crop_ratio[1], f"bad crop_ratio {self.crop_ratio}")


REGISTRY = Registry("augmentation")
REGISTRY.register("none", NoAugmentConfig)
REGISTRY.register("du2020", Du2020AugmentConfig)
#: annotation for a config field that holds an augmentation specification
AugmentSpec = TaggedType(REGISTRY)
_BUILDERS: dict[str, Callable] = {}


def register(name: str, config_cls: type, builder: Callable[[object, tuple[float, float]], Augment | None]) -> None:
    """Add a transition: ``builder(config, value_range)`` returns ``f(x, generator)`` or None."""
    REGISTRY.register(name, config_cls)
    _BUILDERS[name] = builder


def build_augment(spec: Tagged, value_range: tuple[float, float] = (0.0, 1.0)) -> Augment | None:
    """The transition for a spec, for images with values in ``value_range`` (None = identity)."""
    return _BUILDERS[spec.name](spec.config, value_range)


def _uniform(n: int, lo: float, hi: float, like: Tensor, gen: torch.Generator) -> Tensor:
    return lo + (hi - lo) * torch.rand((n,), generator=gen, device=like.device, dtype=like.dtype)


def _bernoulli(n: int, p: float, like: Tensor, gen: torch.Generator) -> Tensor:
    return torch.rand((n,), generator=gen, device=like.device) < p


def resized_crop(x: Tensor, gen: torch.Generator, scale: tuple[float, float] | None,
                 ratio: tuple[float, float], flip: bool) -> Tensor:
    """Random crop of area fraction ``scale`` and aspect ``ratio``, resized back (bilinear)."""
    n = x.shape[0]
    if scale is None:
        sx = sy = torch.ones(n, device=x.device, dtype=x.dtype)
    else:
        area = _uniform(n, scale[0], scale[1], x, gen)
        log_r = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), x, gen)
        r = log_r.exp()
        sx = (area * r).sqrt().clamp(max=1.0)   # crop width / image width
        sy = (area / r).sqrt().clamp(max=1.0)
    cx = (1 - sx) * _uniform(n, -1.0, 1.0, x, gen)   # crop centre, normalised coordinates
    cy = (1 - sy) * _uniform(n, -1.0, 1.0, x, gen)
    sign = torch.ones_like(sx)
    if flip:
        sign = torch.where(_bernoulli(n, 0.5, x, gen), -sign, sign)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = sx * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = sy, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(x: Tensor) -> Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def color_jitter(x: Tensor, gen: torch.Generator, strength: float, prob: float, gray_prob: float) -> Tensor:
    """Brightness, contrast, saturation jitter and random grey-scale on [0, 1] RGB images."""
    n = x.shape[0]
    if strength > 0 and prob > 0:
        lo, hi = max(0.0, 1 - 0.8 * strength), 1 + 0.8 * strength
        b, c, s = (_uniform(n, lo, hi, x, gen).view(n, 1, 1, 1) for _ in range(3))
        y = (x * b).clamp(0, 1)
        mean = _gray(y).mean(dim=(1, 2, 3), keepdim=True)
        y = ((y - mean) * c + mean).clamp(0, 1)
        g = _gray(y)
        y = ((y - g) * s + g).clamp(0, 1)
        x = torch.where(_bernoulli(n, prob, x, gen).view(n, 1, 1, 1), y, x)
    if gray_prob > 0:
        x = torch.where(_bernoulli(n, gray_prob, x, gen).view(n, 1, 1, 1), _gray(x).expand_as(x), x)
    return x


def _du2020(cfg: Du2020AugmentConfig, value_range: tuple[float, float]) -> Augment:
    lo, hi = value_range

    def apply(x: Tensor, gen: torch.Generator) -> Tensor:
        u = (x - lo) / (hi - lo)
        u = resized_crop(u, gen, cfg.crop_scale, cfg.crop_ratio, cfg.flip)
        if u.shape[1] == 3:
            u = color_jitter(u, gen, cfg.color_strength, cfg.color_prob, cfg.gray_prob)
        return lo + (hi - lo) * u.clamp(0, 1)

    return apply


_BUILDERS["none"] = lambda cfg, value_range: None
_BUILDERS["du2020"] = _du2020

# Gagnon & Lajoie 6.3: elastic deformations with the elasticdeform package (ebmlab.train.deform)
from ebmlab.train.deform import ElasticConfig, elastic_augment  # noqa: E402

register("elastic", ElasticConfig, elastic_augment)
