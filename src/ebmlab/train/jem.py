"""JEM training (Grathwohl et al. 2019; thesis sections 2.4 and 4.2.2).

The loss of one iteration is

    L = px_weight * (mean E(x+) - mean E(x-)) + ce_weight * CE(g(x_lab), y_lab)

where E(x) = -logsumexp_y g(x)[y], x+ is a mini-batch of training images, x- are the
end states of ``steps`` sampler transitions started from a persistent replay buffer,
and (x_lab, y_lab) is a second, independently shuffled labelled mini-batch (JEM draws
the generative and the classification batches from two loaders). The generative part
is the image trainer's loss (``alpha`` and ``aux`` terms stay available, both off).

Everything else is :class:`ebmlab.train.image.ImageTrainer` (Algorithm 7: chains with
frozen weights, logging, checkpoints with exact resume, hooks), with JEM's details:

* images are mapped to [-1, 1] as x / 255 * 2 - 1 (no dequantisation), after a random
  crop from a 4-pixel reflect-padded image and a horizontal flip, then N(0, 0.03^2)
  noise is added (``data_augment``, ``data_noise``), for both training batches;
* the buffer holds ``buffer_size`` states, filled with U[-1, 1] noise before the first
  iteration; each drawn start is replaced by fresh noise with probability
  ``reinit_prob`` and every chain's end state is written back to the slot its start was
  drawn from (re-initialised ones too);
* learning rate: linear warm-up from 0 over ``warmup_iters`` iterations, then multiplied
  by ``decay_rate`` at each epoch in ``decay_epochs`` (a function of the iteration
  only, so a resumed run follows the same schedule);
* divergence guard: |L| > ``max_abs_loss`` (1e8 in JEM) raises
  :class:`ebmlab.cli.Diverged` naming the last good checkpoint; with ``restarts: n``
  the trainer instead reloads that checkpoint, reseeds its chain generator with a new
  seed and goes on, at most n times (each restart is logged).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebmlab.errors import Diverged
from ebmlab.config import NONNEG, POSITIVE, Bound, field
from ebmlab.data.images import to_float
from ebmlab.train.image import ImageTrainConfig, ImageTrainer, SamplerSchedule


#: JEM's images and chains live in [-1, 1] (ToTensor, then Normalize(0.5, 0.5))
VALUE_RANGE = (-1.0, 1.0)


@dataclasses.dataclass
class PadCropFlipConfig:
    """Random crop of the original size from a reflect-padded image, then a horizontal flip."""

    pad: int = field(4, bound=Bound(lo=0), doc="pixels of reflect padding on each side (0 = no crop)")
    flip: bool = field(True, doc="horizontal flip with probability 1/2 (JEM: not for SVHN)")


@dataclasses.dataclass
class JEMTrainConfig(ImageTrainConfig):
    """JEM's recipe (train_wrn_ebm.py defaults and README command; see docs/jem.md)."""

    epochs: float = field(100.0, bound=POSITIVE, doc="passes over the training set (thesis: 100; JEM: 200)")
    batch_size: int = field(64, bound=Bound(lo=1), doc="positives, chains and labelled images per iteration")
    steps: int = field(20, bound=Bound(lo=1), doc="sampler transitions per iteration")
    lr: float = field(1e-4, bound=POSITIVE, doc="Adam learning rate after warm-up")
    betas: tuple[float, float] = field((0.9, 0.999), doc="Adam betas")
    alpha: float = field(0.0, bound=NONNEG, doc="weight of an L2 energy penalty (JEM: none)")
    reinit_prob: float = field(0.05, bound=Bound(lo=0.0, hi=1.0), doc="per drawn start: replaced by U[-1, 1] noise")
    buffer_update: Literal["add", "replace"] = field(
        "replace", doc="replace: end states go back to their drawn slots (JEM)")
    data_noise: float = field(0.03, bound=NONNEG, doc="std of Gaussian noise added to training images")
    max_abs_energy: float = field(1e12, bound=POSITIVE, doc="backstop on |E|; JEM's own guard is max_abs_loss")
    checkpoint_every: int = field(200, bound=Bound(lo=1), doc="iterations between checkpoints")
    chain_log_every: int = field(100, bound=Bound(lo=1), doc="iterations between stored per-step chain diagnostics")
    warmup_iters: int = field(1000, bound=Bound(lo=0), doc="linear lr warm-up from 0 (JEM README: 1000; 0 = none)")
    decay_epochs: list[int] = field(default_factory=lambda: [160, 180], doc="epochs at which lr *= decay_rate")
    decay_rate: float = field(0.3, bound=POSITIVE, doc="lr multiplier at each decay epoch")
    px_weight: float = field(1.0, bound=POSITIVE, doc="weight of the generative (CD) term")
    ce_weight: float = field(1.0, bound=NONNEG, doc="weight of the cross-entropy term")
    data_augment: PadCropFlipConfig | None = field(default_factory=PadCropFlipConfig,
                                                   doc="training-image augmentation; null = none")
    max_abs_loss: float = field(1e8, bound=POSITIVE, doc="divergence guard: stop when |loss| exceeds this")
    restarts: int = field(0, bound=Bound(lo=0), doc="on divergence: restart from the last good checkpoint "
                                                    "with a new chain seed, at most this many times")

    def lr_at(self, iteration: int, per_epoch: int) -> float:
        """JEM's schedule: lr * it / warmup while it <= warmup, else lr * rate^(decays passed)."""
        if self.warmup_iters > 0 and iteration <= self.warmup_iters:
            return self.lr * iteration / self.warmup_iters
        epoch = iteration // per_epoch
        return self.lr * self.decay_rate ** sum(1 for d in self.decay_epochs if d <= epoch)


