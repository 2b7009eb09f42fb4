"""Annealed importance sampling (Neal 2001) of log Z for an energy on a box, and test NLL.

The model density at temperature T on the box B = [low, high]^D is
p(x) = exp(-E(x)/T) / Z_T with Z_T = int_B exp(-E/T) dx. AIS anneals along the
geometric path f_beta(x) = 1_B(x) exp(-beta E(x)/T) from the uniform base (beta = 0,
Z_0 = (high - low)^D) to the model (beta = 1):

    x_0 ~ U(B);  log w += -(beta_k - beta_{k-1}) E(x_{k-1}) / T;  x_k ~ HMC_{f_beta_k}(x_{k-1})

for k = 1..K, and Z_T / Z_0 = E[w]. The transitions are ``ebmlab.samplers`` HMC with
reflection at the box walls (exact for the truncated density). HMC's leapfrog step is
tuned in a pilot run (its own particles and random numbers, ``pilot_steps`` betas of the
same spacing) towards ``target_accept``, interpolated in log beta, and then held fixed
for the estimate, so the final particles' weights are exactly
unbiased for Z_T; log of the average weight is a stochastic lower bound of log Z_T
(Jensen), which makes NLL = E/T + log Z_T optimistic when AIS has not converged.

Standard error of log Z: the delta method on the mean of the weights,
se = std(w) / (mean(w) sqrt(n)); the effective sample size (sum w)^2 / sum w^2 says
how far to trust it (few effective particles: the se is itself unreliable).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Callable, Literal

import numpy as np
import torch
from torch import Tensor

from ebmlab.config import OPEN_UNIT, POSITIVE, Bound, check, field
from ebmlab.progress import progress_range
from ebmlab.samplers import build
from ebmlab.samplers.base import Target, as_target


@dataclasses.dataclass
class AISConfig:
    """AIS from the uniform distribution on the image box to exp(-E/T)."""

    chains: int = field(64, bound=Bound(lo=2), doc="AIS particles (importance weights)")
    steps: int = field(1000, bound=Bound(lo=1), doc="K: intermediate distributions beta_1..beta_K = 1")
    spacing: Literal["geometric", "linear"] = field(
        "geometric", doc="beta_k log-spaced from beta_min to 1, or evenly spaced")
    beta_min: float = field(1e-6, bound=Bound(lo=0.0, hi=1.0, lo_exclusive=True, hi_exclusive=True),
                            doc="first beta of the geometric spacing")
    n_leapfrog: int = field(5, bound=Bound(lo=1), doc="leapfrog steps per HMC transition")
    step_size: float = field(0.05, bound=POSITIVE, doc="initial leapfrog step (tuned by the pilot)")
    target_accept: float = field(0.65, bound=OPEN_UNIT, doc="HMC acceptance the pilot aims at")
    pilot_chains: int = field(16, bound=Bound(lo=1), doc="particles of the step-size pilot run")
    pilot_steps: int = field(500, bound=Bound(lo=2),
                             doc="intermediate distributions of the pilot; its step sizes are interpolated in log beta")
    batch: int | None = field(None, bound=Bound(lo=1), doc="particles per forward pass; null = all")

    def __post_init__(self):
        check(self.spacing != "geometric" or self.steps >= 2, "geometric spacing needs steps >= 2")


@dataclasses.dataclass
class AISResult:
    log_z: float              # log Z_T estimate (log of the mean weight, plus log Z_0)
    log_z_se: float           # delta-method standard error of log_z
    ess: float                # effective sample size of the final weights
    log_w: np.ndarray         # (chains,) final log weights, without log Z_0
    log_z_base: float         # log Z_0 = D log(high - low)
    accept: np.ndarray        # (K,) mean HMC acceptance probability at each beta
    step_sizes: np.ndarray    # (K,) leapfrog step used at each beta


def beta_schedule(cfg: AISConfig) -> np.ndarray:
    """beta_1 < ... < beta_K = 1 (beta_0 = 0 is the base)."""
    if cfg.spacing == "linear":
        return np.linspace(1.0 / cfg.steps, 1.0, cfg.steps)
    return np.geomspace(cfg.beta_min, 1.0, cfg.steps)


def log_mean_exp_se(log_w: np.ndarray) -> tuple[float, float, float]:
    """log mean exp(log_w), its delta-method standard error, and the ESS."""
    log_w = np.asarray(log_w, dtype=np.float64)
    m = log_w.max()
    w = np.exp(log_w - m)
    n = w.size
    mean = w.mean()
    se = w.std(ddof=1) / (mean * math.sqrt(n)) if n > 1 else math.inf
    ess = w.sum() ** 2 / (w ** 2).sum()
    return float(m + math.log(mean)), float(se), float(ess)


def _anneal(target: Target, betas: np.ndarray, x: Tensor, temperature: float, box: tuple[float, float],
            cfg: AISConfig, gen: torch.Generator, step_sizes: np.ndarray | None, progress: bool | None,
            desc: str = "ais"):
    """One AIS pass; adapts the step size when ``step_sizes`` is None (pilot)."""
    hmc = build("hmc", step_size=cfg.step_size, n_leapfrog=cfg.n_leapfrog, temperature=1.0,
                reflect=list(box))
    state = hmc.init(target, x)
    log_w = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    eps = cfg.step_size
    used = np.empty(len(betas))
    diag: dict = defaultdict(list)
    prev = 0.0

    def shown() -> dict:  # the last acceptance and step size, read only when a line is written
        return {"accept": float(diag["accept_prob"][-1]) if diag["accept_prob"] else math.nan, "step_size": eps}

    for k in progress_range(len(betas), desc=desc, enabled=progress, fields=shown):
        beta = float(betas[k])
        log_w -= (beta - prev) * state.energy.double() / temperature
        prev = beta
        if step_sizes is not None:
            eps = float(step_sizes[k])
        hmc.config = dataclasses.replace(hmc.config, step_size=eps, temperature=temperature / beta)
        state = hmc.step(target, state, gen, diag)
        used[k] = eps
        if step_sizes is None:  # Robbins-Monro on log eps towards the target acceptance (host sync)
            acc = float(diag["accept_prob"][-1])
            eps = float(np.clip(eps * math.exp(acc - cfg.target_accept), 1e-7, 10 * (box[1] - box[0])))
    return log_w, used, torch.stack(diag["accept_prob"]).double().cpu().numpy()


def ais_log_z(energy: Callable[[Tensor], Tensor] | Target, shape: tuple[int, ...], cfg: AISConfig, *,
              temperature: float = 1.0, box: tuple[float, float] = (0.0, 1.0),
              generator: torch.Generator | None = None, device: str | torch.device = "cpu",
              dtype: torch.dtype = torch.float32, progress: bool | None = None) -> AISResult:
    """Estimate log Z_T = log int_box exp(-E(x)/T) dx for states of ``shape`` (no chain axis).

    ``progress``: see :mod:`ebmlab.progress` (default: a bar on a terminal, else a line to
    stderr every 30 s of a long pass; ``False``: silent).
    """
    lo, hi = box
    check(hi > lo, f"box must satisfy low < high, got {box}")
    check(temperature > 0, f"temperature must be > 0, got {temperature}")
    gen = generator if generator is not None else torch.Generator(device=device).manual_seed(0)
    target = as_target(energy)
    betas = beta_schedule(cfg)

    def uniform(n):
        return lo + (hi - lo) * torch.rand((n, *shape), generator=gen, device=device, dtype=dtype)

    pilot_betas = beta_schedule(dataclasses.replace(cfg, steps=min(cfg.pilot_steps, cfg.steps)))
    _, pilot_eps, _ = _anneal(target, pilot_betas, uniform(cfg.pilot_chains), temperature, box, cfg, gen, None,
                              progress, "ais pilot")
    steps = np.exp(np.interp(np.log(betas), np.log(pilot_betas), np.log(pilot_eps)))
    size = cfg.batch or cfg.chains
    parts, accepts = [], []
    n_batches = -(-cfg.chains // size)
    for start in range(0, cfg.chains, size):
        n = min(size, cfg.chains - start)
        desc = "ais" if n_batches == 1 else f"ais batch {start // size + 1}/{n_batches}"
        lw, _, acc = _anneal(target, betas, uniform(n), temperature, box, cfg, gen, steps, progress, desc)
        parts.append(lw.cpu().numpy())
        accepts.append(acc * n)
    log_w = np.concatenate(parts)
    d = int(np.prod(shape))
    log_z0 = d * math.log(hi - lo)
    lz, se, ess = log_mean_exp_se(log_w)
    return AISResult(log_z=lz + log_z0, log_z_se=se, ess=ess, log_w=log_w, log_z_base=log_z0,
                     accept=np.sum(accepts, axis=0) / cfg.chains, step_sizes=steps)


def nll_from_ais(energy: Callable[[Tensor], Tensor], x: Tensor, ais: AISResult, temperature: float,
             batch: int = 500) -> dict[str, float]:
    """Mean NLL of ``x`` under exp(-E/T)/Z_T in nats per image and bits per dimension.

    The standard error combines the AIS error of log Z with the spread of E/T over ``x``.
    """
    with torch.no_grad():
        e = torch.cat([energy(x[i:i + batch]).double() for i in range(0, x.shape[0], batch)]) / temperature
    e = e.cpu().numpy()
    n, d = e.size, int(np.prod(x.shape[1:]))
    nll = float(e.mean() + ais.log_z)
    se = math.sqrt(ais.log_z_se ** 2 + (e.var(ddof=1) / n if n > 1 else 0.0))
    to_bpd = 1.0 / (d * math.log(2))
    return {"nll_nats": nll, "nll_nats_se": se, "nll_bits_per_dim": nll * to_bpd,
            "nll_bits_per_dim_se": se * to_bpd, "log_z": ais.log_z, "log_z_se": ais.log_z_se,
            "ais_ess": ais.ess, "energy_over_t_mean": float(e.mean()), "n_test": n}
