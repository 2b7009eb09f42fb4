"""Configuration of the GMM study: the whole study, and one run's slice."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ebmlab import samplers
from ebmlab.config import Bound, Tagged, field
from ebmlab.data.toy import GaussianMixtureConfig
from ebmlab.models import MLPConfig
from ebmlab.samplers import SamplerSpec
from ebmlab.studies.base import sampler_study, threads_field
from ebmlab.train.toy import ToyCDConfig


@dataclasses.dataclass
class RhatConfig:
    """How R-hat is measured after training."""

    chains: int = field(10, bound=Bound(lo=2), doc="M independent chains")
    steps: int | None = field(None, bound=Bound(lo=4), doc="chain length; null = train.steps")
    burn_in: float = field(0.5, bound=Bound(lo=0.0, hi=1.0, hi_exclusive=True),
                           doc="fraction of each chain discarded before R-hat")
    thin: int = field(1, bound=Bound(lo=1), doc="keep every thin-th draw after burn-in")


@dataclasses.dataclass
class FigureConfig:
    extent: float = field(25.0, bound=Bound(lo=0.0, lo_exclusive=True), doc="plot [-extent, extent]^2")
    resolution: int = field(150, bound=Bound(lo=10), doc="energy-map grid points per axis")
    trace_points: int = field(500, bound=Bound(lo=2), doc="points kept per plotted trace")


def _default_samplers() -> dict:
    return {
        "gd": Tagged("gd", samplers.SAMPLERS["gd"].Config(step_size=0.01)),
        "sgld": Tagged("langevin", samplers.SAMPLERS["langevin"].Config(step_size=0.01)),
        "mala": Tagged("mala", samplers.SAMPLERS["mala"].Config(step_size=0.01)),
        "psgld": Tagged("psgld", samplers.SAMPLERS["psgld"].Config(step_size=0.01)),
    }


@dataclasses.dataclass
class GMMShared:
    """Settings every run of the study shares."""

    seed: int = field(0, doc="seeds data, initial weights, chains")
    threads: int = threads_field()
    engine: Literal["auto", "autograd", "closed_form", "compiled"] = field(
        "auto", doc="how the samplers get grad E: generic autograd, the MLP's closed form (eager), or "
                    "compiled (closed form plus transitions compiled in chunks, docs/engine.md); "
                    "auto = compiled for runs of >= 200k transitions per job, else closed_form")
    matmul_dtype: Literal["float32", "bfloat16"] = field(
        "float32", doc="closed_form/compiled: precision of the matrix products; bfloat16 is an opt-in no "
                       "profile uses (its rounding depends on the CPU) and keeps fp32 energies for "
                       "samplers with a Metropolis test (docs/engine.md)")
    chunk: int = field(16, bound=Bound(lo=1), doc="compiled: transitions per compiled call")
    data: GaussianMixtureConfig = field(default_factory=GaussianMixtureConfig)
    model: MLPConfig = field(default_factory=MLPConfig)
    train: ToyCDConfig = field(default_factory=ToyCDConfig)
    rhat: RhatConfig = field(default_factory=RhatConfig)
    figures: FigureConfig = field(default_factory=FigureConfig)


GMMStudy, GMMRun = sampler_study(GMMShared, SamplerSpec, _default_samplers, "sgld", module=__name__,
                                 names=("GMMStudy", "GMMRun"))
