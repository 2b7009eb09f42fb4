"""Run a sampler's own transition ``chunk`` steps at a time inside one compiled graph.

A transition of the small GMM energy costs a few hundred microseconds of arithmetic,
and an eager MALA step issues some forty tensor operations of a few microseconds
each, so per-operation dispatch, not arithmetic, dominates. :class:`CompiledChain`
removes it without a second copy of any sampler:

* the random numbers a transition uses are drawn *outside* the graph, from the run's
  own generator, in the order and shapes the eager step draws them (learned by
  recording the first transition), and handed to ``Sampler.step`` through a
  :class:`ebmlab.samplers.base.DrawSource`; the chains are therefore the same
  Markov chains, draw for draw, as the eager loop's;
* ``chunk`` calls of the unchanged ``Sampler.step`` are traced by ``torch.compile``
  (``fullgraph=True``) with a functional energy whose weights are graph inputs, so
  one compilation serves every training epoch; diagnostics come back as
  ``(chunk,)`` tensors, and nothing synchronises with the host inside a chunk;
* steps that do not fill a chunk run eagerly through the same target;
* on CUDA the chunk may instead (or also) be captured as one CUDA graph
  (``cuda_graph=True``): the random numbers are copied into the graph's static input
  buffers before each replay, so again the eager draws are used in the eager order.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections import defaultdict
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ebmlab.progress import progress as progress_iter
from ebmlab.samplers.base import DrawSource, Sampler, State, Target


class RecordingDraws(DrawSource):
    """Draws from a real generator and remembers what was drawn (kind, shape)."""

    def __init__(self, generator: torch.Generator | None):
        self.generator = generator
        self.signature: list[tuple[str, tuple[int, ...], torch.dtype]] = []

    def normal(self, shape, like):
        self.signature.append(("normal", tuple(shape), like.dtype))
        return torch.randn(shape, generator=self.generator, device=like.device, dtype=like.dtype)

    def uniform(self, shape, like):
        self.signature.append(("uniform", tuple(shape), like.dtype))
        return torch.rand(shape, generator=self.generator, device=like.device, dtype=like.dtype)


class PreDrawn(DrawSource):
    """Hands out pre-drawn tensors in order (used while tracing a compiled chunk)."""

    def __init__(self, tensors: Sequence[Tensor]):
        self.tensors = list(tensors)
        self.i = 0

    def _next(self, shape) -> Tensor:
        t = self.tensors[self.i]
        self.i += 1
        return t

    def normal(self, shape, like):
        return self._next(shape)

    def uniform(self, shape, like):
        return self._next(shape)


def _draw(kind: str, shape, dtype, device, gen) -> Tensor:
    fn = torch.randn if kind == "normal" else torch.rand
    return fn(shape, generator=gen, device=device, dtype=dtype)


@dataclasses.dataclass
class _Plan:
    """What one compiled chunk needs to know about a sampler's transition."""

    signature: list[tuple[str, tuple[int, ...], torch.dtype]]
    extra_keys: list[str]
    energy_evals: int
    grad_evals: int
    batched: bool  # draws of a whole chunk may be made in one call per kind (checked)


def _batched_draws_equal(sig, device, gen: torch.Generator | None, k: int = 3) -> bool:
    """Whether drawing k steps' worth in one call gives the same numbers as k calls.

    True only for a single kind of draw per step (then the draws of consecutive steps
    are consecutive in the generator's stream) and only if an actual comparison on a
    copy of the generator agrees (it does for CPU normals whose size is a multiple of
    16 and for CPU uniforms; anything else keeps per-step draws).
    """
    if len(sig) != 1 or gen is None:
        return False
    kind, shape, dtype = sig[0]
    state = gen.get_state()
    try:
        one = torch.stack([_draw(kind, shape, dtype, device, gen) for _ in range(k)])
        gen.set_state(state)
        many = _draw(kind, (k, *shape), dtype, device, gen)
        return torch.equal(one, many)
    finally:
        gen.set_state(state)


#: inductor settings for the chunks: tensor shapes never change inside a run, so the
#: per-call size/stride assertions of the generated wrapper are pure overhead
INDUCTOR_OPTIONS = {"size_asserts": False}


def set_recompile_limit(n: int = 64) -> None:
    """Each sampler configuration is its own compiled graph of the same Python code;
    raise dynamo's per-code-object cache limit (8) so a process may hold many."""
    cfg = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(cfg, name) and getattr(cfg, name) < n:
            setattr(cfg, name, n)


class _GraphedChunk:
    """A chunk function captured as one CUDA graph on its first call.

    Calls copy their tensor arguments into static buffers and replay the graph; the
    returned tensors are the graph's static outputs, valid until the next call (the
    caller copies what it keeps). Weights the function reads from a module are baked
    in by address: the owner updates them in place.
    """

    def __init__(self, fn: Callable, warmup: int = 2):
        self.fn, self.warmup = fn, warmup
        self.graph = None

    def _capture(self, args) -> None:
        flat_in = _flat(args)
        self.static_in = [t.clone() for t in flat_in]
        static_args = _unflat(args, self.static_in)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up (cuDNN autotuning, lazy init) off the capture
            for _ in range(self.warmup):
                self.fn(*_unflat(args, [t.clone() for t in flat_in]))
        torch.cuda.current_stream().wait_stream(side)
        self.static_args = static_args
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = self.fn(*static_args)

    def __call__(self, *args):
        if self.graph is None:
            self._capture(args)
        for dst, src in zip(self.static_in, _flat(args)):
            if dst.data_ptr() != src.data_ptr():
                dst.copy_(src)
        self.graph.replay()
        return self.static_out


