"""Configuration of the STANLEY study: the whole section and one config class per job kind.

The whole study (:class:`StanleyStudy`, what params files hold under ``stanley:``) has two
parts, the rings toy and the image experiments. The job classes are what one job reads:
:class:`RingsRun` (one rings sampler), :class:`CurveJob` (one curve of Figs 4-5: its training
segments and scoring points), :class:`ReferenceJob` (one data set's reference statistics) and
:class:`InpaintJob` (Fig 6). ``jobs.py`` cuts them from the study.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from ebmlab import samplers
from ebmlab.config import POSITIVE, Bound, Tagged, check, field, from_dict
from ebmlab.data.images import ImageDataConfig
from ebmlab.data.rings import RingsConfig
from ebmlab.engine.image import ImageEngineConfig, engine_field
from ebmlab.metrics.classifier import ClassifierConfig
from ebmlab.models import ConvNetConfig, ModelSpec
from ebmlab.samplers import SamplerSpec
from ebmlab.studies.base import (
    Device, device_field, JobHost, check_seeds, on_diverge_field, sampler_study, threads_field,
)
from ebmlab.studies.stanley import jobs
from ebmlab.train.image import ImageTrainConfig

Metric = Literal["inception", "classifier", "inception_standin"]

#: the paper's Figs 4-5 compare these five; labels are the figures' legend names
SAMPLER_LABELS = {"stanley": "STANLEY", "langevin": "Langevin", "mh": "MH", "hmc": "HMC", "gd": "GD (no noise)"}


def _spec(name: str, **kw) -> Tagged:
    return Tagged(name, samplers.SAMPLERS[name].Config(**kw))


# ---------------------------------------------------------------------------
# one temperature convention for every sampler of a study

#: ``matched``: MH and HMC target the Langevin baseline's implied T = noise_std^2 / (2 step);
#: ``one``: every sampler at T = 1 (Langevin's noise sqrt(2 step), STANLEY's eps 1)
Temperature = Literal["matched", "one"]


def temperature_of(spec: Tagged) -> float | None:
    """The T of exp(-E / T) a sampler's moves target (GD: none).

    Langevin x - h grad E + sigma xi: T = sigma^2 / (2 h); STANLEY's step gamma / 2 with
    noise sqrt(gamma) eps: T = eps^2 whatever gamma is; MH and HMC: their ``temperature``."""
    c = spec.config
    if spec.name == "langevin":
        return c.implied_temperature
    if spec.name == "stanley":
        return c.noise_std ** 2
    return getattr(c, "temperature", None) if spec.name in jobs.TEMPERED else None


def under_convention(spec: Tagged, convention: str, baseline: Tagged | None) -> Tagged:
    """``spec`` with the study's temperature convention applied (the study builds every sampler so)."""
    c = spec.config
    if convention == "one":
        target = 1.0
        changes = ({"noise_std": math.sqrt(2 * c.step_size)} if spec.name == "langevin"
                   else {"noise_std": 1.0} if spec.name == "stanley" else {})
    else:
        target, changes = None, {}
        if spec.name in jobs.TEMPERED:
            check(baseline is not None, f"temperature 'matched': {spec.name} needs the baseline "
                                        f"{jobs.BASELINE!r} in its job's slice")
            target = temperature_of(baseline)
    if spec.name in jobs.TEMPERED:
        changes = {"temperature": target}
    return Tagged(spec.name, dataclasses.replace(c, **changes)) if changes else spec


# ---------------------------------------------------------------------------
# rings toy (Fig 1)

def _rings_train() -> ImageTrainConfig:
    # Nijkamp et al.'s rings config: batch 100, Adam 1e-4, chains from N(0, 2^2), K = 100
    return ImageTrainConfig(epochs=1.0, batch_size=100, steps=100, lr=1e-4, betas=(0.9, 0.999), alpha=0.0,
                            init="short_run", start_noise="gaussian", start_noise_std=2.0,
                            max_abs_energy=1e6, checkpoint_every=500, chain_log_every=1000)


def _rings_samplers() -> dict:
    # gamma = 0.14 ("constant learning rate 0.14"), th = 0.01, eps = 0.01; Langevin = fixed gamma.
    # MH's proposal and HMC's leapfrog step are Langevin's noise std: at the matched T one
    # leapfrog step is then MALA on the Langevin baseline's own proposal
    sigma = math.sqrt(0.14) * 0.01
    return {"stanley": _spec("stanley", th=0.01, noise_std=0.01, step_size=0.14),
            "langevin": _spec("langevin", step_size=0.07, noise_std=sigma),
            "mh": _spec("rwmh", noise_std=sigma),
            "hmc": _spec("hmc", step_size=sigma, n_leapfrog=3)}


