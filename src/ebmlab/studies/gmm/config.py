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
from ebmlab.studies.gmm.jobs import COMPARE_SEEDS
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
class NLLConfig:
    """Exact test NLL of a trained energy: log Z = log of the integral of exp(-E) over a square
    grid (a 2-d normaliser, so quadrature is exact up to the grid)."""

    extent: float = field(30.0, bound=Bound(lo=0.0, lo_exclusive=True),
                          doc="integrate over [-extent, extent]^2 (the data lie within 10 + 5 std)")
    resolution: int = field(600, bound=Bound(lo=10), doc="grid points per axis (midpoint rule)")
    n_test: int = field(10000, bound=Bound(lo=1), doc="fresh mixture draws the NLL is averaged over")


@dataclasses.dataclass
class CompareConfig:
    """The sampler apart from the model: every sampler on one fixed energy (the true mixture's,
    or one shared trained energy), over-dispersed chains started as in the R-hat measurement."""

    seeds: list[int] = field(default_factory=lambda: list(COMPARE_SEEDS), doc="chain seeds per energy")
    energy_run: str = field("sgld", doc="the run whose first-seed energy is the shared one")
    chains: int | None = field(None, bound=Bound(lo=2), doc="chains per sampler; null = rhat.chains")
    steps: int | None = field(None, bound=Bound(lo=4), doc="transitions per chain; null = rhat.steps")
    reference: dict[str, SamplerSpec] = field(
        default_factory=lambda: {"hmc": Tagged("hmc", samplers.SAMPLERS["hmc"].Config(step_size=0.2, n_leapfrog=10))},
        doc="samplers run beside the study's (HMC as the reference)")
    exact_draws: int = field(2000, bound=Bound(lo=10), doc="exact draws of the energy the MMD compares with")
    mmd_points: int = field(2000, bound=Bound(lo=10), doc="kept draws (evenly thinned) in the MMD")
    mmd_bandwidth: float = field(1.0, bound=Bound(lo=0.0, lo_exclusive=True), doc="Gaussian kernel bandwidth")
    grid_extent: float = field(30.0, bound=Bound(lo=0.0, lo_exclusive=True),
                               doc="shared energy: exact draws and mode weights from a grid on [-extent, extent]^2")
    grid_resolution: int = field(600, bound=Bound(lo=10), doc="grid points per axis")

    def __post_init__(self):
        from ebmlab.studies.base import check_seeds
        check_seeds(self.seeds, None, [], where="compare.")


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
    nll: NLLConfig = field(default_factory=NLLConfig)
    figures: FigureConfig = field(default_factory=FigureConfig)


_GMMStudy, GMMRun = sampler_study(GMMShared, SamplerSpec, _default_samplers, "sgld", module=__name__,
                                  names=("GMMStudy", "GMMRun"), seeded=True)


@dataclasses.dataclass
class GMMStudy(_GMMStudy):
    """The whole study: shared settings, one sampler per run label, seeds, and the comparison."""

    compare: CompareConfig = field(default_factory=CompareConfig)

    def __post_init__(self):
        super().__post_init__()
        from ebmlab.config import check
        check(self.compare.energy_run in self.samplers,
              f"compare.energy_run: unknown run {self.compare.energy_run!r} (runs: {', '.join(self.samplers)})")
        clash = sorted(set(self.compare.reference) & set(self.samplers))
        check(not clash, f"compare.reference: {', '.join(clash)} already names a run")


@dataclasses.dataclass
class GMMCompare:
    """One compare job: every sampler on one energy with one chain seed."""

    energy: Literal["true", "shared"] = field("true", doc="the mixture's own energy, or the shared trained one")
    compare_seed: int = field(0, doc="seeds the chains' starts and noise")
    seed: int = field(0, doc="the seed of the shared energy's run (the study's first seed)")
    threads: int = threads_field()
    data: GaussianMixtureConfig = field(default_factory=GaussianMixtureConfig)
    model: MLPConfig = field(default_factory=MLPConfig)
    train: ToyCDConfig = field(default_factory=ToyCDConfig)
    rhat: RhatConfig = field(default_factory=RhatConfig)
    samplers: dict[str, SamplerSpec] = field(default_factory=_default_samplers, doc="the study's runs")
    compare: CompareConfig = field(default_factory=CompareConfig)

    @property
    def job_label(self) -> str:
        return f"{self.energy}/seed{self.compare_seed}"
