"""Configuration of the JEM study: the whole study, and the slice each job kind reads."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ebmlab import samplers
from ebmlab.config import NONNEG, POSITIVE, Bound, Tagged, check, field, from_dict
from ebmlab.data.images import ImageDataConfig
from ebmlab.engine.image import ImageEngineConfig, engine_field
from ebmlab.metrics.fid import Kind
from ebmlab.models import ModelSpec, WRNConfig
from ebmlab.samplers import SamplerSpec
from ebmlab.studies.base import Device, device_field, sampler_study, threads_field
from ebmlab.train.jem import JEMTrainConfig


@dataclasses.dataclass
class JEMEvalConfig:
    """Held-out accuracy (Fig 4.12 and the table's accuracy)."""

    every: float = field(1.0, bound=POSITIVE, doc="epochs between accuracy evaluations during training")
    noise: float = field(0.03, bound=NONNEG, doc="std of noise added to held-out images (JEM's eval: 0.03)")
    n_valid: int = field(5000, bound=Bound(lo=0), doc="training images held out for validation (JEM: 5000)")
    split_seed: int = field(1234, doc="seed of the train/validation shuffle (JEM: 1234)")
    curve_test_limit: int | None = field(None, bound=Bound(lo=1),
                                         doc="curve points use the first N test images; the final accuracy uses all")
    batch_size: int = field(500, bound=Bound(lo=1), doc="images per forward pass")


@dataclasses.dataclass
class JEMFIDConfig:
    """FID of the final replay buffer's samples (issue 3's FID module)."""

    metrics: list[Kind] = field(default_factory=lambda: ["inception"], doc="scores to compute")
    n_samples: int = field(10000, bound=Bound(lo=2), doc="buffer states scored (at most the buffer size)")
    batch_size: int = field(500, bound=Bound(lo=1), doc="feature batch")
    reference_split: str = field("train", doc="data split of the reference statistics")
    reference_n: int | None = field(None, bound=Bound(lo=2), doc="reference images; null = the whole split")

    def __post_init__(self):
        check(len(self.metrics) == len(set(self.metrics)), f"fid.metrics must be distinct, got {self.metrics}")


@dataclasses.dataclass
class JEMFigureConfig:
    chain_iterations: list[int] = field(default_factory=lambda: [0, 5000, 10000],
                                        doc="iterations whose per-step acceptance Figs 4.13/4.14 show "
                                            "(the nearest logged ones, see train.chain_log_every)")


def _default_samplers() -> dict:
    cfg = lambda name, **kw: Tagged(name, samplers.SAMPLERS[name].Config(**kw))  # noqa: E731
    psgld = dict(step_size=1.0, noise_std=0.01, alpha=0.9, precondition_noise=False)
    return {
        "sgld": cfg("langevin", step_size=1.0, noise_std=0.01, track_acceptance=True),
        "psgld": cfg("psgld", lam=1.0, **psgld),
        "psgld_small": cfg("psgld", lam=0.01, **psgld),
        "mala": cfg("mala", step_size=1.0, noise_std=0.01),
    }


def _default_data() -> ImageDataConfig:
    return from_dict(ImageDataConfig, {"name": "cifar10", "range": "symmetric"}, "data")


def check_data(data: ImageDataConfig) -> None:
    """What every job of the study needs of the data (checked by each job's config, not only the study's)."""
    check(data.range == "symmetric", f"data.range must be 'symmetric' (JEM works in [-1, 1]), got {data.range!r}")
    check(data.split == "train", f"data.split must be 'train' (the test split is read as well), got {data.split!r}")
    check(not data.dequantize, "data.dequantize must be false (JEM maps grey level k to k / 255)")


_DATA_DOC = ("the training split; the test accuracy uses the same config with split 'test' (one-array "
             "sources such as a local .npz hold out data.test_fraction as their test split)")


@dataclasses.dataclass
class JEMClassifier:
    """A classifier job's slice (the digit classifier of the substitute Frechet distance); also
    the first settings every run shares."""

    seed: int = field(1, doc="seeds weights, chains, data order and the classifier (the same for every "
                             "sampler; JEM: 1)")
    threads: int = threads_field(4)
    device: Device = device_field()
    data: ImageDataConfig = field(default_factory=_default_data, doc=_DATA_DOC)

    def __post_init__(self):
        check_data(self.data)


@dataclasses.dataclass
class JEMCommon(JEMClassifier):
    """Settings every run of the study shares."""

    model: ModelSpec = field(default_factory=lambda: Tagged("wrn", WRNConfig()))
    train: JEMTrainConfig = field(default_factory=JEMTrainConfig)
    engine: ImageEngineConfig = engine_field()
    eval: JEMEvalConfig = field(default_factory=JEMEvalConfig)
    fid: JEMFIDConfig = field(default_factory=JEMFIDConfig)
    figures: JEMFigureConfig = field(default_factory=JEMFigureConfig)
    on_diverge: Literal["record", "fail"] = field(
        "record", doc="record: the run reports 'diverged' and its last good checkpoint's metrics; fail: exit 3")


JEMStudy, JEMRun = sampler_study(JEMCommon, SamplerSpec, _default_samplers, "sgld", module=__name__, seeded=True,
                                 names=("JEMStudy", "JEMRun"))


@dataclasses.dataclass
class JEMReference:
    """A reference job's slice: the data and the scores' metrics (not how many samples they score)."""

    threads: int = threads_field(4)
    device: Device = device_field()
    data: ImageDataConfig = field(default_factory=_default_data, doc=_DATA_DOC)
    fid: JEMFIDConfig = field(default_factory=JEMFIDConfig)

    def __post_init__(self):
        check_data(self.data)


@dataclasses.dataclass
class JEMBench:
    """The time-per-epoch bench's slice: the training recipe and every run's sampler (synthetic data)."""

    seed: int = field(1, doc="seeds weights and chains")
    threads: int = threads_field(4)
    device: Device = device_field()
    train: JEMTrainConfig = field(default_factory=JEMTrainConfig)
    samplers: dict[str, SamplerSpec] = field(default_factory=_default_samplers, doc="run label -> sampler")
