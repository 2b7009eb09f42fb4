"""Configuration of the Table 4.1 study: the whole study, and the slice each job kind reads.

Which slice a job gets is cut in :mod:`ebmlab.studies.table4_1.jobs`; the classes here
validate it (a cell: :class:`Table41Cell`, a reference-statistics job: :class:`Table41Reference`;
the digit classifier is :class:`ebmlab.metrics.classifier.ClassifierJob`).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ebmlab import samplers
from ebmlab.config import NONNEG, Bound, Tagged, check, field, from_dict
from ebmlab.data.images import ImageDataConfig
from ebmlab.engine.image import ImageEngineConfig, engine_field
from ebmlab.errors import ConfigError
from ebmlab.metrics.classifier import ClassifierConfig
from ebmlab.models import IGEBMConfig, ModelSpec
from ebmlab.papers import TABLE4_1_FID, TABLE4_1_LABELS
from ebmlab.samplers import SamplerSpec
from ebmlab.studies.base import Device, check_seeds, device_field, noise_std, on_diverge_field, threads_field
from ebmlab.train.augment import AugmentSpec, NoAugmentConfig
from ebmlab.train.image import ImageTrainConfig, SamplerSchedule

Metric = Literal["inception", "classifier", "inception_standin"]


@dataclasses.dataclass
class FIDConfig:
    """How samples for FID are produced and scored."""

    n_samples: int = field(10000, bound=Bound(lo=2), doc="generated samples per final score")
    source: Literal["buffer", "fresh"] = field("buffer", doc="replay-buffer states or new chains from noise")
    steps: int = field(0, bound=Bound(lo=0), doc="sampler transitions applied to the samples before scoring")
    ema: bool = field(False, doc="run those transitions with the EMA weights (needs train.ema)")
    batch_size: int = field(500, bound=Bound(lo=1), doc="chains / feature batch per pass")
    curve_every: int | None = field(None, bound=Bound(lo=1),
                                    doc="Fig 4.6: score every K iterations during the curve window; null = no curve")
    curve_iterations: int | None = field(None, bound=Bound(lo=1), doc="curve window; null = the first epoch")
    curve_samples: int = field(1000, bound=Bound(lo=2), doc="samples per curve point")
    reference_split: Literal["train", "test", "all"] = field("train", doc="split the reference statistics use")
    reference_n: int | None = field(None, bound=Bound(lo=2), doc="reference images; null = the whole split")
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig,
                                         doc="the digit classifier of the 'classifier' metric")

    def __post_init__(self):
        check(self.source == "buffer" or self.steps >= 1, "fid.steps must be >= 1 when fid.source is 'fresh'")


@dataclasses.dataclass
class DatasetEntry:
    """One column of Table 4.1: data, energy network, buffer augmentation, metrics."""

    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ModelSpec = field(default_factory=lambda: Tagged("igebm", IGEBMConfig()))
    augment: AugmentSpec = field(default_factory=lambda: Tagged("none", NoAugmentConfig()))
    metrics: list[Metric] = field(default_factory=lambda: ["inception"],
                                  doc="scores to compute (the first also draws the Fig 4.6 curve); [] = none")
    epochs: float | None = field(None, bound=Bound(lo=0.0, lo_exclusive=True),
                                 doc="overrides train.epochs for this data set")
    runs: list[str] | None = field(None, doc="rows trained on this data set; null = table_samplers")

    def __post_init__(self):
        check(len(set(self.metrics)) == len(self.metrics), f"metrics must list distinct kinds, got {self.metrics}")


@dataclasses.dataclass
class SwitchSpec:
    """A run that uses sampler ``first`` for ``after`` iterations, then ``then`` (Fig 4.10)."""

    first: str = field("langevin", doc="label in samplers")
    then: str = field("mala", doc="label in samplers")
    after: int = field(100, bound=Bound(lo=1), doc="iterations with the first sampler")


@dataclasses.dataclass
class StepSweep:
    """Beyond the thesis: short runs of a few samplers over step sizes h, with the study's noise
    ('fixed') and with the noise that keeps the Langevin relation sigma = sqrt(2h) ('matched').

    Each (run, h, noise) is a cell named ``step_<run>_h<h>_<noise>`` on the figure data sets,
    trained with the first seed only; ``iterations``, ``buffer_size`` and ``n_samples`` replace
    the study's (a short run touches only a small buffer, so the scored states are its own).
    """

    runs: list[str] = field(default_factory=lambda: ["mala_exact", "langevin"], doc="labels in samplers")
    step_sizes: list[float] = field(default_factory=lambda: [100.0, 1.0, 0.01], doc="h values")
    noises: list[Literal["fixed", "matched"]] = field(default_factory=lambda: ["fixed", "matched"],
                                                      doc="fixed: the study's noise; matched: sqrt(2h)")
    iterations: int = field(100, bound=Bound(lo=1), doc="training iterations per sweep cell")
    buffer_size: int = field(2000, bound=Bound(lo=1), doc="replay-buffer capacity of a sweep cell")
    n_samples: int = field(2000, bound=Bound(lo=2), doc="buffer states scored per sweep cell")

    def __post_init__(self):
        check(len(self.step_sizes) > 0 and all(h > 0 for h in self.step_sizes),
              f"step_sweep.step_sizes must be positive numbers, got {self.step_sizes}")


@dataclasses.dataclass
class Table41Common:
    """Settings every cell shares."""

    seed: int = field(0, doc="seeds weights, chains and data order (the same for every sampler)")
    threads: int = threads_field()
    device: Device = device_field()
    noise: float = field(1e-4, bound=NONNEG, doc="the thesis's chain noise n (v ~ N(0, n))")
    noise_is: Literal["std", "variance"] = field("variance", doc="read noise as a variance or as a std")
    clamp_chains: bool = field(True, doc="clamp chain states to the data range after every move")
    on_diverge: Literal["record", "fail"] = on_diverge_field("the cell reports 'diverged'")
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)
    fid: FIDConfig = field(default_factory=FIDConfig)
    engine: ImageEngineConfig = engine_field()

    @property
    def noise_std(self) -> float:
        return noise_std(self.noise, self.noise_is)


def _sampler_defaults() -> dict:
    cfg = lambda name, **kw: Tagged(name, samplers.SAMPLERS[name].Config(**kw))  # noqa: E731
    return {
        "langevin": cfg("langevin", step_size=100.0, track_acceptance=True),
        "mala": cfg("mala", step_size=100.0),
        "tempered_mala": cfg("tempered_mala", step_size=100.0),
        "psgld": cfg("psgld", step_size=100.0, alpha=0.9, lam=1.0, precondition_noise=False),
    }


def _dataset_defaults() -> dict:
    return {name: DatasetEntry(data=from_dict(ImageDataConfig, {"name": name}, f"datasets.{name}.data"))
            for name in TABLE4_1_FID}


@dataclasses.dataclass
class Table41Study(Table41Common):
    """The whole study: shared settings, data sets (columns) and runs (rows)."""

    datasets: dict[str, DatasetEntry] = field(default_factory=_dataset_defaults, doc="column label -> data set")
    samplers: dict[str, SamplerSpec] = field(default_factory=_sampler_defaults, doc="run label -> sampler")
    switches: dict[str, SwitchSpec] = field(default_factory=dict, doc="run label -> sampler switch (Fig 4.10)")
    table_samplers: list[str] = field(default_factory=lambda: list(TABLE4_1_LABELS),
                                      doc="runs trained on every data set (the table's rows)")
    figure_datasets: list[str] = field(default_factory=lambda: ["cifar10"],
                                       doc="data sets that also get the other runs and Figs 4.6-4.11")
    seeds: list[int] | None = field(None, doc="seeds of the seeded runs (weights, chains, data order); null = [seed]")
    seeded_runs: list[str] | None = field(None, doc="runs trained with every seed; the others get the first; "
                                                    "null = table_samplers")
    step_sweep: StepSweep | None = field(None, doc="the step-size sweep on the figure data sets; null = none")

    def __post_init__(self):
        check(len(self.datasets) > 0, "datasets must name at least one data set")
        clash = sorted(set(self.samplers) & set(self.switches))
        check(not clash, f"run labels must be unique across samplers and switches, got {clash} in both")
        runs = list(self.samplers) + list(self.switches)
        for where, labels in [("table_samplers", self.table_samplers)] + [
                (f"datasets.{ds}.runs", e.runs) for ds, e in self.datasets.items() if e.runs is not None]:
            for label in labels:
                check(label in self.samplers or label in self.switches,
                      f"{where}: unknown run {label!r} (runs: {', '.join(runs)})")
        for label, sw in self.switches.items():
            for role in ("first", "then"):
                check(getattr(sw, role) in self.samplers,
                      f"switches.{label}.{role}: unknown sampler {getattr(sw, role)!r} "
                      f"(samplers: {', '.join(self.samplers)})")
        for ds in self.figure_datasets:
            check(ds in self.datasets, f"figure_datasets: unknown data set {ds!r} (datasets: {', '.join(self.datasets)})")
        check_seeds(self.seeds, self.seeded_runs, runs)
        for label in self.step_sweep.runs if self.step_sweep else []:
            check(label in self.samplers, f"step_sweep.runs: unknown sampler {label!r} "
                                          f"(samplers: {', '.join(self.samplers)})")


@dataclasses.dataclass
class CellSwitch:
    """The sampler a cell switches to, and after how many iterations."""

    sampler: SamplerSpec = field(default_factory=lambda: _sampler_defaults()["mala"])
    after: int = field(100, bound=Bound(lo=1), doc="iterations with the first sampler")


@dataclasses.dataclass
class Table41Cell(Table41Common):
    """One cell's slice (a training job): shared settings, one data set, one run."""

    dataset: str = field("mnist", doc="column label")
    entry: DatasetEntry = field(default_factory=DatasetEntry)
    run: str = field("langevin", doc="row label")
    sampler: SamplerSpec = field(default_factory=lambda: _sampler_defaults()["langevin"])
    switch: CellSwitch | None = field(None, doc="change of sampler after some iterations (Fig 4.10)")

    def __post_init__(self):
        check(not self.fid.ema or self.train.ema is not None, "fid.ema needs train.ema (a decay)")
        check(self.fid.source == "fresh" or self.train.init in ("nll", "true_cd"),
              f"fid.source 'buffer' needs a replay buffer, but train.init is {self.train.init!r}")
        for where, spec in (("sampler", self.sampler), ("switch.sampler", self.switch and self.switch.sampler)):
            if spec is not None and getattr(spec.config, "noise_std", None) is not None:
                raise ConfigError(f"{where}.noise_std: this study sets the chain noise with noise / noise_is")

    @property
    def label(self) -> str:
        """The job label (``--job``): ``<dataset>/<run>/seed<seed>``, as its results folder."""
        return f"{self.dataset}/{self.run}/seed{self.seed}"

    @property
    def train_config(self) -> ImageTrainConfig:
        if self.entry.epochs is None:
            return self.train
        return dataclasses.replace(self.train, epochs=self.entry.epochs)

    @property
    def value_range(self) -> tuple[float, float]:
        return self.entry.data.value_range

    def build_sampler(self, spec: Tagged):
        """The sampler with the study's noise std and, if set, the data-range clamp."""
        changes = {}
        if hasattr(spec.config, "noise_std"):
            changes["noise_std"] = self.noise_std
        if self.clamp_chains and hasattr(spec.config, "clamp") and spec.config.clamp is None:
            changes["clamp"] = self.value_range
        return samplers.build(Tagged(spec.name, dataclasses.replace(spec.config, **changes)))

    def schedule(self) -> SamplerSchedule:
        first = self.build_sampler(self.sampler)
        if self.switch is None:
            return SamplerSchedule(first)
        return SamplerSchedule(first, self.build_sampler(self.switch.sampler), self.switch.after)


@dataclasses.dataclass
class Table41Reference:
    """A reference-statistics job's slice: one data set's images and metrics, the reference split."""

    dataset: str = field("mnist", doc="column label")
    threads: int = threads_field()
    device: Device = device_field()
    entry: DatasetEntry = field(default_factory=DatasetEntry, doc="only data and metrics are read")
    fid: FIDConfig = field(default_factory=FIDConfig, doc="only reference_split and reference_n are read")

    @property
    def label(self) -> str:
        return self.dataset
