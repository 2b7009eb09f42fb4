"""The sampling engines compute the same function and the same Markov chains.

* the closed form (torch, fp32 and the opt-in bf16) against float64 autograd, with the
  tolerances docs/engine.md states;
* compiled chunks draw the same random numbers in the same order as the eager loop:
  run uncompiled they reproduce it bit for bit, for every sampler; compiled (one tiny
  compilation) they agree to float32 rounding;
* bf16 gradients with fp32-accurate energies keep MALA's statistics.
"""

import pytest
import torch

from ebmlab import samplers
from ebmlab.engine import CompiledChain, MLPTarget
from ebmlab.engine.chain import RecordingDraws, _batched_draws_equal
from ebmlab.models import MLPConfig, MLPEnergy
from ebmlab.samplers import Target


def mlp(hidden=(32, 32), activation="silu", scale=1.0, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    m = MLPEnergy(MLPConfig(hidden=list(hidden), activation=activation, input_scale=scale)).to(dtype)
    return m.requires_grad_(False)


def reference(model, x):
    """float64 autograd energy and gradient."""
    m64 = MLPEnergy(model.config).double()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    return Target(m64).energy_and_grad(x.double())


def rel(a, b):
    return float((a.double() - b).norm() / b.norm())


@pytest.mark.parametrize("activation", ["silu", "relu", "leaky_relu", "elu", "tanh", "softplus"])
def test_closed_form_fp32_matches_autograd(activation):
    model = mlp(activation=activation, scale=3.0)
    x = 10 * torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    e0, g0 = reference(model, x)
    e, g = MLPTarget(model, "float32").energy_and_grad(x)
    assert rel(e, e0) < 1e-6 and rel(g, g0) < 1e-5


@pytest.mark.parametrize("activation", ["silu", "leaky_relu", "elu", "tanh"])
@pytest.mark.parametrize("hidden", [(128, 128), (64, 32, 96)])
def test_closed_form_bf16_opt_in_accuracy(activation, hidden):
    model = mlp(hidden, activation, scale=2.0)
    x = 10 * torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
    e0, g0 = reference(model, x)
    exact = MLPTarget(model, "bfloat16", exact_energy=True)  # fp32 energies, bf16 gradient products
    e, g = exact.energy_and_grad(x)
    assert rel(e, e0) < 1e-5 and rel(g, g0) < 3e-2
    loose = MLPTarget(model, "bfloat16", exact_energy=False)  # bf16 products forward too
    e, g = loose.energy_and_grad(x)
    # a kinked activation flips the slope of units whose pre-activation rounding crosses 0
    assert rel(e, e0) < 3e-2 and rel(g, g0) < (0.1 if activation == "leaky_relu" else 3e-2)
    assert torch.equal(loose.energy(x), e)  # energy-only entry point agrees with the fused one


def test_matmul_dtype_is_float32_or_bfloat16():
    assert MLPTarget(mlp()).matmul == "float32"  # the default
    assert MLPTarget(mlp(), torch.bfloat16).matmul == "bfloat16"
    with pytest.raises(ValueError, match="matmul_dtype must be one of float32, bfloat16, got 'bfloat16x3'"):
        MLPTarget(mlp(), "bfloat16x3")


SAMPLERS = [
    ("gd", {"step_size": 0.01}),
    ("langevin", {"step_size": 0.01}),
    ("mala", {"step_size": 0.05}),
    ("tempered_mala", {"step_size": 0.5, "u": 0.6}),
    ("psgld", {"step_size": 0.01}),
    ("stanley", {"th": 0.05, "recompute": "step"}),
    ("hmc", {"step_size": 0.1, "n_leapfrog": 3}),
    ("rwmh", {"noise_std": 0.5}),
]


@pytest.mark.parametrize("name,hyper", SAMPLERS)
def test_uncompiled_chunks_reproduce_the_eager_chain_bit_for_bit(name, hyper):
    model = mlp((16, 16))
    x0 = 3 * torch.randn(37, 2, generator=torch.Generator().manual_seed(3))
    sampler = samplers.build(name, **hyper)
    steps = 1 + 3 * 4 + 2  # recorded first step, three chunks, two eager remainder steps
    eager_t = MLPTarget(model, "float32")
    eager = sampler.run(eager_t, x0, steps, generator=torch.Generator().manual_seed(4))
    fast_t = MLPTarget(model, "float32", chain=CompiledChain(chunk=4, compile=False))
    fast = sampler.run(fast_t, x0, steps, generator=torch.Generator().manual_seed(4))
    assert torch.equal(eager.x, fast.x)
    assert torch.equal(eager.energy, fast.energy)
    assert eager.diagnostics.keys() == fast.diagnostics.keys()
    for k in eager.diagnostics:
        assert eager.diagnostics[k].shape == (steps,)
        assert torch.equal(eager.diagnostics[k], fast.diagnostics[k]), k
    assert (eager.n_grad_evals, eager.n_energy_evals) == (fast.n_grad_evals, fast.n_energy_evals)


def test_chunks_fall_back_to_the_plain_loop_for_traces_and_callbacks():
    model = mlp((16, 16))
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    sampler = samplers.build("langevin", step_size=0.01)
    t = MLPTarget(model, "float32", chain=CompiledChain(chunk=4, compile=False))
    res = sampler.run(t, x0, 9, generator=torch.Generator().manual_seed(4), keep_trace=True)
    plain = sampler.run(MLPTarget(model, "float32"), x0, 9, generator=torch.Generator().manual_seed(4),
                        keep_trace=True)
    assert torch.equal(res.trace, plain.trace) and res.trace.shape == (9, 8, 2)


def test_batched_draws_are_used_only_when_identical():
    gen = torch.Generator().manual_seed(0)
    like = torch.empty(0)
    assert _batched_draws_equal([("normal", (1000, 2), torch.float32)], like.device, gen)
    assert _batched_draws_equal([("uniform", (1000,), torch.float32)], like.device, gen)
    # CPU normals of a size that is not a multiple of 16 are not consecutive in the stream
    assert not _batched_draws_equal([("normal", (10, 2), torch.float32)], like.device, gen)
    assert not _batched_draws_equal([("normal", (1000, 2), torch.float32), ("uniform", (1000,), torch.float32)],
                                    like.device, gen)
    before = gen.get_state()
    _batched_draws_equal([("normal", (1000, 2), torch.float32)], like.device, gen)
    assert torch.equal(before, gen.get_state())  # the check does not consume the run's stream


def test_recording_draws_gives_the_generators_numbers():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    rec = RecordingDraws(g1)
    x = torch.empty(6, 3)
    a, b = rec.normal(x.shape, x), rec.uniform((6,), x)
    assert torch.equal(a, torch.randn(6, 3, generator=g2)) and torch.equal(b, torch.rand(6, generator=g2))
    assert rec.signature == [("normal", (6, 3), torch.float32), ("uniform", (6,), torch.float32)]


def test_compiled_chunks_agree_with_the_eager_chain():
    """One small compilation: MALA (MH test, two draws per step) in compiled chunks."""
    model = mlp((32, 32))
    x0 = 3 * torch.randn(64, 2, generator=torch.Generator().manual_seed(3))
    sampler = samplers.build("mala", step_size=0.05)
    steps = 1 + 2 * 4
    eager = sampler.run(MLPTarget(model, "float32"), x0, steps, generator=torch.Generator().manual_seed(4))
    t = MLPTarget(model, "float32", chain=CompiledChain(chunk=4))
    fast = sampler.run(t, x0, steps, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(eager.x, fast.x, atol=1e-5, rtol=1e-5)
    assert torch.allclose(eager.energy, fast.energy, atol=1e-5, rtol=1e-5)
    assert torch.equal(eager.diagnostics["accept_rate"], fast.diagnostics["accept_rate"])
    assert fast.n_grad_evals == steps + 1
    # new weights are new graph inputs: a second target over a changed model reuses the compilation
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.01)
    t2 = MLPTarget(model, "float32", chain=t.chain)
    again = sampler.run(t2, x0, steps, generator=torch.Generator().manual_seed(4))
    ref = sampler.run(MLPTarget(model, "float32"), x0, steps, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(again.x, ref.x, atol=1e-5, rtol=1e-5)
    assert len(t.chain._cache[sampler]) == 1


def test_bf16_gradients_keep_mala_statistics():
    """The opt-in bf16 products (no profile uses them): fp32 energies, bf16 gradients."""
    from ebmlab.bench.gmm import sample_check
    model = mlp((128, 128))
    x0 = 10 * torch.randn(400, 2, generator=torch.Generator().manual_seed(3))
    sampler = samplers.build("mala", step_size=0.05)
    c = sample_check(sampler, model, Target(model),
                     MLPTarget(model, "bfloat16", exact_energy=True), x0, 40, seed=7)
    assert c["ok"], c
    assert abs(c["accept_naive"] - c["accept_engine"]) <= 0.01


def test_traces_after_burn_in_use_the_fast_path_before_it():
    model = mlp((16, 16))
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    sampler = samplers.build("mala", step_size=0.05)
    kw = dict(keep_trace=True, burn_in=11, thin=1)
    chain = CompiledChain(chunk=4, compile=False)
    fast = sampler.run(MLPTarget(model, "float32", chain=chain), x0, 13, generator=torch.Generator().manual_seed(4), **kw)
    plain = sampler.run(MLPTarget(model, "float32"), x0, 13, generator=torch.Generator().manual_seed(4), **kw)
    assert fast.trace.shape == (2, 8, 2) and torch.equal(fast.trace, plain.trace)
    assert torch.equal(fast.diagnostics["accept_rate"], plain.diagnostics["accept_rate"])
    assert len(chain._cache[sampler]) == 1  # the 11 burn-in steps went through the chunks


# --- the image engine (CPU here; CUDA graphs need a GPU: python -m ebmlab.bench all) ----------

def tiny_igebm(seed=0):
    from ebmlab.models import build_model
    torch.manual_seed(seed)
    m = build_model({"name": "igebm", "stages": [8, 16, 16], "blocks_per_stage": 1}, in_shape=(3, 16, 16))
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        m.train()
        m(x)  # one power iteration, so u and v are not at their initial values
    return m.eval()


def test_image_engine_freezes_normalised_weights_without_power_iterations():
    from ebmlab.engine.image import ImageEngine, ImageEngineConfig
    m = tiny_igebm()
    u = {n: b.clone() for n, b in m.named_buffers() if n.endswith("_u")}
    assert u
    engine = ImageEngine(m, ImageEngineConfig(precision="fp32"))
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    target = engine.make_target(m)
    assert all(torch.equal(b, u[n]) for n, b in m.named_buffers() if n in u)  # no power iteration
    assert hasattr(m.trunks[0].stem, "parametrizations")  # the live model keeps its spectral norm
    assert not any(p.requires_grad for p in engine.net.parameters())
    e, g = target.energy_and_grad(x)
    e0, g0 = Target(m).energy_and_grad(x)
    assert torch.allclose(e, e0, atol=1e-5) and torch.allclose(g, g0, atol=1e-6, rtol=1e-4)
    assert g.is_contiguous(memory_format=torch.channels_last)
    # a training step changes the weights; the next chain's target sees them, the copy is updated in place
    ptr = engine.net.trunks[0].stem.weight.data_ptr()
    with torch.no_grad():  # (a rescaling would not do: spectral norm divides it out)
        w = m.trunks[0].stem.parametrizations.weight.original
        w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(9)))
    e1, _ = engine.make_target(m).energy_and_grad(x)
    e2, _ = Target(m).energy_and_grad(x)
    assert torch.allclose(e1, e2, atol=1e-5) and not torch.allclose(e1, e, atol=1e-4)
    assert engine.net.trunks[0].stem.weight.data_ptr() == ptr


