"""Closed-form input gradient of :class:`ebmlab.models.MLPEnergy` (no autograd graph).

For E(x) = w_out . a_L + b_out with a_i = act(z_i), z_i = a_{i-1} W_i^T + b_i and
a_0 = x / c, backpropagation to the input is

    delta_L = w_out * act'(z_L),  delta_{i-1} = (delta_i W_i) * act'(z_{i-1}),
    grad_x E = (delta_1 W_1) / c,

a handful of matrix products and elementwise maps per step; generic autograd spends
most of a small MLP's time on graph bookkeeping instead.

Two ways to evaluate it, both behind the same :class:`MLPTarget` and both in torch
operations (any device; fp32 matrix products by default, bf16 on request):

* eagerly, one closed-form evaluation per sampler transition;
* with ``chain=CompiledChain(chunk=K)``: the sampler's transitions run K at a time in one
  ``torch.compile`` graph (:mod:`ebmlab.engine.chain`), the same Markov chains as the
  eager loop.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from ebmlab.engine.chain import CompiledChain
from ebmlab.models.mlp import MLPEnergy
from ebmlab.samplers.base import Sampler, State, Target

#: matrix-product precisions: name -> torch dtype of the products' inputs
MATMUL = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def act_and_slope(name: str, z: Tensor) -> tuple[Tensor, Tensor]:
    """The activation and its derivative at ``z``."""
    if name == "silu":
        s = torch.sigmoid(z)
        return z * s, s * (1 + z * (1 - s))
    if name == "relu":
        return torch.relu(z), (z > 0).to(z.dtype)
    if name == "leaky_relu":
        pos = z > 0
        return torch.where(pos, z, 0.2 * z), torch.where(pos, 1.0, 0.2).to(z.dtype)
    if name == "elu":
        e = torch.expm1(torch.clamp(z, max=0))
        return torch.where(z > 0, z, e), torch.where(z > 0, torch.ones_like(z), e + 1)
    if name == "tanh":
        a = torch.tanh(z)
        return a, 1 - a * a
    if name == "softplus":
        return torch.nn.functional.softplus(z), torch.sigmoid(z)
    raise ValueError(f"no closed-form slope for activation {name!r}")


def _mm(a: Tensor, w: Tensor, dtype: torch.dtype) -> Tensor:
    return (a.to(dtype) @ w.to(dtype)).float()


def closed_form(x: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor], activation: str,
                scale: float, fwd_dtype: torch.dtype, bwd_dtype: torch.dtype,
                want_grad: bool) -> tuple[Tensor, Tensor | None]:
    """Energy (n,) and, if ``want_grad``, input gradient of the MLP with these weights.

    ``weights[i]`` is the (out, in) matrix of layer i (the last one is (1, H_L));
    products of the forward pass use ``fwd_dtype``, those of the backward pass
    ``bwd_dtype``; elementwise maps are fp32.
    """
    a = x / scale if scale != 1.0 else x
    slopes = []
    for W, b in zip(weights[:-1], biases[:-1]):
        a, d = act_and_slope(activation, _mm(a, W.t(), fwd_dtype) + b)
        slopes.append(d)
    e = (a @ weights[-1].float().t()).squeeze(-1) + biases[-1]
    if not want_grad:
        return e, None
    delta = weights[-1].float() * slopes[-1]
    for i in range(len(slopes) - 1, 0, -1):
        delta = _mm(delta, weights[i], bwd_dtype) * slopes[i - 1]
    g = _mm(delta, weights[0], bwd_dtype)
    return e, (g / scale if scale != 1.0 else g)


class _TorchForm(Target):
    """The closed form as a Target over explicit weight tensors (traceable)."""

    def __init__(self, weights, biases, activation, scale, fwd_dtype, bwd_dtype):
        super().__init__(None)
        self.weights, self.biases = list(weights), list(biases)
        self.activation, self.scale = activation, scale
        self.fwd_dtype, self.bwd_dtype = fwd_dtype, bwd_dtype

    def energy(self, x: Tensor) -> Tensor:
        self.n_energy_evals += 1
        with torch.no_grad():
            return closed_form(x, self.weights, self.biases, self.activation, self.scale,
                               self.fwd_dtype, self.bwd_dtype, False)[0]

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.n_grad_evals += 1
        with torch.no_grad():
            return closed_form(x, self.weights, self.biases, self.activation, self.scale,
                               self.fwd_dtype, self.bwd_dtype, True)


class MLPTarget(Target):
    """Energy and input gradient of a frozen MLPEnergy, computed in closed form.

    ``matmul_dtype``: "float32" (the default) or "bfloat16" (bf16 inputs; an opt-in
    that no params profile uses, since bf16 rounding depends on the CPU's matmul
    path, docs/engine.md). A ``torch.dtype`` is accepted for either.
    ``exact_energy``: compute energies (the forward products) in fp32 even when the
    gradients use bf16; samplers with a Metropolis test need this.
    ``chain``: a :class:`CompiledChain` (shared across epochs, so one compilation
    serves a whole training run) to run transitions in compiled chunks.
    """

    def __init__(self, model: MLPEnergy, matmul_dtype: str | torch.dtype = "float32", *,
                 exact_energy: bool = True, chain: CompiledChain | None = None):
        super().__init__(model)
        if isinstance(matmul_dtype, torch.dtype):
            matmul_dtype = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[matmul_dtype]
        if matmul_dtype not in MATMUL:
            raise ValueError(f"matmul_dtype must be one of {', '.join(MATMUL)}, got {matmul_dtype!r}")
        self.matmul = matmul_dtype
        self.chain = chain
        lin = [m for m in model.net if isinstance(m, nn.Linear)]
        dt = MATMUL[matmul_dtype]
        self.bwd_dtype = dt
        self.fwd_dtype = torch.float32 if exact_energy else dt
        ws = [m.weight.detach() for m in lin]
        bs = [m.bias.detach().float() for m in lin]
        self._n_layers = len(lin)
        self._params = ws + bs
        self._form = self.functional()(self._params)

    def form_key(self) -> tuple:
        """The constants of :meth:`functional` (compiled chunks are cached by it)."""
        c = self.energy_fn.config
        return (self._n_layers, c.activation, c.input_scale, self.fwd_dtype, self.bwd_dtype)

    def functional(self) -> Callable[[Sequence[Tensor]], Target]:
        """params -> a Target over those tensors, with this target's constants (for tracing)."""
        n, c, fd, bd = self._n_layers, self.energy_fn.config, self.fwd_dtype, self.bwd_dtype
        act, scale = c.activation, c.input_scale
        return lambda params: _TorchForm(params[:n], params[n:], act, scale, fd, bd)

    def params(self) -> list[Tensor]:
        return list(self._params)

    def energy(self, x: Tensor) -> Tensor:
        self.n_energy_evals += 1
        return self._form.energy(x)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.n_grad_evals += 1
        return self._form.energy_and_grad(x)

    def run_chain(self, sampler: Sampler, state: State, n_steps, generator, diag, progress, desc):
        if self.chain is None:
            return None
        return self.chain.run(sampler, self, state, n_steps, generator, diag, progress, desc)
