"""The sampler interface shared by every MCMC method in ebmlab.

Conventions
-----------
* An energy function maps a batch of chain states ``x`` of shape ``(chains, ...)`` to
  energies of shape ``(chains,)``; the target density is ``exp(-E(x) / T)``.
* A :class:`Target` evaluates energies and input gradients. The default one uses
  autograd; faster engines (compiled graphs, mixed precision) subclass it, and the
  samplers never need to know.
* Every sampler keeps the energy and gradient of its current state, so a step costs
  one evaluation at the proposal (HMC: one per leapfrog step). Langevin and MALA
  therefore cost the same number of gradient evaluations per step.
* Per-step diagnostics are scalar tensors on the states' device (no host
  synchronisation inside the chain); they are stacked to ``(n_steps,)`` at the end.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor

from ebmlab.config import from_dict, to_dict
from ebmlab.progress import progress as progress_iter

EnergyFn = Callable[[Tensor], Tensor]


class Target:
    """Energy and input-gradient evaluation for a batch of chains."""

    def __init__(self, energy_fn: EnergyFn):
        self.energy_fn = energy_fn
        self.n_energy_evals = 0
        self.n_grad_evals = 0

    def energy(self, x: Tensor) -> Tensor:
        self.n_energy_evals += 1
        with torch.no_grad():
            return self.energy_fn(x).detach()

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.n_grad_evals += 1
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            e = self.energy_fn(xg)
            (g,) = torch.autograd.grad(e.sum(), xg)
        return e.detach(), g.detach()

    def prepare(self, sampler: "Sampler") -> None:
        """Called by ``Sampler.run`` before the first evaluation: the sampler that will
        drive this target (an engine may, e.g., keep energies at fp32 accuracy for a
        sampler with a Metropolis test). The default does nothing."""

    def run_chain(self, sampler: "Sampler", state: "State", n_steps: int, generator: torch.Generator | None,
                  diag: dict[str, list[Tensor]], progress: bool | None, desc: str) -> "State | None":
        """Optional fast path for ``n_steps`` plain transitions (no callback, no trace).

        An engine may run the sampler's own ``step`` in a compiled loop here; it must
        draw the same random numbers in the same order, append per-step diagnostics
        (0-d tensors or 1-d chunks) to ``diag`` and count its evaluations. ``None``
        means "not handled": the sampler then steps one transition at a time.
        """
        return None


def as_target(energy: EnergyFn | Target) -> Target:
    return energy if isinstance(energy, Target) else Target(energy)


@dataclasses.dataclass
class State:
    """Current chain states with their (untempered) energy and gradient."""

    x: Tensor
    energy: Tensor | None = None
    grad: Tensor | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SampleResult:
    """What a sampler run returns."""

    x: Tensor                      # final states, shape of x0
    energy: Tensor | None          # (chains,) energy at the final states
    diagnostics: dict[str, Tensor]  # name -> (n_steps,) per-step values, mean over chains
    trace: Tensor | None           # (n_kept, chains, ...) kept draws, if requested
    n_energy_evals: int
    n_grad_evals: int
    info: dict[str, Any]           # constants of the run, e.g. implied temperature


def flat_sq_norm(v: Tensor) -> Tensor:
    """Per-chain squared L2 norm over all trailing dimensions."""
    return v.reshape(v.shape[0], -1).pow(2).sum(dim=1)


def per_chain(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a (chains,) tensor so it broadcasts against ``like``."""
    return v.reshape(v.shape[0], *([1] * (like.dim() - 1)))


class DrawSource:
    """Stands in for a ``torch.Generator`` in the draws below (see ebmlab.engine.chain):
    hands out or records the random tensors a transition uses, in order."""

    def normal(self, shape: torch.Size, like: Tensor) -> Tensor:
        raise NotImplementedError

    def uniform(self, shape: torch.Size, like: Tensor) -> Tensor:
        raise NotImplementedError


def randn_like(x: Tensor, generator: torch.Generator | DrawSource | None) -> Tensor:
    if isinstance(generator, DrawSource):
        return generator.normal(x.shape, x)
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def uniform_like(x: Tensor, generator: torch.Generator | DrawSource | None) -> Tensor:
    if isinstance(generator, DrawSource):
        return generator.uniform(x.shape, x)
    return torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def rand_chains(x: Tensor, generator: torch.Generator | DrawSource | None) -> Tensor:
    return uniform_like(x.new_empty((x.shape[0],)), generator)


def clip_grad(g: Tensor, clip: float | None) -> Tensor:
    return g if clip is None else g.clamp(-clip, clip)


def clamp_box(x: Tensor, box: tuple[float, float] | None) -> Tensor:
    return x if box is None else x.clamp(box[0], box[1])


