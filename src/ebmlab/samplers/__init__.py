"""One interface for every MCMC sampler used to train energy-based models.

>>> from ebmlab import samplers
>>> s = samplers.build("mala", step_size=0.01)
>>> result = s.run(energy_fn, x0, n_steps=100, generator=torch.Generator().manual_seed(0))
>>> result.x, result.diagnostics["accept_rate"]

Names: gd, langevin (alias sgld), mala, tempered_mala, psgld, stanley, hmc, rwmh.
Variants are config fields, not names: ``test: thesis`` (mala, tempered_mala, and
langevin's tracked acceptance) judges moves with the thesis's Algorithm 5 test as
written; ``box_mode: reject`` (mala, tempered_mala, rwmh) rejects proposals outside
``clamp`` instead of clamping them (docs/samplers.md).
"""

from __future__ import annotations

from typing import Any

from ebmlab.config import Registry, Tagged, TaggedType, from_dict

from ebmlab.errors import ConfigError
from ebmlab.samplers.base import SampleResult, Sampler, State, Target, as_target
from ebmlab.samplers.langevin import GD, PSGLD, Langevin, Stanley, stanley_gamma
from ebmlab.samplers.metropolis import HMC, MALA, RWMH, TemperedMALA

SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (GD, Langevin, MALA, TemperedMALA, PSGLD, Stanley, HMC, RWMH)
}
ALIASES = {"sgld": "langevin"}

#: registry of sampler configs, used by study configs as ``sampler: {name: ..., ...}``
REGISTRY = Registry("sampler")
for _name, _cls in SAMPLERS.items():
    REGISTRY.register(_name, _cls.Config)
for _alias, _name in ALIASES.items():
    REGISTRY.register(_alias, SAMPLERS[_name].Config)

#: annotation for a config field that holds a sampler specification
SamplerSpec = TaggedType(REGISTRY)


def names() -> list[str]:
    return sorted(SAMPLERS) + sorted(ALIASES)


def build(name: str | Tagged, **hyper: Any) -> Sampler:
    """Build a sampler from its name and hyper-parameters (or from a validated spec).

    Unknown names, unknown hyper-parameters and out-of-range values raise
    :class:`ebmlab.config.ConfigError` with a one-line message.
    """
    if isinstance(name, Tagged):
        if hyper:
            raise TypeError("pass hyper-parameters inside the spec, not both")
        return SAMPLERS[ALIASES.get(name.name, name.name)](name.config)
    key = ALIASES.get(name, name)
    if key not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r} (choose from {', '.join(names())})")
    cls = SAMPLERS[key]
    return cls(from_dict(cls.Config, hyper, name))


__all__ = [
    "build", "names", "SAMPLERS", "REGISTRY", "SamplerSpec", "Sampler", "SampleResult", "State",
    "Target", "as_target", "stanley_gamma", "ConfigError",
]