@dataclasses.dataclass
class RingsCommon:
    """Settings every rings run shares (STANLEY section 5, rings)."""

    seed: int = field(0, doc="seeds weights, data and chains (the same for every sampler)")
    threads: int = threads_field()
    device: Device = device_field("cpu")
    data: RingsConfig = field(default_factory=RingsConfig)
    model: ModelSpec = field(default_factory=lambda: Tagged("convnet", ConvNetConfig(
        channels=[128, 128, 128, 128], activation="leaky_relu", leaky_slope=0.05)))
    iterations: int = field(10000, bound=Bound(lo=1), doc="T, EBM iterations")
    train: ImageTrainConfig = field(default_factory=_rings_train)
    plot_every: int = field(2000, bound=Bound(lo=1), doc="iterations between the sample plots of Fig 1")
    eval_every: int = field(500, bound=Bound(lo=1), doc="iterations between distance-to-truth points")
    eval_samples: int = field(2000, bound=Bound(lo=2), doc="generated and true points per distance")
    distance: Literal["energy", "mmd"] = field("energy", doc="energy distance or Gaussian-kernel MMD^2")
    mmd_bandwidth: float = field(0.3, bound=POSITIVE, doc="kernel bandwidth of the mmd distance")
    temperature: Temperature = field("matched", doc="matched: MH and HMC at the Langevin baseline's implied T; "
                                                    "one: every sampler at T = 1 (docs/stanley.md)")
    hmc_reflect: bool = field(True, doc="HMC reflects at the data box (the samplers here have no clamp)")

    def __post_init__(self):
        check(self.train.init == "short_run", "stanley.rings.train.init must be 'short_run' (Algorithm 1; "
                                              "gamma_from: previous makes a run's chains persistent)")


def check_grid(grid: dict, specs: dict, where: str) -> None:
    """A grid names known samplers and settings they have, each with at least one value."""
    for label, axes in grid.items():
        check(label in specs, f"{where}: unknown sampler {label!r} (samplers: {', '.join(specs)})")
        names = {f.name for f in dataclasses.fields(specs[label].config)}
        for key, values in axes.items():
            check(key in names, f"{where}.{label}: {key!r} is not a setting of {specs[label].name} "
                                f"({', '.join(sorted(names))})")
            check(len(values) > 0, f"{where}.{label}.{key}: give at least one value")


_RingsStudy, _RingsRun = sampler_study(RingsCommon, SamplerSpec, _rings_samplers, "stanley", module=__name__,
                                       names=("RingsStudy", "RingsRun"), where="stanley.rings.")
GammaFrom = Literal["fresh", "previous"]


@dataclasses.dataclass
class RingsStudy(_RingsStudy):
    """The rings toy: shared settings, the samplers, their grid, seeds and readings of gamma."""

    grid: dict[str, dict[str, list[float]]] = field(
        default_factory=dict, doc="sampler label -> setting -> values: one run per cell of the product, "
                                  "labelled <sampler>_<setting><value>... (e.g. stanley_th0.01_eps0.01)")
    grid_iterations: int | None = field(None, bound=Bound(lo=1), doc="iterations of a grid cell; null = iterations")
    run_iterations: int | None = field(None, bound=Bound(lo=1),
                                       doc="iterations of the seeded best cells and of `runs`; null = iterations")
    seeds: list[int] | None = field(None, doc="seeds of the best cell of each grid sampler, at the full "
                                              "iterations; null = [seed]")
    runs: list[str] | None = field(None, doc="sampler labels trained on their own at the full iterations; "
                                             "null = every one")
    gamma_from: dict[str, GammaFrom] = field(
        default_factory=dict, doc="sampler label -> fresh (chains from noise every iteration, gamma at the "
                                  "fresh start) or previous (persistent chains: gamma from the previous "
                                  "iterate, Algorithm 1 line 3); absent = fresh")

    def __post_init__(self):
        super().__post_init__()
        known = ", ".join(self.samplers)
        check_grid(self.grid, self.samplers, "stanley.rings.grid")
        for key, labels in (("runs", self.runs or []), ("gamma_from", self.gamma_from)):
            for label in labels:
                check(label in self.samplers, f"stanley.rings.{key}: unknown sampler {label!r} (samplers: {known})")
        check_seeds(self.seeds, None, self.samplers, where="stanley.rings.")
        check(self.temperature == "one" or jobs.BASELINE in self.samplers,
              f"stanley.rings: temperature 'matched' needs a {jobs.BASELINE!r} sampler (the baseline)")