def mh_accept(log_alpha: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Metropolis-Hastings decision per chain: (accepted mask, acceptance probability)."""
    log_alpha = torch.nan_to_num(log_alpha, nan=-math.inf)
    prob = log_alpha.clamp(max=0.0).exp()
    u = uniform_like(log_alpha, generator)
    return u < prob, prob


def select_state(accept: Tensor, new: Tensor, old: Tensor) -> Tensor:
    return torch.where(per_chain(accept, new), new, old)


class Sampler:
    """Base class: subclasses set ``name`` and ``Config`` and implement ``init``/``step``."""

    name: ClassVar[str]
    Config: ClassVar[type]
    needs_grad: ClassVar[bool] = True
    #: has a Metropolis test, so engines keep its energies at fp32 accuracy
    metropolis: ClassVar[bool] = False

    def __init__(self, config: Any = None, **overrides: Any):
        if config is None:
            config = from_dict(self.Config, overrides, self.name)
        elif overrides:
            config = from_dict(self.Config, {**to_dict(config), **overrides}, self.name)
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({to_dict(self.config)})"

    # -- to implement -------------------------------------------------------
    def init(self, target: Target, x: Tensor) -> State:
        if self.needs_grad:
            e, g = target.energy_and_grad(x)
            return State(x=x, energy=e, grad=g)
        return State(x=x, energy=target.energy(x))

    def step(self, target: Target, state: State, gen: torch.Generator | None,
             diag: dict[str, list[Tensor]]) -> State:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        return {}

    # -- shared driver ------------------------------------------------------
    def run(self, energy: EnergyFn | Target, x0: Tensor, n_steps: int, *,
            generator: torch.Generator | None = None, burn_in: int = 0, thin: int = 1,
            keep_trace: bool = False, callback: Callable[[int, Tensor], Tensor | None] | None = None,
            progress: bool | None = False, desc: str | None = None) -> SampleResult:
        """Run ``n_steps`` transitions from ``x0`` (shape ``(chains, ...)``).

        ``burn_in`` draws are discarded and every ``thin``-th draw after them is kept in
        ``trace`` when ``keep_trace``. ``callback(step, x)`` runs after each step; if it
        returns a tensor, that replaces the chains' states (e.g. a data-augmenting
        transition) and the energy and gradient are re-evaluated there.
        """
        if n_steps < 0 or burn_in < 0 or thin < 1:
            raise ValueError("need n_steps >= 0, burn_in >= 0 and thin >= 1")
        target = as_target(energy)
        target.prepare(self)
        e0, g0 = target.n_energy_evals, target.n_grad_evals
        state = self.init(target, x0.detach().clone())
        diag: dict[str, list[Tensor]] = defaultdict(list)
        kept: list[Tensor] = []
        # an engine's fast path may run the transitions whose states nobody looks at:
        # all of them, or those before burn-in when a trace is kept; never with a callback
        n_fast = 0 if callback is not None else (min(burn_in, n_steps) if keep_trace else n_steps)
        start = 0
        if n_fast > 0:
            fast = target.run_chain(self, state, n_fast, generator, diag, progress, desc or self.name)
            if fast is not None:
                state, start = fast, n_fast
        for t in progress_iter(range(start, n_steps), desc=desc or self.name, total=n_steps - start,
                               enabled=progress):
            state = self.step(target, state, generator, diag)
            if callback is not None:
                replaced = callback(t, state.x)
                if replaced is not None:
                    state = self.reset_at(target, state, replaced.detach())
            draw = t + 1
            if keep_trace and draw > burn_in and (draw - burn_in - 1) % thin == 0:
                kept.append(state.x.detach().clone())
        return SampleResult(
            x=state.x,
            energy=state.energy,
            diagnostics={k: torch.cat([t.reshape(-1) for t in v]) for k, v in diag.items()},
            trace=torch.stack(kept) if keep_trace and kept else None,
            n_energy_evals=target.n_energy_evals - e0,
            n_grad_evals=target.n_grad_evals - g0,
            info=self.info(),
        )

    def reset_at(self, target: Target, state: State, x: Tensor) -> State:
        """Move the chains to ``x`` keeping sampler-specific memory (preconditioner etc.)."""
        fresh = self.init(target, x)
        fresh.extra = {**state.extra, **{k: v for k, v in fresh.extra.items() if k not in state.extra}}
        return fresh


def record(diag: dict[str, list[Tensor]], **values: Tensor) -> None:
    for k, v in values.items():
        diag[k].append(v.detach().float())


def grad_norm(g: Tensor) -> Tensor:
    return flat_sq_norm(g).sqrt().mean()


def mh_accept_log_ratio_langevin(x: Tensor, u_x: Tensor, d_x: Tensor, x_new: Tensor, u_new: Tensor,
                                 d_new: Tensor, step: float | Tensor, sigma: float) -> Tensor:
    """log of the MH ratio for the proposal x' ~ N(x - step * d(x), sigma^2 I).

    ``u_*`` are potentials (energy / temperature) and ``d_*`` the drift gradients at
    both ends; the reverse move uses the drift at x'. Returns one value per chain.
    """
    fwd = flat_sq_norm(x_new - x + step * d_x)
    rev = flat_sq_norm(x - x_new + step * d_new)
    return -(u_new - u_x) - (rev - fwd) / (2 * sigma ** 2)
