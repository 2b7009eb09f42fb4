"""Samplers against closed-form targets.

Chains are many and independent, so the final states are (nearly) independent draws
and Monte-Carlo standard errors are the usual ones. Seeds are fixed: the tolerances
are 4-5 standard errors, so a failure means a wrong kernel, not bad luck.
"""

import math

import pytest
import torch

from ebmlab import samplers
from ebmlab.errors import ConfigError

MU = torch.tensor([1.0, -2.0])
SIGMA = torch.tensor([[2.0, 1.2], [1.2, 1.0]])
PREC = torch.linalg.inv(SIGMA)


def gauss_energy(x):
    d = x - MU
    return 0.5 * torch.einsum("ni,ij,nj->n", d, PREC, d)


def moments_ok(x, n_se=5.0):
    n = x.shape[0]
    mean, cov = x.mean(0), torch.cov(x.T)
    se_mean = (torch.diag(SIGMA) / n).sqrt()
    assert torch.all((mean - MU).abs() < n_se * se_mean), (mean, MU)
    # SE of a sample covariance entry: sqrt((S_ij^2 + S_ii S_jj) / n)
    se_cov = ((SIGMA ** 2 + torch.outer(torch.diag(SIGMA), torch.diag(SIGMA))) / n).sqrt()
    assert torch.all((cov - SIGMA).abs() < n_se * se_cov), (cov, SIGMA)


def start(n=4000, scale=3.0, seed=1):
    return scale * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name,hyper,steps", [
    ("mala", {"step_size": 0.1}, 400),
    ("hmc", {"step_size": 0.25, "n_leapfrog": 8}, 100),
    ("rwmh", {"noise_std": 1.0}, 1500),
])
def test_correlated_gaussian_moments(name, hyper, steps):
    s = samplers.build(name, **hyper)
    res = s.run(gauss_energy, start(), steps, generator=torch.Generator().manual_seed(2))
    moments_ok(res.x)
    acc = res.diagnostics["accept_rate"]
    assert acc.shape == (steps,)
    assert 0.2 < float(acc[-50:].mean()) <= 1.0


def mixture_energy(x, w=0.3, m=1.5):
    # p(x) = w N(-m, 1) + (1 - w) N(m, 1), x of shape (n, 1)
    x = x[:, 0]
    a = math.log(w) - 0.5 * (x + m) ** 2
    b = math.log(1 - w) - 0.5 * (x - m) ** 2
    return -torch.logaddexp(a, b)


