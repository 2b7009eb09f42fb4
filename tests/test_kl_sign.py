"""The KL term in both signs (Du et al. 2020; Gagnon & Lajoie 4.2, 5.4): the parameter gradient
through the last sampler step matches a finite difference and points the stated way."""

import pytest
import torch
from torch import nn

from ebmlab.config import Tagged
from ebmlab.train.auxloss import AuxContext, KLCDLossConfig, KLLossConfig, build_aux
from ebmlab.train.buffer import ReplayBuffer

H = 0.1  # sampler step size
TORCH_DTYPE = torch.float64


class Quadratic(nn.Module):
    """E_theta(x) = theta / 2 |x|^2: the last Langevin step is x_K = (1 - h theta) x_prev + noise."""

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta, dtype=TORCH_DTYPE))

    def forward(self, x):
        return 0.5 * self.theta * x.flatten(1).pow(2).sum(1)


def setup(seed=0):
    g = torch.Generator().manual_seed(seed)
    x_prev = torch.randn(6, 1, 2, 2, generator=g, dtype=TORCH_DTYPE)
    noise = 0.05 * torch.randn(x_prev.shape, generator=g, dtype=TORCH_DTYPE)
    compare = torch.randn(8, 1, 2, 2, generator=g, dtype=TORCH_DTYPE)
    buf = ReplayBuffer(8)
    buf.fill(compare)
    return x_prev, noise, buf


def last_step(theta, x_prev, noise):
    return x_prev - H * theta * x_prev + noise


def loss_and_grad(name, cfg, theta, x_prev, noise, buf):
    model = Quadratic(theta)
    ctx = AuxContext(model=model, x_prev=x_prev, x_neg=last_step(theta, x_prev, noise).detach(), step_size=H,
                     value_range=(-100.0, 100.0), buffer=buf, generator=torch.Generator().manual_seed(1),
                     iteration=0)
    loss, logs = build_aux(Tagged(name, cfg))(ctx)
    (grad,) = torch.autograd.grad(loss, model.theta)
    return float(loss.detach()), float(grad), logs


def finite_difference(sign, cfg, theta0, x_prev, noise, compare, delta=1e-5):
    """d/dtheta of sign * (w E_theta0(x_K(theta)) - w_ent mean log NN(x_K(theta), compare)) at theta0."""

    def f(theta):
        x = last_step(theta, x_prev, noise)
        e = 0.5 * theta0 * x.flatten(1).pow(2).sum(1).mean()
        nn_d = torch.cdist(x.flatten(1), compare.flatten(1)).min(1).values.log().mean()
        return sign * (cfg.weight * e - cfg.entropy_weight * nn_d)

    return float((f(theta0 + delta) - f(theta0 - delta)) / (2 * delta))


@pytest.mark.parametrize("name,cls,sign", [("kl", KLLossConfig, 1.0), ("kl_cd", KLCDLossConfig, -1.0)])
@pytest.mark.parametrize("entropy_weight", [0.0, 0.3])
def test_gradient_matches_finite_difference(name, cls, sign, entropy_weight):
    x_prev, noise, buf = setup()
    cfg = cls(entropy_weight=entropy_weight, entropy_compare=8, entropy_min_buffer=8)
    _, grad, _ = loss_and_grad(name, cfg, 1.0, x_prev, noise, buf)
    # the states the term compares against: its own draw from the buffer (same generator seed)
    drawn = buf.data[torch.randint(len(buf), (8,), generator=torch.Generator().manual_seed(1))]
    fd = finite_difference(sign, cfg, 1.0, x_prev, noise, drawn)
    assert grad == pytest.approx(fd, rel=1e-6)


def test_energy_part_has_the_stated_signs():
    """Du et al.: descending the loss lowers the samples' energy (a steeper well pulls x_K down);
    CD's KL term raises it. d E_theta0(x_K) / d theta = -2 h (1 - h theta) theta0 / 2 |x_prev|^2 < 0."""
    x_prev, _, buf = setup()
    noise = torch.zeros_like(x_prev)
    du = KLLossConfig(entropy_weight=0.0)
    cd = KLCDLossConfig(entropy_weight=0.0)
    _, g_du, _ = loss_and_grad("kl", du, 1.0, x_prev, noise, buf)
    _, g_cd, _ = loss_and_grad("kl_cd", cd, 1.0, x_prev, noise, buf)
    exact = -H * (1 - H) * x_prev.flatten(1).pow(2).sum(1).mean()
    assert g_du == pytest.approx(float(exact), rel=1e-9) and g_du < 0
    assert g_cd == pytest.approx(-g_du, rel=1e-12)

    def sample_energy(theta):
        return float(0.5 * last_step(theta, x_prev, noise).flatten(1).pow(2).sum(1).mean())

    lr = 0.5
    assert sample_energy(1.0 - lr * g_du) < sample_energy(1.0) < sample_energy(1.0 - lr * g_cd)


def test_entropy_part_has_the_stated_signs():
    """Du et al. maximise the nearest-neighbour entropy (repel samples from past ones); CD minimises it."""
    x_prev, noise, buf = setup(3)
    du = KLLossConfig(weight=0.0, entropy_weight=1.0, entropy_compare=8, entropy_min_buffer=8)
    cd = KLCDLossConfig(weight=0.0, entropy_weight=1.0, entropy_compare=8, entropy_min_buffer=8)
    _, g_du, logs = loss_and_grad("kl", du, 1.0, x_prev, noise, buf)
    _, g_cd, _ = loss_and_grad("kl_cd", cd, 1.0, x_prev, noise, buf)
    assert "kl_log_nn" in logs
    assert g_cd == pytest.approx(-g_du)

    def mean_log_nn(theta):  # against every stored state (a superset of the term's draw)
        x = last_step(theta, x_prev, noise)
        return float(torch.cdist(x.flatten(1), buf.data.flatten(1)).min(1).values.log().mean())

    lr = 0.05
    assert mean_log_nn(1.0 - lr * g_du) > mean_log_nn(1.0) > mean_log_nn(1.0 - lr * g_cd)
