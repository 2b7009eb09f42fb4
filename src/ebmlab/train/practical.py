"""Nijkamp et al.'s practical options for image-EBM training (practical appendix A-C).

* A, energy rescaling: train U(x) = F(x) / (eps^2 / 2) for a network F. Langevin with
  step eps^2 / 2 and noise eps on U is x' = x - grad F(x) + eps z (their eq. 2A), a
  chain at temperature 1. The matching learning rate is gamma = (eps^2 / 2) gamma_0
  (3A), so that an SGD step on the U-loss moves the weights like gamma_0 on the F-loss;
  with Adam (the image trainer's optimiser) the loss scale cancels in the update, so
  the scaling then simply shrinks the step (documented in docs/cd_vs_nll.md).
* B, learning-rate annealing: start high (0.05 in the appendix), decay to the target
  (0.0005) over about 100,000 updates; here geometrically, per iteration.
* C, noise on the data: x+ = x + eps_data * N(0, I) each time a training image is drawn,
  eps_data = 2 eps by default (the trainer's ``data_noise``).
"""

from __future__ import annotations

import dataclasses
import math

from torch import Tensor, nn

from ebmlab.config import POSITIVE, Bound, check, field


class ScaledEnergy(nn.Module):
    """U(x) = F(x) / (eps^2 / 2) (appendix eq. 1A); ``net`` stays reachable for saving."""

    def __init__(self, net: nn.Module, eps: float):
        super().__init__()
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.net = net
        self.eps = float(eps)
        self.scale = 2.0 / self.eps ** 2

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x) * self.scale


def scaled_lr(gamma0: float, eps: float) -> float:
    """gamma = (eps^2 / 2) gamma_0 (appendix eq. 3A)."""
    return 0.5 * eps ** 2 * gamma0


def data_noise_std(eps: float, factor: float = 2.0) -> float:
    """eps_data = factor * eps (appendix C: factor 2)."""
    return factor * eps


@dataclasses.dataclass
class LRAnnealConfig:
    """Appendix B: geometric decay of the learning rate from ``start`` to ``end``."""

    start: float = field(0.05, bound=POSITIVE, doc="learning rate of the first iteration")
    end: float = field(5e-4, bound=POSITIVE, doc="learning rate after ``iterations`` iterations and later")
    iterations: int = field(100000, bound=Bound(lo=1), doc="length of the decay")

    def __post_init__(self):
        check(self.end <= self.start, f"anneal end {self.end} must not exceed start {self.start}")


def annealed_lr(cfg: LRAnnealConfig, iteration: int) -> float:
    """start * (end / start)^(t / iterations), held at ``end`` after the decay."""
    frac = min(1.0, max(0, iteration) / cfg.iterations)
    return cfg.start * math.exp(frac * math.log(cfg.end / cfg.start))


def lr_annealing_hook(cfg: LRAnnealConfig, scale: float = 1.0):
    """Image-trainer hook: after iteration t, set the rate of iteration t + 1 (and log it).

    The rate is a function of the iteration only and the optimiser state (with its rate)
    is checkpointed, so a resumed run follows the same schedule.
    """

    def hook(trainer, it: int) -> dict:
        lr = scale * annealed_lr(cfg, it + 1)
        for group in trainer.opt.param_groups:
            group["lr"] = lr
        return {"lr_next": lr}

    return hook
