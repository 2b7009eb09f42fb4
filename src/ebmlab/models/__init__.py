"""Energy functions E_theta(x) -> (batch,) tensors, and the model registry.

Study configs name a model as ``model: {name: igebm, width: 0.5, ...}`` (a
:data:`ModelSpec` field); :func:`build_model` turns that spec into a module for inputs
of a given shape::

    >>> spec = from_dict(Holder, {"model": {"name": "igebm"}}).model
    >>> net = build_model(spec, in_shape=(3, 32, 32))
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ebmlab.config import Registry, Tagged, TaggedType, check, from_dict

from ebmlab.errors import ConfigError
from ebmlab.models.cnn import CNNConfig, CNNEnergy
from ebmlab.models.convnet import ConvNetConfig, VanillaConvNet
from ebmlab.models.gagnon import GagnonMNIST, GagnonMNISTConfig
from ebmlab.models.igebm import IGEBM, IGEBMConfig
from ebmlab.models.mlp import MLPConfig, MLPEnergy
from ebmlab.models.wrn import WideResNetEnergy, WRNConfig

#: registry of model configs, for config fields ``model: {name: ..., ...}``
REGISTRY = Registry("model")
_BUILDERS: dict[str, Callable[[object, tuple | None], nn.Module]] = {}


def register(name: str, config_cls: type, builder: Callable[[object, tuple | None], nn.Module]) -> None:
    """Add a model: ``builder(config, in_shape)`` returns the module."""
    REGISTRY.register(name, config_cls)
    _BUILDERS[name] = builder


def _mlp(cfg: MLPConfig, in_shape):
    if in_shape is not None:
        check(len(in_shape) == 1 and in_shape[0] == cfg.in_dim,
              f"model.in_dim={cfg.in_dim} does not match data of shape {tuple(in_shape)}")
    return MLPEnergy(cfg)


def _image(cls):
    def build(cfg, in_shape):
        check(in_shape is not None and len(in_shape) == 3,
              f"this model needs image inputs (channels, height, width), got {in_shape}")
        return cls(cfg, tuple(in_shape))
    return build


register("mlp", MLPConfig, _mlp)
register("igebm", IGEBMConfig, _image(IGEBM))
register("cnn", CNNConfig, _image(CNNEnergy))
register("wrn", WRNConfig, _image(WideResNetEnergy))
register("gagnon_mnist", GagnonMNISTConfig, _image(GagnonMNIST))
register("convnet", ConvNetConfig, lambda cfg, in_shape: VanillaConvNet(cfg, tuple(in_shape)))

#: annotation for a config field that holds a model specification
ModelSpec = TaggedType(REGISTRY)


def build_model(spec: Tagged | dict, in_shape: tuple[int, ...] | None = None) -> nn.Module:
    """A module from a validated spec (or a plain ``{name: ..., ...}`` mapping)."""
    if isinstance(spec, dict):
        body = dict(spec)
        name = body.pop("name", None)
        cls = REGISTRY.lookup(name, "model.name")
        spec = Tagged(name, from_dict(cls, body, "model"))
    if spec.name not in _BUILDERS:
        raise ConfigError(f"model.name: unknown model {spec.name!r} (choose from {', '.join(sorted(_BUILDERS))})")
    return _BUILDERS[spec.name](spec.config, in_shape)


__all__ = ["MLPEnergy", "MLPConfig", "IGEBM", "IGEBMConfig", "CNNEnergy", "CNNConfig", "WideResNetEnergy", "WRNConfig",
           "GagnonMNIST", "GagnonMNISTConfig", "VanillaConvNet", "ConvNetConfig", "REGISTRY", "ModelSpec", "build_model", "register"]
