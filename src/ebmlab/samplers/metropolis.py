"""Metropolis-adjusted samplers: MALA, tempered MALA, random-walk MH and HMC.

MALA's default test (``test: exact``) targets exp(-E(x) / T) with the density of the
proposal actually made (noise std sigma), so the chain is exact. ``test: thesis`` is
the thesis's Algorithm 5 as written (read with exp(-E) for E and grad E for
grad log E): target exp(-E) and a proposal density of variance 2h whatever sigma is,
which is not exact unless sigma^2 = 2h. See docs/samplers.md.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from torch import Tensor

from ebmlab.config import OPEN_UNIT, POSITIVE, Bound, check, field
from ebmlab.samplers.base import (
    Sampler, State, Target, clamp_box, clip_grad, flat_sq_norm, grad_norm, mh_accept,
    mh_accept_log_ratio_langevin, per_chain, randn_like, record, select_state,
)


def _temperature(spec: float | str, sigma: float, step: float) -> float:
    return sigma ** 2 / (2 * step) if spec == "implied" else float(spec)


def _check_temperature(spec):
    check(spec == "implied" or (isinstance(spec, float) and spec > 0),
          f"temperature must be 'implied' or a positive number, got {spec!r}")


def _check_choice(name: str, value, choices: tuple[str, ...]):
    check(value in choices, f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


#: the Metropolis-Hastings tests a Langevin proposal can be judged by (MALAConfig.test)
TESTS = ("exact", "thesis")
#: what a sampler with a ``clamp`` box does with a proposal outside it (``box_mode``)
BOX_MODES = ("clamp", "reject")


def outside_box(x: Tensor, box: tuple[float, float]) -> Tensor:
    """Per chain: does any coordinate of ``x`` lie outside [low, high]?"""
    flat = x.reshape(x.shape[0], -1)
    return ((flat < box[0]) | (flat > box[1])).any(dim=1)


def propose_in_box(x_prop: Tensor, box: tuple[float, float] | None, mode: str) -> Tensor:
    """The proposal as the test sees it: clamped into the box (mode 'clamp') or as drawn ('reject')."""
    return clamp_box(x_prop, box) if mode == "clamp" else x_prop


def reject_outside(log_alpha: Tensor, x_prop: Tensor, box: tuple[float, float] | None, mode: str) -> Tensor:
    """log alpha = -inf for proposals outside the box when ``mode == 'reject'``: the MH test
    for the target times the box's indicator, exact for the target truncated to the box."""
    if box is None or mode != "reject":
        return log_alpha
    return torch.where(outside_box(x_prop, box), torch.full_like(log_alpha, -math.inf), log_alpha)


@dataclasses.dataclass
class MALAConfig:
    """Metropolis-adjusted Langevin.

    Proposal x' = x - h grad E(x) + noise_std * xi; accepted with the MH probability
    for the target exp(-E/T). temperature = "implied" uses T = noise_std^2 / (2 h), the
    temperature the proposal is a Langevin step for (T = 1 with the default noise).

    test = "thesis" makes the same moves but judges them as thesis Algorithm 5 writes:
    proposal density of variance 2h (std sqrt(2h), not noise_std), so "implied" means
    T = 1; not exact unless noise_std^2 = 2h (docs/samplers.md).
    """

    step_size: float = field(0.01, bound=POSITIVE)
    noise_std: float | None = field(None, bound=POSITIVE, doc="null = sqrt(2 h)")
    temperature: float | str = field("implied", doc="'implied' or a positive number")
    grad_clip: float | None = field(None, bound=POSITIVE)
    clamp: tuple[float, float] | None = field(None, doc="the box [low, high] of box_mode")
    test: Literal["exact", "thesis"] = field(
        "exact", doc="'exact': MH test with the proposal's own noise std (exact for exp(-E/T)); "
                     "'thesis': Algorithm 5 as written, proposal density of variance 2h, implied T = 1 (inexact)")
    box_mode: Literal["clamp", "reject"] = field(
        "clamp", doc="proposal outside clamp: 'clamp' it before the test (inexact at the box's faces) or "
                     "'reject' it (exact for the target truncated to the box)")

    def __post_init__(self):
        _check_temperature(self.temperature)
        check(self.clamp is None or self.clamp[0] < self.clamp[1], f"bad clamp {self.clamp}")
        _check_choice("test", self.test, TESTS)
        _check_choice("box_mode", self.box_mode, BOX_MODES)

    @property
    def sigma(self) -> float:
        return math.sqrt(2 * self.step_size) if self.noise_std is None else self.noise_std

    @property
    def test_sigma(self) -> float:
        """The std of the proposal density in the MH test: sigma (exact) or sqrt(2h) (thesis)."""
        return self.sigma if self.test == "exact" else math.sqrt(2 * self.step_size)

    @property
    def T(self) -> float:
        if self.test == "thesis" and self.temperature == "implied":
            return 1.0  # the test's density, variance 2h, is a Langevin step at T = 1
        return _temperature(self.temperature, self.sigma, self.step_size)