class LabelledImages(Protocol):
    """What the JEM trainer needs: uint8 images (N, C, H, W) and integer labels (N,)."""

    x: Tensor
    y: Tensor


def pad_crop_flip(x: Tensor, pad: int, flip: bool, gen: torch.Generator) -> Tensor:
    """Per image: reflect-pad by ``pad``, crop back to the original size at a random offset, flip."""
    n, _, h, w = x.shape
    dev = x.device
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        oy = torch.randint(2 * pad + 1, (n,), generator=gen, device=dev)
        ox = torch.randint(2 * pad + 1, (n,), generator=gen, device=dev)
        rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]   # (n, 1, h, 1)
        cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]   # (n, 1, 1, w)
        batch = torch.arange(n, device=dev)[:, None, None, None]
        chan = torch.arange(x.shape[1], device=dev)[None, :, None, None]
        x = xp[batch, chan, rows, cols]
    if flip:
        mirror = torch.rand((n,), generator=gen, device=dev) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    return x


class JEMTrainer(ImageTrainer):
    """ImageTrainer with JEM's data pipeline, buffer, loss, lr schedule and divergence restarts.

    The model must provide ``logits(x)`` and ``forward(x) = -logsumexp(logits(x))``
    (:class:`ebmlab.models.wrn.WideResNetEnergy`).
    """

    cfg: JEMTrainConfig

    def __init__(self, model: nn.Module, data: LabelledImages, cfg: JEMTrainConfig, samplers: SamplerSchedule, *,
                 seed: int = 0, **kwargs):
        super().__init__(model, data, cfg, samplers, seed=seed, value_range=VALUE_RANGE, **kwargs)
        self.seed = seed
        if self.buffer is not None:
            self.buffer.reinit_in_place = True
        self.y_all = data.y.long()   # on the CPU beside x_all: batches are indexed there, then moved
        self.label_perm: Tensor | None = None
        self.labelled: tuple[Tensor, Tensor] | None = None
        self.restarts: list[dict] = []
        self._pending_restart: dict | None = None

    # -- data: JEM's transform for both training batches -----------------------------
    def to_float(self, x_uint8: Tensor) -> Tensor:
        """Training transform: k / 255 mapped to [-1, 1] (no dequantisation), then crop and flip."""
        x = to_float(x_uint8.to(self.device), "symmetric")
        aug = self.cfg.data_augment
        if aug is not None:
            x = pad_crop_flip(x, aug.pad, aug.flip, self.gen)
        return x

    def labelled_batch(self, it: int) -> tuple[Tensor, Tensor]:
        """Batch ``it`` of the labelled stream: its own permutation per epoch."""
        k = it % self.per_epoch
        if k == 0 or self.label_perm is None:
            self.label_perm = torch.randperm(self.n_train, generator=self.data_gen)
        idx = self.label_perm[k * self.cfg.batch_size:(k + 1) * self.cfg.batch_size]
        x = self.to_float(self.x_all[idx])
        if self.cfg.data_noise > 0:
            x = x + self.cfg.data_noise * self.randn(x.shape)
        return x, self.y_all[idx].to(self.device)

    def positives(self, it: int) -> Tensor:
        x = super().positives(it)
        self.labelled = self.labelled_batch(it)
        return x

    # -- chains: a buffer full of noise from the start -------------------------------
    def start_points(self, x_pos: Tensor):
        if self.cfg.init == "nll" and len(self.buffer) == 0:
            self.buffer.fill(self.uniform_noise(self.cfg.buffer_size))
        return super().start_points(x_pos)

    # -- loss -------------------------------------------------------------------------
    def loss_terms(self, x_pos, x_neg, x_prev, sampler, it):
        gen_loss, logs, e_pos, e_neg = super().loss_terms(x_pos, x_neg, x_prev, sampler, it)
        x_lab, y_lab = self.labelled
        logits = self.model.logits(x_lab)
        ce = F.cross_entropy(logits, y_lab)
        loss = self.cfg.px_weight * gen_loss + self.cfg.ce_weight * ce
        value = float(loss.detach())
        if not abs(value) <= self.cfg.max_abs_loss:   # also catches NaN
            raise self._diverged(it, f"|loss| = {abs(value):.4g}, not <= {self.cfg.max_abs_loss:g}")
        logs["loss_ce"] = float(ce.detach())
        logs["train_acc"] = float((logits.detach().argmax(1) == y_lab).float().mean())
        return loss, logs, e_pos, e_neg

    # -- one iteration: the lr of this iteration first ----------------------------------
    def step(self, it: int) -> dict:
        lr = self.cfg.lr_at(it, self.per_epoch)
        for group in self.opt.param_groups:
            group["lr"] = lr
        row = super().step(it)
        row["lr"] = lr
        return row

    # -- checkpoints and restarts -------------------------------------------------------
    def state_dict(self) -> dict:
        return {**super().state_dict(), "label_perm": self.label_perm, "restarts": list(self.restarts)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.label_perm = state["label_perm"]
        self.restarts = list(state["restarts"])

    def resume(self) -> int:
        earlier = list(self.restarts)   # the checkpoint predates the restarts made since it was saved
        it = super().resume()
        if self._pending_restart is not None:
            record, self._pending_restart = self._pending_restart, None
            record["resumed_at"] = it
            self.restarts = earlier + [record]
            self.gen.manual_seed(record["seed"])
        return it

    def restart_seed(self, n: int) -> int:
        """The chain seed of restart ``n`` (1, 2, ...): distinct from every other run's seeds."""
        return self.seed + 1_000_003 * n

    def train(self):
        while True:
            try:
                return super().train()
            except Diverged as err:
                if len(self.restarts) >= self.cfg.restarts or self.store is None or self.last_saved is None:
                    raise
                n = len(self.restarts) + 1
                self._pending_restart = {"restart": n, "diverged_at": self.iteration, "reason": str(err),
                                         "seed": self.restart_seed(n)}
                print(f"diverged (restart {n} of {self.cfg.restarts} from the last good checkpoint, chain seed "
                      f"{self.restart_seed(n)}): {err}", file=sys.stderr, flush=True)


__all__ = ["JEMTrainConfig", "JEMTrainer", "PadCropFlipConfig", "pad_crop_flip", "VALUE_RANGE"]