def normal_cdf(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@pytest.mark.parametrize("name,hyper,steps", [
    ("mala", {"step_size": 0.5}, 1500),
    ("hmc", {"step_size": 0.3, "n_leapfrog": 10}, 300),
    ("rwmh", {"noise_std": 2.0}, 2000),
])
def test_mixture_mode_weights(name, hyper, steps):
    w, m, n = 0.3, 1.5, 4000
    x0 = 3.0 * torch.randn(n, 1, generator=torch.Generator().manual_seed(3))
    res = samplers.build(name, **hyper).run(mixture_energy, x0, steps,
                                             generator=torch.Generator().manual_seed(4))
    p_left = w * normal_cdf(m) + (1 - w) * normal_cdf(-m)  # P(x < 0) under the mixture
    frac = float((res.x[:, 0] < 0).float().mean())
    se = math.sqrt(p_left * (1 - p_left) / n)
    assert abs(frac - p_left) < 4 * se, (frac, p_left)


def test_mala_acceptance_tends_to_one_as_step_shrinks():
    rates = []
    for h in (0.5, 0.05, 0.005, 0.0005):
        res = samplers.build("mala", step_size=h).run(
            gauss_energy, start(500, 1.0), 50, generator=torch.Generator().manual_seed(5))
        rates.append(float(res.diagnostics["accept_prob"].mean()))
    assert all(a < b for a, b in zip(rates, rates[1:])), rates
    assert rates[-1] > 0.999


def test_gd_reaches_the_mode():
    res = samplers.build("gd", step_size=0.2).run(gauss_energy, start(10), 400)
    assert torch.allclose(res.x, MU.expand(10, 2), atol=1e-4)
    assert res.n_grad_evals == 401  # one per step plus the start


def test_langevin_targets_implied_temperature():
    # noise sqrt(2 h T) makes the stationary law N(mu, T Sigma) for small h
    h, T = 0.01, 0.25
    s = samplers.build("langevin", step_size=h, noise_std=math.sqrt(2 * h * T))
    assert s.info()["implied_temperature"] == pytest.approx(T)
    res = s.run(gauss_energy, start(4000, 1.0), 1500, generator=torch.Generator().manual_seed(6))
    var = res.x.var(0)
    assert torch.allclose(var, T * torch.diag(SIGMA), rtol=0.1)


def test_mala_at_implied_temperature_samples_tempered_target():
    h, T = 0.05, 4.0
    s = samplers.build("mala", step_size=h, noise_std=math.sqrt(2 * h * T))
    res = s.run(gauss_energy, start(4000, 1.0), 600, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(res.x.var(0), T * torch.diag(SIGMA), rtol=0.12)
    # the same proposal tested at T = 1 targets the untempered law
    s1 = samplers.build("mala", step_size=h, noise_std=math.sqrt(2 * h * T), temperature=1.0)
    res1 = s1.run(gauss_energy, start(4000, 1.0), 600, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(res1.x.var(0), torch.diag(SIGMA), rtol=0.12)


@pytest.mark.parametrize("name", sorted(samplers.SAMPLERS))
def test_same_seed_same_output(name):
    s = samplers.build(name)
    a = s.run(gauss_energy, start(50), 20, generator=torch.Generator().manual_seed(11))
    b = s.run(gauss_energy, start(50), 20, generator=torch.Generator().manual_seed(11))
    c = s.run(gauss_energy, start(50), 20, generator=torch.Generator().manual_seed(12))
    assert torch.equal(a.x, b.x)
    for k in a.diagnostics:
        assert torch.equal(a.diagnostics[k], b.diagnostics[k])
    if name != "gd":
        assert not torch.equal(a.x, c.x)


def test_chains_of_any_shape():
    def energy(x):  # (chains, 3, 4, 4) images
        return 0.5 * x.flatten(1).pow(2).sum(1)
    x0 = torch.randn(8, 3, 4, 4)
    res = samplers.build("mala", step_size=0.1).run(energy, x0, 5, generator=torch.Generator().manual_seed(0))
    assert res.x.shape == x0.shape and res.energy.shape == (8,)


def test_psgld_one_step_matches_hand_computation():
    x0 = torch.tensor([[1.0, -1.0]])
    h, a, lam, sigma = 0.1, 0.9, 0.01, 0.05
    s = samplers.build("psgld", step_size=h, alpha=a, lam=lam, noise_std=sigma, precondition_noise=True)
    g = torch.Generator().manual_seed(0)
    res = s.run(gauss_energy, x0, 1, generator=g)
    grad = (PREC @ (x0[0] - MU))
    V = (1 - a) * grad ** 2
    G = 1 / (lam + V.sqrt())
    xi = torch.randn(1, 2, generator=torch.Generator().manual_seed(0))[0]
    expected = x0[0] - h * G * grad + sigma * G.sqrt() * xi
    assert torch.allclose(res.x[0], expected, atol=1e-6)
    assert float(res.diagnostics["precond_mean"][0]) == pytest.approx(float(G.mean()), rel=1e-6)


def test_psgld_preconditioner_is_reset_for_each_run():
    s = samplers.build("psgld", step_size=0.01)
    a = s.run(gauss_energy, start(20), 3, generator=torch.Generator().manual_seed(1))
    b = s.run(gauss_energy, start(20), 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.diagnostics["precond_mean"], b.diagnostics["precond_mean"])


def test_tempered_mala_heats_up_when_acceptance_is_low():
    # a huge step: almost every proposal is rejected at tau = 1
    s = samplers.build("tempered_mala", step_size=50.0, u=0.5, factor=10.0)
    res = s.run(gauss_energy, start(200), 4, generator=torch.Generator().manual_seed(0))
    temps = res.diagnostics["temperature"].tolist()
    assert temps[0] == 1.0 and temps[1] == 10.0
    # a tiny step: acceptance stays high and tau stays put
    s = samplers.build("tempered_mala", step_size=1e-4)
    res = s.run(gauss_energy, start(200), 4, generator=torch.Generator().manual_seed(0))
    assert res.diagnostics["temperature"].tolist() == [1.0] * 4


def test_langevin_tracks_acceptance_without_applying_it():
    kw = dict(step_size=0.5)
    a = samplers.build("langevin", **kw).run(gauss_energy, start(100), 10, generator=torch.Generator().manual_seed(0))
    b = samplers.build("langevin", track_acceptance=True, **kw).run(
        gauss_energy, start(100), 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.x, b.x)  # same moves: nothing rejected
    acc = b.diagnostics["accept_prob"]
    assert acc.shape == (10,) and float(acc.max()) <= 1.0 and float(acc.min()) < 1.0


def test_clamp_and_grad_clip():
    res = samplers.build("langevin", step_size=1.0, clamp=[-0.5, 0.5], grad_clip=0.1).run(
        gauss_energy, start(100), 5, generator=torch.Generator().manual_seed(0))
    assert float(res.x.abs().max()) <= 0.5


def test_burn_in_and_thinning_keep_the_right_draws():
    s = samplers.build("gd", step_size=0.1)
    full = s.run(gauss_energy, start(3), 10, keep_trace=True)
    part = s.run(gauss_energy, start(3), 10, keep_trace=True, burn_in=4, thin=3)
    assert full.trace.shape == (10, 3, 2)
    # draws are numbered 1..10; burn-in drops 1-4; thinning keeps 5, 8
    assert torch.equal(part.trace, full.trace[[4, 7]])


def test_callback_replaces_states():
    s = samplers.build("gd", step_size=0.1)
    res = s.run(gauss_energy, start(4), 3, callback=lambda t, x: torch.zeros_like(x) if t == 2 else None)
    assert torch.equal(res.x, torch.zeros(4, 2))
    assert torch.allclose(res.energy, gauss_energy(torch.zeros(4, 2)))


@pytest.mark.parametrize("args,message", [
    (("nuts",), "unknown sampler 'nuts' (choose from gd, hmc, langevin, mala, psgld, rwmh, stanley, "
                "tempered_mala, sgld)"),
    (("mala",), None),
])
def test_build_names(args, message):
    if message is None:
        assert samplers.build(*args).name == "mala"
    else:
        with pytest.raises(ConfigError) as e:
            samplers.build(*args)
        assert str(e.value) == message


@pytest.mark.parametrize("hyper,message", [
    ({"step_size": -0.1}, "mala.step_size: must be > 0, got -0.1"),
    ({"step_size": "big"}, "mala.step_size: expected a number, got 'big'"),
    ({"stepsize": 0.1}, "unknown key 'mala.stepsize' (allowed: step_size, noise_std, temperature, grad_clip, clamp, "
                        "test, box_mode)"),
    ({"temperature": "hot"}, "mala: temperature must be 'implied' or a positive number, got 'hot'"),
    ({"clamp": [1, 0]}, "mala: bad clamp (1.0, 0.0)"),
    ({"test": "paper"}, "mala.test: must be one of 'exact', 'thesis', got 'paper'"),
    ({"box_mode": "wrap"}, "mala.box_mode: must be one of 'clamp', 'reject', got 'wrap'"),
])
def test_bad_hyperparameters_are_one_line_errors(hyper, message):
    with pytest.raises(ConfigError) as e:
        samplers.build("mala", **hyper)
    assert str(e.value) == message
    assert "\n" not in str(e.value)


def test_sgld_alias_is_langevin():
    assert samplers.build("sgld", step_size=0.1).name == "langevin"
