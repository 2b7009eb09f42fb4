"""Elastic deformations: shape and pixel range kept, real warps, determinism, test-time cadence."""

import sys

import pytest
import torch

from ebmlab.errors import DataError
from ebmlab.train.deform import ElasticConfig, deformation_callback, elastic_augment, elastic_deform


def digits(n=4, c=1, size=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, c, size, size)
    x[:, :, 8:20, 12:16] = 1.0  # a bar, like a "1"
    return (x + 0.1 * torch.rand(x.shape, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_keeps_shape_dtype_and_range(channels):
    x = digits(c=channels)
    y = elastic_deform(x, ElasticConfig(sigma=3.0), torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert (y - x).abs().max() > 0.1  # it really warped the image


def test_keeps_other_value_ranges():
    x = digits() * 2 - 1  # [-1, 1] images
    y = elastic_deform(x, ElasticConfig(sigma=3.0), torch.Generator().manual_seed(1), value_range=(-1.0, 1.0))
    assert float(y.min()) >= -1.0 and float(y.max()) <= 1.0
    assert float(y[0, 0, 0, 0]) == pytest.approx(float(x[0, 0, 0, 0]), abs=0.2)  # background stays low


def test_zero_displacement_is_identity():
    x = digits()
    y = elastic_deform(x, ElasticConfig(sigma=0.0), torch.Generator().manual_seed(0))
    assert torch.allclose(y, x, atol=1e-5)


def test_each_image_gets_its_own_field_and_seed_repeats():
    x = digits(n=1).repeat(2, 1, 1, 1)
    cfg = ElasticConfig(sigma=2.0)
    a = elastic_deform(x, cfg, torch.Generator().manual_seed(5))
    b = elastic_deform(x, cfg, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert (a[0] - a[1]).abs().max() > 0.05


def test_augment_builder_matches_direct_call():
    x = digits()
    f = elastic_augment(ElasticConfig(sigma=1.5), (0.0, 1.0))
    assert torch.equal(f(x, torch.Generator().manual_seed(2)),
                       elastic_deform(x, ElasticConfig(sigma=1.5), torch.Generator().manual_seed(2)))


def test_callback_warps_every_100th_step_only():
    cb = deformation_callback(ElasticConfig(sigma=2.0), 100, torch.Generator().manual_seed(0))
    x = digits(n=2)
    fired = [t for t in range(300) if cb(t, x) is not None]
    assert fired == [99, 199, 299]


def test_broken_package_is_one_line_data_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "elasticdeform", None)  # import raises ImportError
    with pytest.raises(DataError, match="elasticdeform package does not load.*--no-binary elasticdeform"):
        elastic_deform(digits(), ElasticConfig(), torch.Generator())


def test_callback_with_mask_warps_only_those_chains():
    x = digits(n=3)
    mask = torch.tensor([True, False, True])
    cb = deformation_callback(ElasticConfig(sigma=2.0), 2, torch.Generator().manual_seed(0), mask=mask)
    assert cb(0, x) is None
    y = cb(1, x)
    assert torch.equal(y[1], x[1]) and not torch.equal(y[0], x[0]) and not torch.equal(y[2], x[2])