def _flat(args) -> list[Tensor]:
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(a)
        elif a is not None:
            out.append(a)
    return out


def _unflat(args, flat: list[Tensor]):
    it = iter(flat)
    rebuilt = []
    for a in args:
        if isinstance(a, (list, tuple)):
            rebuilt.append([next(it) for _ in a])
        elif a is not None:
            rebuilt.append(next(it))
        else:
            rebuilt.append(None)
    return rebuilt


class CompiledChain:
    """Runs ``Sampler.step`` in compiled (or captured) chunks of ``chunk`` transitions.

    The target must offer ``params()`` (its weights as tensors: graph inputs),
    ``functional()`` (params -> a Target built only from those tensors and constants)
    and ``form_key()`` (those constants, hashable). Keep one CompiledChain for a whole
    training run: chunks are compiled once per sampler and form, and new weights each
    epoch are just new inputs. ``compile=False`` runs the same chunks eagerly (tests);
    ``cuda_graph=True`` captures each chunk as a CUDA graph (after compiling it, if
    ``compile``).
    """

    def __init__(self, chunk: int = 16, compile: bool = True, options: dict | None = None,
                 cuda_graph: bool = False):
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        self.chunk = chunk
        self.compile = compile
        self.cuda_graph = cuda_graph
        self.options = dict(INDUCTOR_OPTIONS if options is None else options)
        # one compiled function per sampler object and plan; samplers live as long as a run
        self._cache: weakref.WeakKeyDictionary[Sampler, dict[Any, Callable]] = weakref.WeakKeyDictionary()
        self._plans: weakref.WeakKeyDictionary[Sampler, dict[Any, _Plan]] = weakref.WeakKeyDictionary()

    def _chunk_fn(self, sampler: Sampler, target: Target, plan: _Plan) -> Callable:
        key = (target.form_key(), tuple(plan.signature), tuple(plan.extra_keys), plan.batched,
               self.cuda_graph and _shapes_of(plan))
        per = self._cache.setdefault(sampler, {})
        if key in per:
            return per[key]
        functional, k, keys = target.functional(), self.chunk, list(plan.extra_keys)

        def chunk(x: Tensor, e: Tensor | None, g: Tensor | None, extras: list[Tensor],
                  draws: list[Tensor], params: list[Tensor]):
            target = functional(params)
            state = State(x=x, energy=e, grad=g, extra=dict(zip(keys, extras)))
            diag: dict[str, list[Tensor]] = defaultdict(list)
            src = PreDrawn(draws)
            for _ in range(k):
                state = sampler.step(target, state, src, diag)
            return (state.x, state.energy, state.grad, [state.extra[n] for n in keys],
                    {n: torch.stack(v) for n, v in diag.items()})

        if self.compile:
            set_recompile_limit()
            chunk = torch.compile(chunk, fullgraph=True, dynamic=False, options=self.options)
        if self.cuda_graph:
            chunk = _GraphedChunk(chunk)
        per[key] = chunk
        return chunk

    def _predraw(self, plan: _Plan, like: Tensor, gen) -> list[Tensor]:
        if plan.batched:
            kind, shape, dtype = plan.signature[0]
            return list(_draw(kind, (self.chunk, *shape), dtype, like.device, gen).unbind(0))
        return [_draw(kind, shape, dtype, like.device, gen)
                for _ in range(self.chunk) for kind, shape, dtype in plan.signature]

    def run(self, sampler: Sampler, target: Target, state: State, n_steps: int,
            generator: torch.Generator | None, diag: dict[str, list[Tensor]], progress: bool | None,
            desc: str) -> State:
        # the first transition of the first run runs eagerly and tells us what a transition
        # draws; later runs of the same sampler on the same shapes reuse that plan
        pkey = (target.form_key(), tuple(state.x.shape), state.x.dtype, str(state.x.device), tuple(sorted(state.extra)))
        plans = self._plans.setdefault(sampler, {})
        plan, left = plans.get(pkey), n_steps
        if plan is None:
            rec = RecordingDraws(generator)
            e0, g0 = target.n_energy_evals, target.n_grad_evals
            state = sampler.step(target, state, rec, diag)
            plan = _Plan(rec.signature, sorted(state.extra), target.n_energy_evals - e0,
                         target.n_grad_evals - g0, False)
            plan.batched = _batched_draws_equal(plan.signature, state.x.device, generator)
            plans[pkey] = plan
            left = n_steps - 1
        n_chunks = left // self.chunk
        if n_chunks:
            fn = self._chunk_fn(sampler, target, plan)
            params = list(target.params())
            for _ in progress_iter(range(n_chunks), desc=desc, enabled=progress):
                draws = self._predraw(plan, state.x, generator)
                x, e, g, extras, d = fn(state.x, state.energy, state.grad,
                                        [state.extra[n] for n in plan.extra_keys], draws, params)
                state = State(x=x, energy=e, grad=g, extra=dict(zip(plan.extra_keys, extras)))
                for name, v in d.items():
                    diag[name].append(v.clone() if self.cuda_graph else v)
            target.n_energy_evals += n_chunks * self.chunk * plan.energy_evals
            target.n_grad_evals += n_chunks * self.chunk * plan.grad_evals
        if self.cuda_graph and n_chunks:  # detach the result from the graph's static outputs
            state = State(x=state.x.clone(), energy=_clone(state.energy), grad=_clone(state.grad),
                          extra={k: _clone(v) for k, v in state.extra.items()})
        for _ in range(left - n_chunks * self.chunk):
            state = sampler.step(target, state, generator, diag)
        return state


def _clone(t):
    return t.clone() if isinstance(t, Tensor) else t


def _shapes_of(plan: _Plan):
    return tuple((k, s) for k, s, _ in plan.signature)