@dataclasses.dataclass
class RingsRun(_RingsRun):
    """One rings run: shared settings, its sampler, the baseline whose T it may take, its gamma."""

    baseline: dict[str, SamplerSpec] = field(default_factory=dict, doc="the Langevin baseline, by its label "
                                             "(MH and HMC under temperature: matched; empty otherwise)")
    gamma_from: GammaFrom = field("fresh", doc="fresh: chains from noise; previous: persistent chains")

    def build_sampler(self):
        """The run's sampler under the study's temperature convention; HMC reflected at the data box."""
        spec = under_convention(self.sampler, self.temperature, self.baseline.get(jobs.BASELINE))
        if spec.name == "hmc" and self.hmc_reflect and spec.config.reflect is None:
            spec = Tagged("hmc", dataclasses.replace(spec.config, reflect=self.data.box))
        return samplers.build(spec)

    def train_config(self) -> ImageTrainConfig:
        # persistent chains carry z_{t-1} over, so STANLEY's gamma (recompute: run) comes from it
        return dataclasses.replace(self.train, init="persistent") if self.gamma_from == "previous" else self.train


# ---------------------------------------------------------------------------
# image FID curves (Figs 4-5) and inpainting (Fig 6)

@dataclasses.dataclass
class CurveFID:
    """How every point of a curve is scored (identical at every iteration)."""

    n_samples: int = field(10000, bound=Bound(lo=2), doc="generated images per point (the paper: 10000)")
    batch_size: int = field(500, bound=Bound(lo=1), doc="chains / feature batch per pass")
    seed: int = field(0, doc="seed of the scoring chains, the same at every point")
    reference_split: Literal["train", "test", "all"] = field("train", doc="split of the reference statistics")
    reference_n: int | None = field(10000, bound=Bound(lo=2),
                                    doc="reference images (the paper: as many as samples); null = whole split")
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig,
                                         doc="the digit classifier of the 'classifier' metric")


@dataclasses.dataclass
class CurveDataset:
    """One panel of Figs 4-5: data, energy, horizon and the paper's per-set settings."""

    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ModelSpec = field(default_factory=lambda: Tagged("convnet", ConvNetConfig()))
    metrics: list[Metric] = field(default_factory=lambda: list(jobs.METRICS), doc="scores per point; [] = none")
    iterations: int = field(jobs.ITERATIONS, bound=Bound(lo=1), doc="T, EBM iterations")
    eval_every: int = field(jobs.EVAL_EVERY, bound=Bound(lo=1),
                            doc="iterations between curve points (= checkpoints)")
    steps: int | None = field(None, bound=Bound(lo=1), doc="K; null = train.steps")
    lr: float | None = field(None, bound=POSITIVE, doc="learning rate; null = train.lr")
    optimizer: Literal["adam", "sgd"] | None = field(None, doc="null = train.optimizer")
    th: float | None = field(None, bound=POSITIVE, doc="STANLEY's threshold on this set; null = the sampler's")
    samplers: list[str] | None = field(None, doc="curves drawn on this set; null = every sampler of the study")

    def __post_init__(self):
        check(self.iterations % self.eval_every == 0,
              f"iterations ({self.iterations}) must be a multiple of eval_every ({self.eval_every})")

    def points(self) -> list[int]:
        return list(range(self.eval_every, self.iterations + 1, self.eval_every))


def _images_train() -> ImageTrainConfig:
    return ImageTrainConfig(epochs=1.0, batch_size=100, steps=50, lr=1e-4, betas=(0.9, 0.999), alpha=0.0,
                            init="short_run", checkpoint_every=500, chain_log_every=1000, max_abs_energy=1e6)


def _images_samplers() -> dict:
    return {"stanley": _spec("stanley", th=0.0002, noise_std=0.01, step_size=1.0),
            "langevin": _spec("langevin", step_size=0.5, noise_std=0.01),
            "mh": _spec("rwmh", noise_std=0.01),
            "hmc": _spec("hmc", step_size=0.01, n_leapfrog=3),
            "gd": _spec("gd", step_size=0.5)}


