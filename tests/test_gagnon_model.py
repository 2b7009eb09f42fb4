"""Gagnon & Lajoie's MNIST energy (section 8.3): 4 convolutions to a 128-d latent, 2 linear layers."""

import pytest
import torch
from torch import nn

from ebmlab.errors import ConfigError
from ebmlab.models import GagnonMNIST, build_model


def test_architecture_is_four_convs_to_a_128_latent_then_two_linears():
    net = build_model({"name": "gagnon_mnist"}, (1, 28, 28))
    assert isinstance(net, GagnonMNIST)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 4 and len(linears) == 2
    assert [c.out_channels for c in convs] == [32, 64, 128, 128]
    x = torch.rand(5, 1, 28, 28)
    assert net.latent(x).shape == (5, 128)
    assert linears[0].in_features == 128 and linears[1].out_features == 1
    assert net(x).shape == (5,)


def test_width_and_latent_are_parameters():
    net = build_model({"name": "gagnon_mnist", "width": 4, "latent": 16}, (1, 28, 28))
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 16]
    assert net.latent(torch.rand(2, 1, 28, 28)).shape == (2, 16)
    small = build_model({"name": "gagnon_mnist", "width": 4}, (1, 8, 8))  # embedded 8x8 digits
    assert small(torch.rand(3, 1, 8, 8)).shape == (3,)


def test_energy_is_per_image_and_differentiable_in_the_input():
    torch.manual_seed(0)
    net = build_model({"name": "gagnon_mnist", "width": 4}, (1, 28, 28))
    x = torch.rand(3, 1, 28, 28, requires_grad=True)
    e = net(x)
    (g,) = torch.autograd.grad(e.sum(), x)
    assert g.shape == x.shape and g.abs().sum() > 0
    # batch independence: image 0's energy does not depend on the others
    assert torch.allclose(net(x[:1]), e[:1], atol=1e-6)


@pytest.mark.parametrize("spec,shape,message", [
    ({"name": "gagnon_mnist", "width": 0}, (1, 28, 28), "model.width: must be >= 1, got 0"),
    ({"name": "gagnon_mnist", "depth": 5}, (1, 28, 28), "unknown key 'model.depth'"),
    ({"name": "gagnon_mnist"}, (784,), "this model needs image inputs"),
])
def test_bad_config_is_one_line(spec, shape, message):
    with pytest.raises(ConfigError, match=message):
        build_model(spec, shape)
