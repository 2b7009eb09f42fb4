"""Configuration of the true-CD vs NLL study: the whole study, and the slice each job reads.

The study's settings come in groups; a job's config class combines the groups that job reads
(the classifier job sees no sampler, training no evaluation settings, evaluation no training
settings), so an edit re-runs only the jobs it concerns. Dataclass fields follow the reversed
bases, so every class lists its groups last group first; the study keeps the params-file order.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ebmlab import samplers
from ebmlab.config import NONNEG, POSITIVE, UNIT, Bound, Tagged, check, field, from_dict
from ebmlab.data.images import ImageDataConfig
from ebmlab.engine.image import ImageEngineConfig, engine_field
from ebmlab.metrics.ais import AISConfig
from ebmlab.metrics.classifier import ClassifierConfig
from ebmlab.models import GagnonMNISTConfig, ModelSpec
from ebmlab.samplers import SamplerSpec
from ebmlab.studies.base import JobHost, check_seeds, noise_std, seed_label
from ebmlab.studies.cd_vs_nll.jobs import DEFAULT_REGIMES, REGIMES
from ebmlab.train.augment import AugmentSpec, NoAugmentConfig
from ebmlab.train.auxloss import AuxSpec
from ebmlab.train.deform import ElasticConfig
from ebmlab.train.image import ImageTrainConfig, InitMode
from ebmlab.train.practical import LRAnnealConfig, data_noise_std, scaled_lr

REGIME_LABELS = {"nll": "NLL (Du & Mordatch buffer)", "true_cd": "true CD", "true_cd_kl": "true CD + CD-sign KL",
                 "nll_du_kl": "NLL + Du et al. KL", "nll_deform": "NLL + elastic deformations"}


@dataclasses.dataclass
class Regime:
    """What tells the trained models apart; these fields replace the same ones of ``train``."""

    init: InitMode = field("nll", doc="chain initialisation of the image trainer")
    reinit_prob: float = field(0.05, bound=UNIT, doc="per drawn start: noise (nll) or a data point (true_cd)")
    aux: list[AuxSpec] = field(default_factory=list, doc="auxiliary losses: kl (Du et al.) or kl_cd (CD sign)")
    augment: AugmentSpec = field(default_factory=lambda: Tagged("none", NoAugmentConfig()),
                                 doc="transition of buffer draws, e.g. {name: elastic, sigma: 1.0}")


def _default_regimes() -> dict:
    return {name: from_dict(Regime, spec, f"regimes.{name}") for name, spec in DEFAULT_REGIMES.items()}


@dataclasses.dataclass
class PracticalConfig:
    """Nijkamp et al.'s practical options (appendix A-C); all off by default, as in Gagnon & Lajoie."""

    rescale_energy: bool = field(False, doc="A: train U = F / (eps^2/2); needs sampler step = noise_std^2 / 2")
    scale_lr: bool = field(False, doc="A: learning rate (eps^2/2) x train.lr (x the anneal rates)")
    anneal_lr: LRAnnealConfig | None = field(None, doc="B: geometric learning-rate decay; null = constant")
    data_noise_factor: float = field(0.0, bound=NONNEG, doc="C: eps_data = factor x eps (2 in the appendix); 0 = off")


@dataclasses.dataclass
class FigureRoles:
    """Which regimes appear in the Fig 3-5 analogues (their chains are run by ``evaluate``)."""

    fig3: list[str] = field(default_factory=lambda: ["true_cd", "nll"], doc="10000-step chains, noise and data starts")
    fig4: list[str] = field(default_factory=lambda: ["nll"], doc="low vs high noise from one start; two long chains")
    fig5: list[str] = field(default_factory=lambda: ["nll_deform", "nll"], doc="long chains with/without deformations")


@dataclasses.dataclass
class EvalConfig:
    """Test-time chains and metrics."""

    noise_std: float = field(0.005, bound=POSITIVE, doc="test-time chain noise (Fig 3: 0.005)")
    high_noise_std: float = field(0.05, bound=POSITIVE, doc="the 'high noise' of Fig 4 (not given: our choice)")
    long_chains: int = field(1000, bound=Bound(lo=2), doc="(b), (c): chains from uniform noise")
    long_steps: int = field(10000, bound=Bound(lo=1), doc="(b), (c): their length")
    high_noise_chains: int = field(500, bound=Bound(lo=2), doc="(b) at high noise: chains from noise")
    deform_coverage: list[str] = field(default_factory=lambda: ["nll", "nll_deform"],
                                       doc="regimes also sampled from noise with test-time deformations")
    stay_chains: int = field(200, bound=Bound(lo=1), doc="(d): chains started on test images")
    stay_steps: int = field(10000, bound=Bound(lo=1), doc="(d): their length")
    stay_radius: float = field(0.5, bound=POSITIVE,
                               doc="(d): stayed = end within this x median nearest-neighbour distance of the test set")
    fig3_steps: int = field(10000, bound=Bound(lo=1))
    fig4_short_steps: int = field(200, bound=Bound(lo=1))
    fig4_long_steps: int = field(10000, bound=Bound(lo=1))
    fig5_steps: int = field(20000, bound=Bound(lo=1))
    deform_every: int = field(100, bound=Bound(lo=1), doc="test-time deformation every this many Langevin steps")
    deform: ElasticConfig = field(default_factory=ElasticConfig, doc="test-time deformation")
    frames: int = field(10, bound=Bound(lo=2), doc="snapshots per figure chain")
    batch: int = field(1000, bound=Bound(lo=1), doc="chains per sampler run")
    bootstrap: int = field(200, bound=Bound(lo=2), doc="resamples for the se of entropy and Frechet distance")
    test_images: int | None = field(None, bound=Bound(lo=2), doc="test images for NLL and references; null = all")
    figures: FigureRoles = field(default_factory=FigureRoles)


