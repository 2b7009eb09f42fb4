"""STANLEY's vanilla ConvNet energy (STANLEY section 5: five 3x3 convolutions, stride 1).

The paper gives the layer count, the kernel, the stride and the activation (ReLU on
images) but not the widths or how the last map becomes a scalar. Here: four hidden
convolutions of ``channels`` widths, a fifth convolution to one channel, and the energy
is that map summed over pixels (a sum of local energies, so the network has no
resolution-specific layer). Widths are parameters.

On 2-D points (the rings toy: activation leaky-ReLU 0.05) a 3x3 convolution of a 1x1
input keeps only its centre tap, so the same five layers become five dense layers.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from ebmlab.config import Bound, check, field


@dataclasses.dataclass
class ConvNetConfig:
    """Five layers: len(channels) = 4 hidden widths, then one output channel."""

    channels: list[int] = field(default_factory=lambda: [64, 128, 128, 256],
                                doc="widths of the four hidden layers")
    activation: Literal["relu", "leaky_relu"] = field("relu", doc="relu (images) or leaky_relu (the toy)")
    leaky_slope: float = field(0.05, bound=Bound(lo=0.0, hi=1.0), doc="negative slope of leaky_relu")

    def __post_init__(self):
        check(len(self.channels) == 4 and all(c >= 1 for c in self.channels),
              f"channels must give 4 positive widths (5 layers in all), got {self.channels}")


class VanillaConvNet(nn.Module):
    """E(x) for images (N, C, H, W) or points (N, D)."""

    def __init__(self, cfg: ConvNetConfig, in_shape: tuple[int, ...]):
        super().__init__()
        self.config = cfg
        check(len(in_shape) in (1, 3), f"convnet takes points (D,) or images (C, H, W), got {tuple(in_shape)}")
        self.points = len(in_shape) == 1
        widths = [in_shape[0], *cfg.channels, 1]
        layer = (lambda a, b: nn.Linear(a, b)) if self.points else (lambda a, b: nn.Conv2d(a, b, 3, 1, 1))
        self.layers = nn.ModuleList(layer(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.slope = cfg.leaky_slope if cfg.activation == "leaky_relu" else 0.0

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.leaky_relu(x, self.slope) if self.slope else F.relu(x)
        return x.flatten(1).sum(dim=1)
