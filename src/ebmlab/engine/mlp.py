"""Closed-form input gradient of :class:`ebmlab.models.MLPEnergy` (no autograd graph).

For E(x) = w_out . a_L + b_out with a_i = act(z_i), z_i = a_{i-1} W_i^T + b_i and
a_0 = x / c, backpropagation to the input is

    delta_L = w_out * act'(z_L),  delta_{i-1} = (delta_i W_i) * act'(z_{i-1}),
    grad_x E = (delta_1 W_1) / c,

a handful of matrix products and elementwise maps per step; generic autograd spends
most of a small MLP's time on graph bookkeeping instead.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebmlab.models.mlp import MLPEnergy
from ebmlab.samplers.base import Target


def _act_and_slope(name: str, z: Tensor) -> tuple[Tensor, Tensor]:
    if name == "silu":
        s = torch.sigmoid(z)
        return z * s, s * (1 + z * (1 - s))
    if name == "relu":
        return torch.relu(z), (z > 0).to(z.dtype)
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(z, 0.2), torch.where(z > 0, 1.0, 0.2).to(z.dtype)
    if name == "elu":
        e = torch.expm1(torch.clamp(z, max=0))
        return torch.where(z > 0, z, e), torch.where(z > 0, torch.ones_like(z), e + 1)
    if name == "tanh":
        a = torch.tanh(z)
        return a, 1 - a * a
    if name == "softplus":
        return torch.nn.functional.softplus(z), torch.sigmoid(z)
    raise ValueError(f"no closed-form slope for activation {name!r}")


class MLPTarget(Target):
    """Energy and input gradient of a frozen MLPEnergy, computed in closed form.

    ``matmul_dtype=torch.bfloat16`` runs the matrix products in bf16 (AMX on recent
    Xeons) with fp32 accumulation and fp32 elementwise maps; energies are still
    returned in fp32, and Metropolis tests stay in fp32 in the samplers.
    """

    def __init__(self, model: MLPEnergy, matmul_dtype: torch.dtype = torch.float32):
        super().__init__(model)
        self.activation = model.config.activation
        self.scale = model.config.input_scale
        lin = [m for m in model.net if isinstance(m, nn.Linear)]
        self.matmul_dtype = matmul_dtype
        self.weights = [m.weight.detach().to(matmul_dtype) for m in lin]
        self.biases = [m.bias.detach().float() for m in lin]

    def _mm(self, a: Tensor, w: Tensor, transpose: bool) -> Tensor:
        a = a.to(self.matmul_dtype)
        out = a @ (w.t() if transpose else w)
        return out.float()

    def _forward(self, x: Tensor, keep: bool):
        a = x / self.scale if self.scale != 1.0 else x
        slopes = []
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            z = self._mm(a, W, True) + b
            if keep:
                a, d = _act_and_slope(self.activation, z)
                slopes.append(d)
            else:
                a, _ = _act_and_slope(self.activation, z)
        e = self._mm(a, self.weights[-1], True).squeeze(-1) + self.biases[-1]
        return e, slopes

    def energy(self, x: Tensor) -> Tensor:
        self.n_energy_evals += 1
        with torch.no_grad():
            return self._forward(x, keep=False)[0]

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.n_grad_evals += 1
        with torch.no_grad():
            e, slopes = self._forward(x, keep=True)
            delta = self.weights[-1].float() * slopes[-1]  # (1, h_L) * (n, h_L)
            for i in range(len(slopes) - 1, 0, -1):
                delta = self._mm(delta, self.weights[i], False) * slopes[i - 1]
            g = self._mm(delta, self.weights[0], False)
            if self.scale != 1.0:
                g = g / self.scale
        return e, g