def _images_datasets() -> dict:
    def ds(name, **kw):
        return CurveDataset(data=from_dict(ImageDataConfig, {"name": name}, f"datasets.{name}.data"), **kw)
    return {"flowers102": ds("flowers102", steps=50, lr=1e-3, optimizer="sgd"),
            "cifar10": ds("cifar10", th=0.0002, lr=1e-4, optimizer="adam"),
            "celeba": ds("celeba", iterations=50000, steps=50, lr=0.01, optimizer="sgd")}


@dataclasses.dataclass
class InpaintConfig:
    """Fig 6: fill a masked region of test images by sampling under the trained energy."""

    dataset: str = field(jobs.INPAINT_DATASET, doc="data-set label whose final checkpoints are used")
    samplers: list[str] = field(default_factory=lambda: list(jobs.INPAINT_SAMPLERS), doc="rows of the figure")
    n_images: int = field(8, bound=Bound(lo=1), doc="test images (the first of the test split)")
    mask: Literal["center", "lower_half", "right_half"] = field("center", doc="region to fill")
    mask_fraction: float = field(0.5, bound=Bound(lo=0.0, hi=1.0, lo_exclusive=True),
                                 doc="center: side of the square as a fraction of the image side")
    steps: int | None = field(None, bound=Bound(lo=1), doc="transitions; null = the data set's K")
    seed: int = field(0, doc="seed of the noise the masked pixels start from")


@dataclasses.dataclass
class ImagesHost(JobHost):
    """Where an image job runs, and its seed (also all a reference job needs of the shared settings)."""

    seed: int = field(0, doc="seeds weights, data order and chains (the same for every sampler)")


@dataclasses.dataclass
class ImagesCommon(ImagesHost):
    """Settings every image job shares."""

    clamp_chains: bool = field(True, doc="keep chains in the data range: clamp (samplers with a clamp option), "
                                         "reflect (HMC)")
    temperature: Temperature = field("matched", doc="matched: MH and HMC at the Langevin baseline's implied T; "
                                                    "one: every sampler at T = 1 (docs/stanley.md)")
    on_diverge: Literal["record", "fail"] = on_diverge_field("later points say 'diverged'")
    train: ImageTrainConfig = field(default_factory=_images_train)
    fid: CurveFID = field(default_factory=CurveFID)
    engine: ImageEngineConfig = engine_field()

    def __post_init__(self):
        check(self.train.init == "short_run", "stanley.images.train.init must be 'short_run' (Algorithm 1)")


@dataclasses.dataclass
class ImagesStudy(ImagesCommon):
    datasets: dict[str, CurveDataset] = field(default_factory=_images_datasets, doc="panel label -> data set")
    samplers: dict[str, SamplerSpec] = field(default_factory=_images_samplers, doc="curve label -> sampler")
    inpainting: InpaintConfig | None = field(default_factory=InpaintConfig, doc="Fig 6; null = none")
    grid: dict[str, dict[str, list[float]]] = field(
        default_factory=dict, doc="sampler label -> setting -> values: one curve per cell on grid_dataset, "
                                  "labelled <sampler>_<setting><value>... (as the rings grid)")
    grid_dataset: str | None = field(None, doc="the data set the grid runs on (required with a grid)")
    grid_iterations: int | None = field(None, bound=Bound(lo=1), doc="iterations of a grid curve; "
                                                                     "null = the data set's")

    def __post_init__(self):
        super().__post_init__()
        check(len(self.datasets) > 0 and len(self.samplers) > 0,
              "stanley.images needs at least one data set and one sampler")
        check_grid(self.grid, self.samplers, "stanley.images.grid")
        if self.grid:
            check(self.grid_dataset in self.datasets, f"stanley.images.grid_dataset: give one of "
                                                      f"{', '.join(self.datasets)}, got {self.grid_dataset!r}")
            every = self.datasets[self.grid_dataset].eval_every
            check(self.grid_iterations is None or self.grid_iterations % every == 0,
                  f"stanley.images.grid_iterations ({self.grid_iterations}) must be a multiple of "
                  f"{self.grid_dataset}'s eval_every ({every})")
        for ds, e in self.datasets.items():
            for label in e.samplers or []:
                check(label in self.samplers, f"datasets.{ds}.samplers: unknown sampler {label!r} "
                                              f"(samplers: {', '.join(self.samplers)})")
        ip = self.inpainting
        if ip is not None:
            check(ip.dataset in self.datasets,
                  f"inpainting.dataset: unknown data set {ip.dataset!r} (datasets: {', '.join(self.datasets)})")
            for s in ip.samplers:
                check(s in self.samplers_of(ip.dataset), f"inpainting.samplers: no {s!r} curve on "
                      f"{ip.dataset} (curves: {', '.join(self.samplers_of(ip.dataset))})")

    def samplers_of(self, dataset: str) -> list[str]:
        chosen = self.datasets[dataset].samplers
        return list(self.samplers) if chosen is None else list(chosen)

    def curves(self) -> list[tuple[str, str]]:
        return [(ds, s) for ds in self.datasets for s in self.samplers_of(ds)]