def _default_sampler():
    return Tagged("langevin", samplers.SAMPLERS["langevin"].Config(step_size=10.0, noise_std=0.005, clamp=(0.0, 1.0)))


@dataclasses.dataclass
class GagnonTrainConfig(ImageTrainConfig):
    """Algorithm 7 with Gagnon & Lajoie's settings as defaults: t = 10 Langevin steps (4.5), Adam with
    learning rate 1e-4 and no momentum, gradient clipping 0.1 (8.4); the buffer of Du et al. 2020."""

    epochs: float = field(20.0, bound=POSITIVE, doc="passes over the training set (fractions allowed)")
    steps: int = field(10, bound=Bound(lo=1), doc="t: Langevin steps per iteration (Gagnon & Lajoie 4.5)")
    grad_clip_norm: float | None = field(0.1, bound=POSITIVE, doc="clip the parameter-gradient norm (8.4: 0.1)")
    checkpoint_every: int = field(200, bound=Bound(lo=1), doc="iterations between checkpoints")


@dataclasses.dataclass
class ImageAISConfig(AISConfig):
    """AIS for 28x28 images at the training temperature (T ~ 1e-6: the path starts at tiny beta)."""

    steps: int = field(3000, bound=Bound(lo=1), doc="K: intermediate distributions beta_1..beta_K = 1")
    beta_min: float = field(1e-9, bound=Bound(lo=0.0, hi=1.0, lo_exclusive=True, hi_exclusive=True),
                            doc="first beta of the geometric spacing")
    n_leapfrog: int = field(2, bound=Bound(lo=1), doc="leapfrog steps per HMC transition")


def _default_data():
    return from_dict(ImageDataConfig, {"name": "mnist"}, "data")


# ---------------------------------------------------------------------------
# the groups of settings


@dataclasses.dataclass
class _Every(JobHost):
    seed: int = field(0, doc="seeds weights, chains and data order (the same for every regime)")


@dataclasses.dataclass
class _OnDiverge:
    on_diverge: Literal["record", "fail"] = field(
        "record", doc="record: the regime reports 'diverged' (checkpoint kept); fail: the job fails (exit 3)")


@dataclasses.dataclass
class _Data:
    data: ImageDataConfig = field(default_factory=_default_data, doc="training images (split: train)")


@dataclasses.dataclass
class _TestSplit:
    test_split: str = field("test", doc="split for NLL, references and data-started chains")


@dataclasses.dataclass
class _Chains:
    """The energy and its sampler (with _Data and _Practical): what training and evaluation share."""

    model: ModelSpec = field(default_factory=lambda: Tagged("gagnon_mnist", GagnonMNISTConfig()))
    sampler: SamplerSpec = field(default_factory=_default_sampler, doc="training chains (langevin or mala)")
    # Gagnon & Lajoie write the noise as N(0, lambda) and call lambda a variance; their values are
    # Du & Mordatch's, whose code draws lambda x N(0, 1) (docs/cd_vs_nll.md)
    noise_is: Literal["std", "variance"] = field(
        "std", doc="how to read sampler.noise_std and eval.noise_std / high_noise_std: as a std or a variance")

    def noise(self, value: float) -> float:
        """The chain noise's standard deviation for a noise setting ``value`` (read per ``noise_is``)."""
        return noise_std(value, self.noise_is)

    def check_chains(self) -> None:
        check(self.sampler.name in ("langevin", "mala"),
              f"sampler.name: this study uses a Langevin-type sampler (langevin or mala), got {self.sampler.name!r}")
        s = self.sampler.config
        check(s.noise_std is not None and s.noise_std > 0, "sampler.noise_std must be set (> 0)")
        if self.practical.rescale_energy:
            check(abs(s.step_size - self.eps ** 2 / 2) <= 1e-9 * max(1.0, s.step_size),
                  f"practical.rescale_energy needs sampler.step_size = noise_std^2 / 2 = {self.eps ** 2 / 2:g} "
                  f"(temperature 1), got {s.step_size:g}")
        check(not self.practical.scale_lr or self.practical.rescale_energy,
              "practical.scale_lr needs practical.rescale_energy")

    @property
    def eps(self) -> float:
        """The training chains' noise std."""
        return self.noise(self.sampler.config.noise_std)

    @property
    def temperature(self) -> float:
        """The training chains' temperature T = noise^2 / (2 step): the density is exp(-E/T)."""
        return self.eps ** 2 / (2 * self.sampler.config.step_size)

    @property
    def value_range(self) -> tuple[float, float]:
        return self.data.value_range

    def train_sampler(self):
        """The training chains: the sampler with its noise read per ``noise_is``."""
        return samplers.build(Tagged(self.sampler.name, dataclasses.replace(self.sampler.config, noise_std=self.eps)))

    def eval_sampler(self, noise_std: float):
        """Test-time chains: the training sampler with another noise level (read per ``noise_is``)."""
        return samplers.build(Tagged(self.sampler.name,
                                     dataclasses.replace(self.sampler.config, noise_std=self.noise(noise_std))))


