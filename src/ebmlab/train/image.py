"""Image EBM training with persistent chains (thesis Algorithm 7; Du & Mordatch 2019).

One iteration:

1. positives x+: the next mini-batch of the epoch's permutation of the training set,
   converted to floats (with the data module's dequantisation) plus optional Gaussian
   noise of std ``data_noise`` (Nijkamp et al., appendix C);
2. start points x0, by ``init``:

   * ``nll``: drawn from the replay buffer, each replaced by uniform noise with
     probability ``reinit_prob`` (the buffer starts empty, so early starts are noise);
   * ``true_cd``: the buffer is filled with real images first, and each drawn start is
     replaced by a random training image with probability ``reinit_prob``;
   * ``cd_k``: every chain starts at the positive batch (no buffer);
   * ``short_run``: every chain starts from noise, uniform over the data range or Gaussian
     (``start_noise``), with no buffer (Nijkamp et al.; STANLEY Algorithm 1);
   * ``persistent``: every chain starts where it ended at the previous iteration (noise as
     for ``short_run`` at the first one; no buffer, no reinitialisation): STANLEY
     Algorithm 1 read with z_{t-1} carried over, so a sampler that sets its step from the
     start state (STANLEY's gamma) takes it from the previous iterate;

   buffer-drawn starts get the ``augment`` transition (thesis 3.2.2);
3. the sampler of this iteration (a :class:`SamplerSchedule` can switch samplers after
   N iterations, thesis Fig 4.10) runs ``steps`` transitions with the parameters
   frozen, through ``make_target(model)`` (default: autograd);
4. loss = mean E(x+) - mean E(x-) + alpha mean(E(x+)^2 + E(x-)^2) + auxiliary terms,
   one Adam step (optionally gradient-norm clipping), optional EMA of the weights;
5. the final states go back into the buffer (newest replace oldest, or written back
   to their slots with ``buffer_update: replace``).

Each iteration logs d_st = mean E(x+) - mean E(x-) and r_t = mean input-gradient norm
over the chain (Nijkamp et al.'s diagnostics), the loss terms, the per-chain means of
every sampler diagnostic (acceptance, preconditioner statistics, temperature) and the
wall time; every ``chain_log_every`` iterations the per-step diagnostics are kept too.

Checkpoints every ``checkpoint_every`` iterations hold everything the next iteration
depends on (model, optimiser, EMA, buffer, both generators, the epoch's permutation,
logs), so a run killed at any point and started again ends in exactly the state of an
uninterrupted run (on CPU; GPU kernels may be non-deterministic). A non-finite loss,
non-finite samples or an energy beyond ``max_abs_energy`` raise
:class:`ebmlab.cli.Diverged` naming the last good checkpoint, which is left in place (the one
before it is kept too, see :class:`CheckpointStore`); :meth:`ImageTrainer.restore_last_good`
goes back to it, and :func:`train_or_record` applies a study's ``on_diverge`` policy.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from typing import Callable, Literal, Protocol

import torch
from torch import Tensor, nn

from ebmlab.errors import Diverged
from ebmlab.config import NONNEG, POSITIVE, UNIT, Bound, Tagged, check, field
from ebmlab.progress import Progress
from ebmlab.samplers import Sampler, Target
from ebmlab.train.augment import Augment, AugmentSpec, NoAugmentConfig, build_augment
from ebmlab.train.auxloss import AuxContext, AuxSpec, AuxTerm, build_aux
from ebmlab.train.buffer import ReplayBuffer
from ebmlab.train.checkpoint import CheckpointStore
from ebmlab.train.toy import frozen, summarise

InitMode = Literal["nll", "true_cd", "cd_k", "short_run", "persistent"]


@dataclasses.dataclass
class ImageTrainConfig:
    """Thesis Algorithm 7 settings (defaults: the thesis's image settings where it gives them)."""

    epochs: float = field(100.0, bound=POSITIVE, doc="passes over the training set (fractions allowed)")
    max_iterations: int | None = field(None, bound=Bound(lo=1), doc="stop after this many iterations (caps epochs)")
    batch_size: int = field(128, bound=Bound(lo=1), doc="S: positives and chains per iteration")
    steps: int = field(60, bound=Bound(lo=1), doc="N_s: sampler transitions per iteration")
    lr: float = field(1e-4, bound=POSITIVE, doc="learning rate")
    optimizer: Literal["adam", "sgd"] = field("adam", doc="adam, or plain SGD (STANLEY Algorithm 1, line 10)")
    betas: tuple[float, float] = field((0.0, 0.999), doc="Adam betas (beta1 = 0 as in Du & Mordatch)")
    alpha: float = field(1.0, bound=NONNEG, doc="weight of the L2 energy penalty")
    grad_clip_norm: float | None = field(None, bound=POSITIVE, doc="clip the parameter-gradient norm; null = off")
    init: InitMode = field("nll", doc="chain initialisation: nll | true_cd | cd_k | short_run | persistent")
    start_noise: Literal["uniform", "gaussian"] = field(
        "uniform", doc="short_run starts: uniform over the data range, or N(0, start_noise_std^2)")
    start_noise_std: float = field(1.0, bound=POSITIVE, doc="std of gaussian short_run starts")
    buffer_size: int = field(10000, bound=Bound(lo=1), doc="replay-buffer capacity")
    reinit_prob: float = field(0.05, bound=UNIT,
                               doc="per drawn start: replaced by uniform noise (nll) or a data point (true_cd)")
    buffer_update: Literal["add", "replace"] = field(
        "add", doc="add: newest replace oldest (IGEBM); replace: back to the drawn slots (JEM)")
    augment: AugmentSpec = field(default_factory=lambda: Tagged("none", NoAugmentConfig()),
                                 doc="transition applied to buffer-drawn start points")
    data_noise: float = field(0.0, bound=NONNEG, doc="std of Gaussian noise added to x+ (Nijkamp appendix C)")
    ema: float | None = field(None, bound=Bound(lo=0.0, hi=1.0, hi_exclusive=True),
                              doc="decay of an exponential moving average of the weights; null = none")
    aux: list[AuxSpec] = field(default_factory=list, doc="auxiliary loss terms, e.g. [{name: kl}]")
    max_abs_energy: float = field(1000.0, bound=POSITIVE, doc="divergence guard on |E(x+)|, |E(x-)|")
    checkpoint_every: int = field(100, bound=Bound(lo=1), doc="iterations between checkpoints")
    chain_log_every: int = field(10, bound=Bound(lo=1), doc="iterations between stored per-step chain diagnostics")

    def __post_init__(self):
        check(self.betas[0] >= 0 and self.betas[0] < 1 and 0 <= self.betas[1] < 1,
              f"betas must lie in [0, 1), got {self.betas}")

    def iterations(self, n_train: int) -> int:
        """Total iterations: ``epochs`` passes of floor(n_train / batch_size) batches, capped."""
        total = max(1, math.ceil(self.epochs * self.iterations_per_epoch(n_train)))
        return total if self.max_iterations is None else min(total, self.max_iterations)

    def iterations_per_epoch(self, n_train: int) -> int:
        return max(1, n_train // self.batch_size)


class ImageData(Protocol):
    """What the trainer needs from a data set (``ebmlab.data.images.ImageSet`` has it)."""

    x: Tensor  # uint8 (N, C, H, W)

    def to_float(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor: ...


class SamplerSchedule:
    """``first`` for iterations < ``switch_after``, then ``then`` (thesis Fig 4.10)."""

    def __init__(self, first: Sampler, then: Sampler | None = None, switch_after: int | None = None):
        if (then is None) != (switch_after is None):
            raise ValueError("give both then and switch_after, or neither")
        self.first, self.then, self.switch_after = first, then, switch_after

    def at(self, iteration: int) -> Sampler:
        if self.then is not None and iteration >= self.switch_after:
            return self.then
        return self.first


@dataclasses.dataclass
class TrainResult:
    history: list[dict]          # one row per iteration
    chain_log: list[dict]        # {"iteration": t, <diagnostic>: [per-step values]} every chain_log_every
    wall_seconds: float
    resumed_from: int            # iteration the run resumed at (0 = fresh start)
    iterations: int
    last_negatives: Tensor       # final states of the last iteration (CPU)


Hook = Callable[["ImageTrainer", int], dict | None]


def step_size_of(sampler: Sampler) -> float:
    return float(getattr(sampler.config, "step_size", 0.0))


class ImageTrainer:
    """Algorithm 7 as a reusable object; subclasses may override :meth:`loss_terms`.

    ``hooks`` run after every iteration as ``hook(trainer, iteration)`` and may return a
    dict merged into that iteration's log row (e.g. an FID every K iterations); they must
    not consume the trainer's generators, so a resumed run stays exact.
    """

    def __init__(self, model: nn.Module, data: ImageData, cfg: ImageTrainConfig, samplers: SamplerSchedule, *,
                 seed: int = 0, device: str | torch.device = "cpu", value_range: tuple[float, float] = (0.0, 1.0),
                 store: CheckpointStore | None = None, make_target: Callable[[nn.Module], Target] | None = None,
                 augment: Augment | None = None, aux_terms: list[AuxTerm] | None = None,
                 hooks: list[Hook] | None = None, progress: bool | None = None):
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.cfg = cfg
        self.samplers = samplers
        self.value_range = value_range
        self.store = store
        self.make_target = make_target or Target
        self.augment = augment if augment is not None else build_augment(cfg.augment, value_range)
        self.aux_terms = aux_terms if aux_terms is not None else [build_aux(s) for s in cfg.aux]
        self.hooks = hooks or []
        self.progress = progress
        self.data = data
        self.x_all = data.x  # stays on the CPU: batches are converted there, then moved
        self.n_train = self.x_all.shape[0]
        self.image_shape = tuple(self.x_all.shape[1:])
        check(self.n_train >= 1, "the training set is empty")
        self.total = cfg.iterations(self.n_train)
        self.per_epoch = cfg.iterations_per_epoch(self.n_train)
        if cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr)
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.ema = None
        if cfg.ema is not None:
            self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.data_gen = torch.Generator().manual_seed(seed + 1)
        self.uses_buffer = cfg.init in ("nll", "true_cd")
        self.buffer = ReplayBuffer(cfg.buffer_size, device=self.device) if self.uses_buffer else None
        self.perm: Tensor | None = None
        self.iteration = 0
        self.history: list[dict] = []
        self.chain_log: list[dict] = []
        self.wall = 0.0
        self.last_saved: int | None = None
        self.last_negatives: Tensor | None = None
        self._start: dict | None = None   # the state training started from, until a checkpoint exists

    # -- data ---------------------------------------------------------------------
    def positives(self, it: int) -> Tensor:
        """Batch ``it`` of the current epoch (a new permutation at each epoch start)."""
        k = it % self.per_epoch
        if k == 0 or self.perm is None:
            self.perm = torch.randperm(self.n_train, generator=self.data_gen)
        idx = self.perm[k * self.cfg.batch_size:(k + 1) * self.cfg.batch_size]
        x = self.to_float(self.x_all[idx])
        if self.cfg.data_noise > 0:
            x = x + self.cfg.data_noise * self.randn(x.shape)
        return x

    def to_float(self, x_uint8: Tensor) -> Tensor:
        """The data module's conversion (and dequantisation, drawn from the CPU data generator)."""
        return self.data.to_float(x_uint8, self.data_gen).to(self.device, torch.float32)

    def randn(self, shape) -> Tensor:
        return torch.randn(shape, generator=self.gen, device=self.device)

    def uniform_noise(self, n: int) -> Tensor:
        lo, hi = self.value_range
        shape = (n, *self.image_shape)
        return lo + (hi - lo) * torch.rand(shape, generator=self.gen, device=self.device)

    def random_data(self, n: int) -> Tensor:
        idx = torch.randint(self.n_train, (n,), generator=self.data_gen)
        return self.to_float(self.x_all[idx])

    # -- chains -------------------------------------------------------------------
    def start_points(self, x_pos: Tensor) -> tuple[Tensor, Tensor | None]:
        """Chain starts and their buffer slots (None without a buffer)."""
        cfg, n = self.cfg, x_pos.shape[0]
        if cfg.init == "cd_k":
            return x_pos.clone(), None
        if cfg.init == "persistent" and self.last_negatives is not None:
            return self.last_negatives.clone(), None   # z_{t-1}: restored with the checkpoint, so resume is exact
        if cfg.init in ("short_run", "persistent"):
            if cfg.start_noise == "gaussian":
                return cfg.start_noise_std * self.randn((n, *self.image_shape)), None
            return self.uniform_noise(n), None
        if cfg.init == "true_cd" and len(self.buffer) == 0:
            self.buffer.fill(self.random_data(min(cfg.buffer_size, self.n_train)))
        fresh_fn = self.uniform_noise if cfg.init == "nll" else self.random_data
        x0, idx, fresh = self.buffer.sample(n, fresh_fn, cfg.reinit_prob, generator=self.gen)
        if self.augment is not None and bool((~fresh).any()):
            keep = (~fresh).to(x0.device).view(-1, *([1] * (x0.dim() - 1)))
            x0 = torch.where(keep, self.augment(x0, self.gen), x0)
        return x0, idx

    def run_chains(self, sampler: Sampler, x0: Tensor):
        """Sampler run with frozen parameters; returns (result, state before the last step or None)."""
        need_prev = bool(self.aux_terms)
        steps = self.cfg.steps
        self.model.eval()
        with frozen(self.model):
            target = self.make_target(self.model)
            res = sampler.run(target, x0, steps, generator=self.gen, keep_trace=need_prev and steps >= 2,
                              burn_in=max(0, steps - 2))
        x_prev = None
        if need_prev:
            x_prev = res.trace[0] if steps >= 2 else x0
            res.trace = None
        return res, x_prev

    # -- loss ---------------------------------------------------------------------
    def loss_terms(self, x_pos: Tensor, x_neg: Tensor, x_prev: Tensor | None, sampler: Sampler,
                   it: int) -> tuple[Tensor, dict[str, float], Tensor, Tensor]:
        """(loss, logs, E(x+), E(x-)): L_CD + alpha L_2 + auxiliary terms."""
        self.model.train()
        e = self.model(torch.cat([x_pos, x_neg]))
        e_pos, e_neg = e[: x_pos.shape[0]], e[x_pos.shape[0]:]
        cd = e_pos.mean() - e_neg.mean()
        l2 = (e_pos.pow(2) + e_neg.pow(2)).mean()
        loss = cd + self.cfg.alpha * l2
        logs = {"loss_cd": float(cd.detach()), "loss_l2": float(l2.detach())}
        if self.aux_terms:
            self.model.eval()  # no spectral-norm power iteration in the auxiliary passes
            ctx = AuxContext(model=self.model, x_prev=x_prev, x_neg=x_neg, step_size=step_size_of(sampler),
                             value_range=self.value_range, buffer=self.buffer, generator=self.gen, iteration=it)
            for term in self.aux_terms:
                value, extra = term(ctx)
                loss = loss + value
                logs.update(extra)
            self.model.train()
        return loss, logs, e_pos.detach(), e_neg.detach()

    def _diverged(self, it: int, why: str) -> Diverged:
        """The divergence of 0-based iteration ``it``. Messages count from 1: "iteration 7" is the
        seventh iteration, "(after iteration 4)" the state once four iterations were done."""
        if self.store is not None and self.last_saved is not None:
            last = f"{self.store.path} (after iteration {self.last_saved})"
        else:
            last = "none"
        return Diverged(f"iteration {it + 1}: {why}; last good checkpoint: {last}")

    # -- one iteration ------------------------------------------------------------
    def step(self, it: int) -> dict:
        t0 = time.perf_counter()
        cfg = self.cfg
        sampler = self.samplers.at(it)
        x_pos = self.positives(it)
        x0, idx = self.start_points(x_pos)
        res, x_prev = self.run_chains(sampler, x0)
        x_neg = res.x.detach()
        if not bool(torch.isfinite(x_neg).all()):
            raise self._diverged(it, "non-finite chain states")
        loss, logs, e_pos, e_neg = self.loss_terms(x_pos, x_neg, x_prev, sampler, it)
        loss_value = float(loss.detach())
        max_e = float(torch.maximum(e_pos.abs().max(), e_neg.abs().max()))
        if not math.isfinite(loss_value) or not math.isfinite(max_e) or max_e > cfg.max_abs_energy:
            raise self._diverged(it, f"loss={loss_value:.4g}, max|E|={max_e:.4g} (limit {cfg.max_abs_energy:g})")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = None
        if cfg.grad_clip_norm is not None:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip_norm))
        self.opt.step()
        if self.ema is not None:
            self._update_ema()
        if self.buffer is not None:
            if cfg.buffer_update == "add":
                self.buffer.add(x_neg)
            else:
                self.buffer.replace(idx, x_neg)
        self.last_negatives = x_neg
        row = {
            "iteration": it,
            "epoch": it / self.per_epoch,
            "sampler": sampler.name,
            "loss": loss_value,
            **logs,
            "e_pos": float(e_pos.mean()),
            "e_neg": float(e_neg.mean()),
            "d_st": float(e_pos.mean() - e_neg.mean()),
            "param_grad_norm": grad_norm if grad_norm is not None else float("nan"),
            "buffer_size": len(self.buffer) if self.buffer is not None else 0,
        }
        row.update(summarise(res.diagnostics))
        row["r_t"] = row.get("grad_norm_mean", float("nan"))
        if it % cfg.chain_log_every == 0 or it == self.total - 1:
            self.chain_log.append({"iteration": it, "sampler": sampler.name,
                                   **{k: v.detach().double().cpu().tolist() for k, v in res.diagnostics.items()}})
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        row["seconds"] = time.perf_counter() - t0
        return row

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.cfg.ema
        for p_ema, p in zip(self.ema.parameters(), self.model.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(self.ema.buffers(), self.model.buffers()):
            b_ema.copy_(b)

    # -- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optim": self.opt.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "buffer": None if self.buffer is None else self.buffer.state_dict(),
            "gen": self.gen.get_state(),
            "data_gen": self.data_gen.get_state(),
            "perm": self.perm,
            "iteration": self.iteration,
            "history": self.history,
            "chain_log": self.chain_log,
            "wall_seconds": self.wall,
            "last_negatives": None if self.last_negatives is None else self.last_negatives.cpu(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.buffer is not None:
            self.buffer.load_state_dict(state["buffer"])
        self.gen.set_state(state["gen"])
        self.data_gen.set_state(state["data_gen"])
        self.perm = state["perm"]
        self.iteration = state["iteration"]
        self.history = list(state["history"])
        self.chain_log = list(state["chain_log"])
        self.wall = state["wall_seconds"]
        neg = state.get("last_negatives")
        self.last_negatives = None if neg is None else neg.to(self.device)

    def save(self) -> None:
        if self.store is not None:
            self.store.save(self.state_dict())
            self.last_saved = self.iteration
            self._start = None

    def _remember_start(self) -> None:
        """Keep the weights training starts from while no checkpoint holds a good state."""
        if self.last_saved is not None:
            self._start = None
            return
        copy_of = lambda m: None if m is None else {k: v.detach().clone() for k, v in m.state_dict().items()}
        self._start = {"model": copy_of(self.model), "ema": copy_of(self.ema), "iteration": self.iteration,
                       "history": len(self.history), "chain_log": len(self.chain_log)}

    def restore_last_good(self) -> str:
        """After a divergence: back to the last good state, the store's checkpoint (all of it), or
        without one the weights training started from; returns which, for the messages."""
        state = self.store.load() if self.store is not None and self.last_saved is not None else None
        if state is not None:
            self.load_state_dict(state)
            self.last_saved = self.iteration
            return f"{self.store.path} (after iteration {self.iteration})"
        start = self._start
        if start is None:
            return "none (the diverged state is kept)"
        self.model.load_state_dict(start["model"])
        if self.ema is not None and start["ema"] is not None:
            self.ema.load_state_dict(start["ema"])
        self.iteration = start["iteration"]
        del self.history[start["history"]:]
        del self.chain_log[start["chain_log"]:]
        return f"the weights training started from (after iteration {self.iteration})"

    def resume(self) -> int:
        """Load the store's checkpoint if it belongs to this config; returns the iteration
        training goes on from (that of a state loaded by hand, e.g. a previous segment's, if none)."""
        state = self.store.load() if self.store is not None else None
        if state is None:
            return self.iteration
        self.load_state_dict(state)
        self.last_saved = self.iteration
        return self.iteration

    # -- the loop -----------------------------------------------------------------
    def train(self) -> TrainResult:
        resumed = self.resume()
        self._remember_start()
        # a line to stderr (the rule's log) every 30 s when not on a terminal; s/it and the
        # ETA count from the resume point
        with Progress(self.total, "iterations", initial=resumed, enabled=self.progress) as shown:
            for it in range(resumed, self.total):
                row = self.step(it)
                self.iteration = it + 1
                self.wall += row["seconds"]
                for hook in self.hooks:
                    extra = hook(self, it)
                    if extra:
                        row.update(extra)
                self.history.append(row)
                if self.iteration % self.cfg.checkpoint_every == 0 or self.iteration == self.total:
                    self.save()
                shown.update(loss=row["loss"])
        return TrainResult(history=self.history, chain_log=self.chain_log, wall_seconds=self.wall,
                           resumed_from=resumed, iterations=self.total,
                           last_negatives=self.last_negatives.cpu() if self.last_negatives is not None else None)


def history_columns(history: list[dict]) -> list[str]:
    """Union of the rows' keys in first-seen order (rows differ after a sampler switch)."""
    cols: dict[str, None] = {}
    for row in history:
        for k in row:
            cols.setdefault(k, None)
    return list(cols)


__all__ = ["ImageTrainConfig", "ImageTrainer", "SamplerSchedule", "TrainResult", "ImageData", "history_columns"]


def train_or_record(trainer, on_diverge: str):
    """``trainer.train()``, with the study's divergence policy: ``(result, None)`` when it finishes;
    on divergence ``fail`` re-raises, ``record`` writes one line to stderr (the rule's log:
    iteration, |E|, the last good checkpoint) and returns ``(None, message)``; the last good
    checkpoint stays in the trainer's store, and :meth:`ImageTrainer.restore_last_good` puts the
    trainer back there (what a study does before saving its model)."""
    try:
        return trainer.train(), None
    except Diverged as err:
        if on_diverge == "fail":
            raise
        print(f"diverged (recorded; on_diverge: record): {err}", file=sys.stderr, flush=True)
        return None, str(err)