class _ImageJobMixin:
    @property
    def value_range(self) -> tuple[float, float]:
        return self.entry.data.value_range

    @property
    def steps(self) -> int:
        return self.entry.steps or self.train.steps

    def train_config(self) -> ImageTrainConfig:
        e = self.entry
        return dataclasses.replace(self.train, steps=self.steps, lr=e.lr or self.train.lr,
                                   optimizer=e.optimizer or self.train.optimizer)

    def build_sampler(self, spec: Tagged):
        """The sampler under the study's temperature convention, with this data set's STANLEY
        threshold and, if set, the data range (a clamp, or HMC's reflection)."""
        spec = under_convention(spec, self.temperature, self.baseline.get(jobs.BASELINE))
        changes = {}
        if spec.name == "stanley" and self.entry.th is not None:
            changes["th"] = self.entry.th
        if self.clamp_chains and hasattr(spec.config, "clamp") and spec.config.clamp is None:
            changes["clamp"] = self.value_range
        if self.clamp_chains and spec.name == "hmc" and spec.config.reflect is None:
            changes["reflect"] = self.value_range
        return samplers.build(Tagged(spec.name, dataclasses.replace(spec.config, **changes)))


@dataclasses.dataclass
class CurveJob(_ImageJobMixin, ImagesCommon):
    """One (data set, sampler) curve (jobs ``segment`` and ``fid``, label ``<dataset>/<curve>``)."""

    dataset: str = field("cifar10", doc="panel label")
    entry: CurveDataset = field(default_factory=CurveDataset)
    curve: str = field("stanley", doc="curve (sampler) label")
    sampler: SamplerSpec = field(default_factory=lambda: _images_samplers()["stanley"])
    baseline: dict[str, SamplerSpec] = field(default_factory=dict, doc="the Langevin baseline, by its label "
                                             "(MH and HMC under temperature: matched; empty otherwise)")

    @property
    def label(self) -> str:
        """The job label (``--job``)."""
        return jobs.curve_label(self.dataset, self.curve)


@dataclasses.dataclass
class InpaintJob(_ImageJobMixin, ImagesCommon):
    """Fig 6 (job ``inpaint``): the final checkpoints of the inpainting data set's chosen curves."""

    dataset: str = field("celeba", doc="data-set label")
    entry: CurveDataset = field(default_factory=CurveDataset)
    samplers: dict[str, SamplerSpec] = field(default_factory=dict, doc="label -> sampler")
    inpainting: InpaintConfig = field(default_factory=InpaintConfig)
    baseline: dict[str, SamplerSpec] = field(default_factory=dict, doc="the Langevin baseline, by its label "
                                             "(MH and HMC under temperature: matched; empty otherwise)")

    def curve_job(self, label: str) -> CurveJob:
        """Curve ``label`` of this data set, as its training segments saw it (their checkpoint identity)."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(ImagesCommon)}
        spec = self.samplers[label]
        baseline = self.baseline if spec.name in jobs.TEMPERED else {}
        return CurveJob(**shared, dataset=self.dataset, entry=self.entry, curve=label, sampler=spec,
                        baseline=baseline)


@dataclasses.dataclass
class ReferenceJob(ImagesHost):
    """One data set's reference statistics (job ``reference``): no sampler, model or training."""

    dataset: str = field("cifar10", doc="data-set label (the cache file's name)")
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    metrics: list[Metric] = field(default_factory=lambda: list(jobs.METRICS), doc="feature extractors")
    fid: CurveFID = field(default_factory=CurveFID, doc="only reference_split and reference_n are read")

    @property
    def label(self) -> str:
        return self.dataset


# ---------------------------------------------------------------------------
# the whole study section (what params files hold under 'stanley:')

@dataclasses.dataclass
class StanleyStudy:
    """STANLEY section 5: the rings toy, the image FID curves and inpainting."""

    rings: RingsStudy | None = field(default_factory=RingsStudy, doc="Fig 1; null = not in this profile")
    images: ImagesStudy | None = field(default_factory=ImagesStudy, doc="Figs 4-6; null = not in this profile")
