"""A small convolutional energy for MNIST-sized images.

Like the network Gagnon & Lajoie use on MNIST (section 8.3: a few convolutions to a
latent vector, then two linear layers to a scalar): 3x3 convolutions, the ones marked
in ``strides`` down-sampling, a flatten, a hidden linear layer and a linear output.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from ebmlab.config import Bound, check, field
from ebmlab.models.igebm import maybe_sn

_ACT = {"leaky_relu": lambda x: F.leaky_relu(x, 0.2), "silu": F.silu, "elu": F.elu}


@dataclasses.dataclass
class CNNConfig:
    """Small CNN energy: conv layers -> flatten -> hidden -> scalar."""

    channels: list[int] = field(default_factory=lambda: [32, 64, 64, 128], doc="output channels of each conv")
    strides: list[int] = field(default_factory=lambda: [1, 2, 2, 2], doc="stride of each conv (1 or 2)")
    hidden: int = field(128, bound=Bound(lo=1), doc="width of the hidden linear layer")
    activation: Literal["leaky_relu", "silu", "elu"] = field("leaky_relu", doc="leaky_relu has slope 0.2")
    spectral_norm: bool = field(False, doc="spectral normalisation on every layer")

    def __post_init__(self):
        check(len(self.channels) >= 1 and all(c >= 1 for c in self.channels),
              f"channels must be a non-empty list of positive integers, got {self.channels}")
        check(len(self.strides) == len(self.channels) and all(s in (1, 2) for s in self.strides),
              f"strides must give 1 or 2 for each of the {len(self.channels)} convs, got {self.strides}")


class CNNEnergy(nn.Module):
    def __init__(self, cfg: CNNConfig, in_shape: tuple[int, int, int]):
        super().__init__()
        self.config = cfg
        c, h, w = in_shape
        convs = []
        for c_out, s in zip(cfg.channels, cfg.strides):
            convs.append(maybe_sn(nn.Conv2d(c, c_out, 3, stride=s, padding=1), cfg.spectral_norm))
            c = c_out
            h, w = (h - 1) // s + 1, (w - 1) // s + 1  # 3x3, padding 1
        self.convs = nn.ModuleList(convs)
        self.fc = maybe_sn(nn.Linear(c * h * w, cfg.hidden), cfg.spectral_norm)
        self.out = nn.Linear(cfg.hidden, 1)
        self.act = _ACT[cfg.activation]

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = self.act(conv(x))
        return self.out(self.act(self.fc(x.flatten(1)))).squeeze(-1)