@dataclasses.dataclass
class _Train:
    train: GagnonTrainConfig = field(default_factory=GagnonTrainConfig, doc="Algorithm 7; regimes replace 4 fields")


@dataclasses.dataclass
class _Practical:
    engine: ImageEngineConfig = engine_field()
    practical: PracticalConfig = field(default_factory=PracticalConfig)


@dataclasses.dataclass
class _Evaluation:
    eval: EvalConfig = field(default_factory=EvalConfig)
    ais: ImageAISConfig = field(default_factory=ImageAISConfig, doc="(a): AIS of log Z at the training temperature")


@dataclasses.dataclass
class _Classifier:
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig,
                                         doc="(b), (c): digit classifier trained on the training split")


def _check_regime_names(names, where):
    for name in names:
        check(name in REGIMES, f"{where}: unknown regime {name!r} (choose from {', '.join(REGIMES)})")


def _check_eval_roles(ev: EvalConfig) -> None:
    _check_regime_names(ev.deform_coverage, "eval.deform_coverage")
    for fig in ("fig3", "fig4", "fig5"):
        _check_regime_names(getattr(ev.figures, fig), f"eval.figures.{fig}")


# ---------------------------------------------------------------------------
# the study and its jobs


@dataclasses.dataclass
class CDvsNLLStudy(_Classifier, _Evaluation, _Practical, _Train, _Chains, _TestSplit, _Data, _OnDiverge, _Every):
    """The whole study: shared settings plus one entry per regime."""

    regimes: dict[str, Regime] = field(default_factory=_default_regimes, doc="regime name -> settings")
    seeds: list[int] | None = field(None, doc="seeds of the seeded regimes (weights, chains, data order); "
                                              "null = [seed]")
    seeded_runs: list[str] | None = field(None, doc="regimes trained with every seed; the others get the first; "
                                                    "null = nll and true_cd (those the study has)")

    def __post_init__(self):
        self.check_chains()
        check(len(self.regimes) > 0, "regimes must name at least one regime")
        _check_regime_names(self.regimes, "regimes")
        _check_eval_roles(self.eval)
        check_seeds(self.seeds, self.seeded_runs, self.regimes, kind="regime")


@dataclasses.dataclass
class ClassifierRun(_Classifier, _Data, _Every):
    """The digit classifier's slice: the training images and the classifier's settings."""


@dataclasses.dataclass
class _OneRegime:
    """A job of one regime: its name and settings (the fields come last in the job's slice)."""

    label: str = field("nll", doc="regime name")
    regime: Regime = field(default_factory=Regime)

    @property
    def job_label(self) -> str:
        """The job label (--job) and results folder: <regime>/seed<seed>."""
        return seed_label(self.label, self.seed)

    def __post_init__(self):
        self.check_chains()
        _check_regime_names([self.label], "label")


@dataclasses.dataclass
class TrainRun(_OneRegime, _Practical, _Train, _Chains, _Data, _OnDiverge, _Every):
    """One regime's training slice: the energy, its sampler, Algorithm 7 and the regime."""

    def train_config(self) -> GagnonTrainConfig:
        p, r = self.practical, self.regime
        lr = p.anneal_lr.start if p.anneal_lr is not None else self.train.lr
        if p.scale_lr:
            lr = scaled_lr(lr, self.eps)
        noise = data_noise_std(self.eps, p.data_noise_factor) if p.data_noise_factor > 0 else self.train.data_noise
        return dataclasses.replace(self.train, init=r.init, reinit_prob=r.reinit_prob, aux=list(r.aux),
                                   augment=r.augment, lr=lr, data_noise=noise)


@dataclasses.dataclass
class EvalRun(_OneRegime, _Evaluation, _Practical, _Chains, _TestSplit, _Data, _Every):
    """One regime's evaluation slice: the trained energy's settings, the test chains, AIS and the regime."""

    def __post_init__(self):
        super().__post_init__()
        _check_eval_roles(self.eval)

    def uses_deformation(self) -> bool:
        return (self.regime.augment.name == "elastic" or self.label in self.eval.deform_coverage
                or self.label in self.eval.figures.fig5)
