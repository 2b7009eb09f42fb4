"""Unadjusted gradient samplers: GD, Langevin/SGLD, pSGLD and STANLEY.

All use the energy convention x' = x - step * grad E(x) + noise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from torch import Tensor

from ebmlab.config import NONNEG, POSITIVE, UNIT, Bound, check, field
from ebmlab.samplers.base import (
    Sampler, State, Target, clamp_box, clip_grad, flat_sq_norm, grad_norm, mh_accept_log_ratio_langevin,
    randn_like, record,
)


def _box_ok(box):
    check(box is None or box[0] < box[1], f"clamp must be [low, high] with low < high, got {box}")


@dataclasses.dataclass
class GDConfig:
    """Gradient descent without noise (thesis Algorithm 3)."""

    step_size: float = field(0.01, bound=POSITIVE, doc="h in x' = x - h grad E(x)")
    grad_clip: float | None = field(None, bound=POSITIVE, doc="clamp each gradient element to [-c, c]")
    clamp: tuple[float, float] | None = field(None, doc="clamp states to the box [low, high]")

    def __post_init__(self):
        _box_ok(self.clamp)


class GD(Sampler):
    name = "gd"
    Config = GDConfig

    def step(self, target: Target, state: State, gen, diag) -> State:
        c = self.config
        x_new = clamp_box(state.x - c.step_size * clip_grad(state.grad, c.grad_clip), c.clamp)
        e, g = target.energy_and_grad(x_new)
        record(diag, grad_norm=grad_norm(state.grad), energy_mean=state.energy.mean())
        return State(x=x_new, energy=e, grad=g)


@dataclasses.dataclass
class LangevinConfig:
    """Unadjusted Langevin / SGLD (thesis Algorithms 4 and 8).

    Step size and noise are independent: noise_std = sqrt(2 step_size) (the default,
    when noise_std is null) is the textbook coupling that targets exp(-E); image EBMs
    use e.g. step 100 with noise 1e-4, which targets exp(-E/T) with T = noise^2 / (2 step).
    """

    step_size: float = field(0.01, bound=POSITIVE, doc="h in x' = x - h grad E(x) + noise")
    noise_std: float | None = field(None, bound=NONNEG, doc="std of the Gaussian noise; null = sqrt(2 h)")
    grad_clip: float | None = field(None, bound=POSITIVE, doc="clamp each gradient element to [-c, c]")
    clamp: tuple[float, float] | None = field(None, doc="clamp states to the box [low, high]")
    track_acceptance: bool = field(False, doc="also compute (not apply) the MALA acceptance of each move")
    test: Literal["exact", "thesis"] = field(
        "exact", doc="the tracked acceptance: 'exact' (MALA's test at the implied temperature) or 'thesis' "
                     "(Algorithm 5 as written: T = 1, proposal density of variance 2h), as mala's test")

    def __post_init__(self):
        _box_ok(self.clamp)
        check(self.test in ("exact", "thesis"), f"test must be one of 'exact', 'thesis', got {self.test!r}")

    @property
    def sigma(self) -> float:
        return math.sqrt(2 * self.step_size) if self.noise_std is None else self.noise_std

    @property
    def implied_temperature(self) -> float:
        return self.sigma ** 2 / (2 * self.step_size)


class Langevin(Sampler):
    name = "langevin"
    Config = LangevinConfig

    def info(self):
        return {"implied_temperature": self.config.implied_temperature, "noise_std": self.config.sigma}

    def step(self, target: Target, state: State, gen, diag) -> State:
        c = self.config
        drift = clip_grad(state.grad, c.grad_clip)
        x_new = state.x - c.step_size * drift + c.sigma * randn_like(state.x, gen)
        x_new = clamp_box(x_new, c.clamp)
        e, g = target.energy_and_grad(x_new)
        record(diag, grad_norm=grad_norm(state.grad), energy_mean=state.energy.mean())
        if c.track_acceptance:
            # the acceptance mala (same test) would compute for this move
            T, sigma = (c.implied_temperature, c.sigma) if c.test == "exact" else (1.0, math.sqrt(2 * c.step_size))
            log_alpha = mh_accept_log_ratio_langevin(
                state.x, state.energy / T, drift, x_new, e / T, clip_grad(g, c.grad_clip),
                c.step_size, sigma)
            record(diag, accept_prob=log_alpha.clamp(max=0).exp().mean())
        return State(x=x_new, energy=e, grad=g)


@dataclasses.dataclass
class PSGLDConfig:
    """RMSprop-preconditioned Langevin (Li et al. 2016; thesis Algorithms 2, 6, 9).

    V <- alpha V + (1 - alpha) g*g;  G = 1 / (lam + sqrt(V));
    x' = x - h G g + noise, noise = sqrt(G) * noise_std * xi if precondition_noise
    (Algorithms 2/6) else noise_std * xi (Algorithm 9). V is reset for every run.
    """

    step_size: float = field(0.01, bound=POSITIVE, doc="h")
    noise_std: float | None = field(None, bound=NONNEG, doc="null = sqrt(2 h)")
    alpha: float = field(0.99, bound=Bound(lo=0.0, hi=1.0, hi_exclusive=True), doc="RMSprop decay")
    lam: float = field(1e-5, bound=POSITIVE, doc="lambda, added to sqrt(V)")
    precondition_noise: bool = field(True, doc="scale the noise by sqrt(G) as in Algorithms 2 and 6")
    grad_clip: float | None = field(None, bound=POSITIVE)
    clamp: tuple[float, float] | None = field(None)

    def __post_init__(self):
        _box_ok(self.clamp)

    @property
    def sigma(self) -> float:
        return math.sqrt(2 * self.step_size) if self.noise_std is None else self.noise_std


class PSGLD(Sampler):
    name = "psgld"
    Config = PSGLDConfig

    def info(self):
        return {"noise_std": self.config.sigma}

    def init(self, target, x):
        s = super().init(target, x)
        s.extra["V"] = torch.zeros_like(x)
        return s

    def step(self, target: Target, state: State, gen, diag) -> State:
        c = self.config
        g = clip_grad(state.grad, c.grad_clip)
        V = c.alpha * state.extra["V"] + (1 - c.alpha) * g * g
        G = 1.0 / (c.lam + V.sqrt())
        noise = c.sigma * randn_like(state.x, gen)
        if c.precondition_noise:
            noise = noise * G.sqrt()
        x_new = clamp_box(state.x - c.step_size * G * g + noise, c.clamp)
        e, g_new = target.energy_and_grad(x_new)
        record(diag, grad_norm=grad_norm(state.grad), energy_mean=state.energy.mean(),
               precond_mean=G.mean(), precond_inv_mean=(1.0 / G).mean())
        return State(x=x_new, energy=e, grad=g_new, extra={"V": V})


@dataclasses.dataclass
class StanleyConfig:
    """STANLEY (Algorithm 1, eqs. 4-5), in the energy convention E = -f:

    gamma = step_size * th / max(th, |grad E(z)|)   (elementwise)
    z' = z - gamma / 2 * grad E(z) + sqrt(gamma) * noise_std * xi

    With recompute = "run", gamma is computed once from the gradient at the chains'
    start states (one EBM iteration, as in Algorithm 1); "step" recomputes it each step.
    """

    th: float = field(0.01, bound=POSITIVE, doc="stepsize threshold th")
    noise_std: float = field(0.01, bound=NONNEG, doc="eps, the scale of the Brownian term B_k = eps * xi")
    step_size: float = field(1.0, bound=POSITIVE, doc="multiplier of gamma (1 in the paper)")
    recompute: str = field("run", doc="'run' (Algorithm 1) or 'step'")
    clamp: tuple[float, float] | None = field(None)

    def __post_init__(self):
        check(self.recompute in ("run", "step"), f"recompute must be 'run' or 'step', got {self.recompute!r}")
        _box_ok(self.clamp)


def stanley_gamma(grad: Tensor, th: float, scale: float = 1.0) -> Tensor:
    """Anisotropic step size th / max(th, |grad|), elementwise (STANLEY eq. 4)."""
    return scale * th / torch.clamp(grad.abs(), min=th)


class Stanley(Sampler):
    name = "stanley"
    Config = StanleyConfig

    def init(self, target, x):
        s = super().init(target, x)
        s.extra["gamma"] = stanley_gamma(s.grad, self.config.th, self.config.step_size)
        return s

    def step(self, target: Target, state: State, gen, diag) -> State:
        c = self.config
        gamma = state.extra["gamma"]
        if c.recompute == "step":
            gamma = stanley_gamma(state.grad, c.th, c.step_size)
        noise = gamma.sqrt() * c.noise_std * randn_like(state.x, gen)
        x_new = clamp_box(state.x - 0.5 * gamma * state.grad + noise, c.clamp)
        e, g = target.energy_and_grad(x_new)
        record(diag, grad_norm=grad_norm(state.grad), energy_mean=state.energy.mean(), step_mean=gamma.mean())
        return State(x=x_new, energy=e, grad=g, extra={"gamma": gamma})


__all__ = ["GD", "Langevin", "PSGLD", "Stanley", "stanley_gamma", "flat_sq_norm"]
