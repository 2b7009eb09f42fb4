"""Energy models: IGEBM block structure, multi-scale sum, self-attention, CNN, registry errors."""

import pytest
import torch
from torch import nn

from ebmlab.config import from_dict

from ebmlab.errors import ConfigError
from ebmlab.models import IGEBMConfig, build_model
from ebmlab.models.igebm import ResBlock, SelfAttention

torch.set_num_threads(1)


def _is_sn(module):
    return hasattr(module, "parametrizations") and "weight" in module.parametrizations


def test_full_igebm_has_the_stated_blocks_and_maps_images_to_scalars():
    net = build_model({"name": "igebm"}, (3, 32, 32))
    (trunk,) = net.trunks
    blocks = [m for m in trunk.blocks if isinstance(m, ResBlock)]
    assert [b.conv2.out_channels for b in blocks] == [128, 128, 256, 256, 256, 256]
    assert [b.downsample for b in blocks] == [True, False, True, False, True, False]
    assert trunk.stem.out_channels == 128 and trunk.linear.in_features == 256
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(_is_sn(c) for c in convs)
    assert all(b.slope == 0.2 for b in blocks)
    sizes = []
    hooks = [b.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1])) for b in blocks]
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        e = net.eval()(x)
    for h in hooks:
        h.remove()
    assert sizes == [16, 16, 8, 8, 4, 4]   # three down-samplings
    assert e.shape == (2,) and torch.isfinite(e).all()


def test_width_and_depth_make_a_tiny_net():
    net = build_model({"name": "igebm", "width": 0.125, "stages": [128, 256], "blocks_per_stage": 1}, (1, 8, 8))
    blocks = [m for m in net.trunks[0].blocks if isinstance(m, ResBlock)]
    assert [b.conv2.out_channels for b in blocks] == [16, 32]
    assert sum(p.numel() for p in net.parameters()) < 20000
    assert net(torch.rand(3, 1, 8, 8)).shape == (3,)


def test_multiscale_energy_is_the_sum_of_per_scale_energies():
    torch.manual_seed(0)
    net = build_model({"name": "igebm", "stages": [8, 16, 16], "blocks_per_stage": 1, "scales": [1, 2, 4]},
                      (3, 32, 32)).eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        parts = net.energies(x)
        total = net(x)
        # the scale-2 trunk reads the 2x average-pooled image and has one stage less
        direct = net.trunks[1](nn.functional.avg_pool2d(x, 2))
    assert [len([m for m in t.blocks if isinstance(m, ResBlock)]) for t in net.trunks] == [3, 2, 1]
    assert torch.allclose(total, parts[0] + parts[1] + parts[2])
    assert torch.allclose(parts[1], direct)


def test_self_attention_starts_as_identity_and_then_matters():
    torch.manual_seed(0)
    cfg = {"name": "igebm", "stages": [8, 16], "blocks_per_stage": 1, "self_attention": True, "attention_after": 0}
    net = build_model(cfg, (3, 16, 16)).eval()
    attn = [m for m in net.modules() if isinstance(m, SelfAttention)]
    assert len(attn) == 1
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        e0 = net(x)
        h = torch.rand(2, 8, 8, 8)
        assert torch.equal(attn[0](h), h)       # gamma = 0 at initialisation
        attn[0].gamma.fill_(1.0)
        assert not torch.allclose(net(x), e0)


def test_cnn_energy_for_mnist():
    net = build_model({"name": "cnn"}, (1, 28, 28))
    assert net(torch.rand(5, 1, 28, 28)).shape == (5,)
    sn = build_model({"name": "cnn", "channels": [4, 8], "strides": [2, 2], "spectral_norm": True}, (1, 28, 28))
    assert all(_is_sn(m) for m in sn.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not sn.out)


@pytest.mark.parametrize("spec,shape,message", [
    ({"name": "resnet9"}, (3, 32, 32),
     "model.name: unknown model 'resnet9' (choose from cnn, convnet, gagnon_mnist, igebm, mlp, wrn)"),
    ({"name": "igebm", "scales": [1, 3]}, (3, 32, 32), "model: scales must be distinct powers of two, got [1, 3]"),
    ({"name": "igebm", "scales": [1, 8]}, (3, 32, 32),
     "model: scales [1, 8]: each halving drops a stage, and only 3 stages exist"),
    ({"name": "igebm", "widht": 2}, (3, 32, 32),
     "unknown key 'model.widht' (allowed: stages, blocks_per_stage, width, stem_channels, spectral_norm, "
     "negative_slope, scales, self_attention, attention_after)"),
    ({"name": "igebm", "width": 0}, (3, 32, 32), "model.width: must be > 0, got 0.0"),
    ({"name": "igebm"}, (3, 4, 4), "model.stages: 3 down-samplings need images of at least 8x8, got 4x4"),
    ({"name": "cnn", "strides": [1, 3, 2, 2]}, (1, 28, 28),
     "model: strides must give 1 or 2 for each of the 4 convs, got [1, 3, 2, 2]"),
    ({"name": "igebm"}, None, "this model needs image inputs (channels, height, width), got None"),
])
def test_bad_model_config_is_one_line(spec, shape, message):
    with pytest.raises(ConfigError) as err:
        build_model(spec, shape)
    assert str(err.value) == message


def test_igebm_config_defaults_are_the_paper_architecture():
    cfg = from_dict(IGEBMConfig, {})
    assert cfg.stages == [128, 256, 256] and cfg.blocks_per_stage == 2 and cfg.spectral_norm
    assert cfg.negative_slope == 0.2 and cfg.scales == [1] and not cfg.self_attention