def test_image_engine_runs_metropolis_samplers_in_fp32_under_bf16():
    from ebmlab.engine.image import ImageEngine, ImageEngineConfig
    m = tiny_igebm()
    x0 = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    engine = ImageEngine(m, ImageEngineConfig(precision="bf16"))
    mala = samplers.build("mala", step_size=1e-3)
    res = mala.run(engine.make_target(m), x0, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        e_fp32 = m(res.x)
    assert torch.allclose(res.energy, e_fp32, atol=1e-5)  # the energies the MH test used
    ref = mala.run(Target(m), x0, 4, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(res.x, ref.x, atol=1e-5)  # gradients in fp32 too: the same chain
    lang = samplers.build("langevin", step_size=1e-3)
    res = lang.run(engine.make_target(m), x0, 2, generator=torch.Generator().manual_seed(3))
    assert not torch.allclose(res.energy, m(res.x).detach(), atol=1e-6)  # Langevin's diagnostics: bf16


def test_cuda_graph_chunks_manage_static_buffers(monkeypatch):
    """The CUDA-graph path's bookkeeping (static inputs refreshed before each replay, outputs
    copied before the next), checked on the CPU with a stand-in graph whose replay recomputes
    the captured function from the static inputs and writes into the static outputs."""
    import contextlib
    from ebmlab.engine import chain as chain_mod

    captured = []

    class FakeGraph:
        def replay(self):
            g = captured[-1]
            fresh = g.fn(*g.static_args)
            for dst, src in zip(chain_mod._flat(_tensors(g.static_out)), chain_mod._flat(_tensors(fresh))):
                dst.copy_(src)

    class FakeStream:
        def wait_stream(self, other):
            pass

    def _tensors(out):
        x, e, g, extras, diag = out
        return [x, e, g, list(extras), [diag[k] for k in sorted(diag)]]

    real_capture = chain_mod._GraphedChunk._capture

    def capture(self, args):
        real_capture(self, args)
        captured.append(self)

    monkeypatch.setattr(chain_mod._GraphedChunk, "_capture", capture)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", lambda g: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "Stream", FakeStream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: FakeStream())
    model = mlp((16, 16))
    x0 = torch.randn(12, 2, generator=torch.Generator().manual_seed(3))
    for name, hyper in (("mala", {"step_size": 0.05}), ("psgld", {"step_size": 0.01})):
        sampler = samplers.build(name, **hyper)
        chain = CompiledChain(chunk=3, compile=False, cuda_graph=True)
        for seed in (4, 5):  # the second run reuses the captured chunk and the recorded plan
            fast = sampler.run(MLPTarget(model, "float32", chain=chain), x0, 11,
                               generator=torch.Generator().manual_seed(seed))
            eager = sampler.run(MLPTarget(model, "float32"), x0, 11, generator=torch.Generator().manual_seed(seed))
            assert torch.equal(fast.x, eager.x) and torch.equal(fast.energy, eager.energy)
            for k in eager.diagnostics:
                assert torch.equal(fast.diagnostics[k], eager.diagnostics[k]), k
        assert len(chain._cache[sampler]) == 1
