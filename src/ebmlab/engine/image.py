"""The sampling engine for image energies (any ``nn.Module``), on CUDA and CPU.

What it does to the sampler's inner loop (issue 7; docs/engine.md):

* **frozen, normalised weights**: a private copy of the energy whose parameters do
  not require gradients (the backward pass computes the input gradient only) and
  whose spectral-norm parametrisations are replaced by the normalised weights W / sigma,
  computed once per chain from the live model in eval mode (no power iteration, no
  re-normalisation at each of the chain's forward passes). :meth:`ImageEngine.make_target`
  refreshes them in place at each call, so captured graphs stay valid across iterations;
* **precision**: ``tf32`` (default: TF32 tensor-core convolutions and matrix products),
  ``fp32``, or ``bf16`` (autocast) for samplers without a Metropolis test (Langevin,
  pSGLD, ...). Samplers with one (MALA, HMC, RWMH; ``Sampler.metropolis``) run in full
  fp32 (TF32 and autocast off), gradients included: with image step sizes the drift
  h grad E is far larger than the noise std, so a relative gradient error e moves the
  MH log-ratio by about h e |grad E| |rev| / sigma^2, which for bf16 (e ~ 1e-2) is of
  order one (docs/engine.md);
* **channels-last** memory format for the copy and the chain states;
* **CUDA graphs**: ``chunk`` transitions of the sampler's own ``step`` captured as one
  graph (``ebmlab.engine.chain``); the random numbers are drawn from the run's generator
  in the eager order and copied into the graph, acceptance statistics and other
  diagnostics stay on the device: no host synchronisation inside the chain;
  optionally ``torch.compile`` of the chunk before capture.

On CPU the same code runs without graphs (and can still use bf16 autocast and
channels-last), which is what the tests and the smoke benchmark exercise.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from typing import Callable, Literal

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ebmlab.config import Bound, field
from ebmlab.engine.alloc import tune_allocator
from ebmlab.engine.chain import CompiledChain
from ebmlab.samplers.base import Sampler, Target


@dataclasses.dataclass
class ImageEngineConfig:
    """How the image engine evaluates the energy inside the chain (a study's ``engine:`` section)."""

    enabled: bool = field(True, doc="false = the naive loop: autograd through the live model (the reference)")
    precision: Literal["fp32", "tf32", "bf16"] = field(
        "fp32", doc="fp32 (default, the same numbers on every machine) | tf32 (CUDA) | bf16 autocast for "
                    "samplers without a Metropolis test; samplers with one always run in fp32")
    channels_last: bool = field(True, doc="channels-last memory format for the frozen copy and the states")
    graph: Literal["auto", "none", "cuda_graph"] = field(
        "auto", doc="capture chunks of transitions as CUDA graphs; auto = on CUDA devices")
    compile: bool = field(False, doc="torch.compile each chunk (before capture)")
    chunk: int = field(1, bound=Bound(lo=1), doc="transitions per captured graph (1 = one graph per step)")
    cudnn_benchmark: bool = field(True, doc="let cuDNN time its convolution algorithms once per shape")
    tune_allocator: bool = field(True, doc="CPU: keep freed activations in the heap (glibc mallopt; engine/alloc.py)")

    def describe(self) -> str:
        """One line for logs and run records."""
        if not self.enabled:
            return "naive loop (autograd through the live model, fp32, NCHW)"
        parts = [self.precision, "channels-last" if self.channels_last else "NCHW"]
        if self.compile:
            parts.append("compiled")
        if self.graph != "none":
            parts.append(f"graph {self.graph} (CUDA only)")
        return "engine: " + ", ".join(parts)


def engine_field():
    """The ``engine:`` section every image study declares."""
    return field(default_factory=ImageEngineConfig,
                 doc="how chains evaluate the energy (docs/engine.md); enabled: false = naive loop")


def engine_target(model: nn.Module, config: "ImageEngineConfig | None",
                  device: torch.device | str) -> "Callable[[nn.Module], Target] | None":
    """The ``make_target`` a trainer gets for ``config`` (None: the naive autograd loop).

    With channels-last the live model is converted too, so the loss pass of each training
    iteration runs in the same layout; call this before building the optimizer.
    """
    if config is None or not config.enabled:
        return None
    device = torch.device(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    return ImageEngine(model, config, device=device).make_target


def set_tf32(enabled: bool) -> None:
    """TF32 tensor cores for CUDA matrix products and cuDNN convolutions (process-wide)."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


@contextlib.contextmanager
def precision_scope(device: torch.device, precision: str):
    """bf16 autocast, and TF32 switched to what ``precision`` needs if it is not already
    (restored after). The flags are only touched when they differ, so a traced chunk of
    the engine's own precision contains no flag writes."""
    want = precision != "fp32"
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    change = device.type == "cuda" and old != (want, want)
    if change:
        set_tf32(want)
    try:
        # no weight-cast cache: it would outlive a captured graph's tensors
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=False):
            yield
    finally:
        if change:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def frozen_copy(model: nn.Module) -> tuple[nn.Module, list[tuple[nn.Module, str, Tensor]]]:
    """A copy of ``model`` with plain (normalised) weights that require no gradient, and the
    list (source module, attribute, destination tensor) that :func:`refresh` copies along."""
    was_training = model.training
    model.eval()
    try:
        net = copy.deepcopy(model).eval()
    finally:
        model.train(was_training)
    for m in net.modules():
        if parametrize.is_parametrized(m):
            # the copy shares its generated Parametrized* class with the original, and removing
            # a parametrisation deletes the property from that class: give the copy its own
            cls = m.__class__
            m.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for name in list(m.parametrizations.keys()):
                # eval mode: evaluates W / sigma with the stored vectors, no power iteration
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    net.requires_grad_(False)
    return net, source_pairs(net, model)


def source_pairs(net: nn.Module, model: nn.Module) -> list[tuple[nn.Module, str, Tensor]]:
    """(module of ``model``, attribute, tensor of the frozen copy ``net``) for every parameter
    and buffer of ``net``; ``model`` must have the same module names (the original or a copy)."""
    pairs = []
    for name, sub in net.named_modules():
        src = model.get_submodule(name)
        for pname, p in sub.named_parameters(recurse=False):
            pairs.append((src, pname, p))
        for bname, b in sub.named_buffers(recurse=False):
            if b is not None:
                pairs.append((src, bname, b))
    return pairs


@torch.no_grad()
def refresh(model: nn.Module, pairs) -> None:
    """Copy the live model's current (normalised) weights into the frozen copy, in place."""
    was_training = model.training
    model.eval()  # reading a spectral-norm weight in train mode would run a power iteration
    try:
        for src, name, dst in pairs:
            dst.copy_(getattr(src, name))
    finally:
        model.train(was_training)


class ImageEngine:
    """Keeps the frozen copy, its captured chunks and the settings across training iterations.

    Use ``ImageTrainer(..., make_target=engine.make_target)``; ``engine.make_target(model)``
    refreshes the weights (once per chain) and returns the Target for this chain.
    """

    def __init__(self, model: nn.Module, config: ImageEngineConfig | None = None,
                 device: torch.device | str | None = None):
        self.config = config or ImageEngineConfig()
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.net, self._pairs = frozen_copy(model)
        self._source = model
        self.net.to(self.device)
        if self.config.channels_last:
            self.net.to(memory_format=torch.channels_last)
        graph = self.config.graph
        self.cuda_graph = self.device.type == "cuda" and graph in ("auto", "cuda_graph")
        if graph == "cuda_graph" and self.device.type != "cuda":
            raise ValueError("graph: cuda_graph needs a CUDA device")
        if self.device.type == "cpu" and self.config.tune_allocator:
            tune_allocator()
        if self.device.type == "cuda":
            # process-wide, so the parameter update of a training iteration gets them too
            set_tf32(self.config.precision != "fp32")
            torch.backends.cudnn.benchmark = self.config.cudnn_benchmark
        use_chain = self.cuda_graph or self.config.compile
        self.chain = (CompiledChain(chunk=self.config.chunk, compile=self.config.compile,
                                    cuda_graph=self.cuda_graph) if use_chain else None)

    def bind(self, model: nn.Module) -> None:
        """Read the weights from ``model`` from now on (a copy of the original, e.g. one being
        trained); the frozen copy, its captured graphs and compiled chunks are kept."""
        self._pairs = source_pairs(self.net, model)
        self._source = model

    def make_target(self, model: nn.Module, *, metropolis: bool = False) -> "ImageTarget":
        """``metropolis``: fp32 from the start, for callers with a Metropolis test that are not
        a :class:`Sampler` (AIS), whose ``prepare`` would otherwise choose the precision."""
        if model is not self._source:
            self.bind(model)
        refresh(model, self._pairs)
        return ImageTarget(self, metropolis=metropolis)

    # -- evaluations (plain functions of the frozen copy; traced or captured as they are) --
    def _prep(self, x: Tensor) -> Tensor:
        x = x.detach()
        if self.config.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def energy(self, x: Tensor, precision: str) -> Tensor:
        with torch.no_grad(), precision_scope(self.device, precision):
            return self.net(self._prep(x)).float()

    def energy_and_grad(self, x: Tensor, precision: str) -> tuple[Tensor, Tensor]:
        with precision_scope(self.device, precision):
            e, vjp = torch.func.vjp(self.net, self._prep(x))
            (g,) = vjp(torch.ones_like(e))
        return e.float().detach(), g.to(x.dtype).detach()


class _ImageForm(Target):
    """The engine's evaluations at a fixed precision (traceable; what compiled chunks call)."""

    def __init__(self, engine: ImageEngine, precision: str):
        super().__init__(engine.net)
        self.engine, self.precision = engine, precision

    def energy(self, x: Tensor) -> Tensor:
        self.n_energy_evals += 1
        return self.engine.energy(x, self.precision)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.n_grad_evals += 1
        return self.engine.energy_and_grad(x, self.precision)


class ImageTarget(_ImageForm):
    """One chain's view of an :class:`ImageEngine` (what the samplers talk to)."""

    def __init__(self, engine: ImageEngine, *, metropolis: bool = False):
        super().__init__(engine, "fp32" if metropolis else engine.config.precision)

    def prepare(self, sampler: Sampler) -> None:
        self.precision = "fp32" if sampler.metropolis else self.engine.config.precision

    def form_key(self) -> tuple:
        return ("image", id(self.engine), self.precision, self.engine.config.channels_last)

    def params(self) -> list[Tensor]:
        return []  # the frozen copy's tensors are refreshed in place (graph-safe)

    def functional(self):
        engine, precision = self.engine, self.precision
        return lambda params: _ImageForm(engine, precision)

    def run_chain(self, sampler, state, n_steps, generator, diag, progress, desc):
        chain = self.engine.chain
        if chain is None or (chain.compile and self.precision != self.engine.config.precision):
            return None  # a compiled chunk must not switch TF32 inside (a flag write in the graph)
        return chain.run(sampler, self, state, n_steps, generator, diag, progress, desc)