class MALA(Sampler):
    name = "mala"
    Config = MALAConfig
    metropolis = True

    def info(self):
        return {"temperature": self.config.T, "noise_std": self.config.sigma}

    def _tempering(self, state: State) -> Tensor | float:
        return 1.0

    def step(self, target: Target, state: State, gen, diag) -> State:
        c = self.config
        tau = self._tempering(state)  # energy is E / tau (tempered MALA); 1 for plain MALA
        tau_x = per_chain(tau, state.x) if isinstance(tau, Tensor) else tau
        d_x = clip_grad(state.grad / tau_x, c.grad_clip)
        x_prop = propose_in_box(state.x - c.step_size * d_x + c.sigma * randn_like(state.x, gen),
                                c.clamp, c.box_mode)
        e_prop, g_prop = target.energy_and_grad(x_prop)
        d_prop = clip_grad(g_prop / tau_x, c.grad_clip)
        log_alpha = mh_accept_log_ratio_langevin(
            state.x, state.energy / tau / c.T, d_x, x_prop, e_prop / tau / c.T, d_prop, c.step_size, c.test_sigma)
        accept, prob = mh_accept(reject_outside(log_alpha, x_prop, c.clamp, c.box_mode), gen)
        record(diag, accept_prob=prob.mean(), accept_rate=accept.float().mean(),
               grad_norm=grad_norm(state.grad), energy_mean=state.energy.mean())
        new = State(
            x=select_state(accept, x_prop, state.x),
            energy=torch.where(accept, e_prop, state.energy),
            grad=select_state(accept, g_prop, state.grad),
            extra=dict(state.extra),
        )
        self._adapt(new, prob, diag)
        return new

    def _adapt(self, state: State, prob: Tensor, diag) -> None:
        pass


#: default cap on tempered MALA's tau (see TemperedMALAConfig)
MAX_TAU = 1e30


@dataclasses.dataclass
class TemperedMALAConfig(MALAConfig):
    """Tempered MALA (thesis Algorithm 10).

    The energy is divided by a tempering temperature tau (start ``tau0``). After each
    step whose acceptance probability is <= ``u`` (mean over chains, or per chain when
    ``per_chain``), tau is multiplied by ``factor`` (10 in the thesis): a hotter,
    flatter target raises the acceptance of the next moves (thesis section 3.3.5).
    tau restarts at tau0 for every run and never exceeds ``max_tau``.

    ``max_tau`` defaults to 1e30 (= MAX_TAU): tau is kept in the states' dtype and, growing
    tenfold per low-acceptance step, would pass float32's largest value (3.4e38) after 39 such
    steps and become inf (then E/tau = inf/inf = nan for an infinite energy, and an inf
    temperature diagnostic). 1e30 leaves 8 decades of headroom below that, and E/tau of an
    energy of order 1 (1e-30) is still a normal float32 (>= 1.2e-38), so any run whose tau
    stays below 1e30 is unchanged. At the cap tau stays there: the chain is then a fixed MALA
    on E/max_tau, whose acceptance depends only on the energy differences E(x') - E(x)
    divided by max_tau and on the proposal-density terms of the test. null = no cap, as
    before: tau may overflow to inf.
    """

    u: float = field(0.5, bound=OPEN_UNIT, doc="acceptance threshold")
    factor: float = field(10.0, bound=Bound(lo=1.0, lo_exclusive=True), doc="tau <- tau * factor")
    tau0: float = field(1.0, bound=POSITIVE)
    max_tau: float | None = field(
        MAX_TAU, bound=POSITIVE, doc="cap on tau (it stays there); 1e30 keeps tau and E/tau finite in float32")
    per_chain: bool = field(False, doc="adapt tau per chain instead of on the batch mean")

    def __post_init__(self):
        super().__post_init__()
        check(self.max_tau is None or self.max_tau >= self.tau0,
              f"max_tau must be >= tau0, got max_tau={self.max_tau} and tau0={self.tau0}")


class TemperedMALA(MALA):
    name = "tempered_mala"
    Config = TemperedMALAConfig

    def init(self, target, x):
        s = super().init(target, x)
        s.extra["tau"] = torch.full((x.shape[0],), self.config.tau0, device=x.device, dtype=x.dtype)
        return s

    def _tempering(self, state: State) -> Tensor:
        return state.extra["tau"]

    def _adapt(self, state: State, prob: Tensor, diag) -> None:
        c = self.config
        tau = state.extra["tau"]
        record(diag, temperature=tau.mean())
        low = prob <= c.u if c.per_chain else (prob.mean() <= c.u).expand_as(prob)
        tau = torch.where(low, tau * c.factor, tau)
        if c.max_tau is not None:
            # tau * factor may overflow to inf; the clamp brings it back to the finite cap
            tau = tau.clamp(max=min(c.max_tau, torch.finfo(tau.dtype).max))
        state.extra["tau"] = tau


