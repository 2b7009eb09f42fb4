"""The IGEBM ResNet energy of Du & Mordatch (2019), with the Du et al. (2020) options.

Architecture (full width, 32x32 inputs): a 3x3 spectral-norm convolution to 128
channels, then residual blocks 128-128-256-256-256-256 arranged as three stages of
two blocks; the first block of each stage down-samples (average pooling by 2), so a
32x32 image reaches 4x4. Every convolution is spectrally normalised, activations are
leaky ReLU with slope 0.2; a ReLU, a sum over positions and a linear layer give the
scalar energy. ``width`` scales every channel count and ``stages`` /
``blocks_per_stage`` set the depth, so tests and the smoke profile can use a tiny net.

Options from Du et al. (2020), thesis section 3.2.1:

* ``scales: [1, 2, 4]``: one energy network per resolution, each reading the input
  average-pooled by that factor (it drops one down-sampling stage per halving), and the
  energies are summed (a product of experts);
* ``self_attention``: a SAGAN-style attention layer (1x1 query/key/value projections,
  a learned gate initialised at 0) after block ``attention_after``.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from ebmlab.config import POSITIVE, Bound, check, field


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    return _sn(module) if enabled else module


@dataclasses.dataclass
class IGEBMConfig:
    """IGEBM ResNet energy (Du & Mordatch 2019), optional multi-scale and self-attention."""

    stages: list[int] = field(default_factory=lambda: [128, 256, 256],
                              doc="channels of each down-sampling stage (before the width multiplier)")
    blocks_per_stage: int = field(2, bound=Bound(lo=1), doc="residual blocks per stage; the first down-samples")
    width: float = field(1.0, bound=POSITIVE, doc="multiplier of every channel count")
    stem_channels: int | None = field(None, bound=Bound(lo=1), doc="channels of the first conv; null = stages[0]")
    spectral_norm: bool = field(True, doc="spectral normalisation on every convolution")
    negative_slope: float = field(0.2, bound=Bound(lo=0.0, hi=1.0), doc="leaky ReLU slope")
    scales: list[int] = field(default_factory=lambda: [1],
                              doc="input down-sampling factors, one energy each, summed; [1, 2, 4] = Du et al. 2020")
    self_attention: bool = field(False, doc="SAGAN self-attention after block attention_after (Du et al. 2020)")
    attention_after: int = field(2, bound=Bound(lo=0), doc="0-based index of the block the attention follows")

    def __post_init__(self):
        check(len(self.stages) >= 1 and all(c >= 1 for c in self.stages),
              f"stages must be a non-empty list of positive channel counts, got {self.stages}")
        check(all(s >= 1 and (s & (s - 1)) == 0 for s in self.scales) and len(set(self.scales)) == len(self.scales),
              f"scales must be distinct powers of two, got {self.scales}")
        check(all(int(math.log2(s)) < len(self.stages) for s in self.scales),
              f"scales {self.scales}: each halving drops a stage, and only {len(self.stages)} stages exist")
        check(not self.self_attention or self.attention_after < len(self.stages) * self.blocks_per_stage,
              f"attention_after={self.attention_after} but the net has "
              f"{len(self.stages) * self.blocks_per_stage} blocks")

    def channels(self, c: int) -> int:
        return max(1, int(round(c * self.width)))


class ResBlock(nn.Module):
    """conv3x3 - lrelu - conv3x3, plus a (1x1 conv) shortcut; then optional avg-pool and lrelu."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, sn: bool, slope: float):
        super().__init__()
        self.conv1 = maybe_sn(nn.Conv2d(c_in, c_out, 3, padding=1), sn)
        self.conv2 = maybe_sn(nn.Conv2d(c_out, c_out, 3, padding=1), sn)
        self.skip = maybe_sn(nn.Conv2d(c_in, c_out, 1, bias=False), sn) if (c_in != c_out or downsample) else None
        self.downsample = downsample
        self.slope = slope

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.leaky_relu(self.conv1(x), self.slope))
        h = h + (x if self.skip is None else self.skip(x))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return F.leaky_relu(h, self.slope)


class SelfAttention(nn.Module):
    """x + gamma * attention(x) over spatial positions (Zhang et al. 2019, as in Du et al. 2020)."""

    def __init__(self, c: int):
        super().__init__()
        inner = max(1, c // 8)
        self.query = nn.Conv2d(c, inner, 1)
        self.key = nn.Conv2d(c, inner, 1)
        self.value = nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)   # (n, hw, c')
        k = self.key(x).flatten(2)                      # (n, c', hw)
        attn = torch.softmax(q @ k, dim=-1)             # (n, hw, hw)
        v = self.value(x).flatten(2)                    # (n, c, hw)
        out = (v @ attn.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.gamma * out


class IGEBMTrunk(nn.Module):
    """One energy network: stem, residual blocks, ReLU, sum pool, linear -> (N,)."""

    def __init__(self, cfg: IGEBMConfig, in_channels: int, n_stages: int):
        super().__init__()
        sn, slope = cfg.spectral_norm, cfg.negative_slope
        stem = cfg.channels(cfg.stem_channels or cfg.stages[0])
        self.stem = maybe_sn(nn.Conv2d(in_channels, stem, 3, padding=1), sn)
        self.slope = slope
        layers: list[nn.Module] = []
        c_in = stem
        for s in range(n_stages):
            c_out = cfg.channels(cfg.stages[s])
            for b in range(cfg.blocks_per_stage):
                layers.append(ResBlock(c_in, c_out, downsample=(b == 0), sn=sn, slope=slope))
                if cfg.self_attention and len(layers) - 1 == cfg.attention_after:
                    layers.append(SelfAttention(c_out))
                c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.linear = nn.Linear(c_in, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(F.leaky_relu(self.stem(x), self.slope))
        h = F.relu(h).sum(dim=(2, 3))
        return self.linear(h).squeeze(-1)


class IGEBM(nn.Module):
    """Sum of one trunk per input scale; ``energies(x)`` returns them separately."""

    def __init__(self, cfg: IGEBMConfig, in_shape: tuple[int, int, int]):
        super().__init__()
        self.config = cfg
        c, h, w = in_shape
        n_down = len(cfg.stages)
        check(min(h, w) >= 2 ** n_down,
              f"model.stages: {n_down} down-samplings need images of at least {2 ** n_down}x{2 ** n_down}, got {h}x{w}")
        self.scales = list(cfg.scales)
        self.trunks = nn.ModuleList(
            IGEBMTrunk(cfg, c, n_down - int(math.log2(s))) for s in self.scales)

    def energies(self, x: Tensor) -> list[Tensor]:
        out = []
        for s, trunk in zip(self.scales, self.trunks):
            xs = x if s == 1 else F.avg_pool2d(x, s)
            out.append(trunk(xs))
        return out

    def forward(self, x: Tensor) -> Tensor:
        es = self.energies(x)
        return es[0] if len(es) == 1 else torch.stack(es).sum(0)
