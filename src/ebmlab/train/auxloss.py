"""Auxiliary loss terms added to the contrastive-divergence loss of the image trainer.

A term is a config dataclass registered under a name (``aux: [{name: kl, ...}]`` in a
training config) plus a callable ``term(ctx) -> (loss, logs)``; the trainer adds every
term's loss to L_CD + alpha L_2. New variants (e.g. the sign-corrected KL term of
Gagnon & Lajoie, ``kl_cd`` below) register here with :func:`register`.

``kl``: the auxiliary loss of Du et al. (2020) as Gagnon & Lajoie (section 5.4)
describe it, with the sign Du et al. used:

* L_opt = mean E_{stop-grad(theta)}(x_K), where x_K depends on theta through the last
  sampler step x_K = x_{K-1} - h grad_x E_theta(x_{K-1}) + noise: minimising it pushes the
  sampling process towards low energy (second-order gradients, only the last step, on
  the first ``chains`` chains). Its value is the energy of the actual final states;
  the gradient flows through an unpreconditioned Langevin drift of the sampler's step
  size (for MALA or pSGLD this is an approximation of their last move);
* L_ent = -mean log NN(x_K, B): the nearest-neighbour entropy estimate (Beirlant et
  al. 1997) of the final states against ``entropy_compare`` states drawn from the replay
  buffer, once it holds ``entropy_min_buffer`` states; minimising it repels samples from
  each other (maximises entropy).

loss = weight * L_opt + entropy_weight * L_ent  (Du et al.: weight 1, entropy_weight 0.3).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ebmlab.config import Bound, Registry, Tagged, TaggedType, field
from ebmlab.train.toy import frozen


@dataclasses.dataclass
class AuxContext:
    """What a term may use: the model, the chains' last two states, the trainer."""

    model: nn.Module
    x_prev: Tensor              # chain states before the last sampler step, (n, C, H, W)
    x_neg: Tensor               # final states (the negatives), (n, C, H, W)
    step_size: float            # the current sampler's step size h
    value_range: tuple[float, float]
    buffer: Any                 # ebmlab.train.buffer.ReplayBuffer or None
    generator: torch.Generator
    iteration: int


AuxTerm = Callable[[AuxContext], tuple[Tensor, dict[str, float]]]


@dataclasses.dataclass
class KLLossConfig:
    """Du et al. (2020) KL auxiliary loss: sampler-energy term plus nearest-neighbour entropy."""

    weight: float = field(1.0, doc="weight of L_opt (kl_coeff)")
    chains: int = field(128, bound=Bound(lo=1), doc="chains that get the differentiable last step")
    entropy_weight: float = field(0.3, doc="weight of L_ent = -mean log NN distance; 0 = off")
    entropy_compare: int = field(100, bound=Bound(lo=1), doc="buffer states the NN distance is taken against")
    entropy_min_buffer: int = field(1000, bound=Bound(lo=1), doc="L_ent starts once the buffer holds this many")


def differentiable_last_step(ctx: AuxContext, n: int) -> Tensor:
    """x_K of the first ``n`` chains, with d x_K / d theta through the last Langevin drift.

    Pixels that ended on the boundary of the value range were clamped there, so they
    carry no gradient.
    """
    x_prev = ctx.x_prev[:n].detach().requires_grad_(True)
    energy = ctx.model(x_prev)
    (g,) = torch.autograd.grad(energy.sum(), x_prev, create_graph=True)
    drift = -ctx.step_size * g
    x_neg = ctx.x_neg[:n].detach()
    lo, hi = ctx.value_range
    inside = ((x_neg > lo) & (x_neg < hi)).to(drift.dtype)
    drift = drift * inside
    return x_neg + drift - drift.detach()


def nn_log_distance(x: Tensor, compare: Tensor) -> Tensor:
    """mean_i log min_j ||x_i - compare_j||_2."""
    d = torch.cdist(x.flatten(1), compare.flatten(1).to(x.dtype))
    return d.min(dim=1).values.clamp_min(1e-12).log().mean()


def kl_term(cfg: KLLossConfig) -> AuxTerm:
    def term(ctx: AuxContext) -> tuple[Tensor, dict[str, float]]:
        n = min(cfg.chains, ctx.x_neg.shape[0])
        x_kl = differentiable_last_step(ctx, n)
        with frozen(ctx.model):
            loss_opt = ctx.model(x_kl).mean()
        loss = cfg.weight * loss_opt
        logs = {"kl_opt": float(loss_opt.detach())}
        buf = ctx.buffer
        if cfg.entropy_weight != 0 and buf is not None and len(buf) >= cfg.entropy_min_buffer:
            idx = torch.randint(len(buf), (cfg.entropy_compare,), generator=ctx.generator,
                                device=ctx.generator.device)
            compare = buf.data[idx.to(buf.device)].to(x_kl.device)
            log_nn = nn_log_distance(x_kl, compare)
            loss = loss - cfg.entropy_weight * log_nn
            logs["kl_log_nn"] = float(log_nn.detach())
        return loss, logs

    return term


REGISTRY = Registry("auxiliary loss")
_BUILDERS: dict[str, Callable[[Any], AuxTerm]] = {}


def register(name: str, config_cls: type, builder: Callable[[Any], AuxTerm]) -> None:
    """Add a term: ``builder(config)`` returns ``term(ctx) -> (loss, logs)``."""
    REGISTRY.register(name, config_cls)
    _BUILDERS[name] = builder


register("kl", KLLossConfig, kl_term)


@dataclasses.dataclass
class KLCDLossConfig(KLLossConfig):
    """The KL term with the sign contrastive divergence prescribes (Gagnon & Lajoie 4.2, 5.4.1).

    L_KL = -D_KL[q_theta^t || p_Omega(theta)] = H(q) - E_q[E_Omega] + const: minimising it
    lowers the samples' entropy and raises their energy through the sampler, so the
    loss is the negative of Du et al.'s: -weight L_opt - entropy_weight L_ent.
    """


def kl_cd_term(cfg: KLCDLossConfig) -> AuxTerm:
    du = kl_term(cfg)

    def term(ctx: AuxContext) -> tuple[Tensor, dict[str, float]]:
        loss, logs = du(ctx)
        return -loss, logs

    return term


register("kl_cd", KLCDLossConfig, kl_cd_term)

#: annotation for a config field holding one auxiliary-loss specification
AuxSpec = TaggedType(REGISTRY)


def build_aux(spec: Tagged) -> AuxTerm:
    return _BUILDERS[spec.name](spec.config)
