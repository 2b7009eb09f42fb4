"""Contrastive divergence with an L2 energy penalty for toy energies (thesis Algorithm 1).

Each epoch: draw the positive batch x+ from the data, start chains at x+ + N(0, s)
(non-persistent), run the sampler for ``steps`` transitions, stop gradients, and take
one Adam step on

    L = alpha * mean(E(x+)^2 + E(x-)^2) + mean(E(x+)) - mean(E(x-)).
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import contextmanager
from typing import Callable, Literal

import torch
from torch import Tensor, nn

from ebmlab.errors import Diverged
from ebmlab.config import NONNEG, POSITIVE, Bound, field
from ebmlab.progress import Progress
from ebmlab.samplers import Sampler, Target
from ebmlab.train.checkpoint import CheckpointStore


@dataclasses.dataclass
class ToyCDConfig:
    """Algorithm 1 settings."""

    epochs: int = field(300, bound=Bound(lo=1), doc="N_e: parameter updates")
    steps: int = field(5000, bound=Bound(lo=1), doc="N_s: sampler transitions per update")
    lr: float = field(1e-3, bound=POSITIVE, doc="Adam learning rate")
    betas: tuple[float, float] = field((0.9, 0.999), doc="Adam betas")
    alpha: float = field(0.1, bound=NONNEG, doc="weight of the L2 energy penalty")
    init_noise: float = field(15.0, bound=NONNEG, doc="chains start at x+ + N(0, init_noise)")
    init_noise_is: Literal["std", "variance"] = field("std", doc="how to read init_noise")
    batch_size: int | None = field(None, bound=Bound(lo=1), doc="positives per update; null = all data")
    checkpoint_every: int = field(10, bound=Bound(lo=1), doc="epochs between checkpoints")
    max_abs_energy: float = field(1e6, bound=POSITIVE, doc="divergence guard on |E|")

    @property
    def init_std(self) -> float:
        return self.init_noise if self.init_noise_is == "std" else math.sqrt(self.init_noise)


def start_points(x: Tensor, std: float, gen: torch.Generator | None) -> Tensor:
    return x + std * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


@contextmanager
def frozen(model: nn.Module):
    """Sampling needs input gradients only: skip building parameter-gradient graphs."""
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    try:
        yield model
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


def summarise(diagnostics: dict[str, Tensor]) -> dict[str, float]:
    """Per-run scalars from per-step diagnostics: mean over the chain and last value."""
    out = {}
    for k, v in diagnostics.items():
        v = v.detach().double().cpu()
        out[f"{k}_mean"] = float(v.mean())
        out[f"{k}_last"] = float(v[-1])
    return out


def train_toy_cd(model: nn.Module, data: Tensor, sampler: Sampler, cfg: ToyCDConfig,
                 gen: torch.Generator, store: CheckpointStore | None = None,
                 progress: bool | None = None, on_epoch: Callable[[dict], None] | None = None,
                 make_target: Callable[[nn.Module], Target] | None = None) -> dict:
    """Train ``model`` in place; returns {'history': [...], 'wall_seconds': float, 'resumed_from': int}.

    ``make_target(model)`` builds the sampler's energy evaluator from the current
    weights each epoch (default: autograd through ``model``).
    """
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    history: list[dict] = []
    start_epoch, wall = 0, 0.0
    resumed = store.load() if store is not None else None
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        opt.load_state_dict(resumed["optim"])
        gen.set_state(resumed["gen"])
        history, start_epoch, wall = resumed["history"], resumed["epoch"], resumed["wall_seconds"]
    last_saved = start_epoch if resumed is not None else None
    n = data.shape[0]
    with Progress(cfg.epochs, "epochs", initial=start_epoch, enabled=progress) as shown:
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            if cfg.batch_size is None or cfg.batch_size >= n:
                x_pos = data
            else:
                x_pos = data[torch.randperm(n, generator=gen)[: cfg.batch_size]]
            x_start = start_points(x_pos, cfg.init_std, gen)
            with frozen(model):
                target = make_target(model) if make_target is not None else model
                res = sampler.run(target, x_start, cfg.steps, generator=gen)
            x_neg = res.x.detach()
            e_pos, e_neg = model(x_pos), model(x_neg)
            cd = e_pos.mean() - e_neg.mean()
            l2 = (e_pos ** 2 + e_neg ** 2).mean()
            loss = cd + cfg.alpha * l2
            max_e = float(torch.maximum(e_pos.detach().abs().max(), e_neg.detach().abs().max()))
            if not math.isfinite(float(loss.detach())) or max_e > cfg.max_abs_energy:
                last = f"{store.path} (after epoch {last_saved})" if store and last_saved else "none"
                # counts from 1: "epoch 3" is the third update, "(after epoch 2)" the state after two
                raise Diverged(f"epoch {epoch + 1}: loss={float(loss.detach()):.3g}, max|E|={max_e:.3g}; "
                               f"last good checkpoint: {last}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            wall += time.perf_counter() - t0
            row = {"epoch": epoch, "loss": float(loss.detach()), "cd": float(cd.detach()), "l2": float(l2.detach()),
                   "e_pos": float(e_pos.detach().mean()), "e_neg": float(e_neg.detach().mean()),
                   **summarise(res.diagnostics)}
            history.append(row)
            if on_epoch is not None:
                on_epoch(row)
            done = epoch + 1
            if store is not None and (done % cfg.checkpoint_every == 0 or done == cfg.epochs):
                store.save({"model": model.state_dict(), "optim": opt.state_dict(), "gen": gen.get_state(),
                            "history": history, "epoch": done, "wall_seconds": wall})
                last_saved = done
            shown.update(loss=row["loss"])
    return {"history": history, "wall_seconds": wall, "resumed_from": start_epoch}
