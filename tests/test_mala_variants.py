"""MALA's test variants, tempered MALA's tau cap and box rejection, against independent numbers.

Acceptance: on the 1-d energy E(x) = x^2 / 2, n chains start at exact, independent draws
x ~ N(0, v0) (v0 is stated per case) and make one move x' = x - h d(x) + sigma xi, xi ~ N(0, 1).
The sampler's first recorded ``accept_prob`` is the mean over chains of
p(x, xi) = min(1, pi(x') q(x | x') / (pi(x) q(x' | x))), so its expectation is a 2-d integral
over (x, xi), computed here by scipy quadrature from the densities written out independently,
and its Monte-Carlo standard error is sd(p) / sqrt(n) with sd(p) from the same quadrature.
Tolerances are 5 standard errors.
"""

import math
from collections import defaultdict

import pytest
import torch
from scipy import integrate, stats

from ebmlab import samplers
from ebmlab.samplers.metropolis import MAX_TAU

N_CHAINS = 20000
N_SE = 5.0


def half_square(x):
    return 0.5 * x[:, 0] ** 2


def log_normal_pdf(a, mean, sd):
    return -0.5 * ((a - mean) / sd) ** 2 - math.log(sd)


def acceptance_integral(*, h, sigma, test_sd, T, tau, v0):
    """E[p] and sd(p) for x ~ N(0, v0), xi ~ N(0, 1) by 2-d quadrature.

    Target pi(x) ∝ exp(-x^2 / (2 tau T)); drift d(x) = grad(E / tau) = x / tau; proposal
    density of the test q(a | b) = N(a; b - h d(b), test_sd^2) (the move itself has std sigma).
    """
    sd0 = math.sqrt(v0)

    def p(xi, z):
        x = sd0 * z
        y = x - h * x / tau + sigma * xi
        log_r = (-(y * y - x * x) / (2 * tau * T)
                 + log_normal_pdf(x, y - h * y / tau, test_sd) - log_normal_pdf(y, x - h * x / tau, test_sd))
        return math.exp(min(0.0, log_r))

    def weight(xi, z):
        return math.exp(-0.5 * (xi * xi + z * z)) / (2 * math.pi)

    L = 9.0
    kw = dict(epsabs=1e-8, epsrel=1e-8)
    m1, _ = integrate.dblquad(lambda xi, z: weight(xi, z) * p(xi, z), -L, L, -L, L, **kw)
    m2, _ = integrate.dblquad(lambda xi, z: weight(xi, z) * p(xi, z) ** 2, -L, L, -L, L, **kw)
    return m1, math.sqrt(max(m2 - m1 * m1, 0.0))


