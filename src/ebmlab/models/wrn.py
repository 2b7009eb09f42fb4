"""The Wide-ResNet classifier-energy of JEM (Grathwohl et al. 2019; thesis section 2.4).

A classifier with logits g(x) in R^K defines three things (thesis eqs 2.9-2.12):

* p(y | x) = softmax(g(x))[y];
* the joint energy E(x, y) = -g(x)[y];
* the marginal energy E(x) = -logsumexp_y g(x)[y], so p(x) ∝ sum_y exp(g(x)[y]).

``forward`` returns E(x) (the convention of every energy in ebmlab, so the samplers can
use the module directly); ``logits`` returns g(x) for the cross-entropy term.

Architecture (checked against the public JEM code, see docs/jem.md): a 3x3 convolution to
16 channels, three stages of n = (depth - 4) / 6 pre-activation residual blocks with
16k, 32k and 64k channels (k = ``width``; strides 1, 2, 2, the stride sitting on the
block's second convolution; a 1x1 convolution on the shortcut when the shape changes),
then leaky-ReLU, a global average pool and a linear layer to the K logits. Leaky-ReLU
slope 0.2, biases on every convolution, no normalisation and no dropout by default
(JEM's recipe: norm None, dropout 0); PyTorch's default initialisation (JEM defines a
Xavier initialiser but never applies it). WRN-28-10 is depth 28, width 10.

JEM pools with a fixed 8x8 window (its inputs are 32x32); a global average pool is the
same there and also accepts other sizes (28x28 digits end at 7x7).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from ebmlab.config import Bound, check, field


@dataclasses.dataclass
class WRNConfig:
    """Wide-ResNet energy for JEM: depth 6n+4, width multiplier k, K logits."""

    depth: int = field(28, bound=Bound(lo=10), doc="6n + 4 (28 = WRN-28, n = 4 blocks per stage)")
    width: int = field(10, bound=Bound(lo=1), doc="k: stage channels 16k, 32k, 64k (10 = WRN-28-10)")
    n_classes: int = field(10, bound=Bound(lo=2), doc="K, the number of logits")
    leak: float = field(0.2, bound=Bound(lo=0.0, hi=1.0), doc="leaky-ReLU slope")
    norm: Literal["none", "batch", "group"] = field(
        "none", doc="normalisation in the blocks; JEM uses none (batch norm breaks the energy's per-sample meaning)")
    dropout: float = field(0.0, bound=Bound(lo=0.0, hi=1.0, hi_exclusive=True), doc="dropout inside blocks")
    stem_channels: int = field(16, bound=Bound(lo=1), doc="channels of the first convolution (16 in WRN)")

    def __post_init__(self):
        check((self.depth - 4) % 6 == 0, f"depth must be 6n + 4 (e.g. 10, 16, 28), got {self.depth}")

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 4) // 6

    @property
    def stage_channels(self) -> list[int]:
        return [16 * self.width, 32 * self.width, 64 * self.width]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class WideBasic(nn.Module):
    """Pre-activation block: conv(act(norm(x))) -> dropout -> conv(act(norm(.))) + shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, cfg: WRNConfig):
        super().__init__()
        self.leak = cfg.leak
        self.norm1 = _norm(cfg.norm, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.norm2 = _norm(cfg.norm, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=stride, padding=1, bias=True)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride=stride, bias=True)
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        out = self.dropout(self.conv1(F.leaky_relu(self.norm1(x), self.leak)))
        out = self.conv2(F.leaky_relu(self.norm2(out), self.leak))
        return out + self.shortcut(x)


class WideResNetEnergy(nn.Module):
    """JEM's classifier-energy: ``logits(x)`` = g(x), ``forward(x)`` = E(x) = -logsumexp g(x)."""

    def __init__(self, cfg: WRNConfig, in_shape: tuple[int, int, int]):
        super().__init__()
        self.config = cfg
        c_in = in_shape[0]
        self.stem = nn.Conv2d(c_in, cfg.stem_channels, 3, padding=1, bias=True)
        blocks, c = [], cfg.stem_channels
        for stage, (c_out, stride) in enumerate(zip(cfg.stage_channels, (1, 2, 2))):
            for i in range(cfg.blocks_per_stage):
                blocks.append(WideBasic(c, c_out, stride if i == 0 else 1, cfg))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.norm = _norm(cfg.norm, c)
        self.class_output = nn.Linear(c, cfg.n_classes)

    def features(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))
        h = F.leaky_relu(self.norm(h), self.config.leak)
        return h.mean(dim=(2, 3))

    def logits(self, x: Tensor) -> Tensor:
        return self.class_output(self.features(x))

    def forward(self, x: Tensor) -> Tensor:
        return energy_from_logits(self.logits(x))


def energy_from_logits(logits: Tensor) -> Tensor:
    """E(x) = -logsumexp_y g(x)[y] (thesis eq. 2.12)."""
    return -logits.logsumexp(dim=-1)


__all__ = ["WRNConfig", "WideResNetEnergy", "WideBasic", "energy_from_logits"]
