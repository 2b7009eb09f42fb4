"""A small fully connected energy for low-dimensional toy data."""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import Tensor, nn

from ebmlab.config import POSITIVE, Bound, check, field

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh,
               "softplus": nn.Softplus, "leaky_relu": lambda: nn.LeakyReLU(0.2)}


@dataclasses.dataclass
class MLPConfig:
    """in_dim -> hidden... -> 1; the output is the energy."""

    in_dim: int = field(2, bound=Bound(lo=1))
    hidden: list[int] = field(default_factory=lambda: [128, 128], doc="widths of the hidden layers")
    activation: Literal["silu", "relu", "elu", "tanh", "softplus", "leaky_relu"] = field("silu")
    input_scale: float = field(1.0, bound=POSITIVE, doc="inputs are divided by this before the first layer")

    def __post_init__(self):
        check(all(h >= 1 for h in self.hidden), f"hidden widths must be >= 1, got {self.hidden}")


class MLPEnergy(nn.Module):
    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        dims = [config.in_dim, *config.hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), ACTIVATIONS[config.activation]()]
        layers.append(nn.Linear(dims[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x / self.config.input_scale).squeeze(-1)
