"""The MNIST energy of Gagnon & Lajoie (section 8.3).

The paper: "a simple 4-layers CNN producing a latent vector of length 128 which is then
passed through two linear layers to output a single scalar". Kernel sizes, strides and
channel counts are not given; ours (docs/cd_vs_nll.md) are

    conv 3x3 s1 (w) -> conv 4x4 s2 (2w) -> conv 4x4 s2 (4w) -> conv kxk valid (latent)
    -> linear (latent -> latent) -> linear (latent -> 1)

where the last convolution covers the whole remaining feature map (7x7 for 28x28
inputs), so its output is the latent vector. ``width`` is w.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from ebmlab.config import Bound, check, field

_ACT = {"leaky_relu": lambda x: F.leaky_relu(x, 0.2), "silu": F.silu, "elu": F.elu}


@dataclasses.dataclass
class GagnonMNISTConfig:
    """Gagnon & Lajoie 8.3: 4 convolutions to a latent vector, two linear layers to the energy."""

    width: int = field(32, bound=Bound(lo=1), doc="channels of the first convolution (then 2w, 4w)")
    latent: int = field(128, bound=Bound(lo=1), doc="length of the latent vector (128 in the paper)")
    activation: Literal["leaky_relu", "silu", "elu"] = field("leaky_relu", doc="leaky_relu has slope 0.2")


class GagnonMNIST(nn.Module):
    def __init__(self, cfg: GagnonMNISTConfig, in_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        c, h, w = in_shape
        check(h >= 8 and w >= 8, f"gagnon_mnist needs images of at least 8x8 pixels, got {h}x{w}")
        self.config = cfg
        k = cfg.width
        self.conv1 = nn.Conv2d(c, k, 3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(k, 2 * k, 4, stride=2, padding=1)
        self.conv3 = nn.Conv2d(2 * k, 4 * k, 4, stride=2, padding=1)
        h3, w3 = h // 4, w // 4  # two stride-2 4x4 convolutions with padding 1
        self.conv4 = nn.Conv2d(4 * k, cfg.latent, (h3, w3))  # covers the map: latent vector
        self.fc1 = nn.Linear(cfg.latent, cfg.latent)
        self.fc2 = nn.Linear(cfg.latent, 1)
        self.act = _ACT[cfg.activation]

    def latent(self, x: Tensor) -> Tensor:
        for conv in (self.conv1, self.conv2, self.conv3):
            x = self.act(conv(x))
        return self.act(self.conv4(x)).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(self.latent(x)))).squeeze(-1)