def measured_acceptance(name, hyper, v0, n_steps=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = math.sqrt(v0) * torch.randn(N_CHAINS, 1, generator=g, dtype=torch.float64)
    res = samplers.build(name, **hyper).run(half_square, x0, n_steps, generator=g)
    return res.diagnostics["accept_prob"]


# (sampler, hyper-parameters, v0 = variance of the start draws, tau = tempering of the first step)
EXACT_CASES = [
    ("mala", {"step_size": 0.5}, 1.0, 1.0),                                    # textbook MALA, T = 1
    ("mala", {"step_size": 1.2, "noise_std": 0.2}, 0.2 ** 2 / 2.4, 1.0),       # implied T = 1/60, x ~ N(0, T)
    ("mala", {"step_size": 0.8, "noise_std": 0.5, "temperature": 1.0}, 1.0, 1.0),  # noise != sqrt(2h), T = 1
    ("tempered_mala", {"step_size": 0.5, "tau0": 4.0}, 4.0, 4.0),             # E / 4, stationary N(0, 4)
]
THESIS_CASES = [
    ("mala", {"step_size": 0.5, "noise_std": 0.2, "test": "thesis"}, 1.0, 1.0),
    ("mala", {"step_size": 2.5, "noise_std": 0.1, "test": "thesis"}, 1.0, 1.0),
    ("mala", {"step_size": 0.1, "noise_std": 1.0, "test": "thesis"}, 1.0, 1.0),
    ("tempered_mala", {"step_size": 12.0, "noise_std": 0.1, "tau0": 4.0, "test": "thesis"}, 1.0, 4.0),
]


def _exact_prediction(hyper, v0, tau):
    h = hyper["step_size"]
    sigma = hyper.get("noise_std") or math.sqrt(2 * h)
    T = hyper.get("temperature", sigma ** 2 / (2 * h))
    return acceptance_integral(h=h, sigma=sigma, test_sd=sigma, T=T, tau=tau, v0=v0)


def _thesis_prediction(hyper, v0, tau):
    # Algorithm 5 read with exp(-E) for E: target exp(-E / tau), T = 1, test density variance 2h
    h = hyper["step_size"]
    sigma = hyper.get("noise_std") or math.sqrt(2 * h)
    return acceptance_integral(h=h, sigma=sigma, test_sd=math.sqrt(2 * h), T=1.0, tau=tau, v0=v0)


@pytest.mark.parametrize("name,hyper,v0,tau", EXACT_CASES)
def test_exact_mala_acceptance_matches_quadrature(name, hyper, v0, tau):
    mean, sd = _exact_prediction(hyper, v0, tau)
    se = sd / math.sqrt(N_CHAINS)
    acc = measured_acceptance(name, {**hyper, "u": 1e-9} if name == "tempered_mala" else hyper, v0, n_steps=10)
    # first step: chains start at exact draws, so accept_prob[0] estimates the integral
    assert abs(float(acc[0]) - mean) < N_SE * se, (float(acc[0]), mean, se)
    # N(0, v0) is the exact chain's stationary law: every later step has the same expected
    # acceptance, and the mean of 10 (correlated) step means has an SE no larger than one step's
    assert abs(float(acc.mean()) - mean) < N_SE * se, (acc.tolist(), mean, se)


@pytest.mark.parametrize("name,hyper,v0,tau", THESIS_CASES)
def test_thesis_mala_acceptance_matches_quadrature(name, hyper, v0, tau):
    mean, sd = _thesis_prediction(hyper, v0, tau)
    se = sd / math.sqrt(N_CHAINS)
    acc = measured_acceptance(name, hyper, v0)
    assert abs(float(acc[0]) - mean) < N_SE * se, (float(acc[0]), mean, se)
    # the two tests differ in these settings, so this comparison can tell them apart
    exact_mean, _ = _exact_prediction({k: v for k, v in hyper.items() if k != "test"}, v0, tau)
    assert abs(exact_mean - mean) > 4 * N_SE * se, (exact_mean, mean, se)


def test_thesis_test_equals_exact_when_noise_is_sqrt_2h():
    # sigma^2 = 2h and T = 1: the thesis's test is the textbook one, draw for draw
    a = measured_acceptance("mala", {"step_size": 0.4, "test": "thesis"}, 1.0, n_steps=3, seed=5)
    b = measured_acceptance("mala", {"step_size": 0.4}, 1.0, n_steps=3, seed=5)
    assert torch.allclose(a, b, rtol=1e-12, atol=0)


def test_langevin_tracks_the_thesis_acceptance():
    # same seed, same first move: SGLD's tracked acceptance is what mala with the same test computes
    for test in ("exact", "thesis"):
        kw = {"step_size": 2.5, "noise_std": 0.1, "test": test}
        sgld = measured_acceptance("langevin", {**kw, "track_acceptance": True}, 1.0, seed=3)
        mala = measured_acceptance("mala", kw, 1.0, seed=3)
        assert float(sgld[0]) == pytest.approx(float(mala[0]), rel=1e-12)


def test_thesis_variant_is_default_off():
    for name in ("mala", "tempered_mala"):
        c = samplers.build(name).config
        assert c.test == "exact" and c.box_mode == "clamp"
    assert samplers.build("mala", test="thesis", step_size=100.0, noise_std=0.01).info()["temperature"] == 1.0
    assert samplers.build("mala", step_size=100.0, noise_std=0.01).info()["temperature"] == pytest.approx(5e-7)


# ---------------------------------------------------------------------------
# tempered MALA: tau is capped

def walled_energy(x):
    # E = x^2 / 2 inside (-1, 1), +inf outside (a diverged model's energies, say): with noise 10
    # most proposals leave, so the mean acceptance stays far below u and tau grows every step
    x = x[:, 0]
    return torch.where(x.abs() < 1, 0.5 * x ** 2, torch.full_like(x, math.inf))


def _tempered(**hyper):
    return samplers.build("tempered_mala", step_size=0.01, noise_std=10.0, u=0.5, factor=10.0, **hyper)


def _x0():
    return torch.rand(256, 1, generator=torch.Generator().manual_seed(0)) - 0.5   # float32, inside the wall


def _tempered_run(n_steps=200, **hyper):
    return _tempered(**hyper).run(walled_energy, _x0(), n_steps, generator=torch.Generator().manual_seed(1))


def _tau_per_step(n_steps, **hyper):
    """tau of every chain after every step (Sampler.step by hand, to see the per-chain values)."""
    s, gen, diag = _tempered(**hyper), torch.Generator().manual_seed(1), defaultdict(list)
    target = samplers.as_target(walled_energy)
    state = s.init(target, _x0())
    taus = []
    for _ in range(n_steps):
        state = s.step(target, state, gen, diag)
        taus.append(state.extra["tau"])
    return torch.stack(taus), state


def test_tempered_mala_tau_stays_at_the_cap():
    assert samplers.build("tempered_mala").config.max_tau == MAX_TAU == 1e30
    cap32 = float(torch.tensor(MAX_TAU, dtype=torch.float32))   # 1e30 as float32 holds it
    taus, state = _tau_per_step(200)
    assert taus.dtype == torch.float32
    assert torch.isfinite(taus).all() and float(taus.max()) <= cap32
    # tenfold per step up to the cap (after 30 steps), then it stays there
    assert float(taus[28].max()) == pytest.approx(1e29, rel=1e-5)
    assert torch.all(taus[29:] == cap32)
    assert torch.isfinite(state.x).all() and torch.isfinite(state.energy).all()
    # the driver's diagnostics: finite, no nan
    res = _tempered_run()
    temps = res.diagnostics["temperature"]
    assert temps.shape == (200,) and torch.isfinite(temps).all()
    assert float(temps[30:].min()) == pytest.approx(MAX_TAU, rel=1e-6)
    for k, v in res.diagnostics.items():
        assert not torch.isnan(v).any(), k
    assert torch.isfinite(res.x).all() and torch.isfinite(res.energy).all()
    assert float(res.x.abs().max()) < 1.0


def test_tempered_mala_cap_is_configurable_and_uncapped_tau_overflows():
    taus, _ = _tau_per_step(20, max_tau=1e3)
    assert torch.all(taus[2:] == 1e3)
    # without a cap the same run overflows float32 after 39 steps: the failure the cap prevents
    res = _tempered_run(n_steps=60, max_tau=None)
    assert torch.isinf(res.diagnostics["temperature"]).any()


def test_tempered_mala_per_chain_cap():
    cap32 = float(torch.tensor(1e20, dtype=torch.float32))
    taus, state = _tau_per_step(80, per_chain=True, max_tau=1e20)
    assert torch.isfinite(taus).all() and float(taus.max()) <= cap32
    assert float((taus[-1] == cap32).float().mean()) > 0.5   # most chains reached the cap
    assert torch.isfinite(state.x).all()


# ---------------------------------------------------------------------------
# box rejection: exact for the target truncated to the box

MU_BOX, BOX = 0.5, (-1.0, 1.0)


def shifted_half_square(x):
    return 0.5 * (x[:, 0] - MU_BOX) ** 2


def truncnorm_moments():
    d = stats.truncnorm(BOX[0] - MU_BOX, BOX[1] - MU_BOX, loc=MU_BOX, scale=1.0)
    mean, var = d.mean(), d.var()
    m4 = d.expect(lambda v: (v - mean) ** 4)
    return mean, var, m4


def _box_run(name, hyper, n=4000, steps=300):
    x0 = torch.rand(n, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2 - 1
    return samplers.build(name, clamp=list(BOX), **hyper).run(
        shifted_half_square, x0, steps, generator=torch.Generator().manual_seed(3), keep_trace=True)


BOX_CASES = [
    ("mala", {"step_size": 0.3}),
    ("rwmh", {"noise_std": 0.8}),
]


@pytest.mark.parametrize("name,hyper", BOX_CASES)
def test_box_rejection_samples_the_truncated_normal(name, hyper):
    mean, var, m4 = truncnorm_moments()
    res = _box_run(name, {**hyper, "box_mode": "reject"})
    x = res.x[:, 0]
    n = x.shape[0]
    assert abs(float(x.mean()) - mean) < N_SE * math.sqrt(var / n), (float(x.mean()), mean)
    assert abs(float(x.var()) - var) < N_SE * math.sqrt((m4 - var ** 2) / n), (float(x.var()), var)
    # never outside the box, and never on its faces (no clamping)
    assert float(res.trace.min()) > BOX[0] and float(res.trace.max()) < BOX[1]
    assert 0.05 < float(res.diagnostics["accept_rate"][-50:].mean()) < 0.95


@pytest.mark.parametrize("name,hyper", BOX_CASES)
def test_box_clamping_is_not_exact(name, hyper):
    # the default (clamp) piles chains onto the faces: the comparison above tells the modes apart
    mean, var, m4 = truncnorm_moments()
    res = _box_run(name, hyper)
    x = res.x[:, 0]
    at_faces = float(((x == BOX[0]) | (x == BOX[1])).float().mean())
    assert at_faces > 0.01
    assert abs(float(x.var()) - var) > N_SE * math.sqrt((m4 - var ** 2) / x.shape[0])


def test_box_rejection_on_images_rejects_per_chain():
    # one pixel outside rejects the whole chain's proposal; chains inside the box stay inside
    def energy(x):
        return 0.5 * x.flatten(1).pow(2).sum(1)
    x0 = torch.rand(64, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    res = samplers.build("mala", step_size=0.01, noise_std=0.2, clamp=[0.0, 1.0], box_mode="reject").run(
        energy, x0, 30, generator=torch.Generator().manual_seed(1), keep_trace=True)
    assert float(res.trace.min()) >= 0.0 and float(res.trace.max()) <= 1.0
    assert float(res.diagnostics["accept_rate"].mean()) < 0.5


# ---------------------------------------------------------------------------
# the identity of docs/samplers.md: both tests are exp(-Delta / T_test)

def bumpy_energy(x):
    return (torch.log(torch.cosh(2 * x)) + 0.25 * x ** 4 + 0.3 * torch.sin(3 * x)).sum(1)


@pytest.mark.parametrize("test,hyper", [
    ("exact", {"step_size": 0.2, "noise_std": 0.2}),      # implied T = 0.1
    ("thesis", {"step_size": 0.2, "noise_std": 0.2}),     # T = 1, density variance 2h = 0.4
    ("thesis", {"step_size": 0.5, "noise_std": 0.01}),
])
def test_acceptance_is_minus_delta_over_test_temperature(test, hyper):
    # Delta = R + (h / 4)(|g(x')|^2 - |g(x)|^2), R = E(x') - E(x) - (g(x) + g(x')).(x' - x) / 2,
    # depends only on the move; the exact test at T = sigma^2 / (2h) is exp(-Delta / T), the thesis's exp(-Delta)
    h, sigma = hyper["step_size"], hyper["noise_std"]
    x0 = torch.randn(2000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = samplers.build("mala", test=test, **hyper)
    res = s.run(bumpy_energy, x0, 1, generator=torch.Generator().manual_seed(1))
    xi = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def e_and_g(x):
        x = x.clone().requires_grad_(True)
        e = bumpy_energy(x)
        return e.detach(), torch.autograd.grad(e.sum(), x)[0]

    e, g = e_and_g(x0)
    x1 = x0 - h * g + sigma * xi
    e1, g1 = e_and_g(x1)
    R = e1 - e - 0.5 * ((g + g1) * (x1 - x0)).sum(1)
    delta = R + 0.25 * h * (g1.pow(2).sum(1) - g.pow(2).sum(1))
    T = 1.0 if test == "thesis" else sigma ** 2 / (2 * h)
    expected = torch.exp(torch.clamp(-delta / T, max=0.0)).mean()
    assert float(res.diagnostics["accept_prob"][0]) == pytest.approx(float(expected), rel=1e-6)  # diagnostics are float32
    assert 0.05 < float(expected) < 0.99   # a case where the test matters
