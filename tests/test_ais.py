"""AIS recovers closed-form log-partition functions of truncated Gaussians and mixtures."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from ebmlab.errors import ConfigError
from ebmlab.metrics.ais import AISConfig, ais_log_z, beta_schedule, log_mean_exp_se, nll_from_ais
from ebmlab.samplers import build
from ebmlab.samplers.metropolis import reflect_into_box


def truncated_gauss_log_z(mu, s, lo, hi):
    """log int_[lo,hi]^d exp(-|x - mu|^2 / (2 s^2)) dx, per coordinate in closed form."""
    mu = np.asarray(mu, dtype=float)
    mass = norm.cdf((hi - mu) / s) - norm.cdf((lo - mu) / s)
    return float(np.sum(np.log(s * math.sqrt(2 * math.pi) * mass)))


def test_log_mean_exp_se_by_hand():
    lz, se, ess = log_mean_exp_se(np.log([1.0, 3.0]))
    assert lz == pytest.approx(math.log(2.0))
    assert se == pytest.approx(math.sqrt(2.0) / (2.0 * math.sqrt(2)))  # std([1,3]) / (mean sqrt(n))
    assert ess == pytest.approx(16.0 / 10.0)


def test_geometric_schedule_ends_at_one():
    b = beta_schedule(AISConfig(steps=5, beta_min=1e-4))
    assert b[0] == pytest.approx(1e-4) and b[-1] == pytest.approx(1.0)
    assert np.allclose(np.diff(np.log(b)), math.log(1e4) / 4)


def test_reflection_folds_into_box_and_flips_momentum():
    x = torch.tensor([1.3, -0.2, 2.4, 0.5, -1.1])
    p = torch.ones(5)
    y, q = reflect_into_box(x, p, 0.0, 1.0)
    assert torch.allclose(y, torch.tensor([0.7, 0.2, 0.4, 0.5, 0.9]), atol=1e-6)
    assert q.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]


def test_reflective_hmc_keeps_truncated_gaussian():
    """Exactness of the reflected HMC on a Gaussian cut by the box: moments of the truncated law."""
    mu, s = 0.15, 0.2
    hmc = build("hmc", step_size=0.15, n_leapfrog=4, reflect=[0.0, 1.0])
    gen = torch.Generator().manual_seed(1)
    x0 = torch.rand(2000, 1, generator=gen)
    res = hmc.run(lambda x: ((x - mu) ** 2).sum(1) / (2 * s * s), x0, 300, generator=gen)
    a, b = (0 - mu) / s, (1 - mu) / s
    exact_mean = mu + s * (norm.pdf(a) - norm.pdf(b)) / (norm.cdf(b) - norm.cdf(a))
    assert float(res.x.min()) >= 0.0 and float(res.x.max()) <= 1.0
    assert float(res.x.mean()) == pytest.approx(exact_mean, abs=0.01)


@pytest.mark.parametrize("temperature,steps,beta_min", [(1.0, 300, 1e-4), (0.01, 800, 1e-5)])
def test_ais_recovers_truncated_gaussian_log_z(temperature, steps, beta_min):
    d, s = 4, 0.1
    mu = torch.tensor([0.3, 0.5, 0.05, 0.8])  # one mean near a wall: truncation matters
    energy = lambda x: ((x - mu) ** 2).sum(1) / (2 * s * s)
    cfg = AISConfig(chains=400, steps=steps, beta_min=beta_min, n_leapfrog=3, step_size=0.1)
    res = ais_log_z(energy, (d,), cfg, temperature=temperature, generator=torch.Generator().manual_seed(0))
    exact = truncated_gauss_log_z(mu.numpy(), s * math.sqrt(temperature), 0.0, 1.0)
    assert res.log_z_se < 0.1
    assert abs(res.log_z - exact) < 3 * res.log_z_se + 1e-3, (res.log_z, exact, res.log_z_se)
    assert res.ess > 20


def test_ais_recovers_mixture_log_z():
    """Two well separated components in [0,1]^2: Z = sum_k pi_k prod_i (truncated mass)."""
    means = torch.tensor([[0.2, 0.2], [0.75, 0.7]])
    weights = torch.tensor([0.3, 0.7])
    s = 0.06
    norm_const = 2 * math.pi * s * s  # each component is a normalised density in R^2

    def energy(x):
        sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
        return -torch.logsumexp(torch.log(weights) - sq / (2 * s * s) - math.log(norm_const), dim=1)

    cfg = AISConfig(chains=400, steps=400, beta_min=1e-3, n_leapfrog=4, step_size=0.1)
    res = ais_log_z(energy, (2,), cfg, generator=torch.Generator().manual_seed(3))
    mass = sum(float(w) * math.exp(truncated_gauss_log_z(m.numpy(), s, 0.0, 1.0) - math.log(norm_const))
               for w, m in zip(weights, means))
    exact = math.log(mass)
    assert res.log_z_se < 0.1
    assert abs(res.log_z - exact) < 3 * res.log_z_se + 1e-3, (res.log_z, exact, res.log_z_se)


def test_nll_adds_log_z_to_energy_over_temperature():
    from ebmlab.metrics.ais import AISResult
    ais = AISResult(log_z=2.0, log_z_se=0.1, ess=10.0, log_w=np.zeros(2), log_z_base=0.0,
                    accept=np.zeros(1), step_sizes=np.zeros(1))
    x = torch.tensor([[1.0, 1.0], [3.0, 3.0]])
    out = nll_from_ais(lambda z: z.sum(1), x, ais, temperature=0.5)
    assert out["nll_nats"] == pytest.approx((4 + 12) / 2 + 2.0)  # E/T = [4, 12]; mean + log Z
    assert out["nll_bits_per_dim"] == pytest.approx(out["nll_nats"] / (2 * math.log(2)))
    assert out["nll_nats_se"] == pytest.approx(math.sqrt(0.01 + np.var([4.0, 12.0], ddof=1) / 2))


def test_bad_box_is_one_line_error():
    with pytest.raises(ConfigError, match="box must satisfy low < high"):
        ais_log_z(lambda x: x.sum(1), (2,), AISConfig(steps=2), box=(1.0, 0.0))