@dataclasses.dataclass
class RWMHConfig:
    """Random-walk Metropolis-Hastings: x' = x + noise_std * xi, target exp(-E/T).

    With ``clamp`` a box: box_mode "clamp" clamps proposals into it (inexact at its faces),
    "reject" rejects proposals outside it (exact for the target truncated to the box).
    """

    noise_std: float = field(0.1, bound=POSITIVE, doc="proposal std")
    temperature: float = field(1.0, bound=POSITIVE)
    clamp: tuple[float, float] | None = field(None, doc="the box [low, high] of box_mode")
    box_mode: Literal["clamp", "reject"] = field(
        "clamp", doc="proposal outside clamp: 'clamp' it (inexact at the box's faces) or 'reject' it (exact)")

    def __post_init__(self):
        check(self.clamp is None or self.clamp[0] < self.clamp[1], f"bad clamp {self.clamp}")
        _check_choice("box_mode", self.box_mode, BOX_MODES)


class RWMH(Sampler):
    name = "rwmh"
    Config = RWMHConfig
    needs_grad = False
    metropolis = True

    def step(self, target: Target, state: State, gen, diag) -> State:
        c = self.config
        x_prop = propose_in_box(state.x + c.noise_std * randn_like(state.x, gen), c.clamp, c.box_mode)
        e_prop = target.energy(x_prop)
        accept, prob = mh_accept(
            reject_outside(-(e_prop - state.energy) / c.temperature, x_prop, c.clamp, c.box_mode), gen)
        record(diag, accept_prob=prob.mean(), accept_rate=accept.float().mean(), energy_mean=state.energy.mean())
        return State(x=select_state(accept, x_prop, state.x), energy=torch.where(accept, e_prop, state.energy))


@dataclasses.dataclass
class HMCConfig:
    """Hamiltonian Monte Carlo with unit mass (Basics notes section 2.1.3).

    Each transition draws p ~ N(0, I), runs ``n_leapfrog`` leapfrog steps of size
    ``step_size`` on U = E / T and accepts with probability min(1, exp(H - H')).
    One leapfrog step equals MALA with h = step_size^2 / 2 and noise sqrt(2 h).
    With ``reflect = [low, high]`` the target is restricted to that box: a position
    that leaves it is reflected at the wall and its momentum component flipped (Neal
    2011, section 5.1), which keeps the leapfrog map reversible and volume-preserving,
    so the chain stays exact for the truncated density.
    """

    step_size: float = field(0.1, bound=POSITIVE, doc="leapfrog step epsilon")
    n_leapfrog: int = field(10, bound=Bound(lo=1), doc="leapfrog steps per transition")
    temperature: float = field(1.0, bound=POSITIVE)
    reflect: tuple[float, float] | None = field(None, doc="restrict to the box [low, high] by reflection")

    def __post_init__(self):
        check(self.reflect is None or self.reflect[0] < self.reflect[1], f"bad reflect box {self.reflect}")


def reflect_into_box(x: Tensor, p: Tensor, low: float, high: float) -> tuple[Tensor, Tensor]:
    """Fold positions into [low, high] by mirror reflections; flip momenta reflected an odd number of times."""
    width = high - low
    k = torch.floor((x - low) / width)
    y = (x - low) - k * width
    odd = torch.remainder(k, 2) == 1
    return low + torch.where(odd, width - y, y), torch.where(odd, -p, p)


class HMC(Sampler):
    name = "hmc"
    Config = HMCConfig
    metropolis = True

    def step(self, target: Target, state: State, gen, diag) -> State:
        c = self.config
        eps, T = c.step_size, c.temperature
        p0 = randn_like(state.x, gen)
        x, g = state.x, state.grad / T
        p = p0 - 0.5 * eps * g
        e = state.energy
        for i in range(c.n_leapfrog):
            x = x + eps * p
            if c.reflect is not None:
                x, p = reflect_into_box(x, p, *c.reflect)
            e, g_raw = target.energy_and_grad(x)
            g = g_raw / T
            p = p - (eps if i < c.n_leapfrog - 1 else 0.5 * eps) * g
        h_old = state.energy / T + 0.5 * flat_sq_norm(p0)
        h_new = e / T + 0.5 * flat_sq_norm(p)
        accept, prob = mh_accept(h_old - h_new, gen)
        record(diag, accept_prob=prob.mean(), accept_rate=accept.float().mean(),
               grad_norm=grad_norm(state.grad), energy_mean=state.energy.mean())
        return State(x=select_state(accept, x, state.x), energy=torch.where(accept, e, state.energy),
                     grad=select_state(accept, g_raw, state.grad))


__all__ = ["MALA", "TemperedMALA", "RWMH", "HMC", "reflect_into_box", "outside_box", "TESTS", "BOX_MODES",
           "MAX_TAU"]
