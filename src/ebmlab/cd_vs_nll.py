"""True contrastive divergence versus NLL training on MNIST (Gagnon & Lajoie), made quantitative.

Five regimes of the image trainer (thesis Algorithm 7) with Gagnon & Lajoie's MNIST energy
(section 8.3) and t = 10 Langevin steps:

* ``nll``: Du & Mordatch's buffer, started from uniform noise, 5% re-initialised with noise;
* ``true_cd``: the buffer starts with real images and each drawn start is a data point
  with probability 10% (section 6.1);
* ``true_cd_kl``: true CD plus the KL term with the sign CD prescribes (``kl_cd``);
* ``nll_du_kl``: NLL plus Du et al.'s auxiliary loss (``kl``: their sign);
* ``nll_deform``: NLL with every buffer draw elastically warped (section 6.3).

Each regime is one job per step::

    python -m ebmlab.cd_vs_nll classifier --params params/smoke.yaml --section cd_vs_nll --out CLF.pt
    python -m ebmlab.cd_vs_nll train    --params params/smoke.yaml --section cd_vs_nll --regime nll --out DIR
    python -m ebmlab.cd_vs_nll evaluate --params ... --regime nll --out DIR --classifier CLF.pt
    python -m ebmlab.cd_vs_nll figures  --runs DIR... --out-dir reports/smoke/figures
    python -m ebmlab.cd_vs_nll table    --runs DIR... --profile smoke --csv T.csv --claims C.csv --metrics M.json

``evaluate`` measures (a) the test-set NLL at the training temperature by AIS
(ebmlab.metrics.ais), (b) mode coverage: the class histogram and its entropy of
``long_chains`` chains run ``long_steps`` steps from uniform noise, classified by the
digit classifier the pipeline trains (also at the high noise of Fig 4, and with a
deformation every ``deform_every`` steps for the regimes in ``deform_coverage``), (c)
the classifier-feature Frechet distance of those samples to the test set (a labelled
substitute for FID), (d) the fraction of chains started on test images that end within
``stay_radius`` x (median nearest-neighbour distance between test images) of their
start. It also runs the chains of the Fig 3-5 analogues for the regimes that appear in
them. ``table`` writes regime x metric and one verdict per claim of the paper.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ebmlab import samplers
from ebmlab.cli import add_config_args, guarded, raw_config, read_json, require_file, resolve_device
from ebmlab.errors import Diverged
from ebmlab.config import NONNEG, POSITIVE, UNIT, Bound, Tagged, check, field, from_dict, to_dict
from ebmlab.errors import ConfigError
from ebmlab.data.images import ImageDataConfig, load_images
from ebmlab.engine.image import ImageEngineConfig, engine_field, engine_target
from ebmlab.io import atomic_path, atomic_torch_save, atomic_write_json, atomic_write_text
from ebmlab.metrics.ais import AISConfig, ais_log_z, nll_from_ais
from ebmlab.metrics.classifier import ClassifierConfig, train_classifier
from ebmlab.models import GagnonMNISTConfig, ModelSpec, build_model
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.samplers import SamplerSpec
from ebmlab.train.augment import AugmentSpec, NoAugmentConfig
from ebmlab.train.auxloss import AuxSpec, KLCDLossConfig, KLLossConfig
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.deform import ElasticConfig, deformation_callback, elasticdeform_module
from ebmlab.train.image import ImageTrainConfig, ImageTrainer, InitMode, SamplerSchedule, history_columns
from ebmlab.train.practical import LRAnnealConfig, ScaledEnergy, data_noise_std, lr_annealing_hook, scaled_lr

REGIMES = ("nll", "true_cd", "true_cd_kl", "nll_du_kl", "nll_deform")
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
    return {
        "nll": Regime("nll", 0.05),
        "true_cd": Regime("true_cd", 0.1),
        "true_cd_kl": Regime("true_cd", 0.1, aux=[Tagged("kl_cd", KLCDLossConfig())]),
        "nll_du_kl": Regime("nll", 0.05, aux=[Tagged("kl", KLLossConfig())]),
        "nll_deform": Regime("nll", 0.05, augment=Tagged("elastic", ElasticConfig())),
    }


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


@dataclasses.dataclass
class CDvsNLLCommon:
    """Settings every regime shares."""

    seed: int = field(0, doc="seeds weights, chains and data order (the same for every regime)")
    threads: int = field(1, bound=Bound(lo=1), doc="torch CPU threads per job")
    device: Literal["auto", "cpu", "cuda"] = field("auto", doc="auto = cuda when available")
    on_diverge: Literal["record", "fail"] = field(
        "record", doc="record: the regime reports 'diverged' (checkpoint kept); fail: the job fails (exit 3)")
    data: ImageDataConfig = field(default_factory=_default_data, doc="training images (split: train)")
    test_split: str = field("test", doc="split for NLL, references and data-started chains")
    model: ModelSpec = field(default_factory=lambda: Tagged("gagnon_mnist", GagnonMNISTConfig()))
    sampler: SamplerSpec = field(default_factory=_default_sampler, doc="training chains (langevin or mala)")
    train: GagnonTrainConfig = field(default_factory=GagnonTrainConfig, doc="Algorithm 7; regimes replace 4 fields")
    engine: ImageEngineConfig = engine_field()
    practical: PracticalConfig = field(default_factory=PracticalConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ais: ImageAISConfig = field(default_factory=ImageAISConfig, doc="(a): AIS of log Z at the training temperature")
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig,
                                         doc="(b), (c): digit classifier trained on the training split")

    def __post_init__(self):
        check(self.sampler.name in ("langevin", "mala"),
              f"sampler.name: this study uses a Langevin-type sampler (langevin or mala), got {self.sampler.name!r}")
        s = self.sampler.config
        check(s.noise_std is not None and s.noise_std > 0, "sampler.noise_std must be set (> 0)")
        if self.practical.rescale_energy:
            check(abs(s.step_size - s.noise_std ** 2 / 2) <= 1e-9 * max(1.0, s.step_size),
                  f"practical.rescale_energy needs sampler.step_size = noise_std^2 / 2 = {s.noise_std ** 2 / 2:g} "
                  f"(temperature 1), got {s.step_size:g}")
        check(not self.practical.scale_lr or self.practical.rescale_energy,
              "practical.scale_lr needs practical.rescale_energy")

    @property
    def eps(self) -> float:
        return float(self.sampler.config.noise_std)

    @property
    def temperature(self) -> float:
        """The training chains' temperature T = noise^2 / (2 step): the density is exp(-E/T)."""
        return self.eps ** 2 / (2 * self.sampler.config.step_size)

    @property
    def value_range(self) -> tuple[float, float]:
        return self.data.value_range

    def eval_sampler(self, noise_std: float):
        """Test-time chains: the training sampler with another noise level."""
        return samplers.build(Tagged(self.sampler.name, dataclasses.replace(self.sampler.config, noise_std=noise_std)))


def _check_regime_names(names, where):
    for name in names:
        check(name in REGIMES, f"{where}: unknown regime {name!r} (choose from {', '.join(REGIMES)})")


@dataclasses.dataclass
class CDvsNLLStudy(CDvsNLLCommon):
    """The whole study: shared settings plus one entry per regime."""

    regimes: dict[str, Regime] = field(default_factory=_default_regimes, doc="regime name -> settings")

    def __post_init__(self):
        super().__post_init__()
        check(len(self.regimes) > 0, "regimes must name at least one regime")
        _check_regime_names(self.regimes, "regimes")
        ev = self.eval
        _check_regime_names(ev.deform_coverage, "eval.deform_coverage")
        for fig in ("fig3", "fig4", "fig5"):
            _check_regime_names(getattr(ev.figures, fig), f"eval.figures.{fig}")

    def run(self, label: str) -> "CDvsNLLRun":
        if label not in self.regimes:
            raise ConfigError(f"unknown regime {label!r} (this study has {', '.join(self.regimes)})")
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(CDvsNLLCommon)}
        return CDvsNLLRun(**shared, label=label, regime=self.regimes[label])


@dataclasses.dataclass
class CDvsNLLRun(CDvsNLLCommon):
    """One regime's slice."""

    label: str = field("nll", doc="regime name")
    regime: Regime = field(default_factory=Regime)

    def __post_init__(self):
        super().__post_init__()
        _check_regime_names([self.label], "label")

    def train_config(self) -> GagnonTrainConfig:
        p, r = self.practical, self.regime
        lr = p.anneal_lr.start if p.anneal_lr is not None else self.train.lr
        if p.scale_lr:
            lr = scaled_lr(lr, self.eps)
        noise = data_noise_std(self.eps, p.data_noise_factor) if p.data_noise_factor > 0 else self.train.data_noise
        return dataclasses.replace(self.train, init=r.init, reinit_prob=r.reinit_prob, aux=list(r.aux),
                                   augment=r.augment, lr=lr, data_noise=noise)

    def uses_deformation(self) -> bool:
        return (self.regime.augment.name == "elastic" or self.label in self.eval.deform_coverage
                or self.label in self.eval.figures.fig5)


# ---------------------------------------------------------------------------
# configuration from the command line, shared plumbing

def _load_run(args) -> CDvsNLLRun:
    raw = raw_config(args)
    if "regime" not in raw:  # the whole study
        if not args.regime:
            raise ConfigError("--regime is required when the configuration is the whole study")
        return from_dict(CDvsNLLStudy, raw).run(args.regime)
    run = from_dict(CDvsNLLRun, raw)
    if args.regime and args.regime != run.label:
        raise ConfigError(f"--regime {args.regime!r} does not match the config's label {run.label!r}")
    return run


def _energy(run: CDvsNLLRun, in_shape) -> torch.nn.Module:
    torch.manual_seed(run.seed)  # the same initial weights for every regime
    net = build_model(run.model, tuple(in_shape))
    return ScaledEnergy(net, run.eps) if run.practical.rescale_energy else net


def _load_split(run: CDvsNLLRun, split: str | None = None):
    cfg = run.data if split is None else dataclasses.replace(run.data, split=split)
    return load_images(cfg)


# ---------------------------------------------------------------------------
# check, classifier and train

def cmd_regimes(args) -> None:
    """Validate the whole study (config, data files, elasticdeform) and print its regimes, one a line."""
    study = from_dict(CDvsNLLStudy, raw_config(args))
    resolve_device(study.device)
    run = study.run(next(iter(study.regimes)))
    for split in ("train", run.test_split):
        _load_split(run, split)
    if any(study.run(r).uses_deformation() for r in study.regimes):
        elasticdeform_module()
    print("\n".join(study.regimes))


def cmd_classifier(args) -> None:
    """The digit classifier of (b) and (c), trained on the study's training images."""
    raw = raw_config(args)
    cfg = from_dict(CDvsNLLRun if "regime" in raw else CDvsNLLStudy, raw)  # a regime slice or the whole study
    torch.set_num_threads(cfg.threads)
    train_classifier(cfg.data, args.out, device=resolve_device(cfg.device), seed=cfg.seed, config=cfg.classifier)


def cmd_train(args) -> None:
    run = _load_run(args)
    out = Path(args.out)
    torch.set_num_threads(run.threads)
    device = resolve_device(run.device)
    if run.regime.augment.name == "elastic":
        elasticdeform_module()  # a broken install stops here, before any compute
    data = _load_split(run)  # DataError (how to get it) before any compute
    resolved = to_dict(run)
    model = _energy(run, data.x.shape[1:])
    store = CheckpointStore(out / "ckpt", config_hash(resolved))
    hooks = []
    if run.practical.anneal_lr is not None:
        scale = 0.5 * run.eps ** 2 if run.practical.scale_lr else 1.0
        hooks.append(lr_annealing_hook(run.practical.anneal_lr, scale))
    make_target = engine_target(model.to(device), run.engine, device)
    trainer = ImageTrainer(model, data, run.train_config(), SamplerSchedule(samplers.build(run.sampler)),
                           seed=run.seed, device=device, value_range=run.value_range, store=store, hooks=hooks,
                           make_target=make_target, progress=None)
    diverged = None
    try:
        trainer.train()
    except Diverged as err:
        if run.on_diverge == "fail":
            raise
        diverged = str(err)
    hist = trainer.history
    atomic_write_text(out / "history.csv", csv_text(hist, history_columns(hist)) if hist else "iteration,d_st,r_t\n")
    atomic_torch_save({"model": trainer.model.state_dict(), "config": resolved, "iteration": trainer.iteration,
                       "diverged": diverged}, out / "model.pt")
    write_record(out / "train.run.yaml", command="ebmlab.cd_vs_nll train", config=resolved, seed=run.seed,
                 extra={"wall_seconds": trainer.wall, "iterations": trainer.iteration, "diverged": diverged})


# ---------------------------------------------------------------------------
# evaluate: chains and metrics

def entropy_nats(counts: np.ndarray) -> float:
    p = np.asarray(counts, dtype=np.float64)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum())


def coverage(labels: np.ndarray, n_classes: int, n_boot: int, rng: np.random.Generator) -> dict:
    """Class histogram of generated samples, its entropy (nats) with a bootstrap se, the top class."""
    labels = np.asarray(labels)
    hist = np.bincount(labels, minlength=n_classes)
    boot = [entropy_nats(np.bincount(rng.choice(labels, labels.size), minlength=n_classes)) for _ in range(n_boot)]
    top = int(hist.argmax())
    return {"entropy": entropy_nats(hist), "entropy_se": float(np.std(boot, ddof=1)),
            "entropy_max": math.log(n_classes), "histogram": hist.tolist(), "top_class": top,
            "top_fraction": float(hist[top] / hist.sum()), "n": int(labels.size)}


def frechet_with_se(feats: np.ndarray, ref_mu: np.ndarray, ref_cov: np.ndarray, n_boot: int,
                    rng: np.random.Generator) -> tuple[float, float]:
    """Frechet distance of ``feats`` to the reference Gaussian; se by resampling ``feats``."""
    from ebmlab.metrics.fid import frechet_distance

    def fd(f):
        return float(frechet_distance(f.mean(0), np.cov(f, rowvar=False), ref_mu, ref_cov))

    boot = [fd(feats[rng.integers(0, len(feats), len(feats))]) for _ in range(n_boot)]
    return fd(feats), float(np.std(boot, ddof=1))


def frame_steps(length: int, frames: int) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(0, length, frames)})


def run_chains(model, sampler, x0: Tensor, steps: int, gen: torch.Generator, *, frames: set[int] = frozenset(),
               deform: ElasticConfig | None = None, every: int = 100, deform_mask: Tensor | None = None,
               deform_gen: torch.Generator | None = None, value_range=(0.0, 1.0),
               desc: str = "chains") -> tuple[Tensor, dict[int, Tensor]]:
    """Run chains from ``x0``; snapshots (on the CPU) at the steps in ``frames`` (0 = start).

    Reports its steps as ``desc`` (a plain line at least every 30 s in a log, see
    :mod:`ebmlab.progress`).
    """
    snaps = {0: x0.detach().cpu().clone()} if 0 in frames else {}
    warp = None
    if deform is not None and (deform_mask is None or bool(deform_mask.any())):
        warp = deformation_callback(deform, every, deform_gen, value_range, mask=deform_mask)

    def callback(t: int, x: Tensor):
        y = warp(t, x) if warp is not None else None
        if t + 1 in frames:
            snaps[t + 1] = (y if y is not None else x).detach().cpu().clone()
        return y

    # the model's parameters are frozen by the caller (evaluate): only input gradients are built
    res = sampler.run(model, x0, steps, generator=gen, callback=callback if (frames or warp) else None,
                      progress=None, desc=desc)
    return res.x.detach(), snaps


def uniform(n: int, shape, value_range, gen: torch.Generator, device) -> Tensor:
    lo, hi = value_range
    return lo + (hi - lo) * torch.rand((n, *shape), generator=gen, device=device)


def batched_chains(model, sampler, x0: Tensor, steps: int, gen: torch.Generator, batch: int, *,
                   what: str = "chains", **kw) -> Tensor:
    """:func:`run_chains` over ``x0`` in batches of ``batch``; each batch reports as
    ``"<what> <i>/<n>"``."""
    n_batches = -(-x0.shape[0] // batch)
    return torch.cat([run_chains(model, sampler, x0[i:i + batch], steps, gen,
                                 desc=f"{what} {i // batch + 1}/{n_batches}", **kw)[0]
                      for i in range(0, x0.shape[0], batch)])


def median_nn_distance(x: Tensor, max_n: int = 2000) -> float:
    """Median over images of the L2 distance to the nearest other image."""
    f = x[:max_n].flatten(1).double()
    d = torch.cdist(f, f)
    d.fill_diagonal_(float("inf"))
    return float(d.min(1).values.median())


def _classifier(path: str | None, device):
    """The digit classifier the pipeline trains (ebmlab.metrics.classifier): labels and features."""
    if path is None:
        raise ConfigError("evaluate needs --classifier <weights file> (the pipeline trains it)")
    from ebmlab.metrics.classifier import load_classifier
    return load_classifier(require_file(path, "train it: python -m ebmlab.metrics.classifier train"), device=device)


def _unit(x: Tensor, value_range) -> Tensor:
    lo, hi = value_range
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def cmd_evaluate(args) -> None:
    run = _load_run(args)
    out = Path(args.out)
    torch.set_num_threads(run.threads)
    device = resolve_device(run.device)
    if run.uses_deformation():
        elasticdeform_module()
    ckpt = torch.load(require_file(out / "model.pt", "run 'train' first"), map_location=device, weights_only=False)
    clf = _classifier(args.classifier, device)
    test = _load_split(run, run.test_split)
    ev, vr, T = run.eval, run.value_range, run.temperature
    t0 = time.perf_counter()
    base = {"regime": run.label, "label": REGIME_LABELS.get(run.label, run.label), "temperature": T,
            "iterations": ckpt["iteration"], "diverged": ckpt["diverged"], "seed": run.seed, "device": str(device),
            "data": run.data.describe()}
    if ckpt["diverged"]:  # no model to evaluate: empty chains, metrics say why
        _save_npz(out / "chains.npz", {})
        atomic_write_json(out / "metrics.json", base)
        return
    shape = tuple(test.x.shape[1:])
    model = _energy(run, shape).to(device)
    model.load_state_dict(ckpt["model"])
    model.eval().requires_grad_(False)
    make_target = engine_target(model, run.engine, device)
    chain_target = make_target(model) if make_target is not None else model   # what every chain below uses
    # AIS's HMC moves have a Metropolis test
    ais_target = make_target(model, metropolis=True) if make_target is not None else model
    gen = torch.Generator(device=device).manual_seed(run.seed + 104729)
    rng = np.random.default_rng(run.seed)
    n_test = test.x.shape[0] if ev.test_images is None else min(ev.test_images, test.x.shape[0])
    x_test = test.to_float(test.x[:n_test].to(device), gen).to(device)

    # (a) test NLL at the training temperature
    ais = ais_log_z(ais_target, shape, run.ais, temperature=T, box=vr, generator=gen, device=device)
    nll = nll_from_ais(model, x_test, ais, T)

    # (b), (c) long chains from noise; reference statistics of the test images
    ref = clf.features(_unit(x_test, vr)).double().cpu().numpy()
    ref_mu, ref_cov = ref.mean(0), np.cov(ref, rowvar=False)

    def score(samples: Tensor) -> dict:
        u = _unit(samples, vr)
        cov = coverage(clf.predict(u).cpu().numpy(), clf.n_classes, ev.bootstrap, rng)
        fd, fd_se = frechet_with_se(clf.features(u).double().cpu().numpy(), ref_mu, ref_cov, ev.bootstrap, rng)
        return {**cov, "frechet": fd, "frechet_se": fd_se}

    low = run.eval_sampler(ev.noise_std)
    x_long = batched_chains(chain_target, low, uniform(ev.long_chains, shape, vr, gen, device), ev.long_steps, gen,
                            ev.batch, what="long chains")
    metrics = {**base, "nll": nll, "coverage": score(x_long)}
    high = run.eval_sampler(ev.high_noise_std)
    x_high = batched_chains(chain_target, high, uniform(ev.high_noise_chains, shape, vr, gen, device), ev.long_steps,
                            gen, ev.batch, what="high-noise chains")
    metrics["coverage_high_noise"] = score(x_high)
    if run.label in ev.deform_coverage:
        dgen = torch.Generator().manual_seed(run.seed + 31)
        x_def = batched_chains(chain_target, low, uniform(ev.long_chains, shape, vr, gen, device), ev.long_steps, gen,
                               ev.batch, what="deformed chains", deform=ev.deform, every=ev.deform_every,
                               deform_gen=dgen, value_range=vr)
        metrics["coverage_deform"] = score(x_def)

    # (d) chains started on test images
    starts = x_test[: ev.stay_chains]
    ends = batched_chains(chain_target, low, starts, ev.stay_steps, gen, ev.batch, what="stay chains")
    dist = (ends - starts).flatten(1).norm(dim=1).cpu()
    radius = ev.stay_radius * median_nn_distance(x_test)
    stay = float((dist < radius).double().mean())
    same = (clf.predict(_unit(ends, vr)) == clf.predict(_unit(starts, vr))).double().mean()
    n = starts.shape[0]
    metrics["stay"] = {"fraction": stay, "fraction_se": math.sqrt(max(stay * (1 - stay), 1.0 / n) / n),
                       "radius": radius, "mean_distance": float(dist.mean()), "same_class_fraction": float(same),
                       "n": n}

    chains = figure_chains(run, chain_target, x_test, device)
    _save_npz(out / "chains.npz", {"long_samples": _unit(x_long[:64], vr).cpu().numpy(),
                                   "high_samples": _unit(x_high[:64], vr).cpu().numpy(), **chains})
    metrics.update({"ais": {"ess": ais.ess, "chains": run.ais.chains, "steps": run.ais.steps,
                            "accept_mean": float(ais.accept.mean()), "log_z": ais.log_z, "log_z_se": ais.log_z_se},
                    "n_test": n_test, "eval_seconds": time.perf_counter() - t0,
                    "long_steps": ev.long_steps, "long_chains": ev.long_chains, "noise_std": ev.noise_std,
                    "high_noise_std": ev.high_noise_std})
    write_record(out / "evaluate.run.yaml", command="ebmlab.cd_vs_nll evaluate", config=to_dict(run), seed=run.seed,
                 extra={"numerics": run.engine.describe()})
    atomic_write_json(out / "metrics.json", metrics)  # last: the job's completion marker


def _save_npz(path: Path, arrays: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def figure_chains(run: CDvsNLLRun, model, x_test: Tensor, device) -> dict[str, np.ndarray]:
    """The Fig 3-5 chains this regime appears in, as ``<chain>__frames`` and ``<chain>__steps`` arrays.

    Every regime starts from the same noise image A (and B) and the same test image, so
    rows of different models are comparable.
    """
    ev, vr = run.eval, run.value_range
    roles = [f for f in ("fig3", "fig4", "fig5") if run.label in getattr(ev.figures, f)]
    if not roles:
        return {}
    shape = tuple(x_test.shape[1:])
    sgen = torch.Generator(device=device).manual_seed(run.seed + 7)
    a, b = uniform(2, shape, vr, sgen, device)
    names, starts, frames, length = ["noise"], [a], set(), 0
    if "fig3" in roles:
        names.append("data")
        starts.append(x_test[0])
        length = max(length, ev.fig3_steps)
        frames |= set(frame_steps(ev.fig3_steps, ev.frames))
    if "fig4" in roles:
        length = max(length, ev.fig4_short_steps)
        frames |= set(frame_steps(ev.fig4_short_steps, ev.frames))
    if "fig5" in roles:
        names.append("noise_deform")
        starts.append(a)
        length = max(length, ev.fig5_steps)
        frames |= set(frame_steps(ev.fig5_steps, ev.frames))
    gen = torch.Generator(device=device).manual_seed(run.seed + 11)
    mask = torch.tensor([n == "noise_deform" for n in names], device=device)
    _, snaps = run_chains(model, run.eval_sampler(ev.noise_std), torch.stack(starts), length, gen, frames=frames,
                          deform=ev.deform if "fig5" in roles else None, every=ev.deform_every, deform_mask=mask,
                          deform_gen=torch.Generator().manual_seed(run.seed + 13), value_range=vr,
                          desc="figure chains")
    out = _pack(snaps, names, "low")
    out.update({f"meta__{k}": np.array(frame_steps(getattr(ev, f"{k}_steps"), ev.frames))
                for k in ("fig3", "fig4_short", "fig4_long", "fig5")})
    if "fig4" in roles:
        hf = set(frame_steps(ev.fig4_short_steps, ev.frames)) | set(frame_steps(ev.fig4_long_steps, ev.frames))
        _, snaps = run_chains(model, run.eval_sampler(ev.high_noise_std), torch.stack([a, b]), ev.fig4_long_steps,
                              gen, frames=hf, desc="figure chains")
        out.update(_pack(snaps, ["noise", "noise_b"], "high"))
    return out


def _pack(snaps: dict[int, Tensor], names: list[str], tag: str) -> dict[str, np.ndarray]:
    steps = sorted(snaps)
    stack = torch.stack([snaps[s] for s in steps])  # (frames, chains, C, H, W)
    out = {}
    for i, name in enumerate(names):
        out[f"{tag}_{name}__frames"] = stack[:, i].numpy()
        out[f"{tag}_{name}__steps"] = np.array(steps)
    return out


# ---------------------------------------------------------------------------
# figures

def _read_runs(dirs: list[str]) -> dict[str, tuple[Path, dict]]:
    runs = {}
    for d in dirs:
        m = read_json(Path(d) / "metrics.json", "run 'evaluate' first")
        runs[m["regime"]] = (Path(d), m)
    order = {r: i for i, r in enumerate(REGIMES)}
    return dict(sorted(runs.items(), key=lambda kv: order.get(kv[0], len(order))))


def _chain_row(chains, key: str, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames, have = chains[f"{key}__frames"], chains[f"{key}__steps"]
    idx = [int(np.searchsorted(have, s)) for s in steps]
    return frames[idx], have[idx]


def _rows_figure(rows: list[tuple[str, np.ndarray, np.ndarray]], title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ebmlab.io import atomic_savefig

    if not rows:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{title}: no chains (diverged or not in eval.figures)", ha="center", va="center")
        atomic_savefig(fig, path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        return
    ncol = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.1 * ncol + 2.2, 1.25 * len(rows) + 0.6), squeeze=False)
    for i, (label, frames, steps) in enumerate(rows):
        for j in range(ncol):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(frames):
                ax.axis("off")
                continue
            img = frames[j]
            ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(f"{int(steps[j])}", fontsize=7)
            if j == 0:
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def cmd_figures(args) -> None:
    out = Path(args.out_dir)
    runs = _read_runs(args.runs)
    chains = {}
    for regime, (d, m) in runs.items():
        if not m.get("diverged"):
            chains[regime] = np.load(require_file(d / "chains.npz", "run 'evaluate' first"))
    fig3, fig4, fig5 = [], [], []
    for regime, c in chains.items():
        name = REGIME_LABELS.get(regime, regime)
        if "low_data__frames" in c:
            steps = c["meta__fig3"]
            fig3.append((f"{name}\nfrom noise", *_chain_row(c, "low_noise", steps)))
            fig3.append((f"{name}\nfrom a test image", *_chain_row(c, "low_data", steps)))
        if "high_noise__frames" in c:
            short, long_ = c["meta__fig4_short"], c["meta__fig4_long"]
            fig4.append((f"{name}\nlow noise, start A", *_chain_row(c, "low_noise", short)))
            fig4.append((f"{name}\nhigh noise, start A", *_chain_row(c, "high_noise", short)))
            fig4.append((f"{name}\nhigh noise, start A", *_chain_row(c, "high_noise", long_)))
            fig4.append((f"{name}\nhigh noise, start B", *_chain_row(c, "high_noise_b", long_)))
        if "low_noise_deform__frames" in c:
            steps = c["meta__fig5"]
            fig5.append((f"{name}\nsampled with deformations", *_chain_row(c, "low_noise_deform", steps)))
            fig5.append((f"{name}\nsampled without", *_chain_row(c, "low_noise", steps)))
    _rows_figure(fig3, "Fig 3 analogue: long chains from noise and from a test image (step above each frame)",
                 out / "cd_vs_nll_fig3.png")
    _rows_figure(fig4, "Fig 4 analogue: the same start at low and high noise; long high-noise chains from two starts",
                 out / "cd_vs_nll_fig4.png")
    _rows_figure(fig5, "Fig 5 analogue: long chains with and without test-time elastic deformations",
                 out / "cd_vs_nll_fig5.png")
    _samples_and_coverage(runs, chains, out)


def _samples_and_coverage(runs, chains, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid
    from ebmlab.io import atomic_savefig

    names = list(runs)
    fig, axes = plt.subplots(2, len(names), figsize=(3.2 * len(names), 6.6), squeeze=False)
    for j, regime in enumerate(names):
        m = runs[regime][1]
        ax = axes[0, j]
        ax.axis("off")
        title = REGIME_LABELS.get(regime, regime)
        if regime in chains:
            grid = make_grid(torch.from_numpy(chains[regime]["long_samples"][:36]), nrow=6, padding=1, pad_value=1.0)
            ax.imshow(grid.permute(1, 2, 0).numpy()[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title + ("\n(diverged)" if m.get("diverged") else ""), fontsize=8)
        ax = axes[1, j]
        kinds = [("coverage", "noise %g" % m.get("noise_std", 0)), ("coverage_high_noise", "high noise"),
                 ("coverage_deform", "with deformations")]
        width = 0.8 / len(kinds)
        for k, (key, lab) in enumerate(kinds):
            if key in m:
                h = np.asarray(m[key]["histogram"], dtype=float)
                ax.bar(np.arange(h.size) + (k - 1) * width, h / h.sum(), width=width,
                       label=f"{lab}: H={m[key]['entropy']:.2f}")
        ax.set_xticks(range(10))
        ax.set_xlabel("classifier label")
        ax.set_ylim(0, 1)
        if j == 0:
            ax.set_ylabel("fraction of chains")
        if ax.containers:
            ax.legend(fontsize=6)
    fig.suptitle("Long-run samples from uniform noise (top) and their class histograms (bottom)", fontsize=9)
    atomic_savefig(fig, out / "cd_vs_nll_samples.png", dpi=100, bbox_inches="tight")
    plt.close(fig)


# ---------------------------------------------------------------------------
# table and claims

def _get(m: dict | None, *path):
    node = m
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


METRIC_COLUMNS = [
    ("nll_nats", ("nll", "nll_nats")), ("nll_nats_se", ("nll", "nll_nats_se")),
    ("nll_bits_per_dim", ("nll", "nll_bits_per_dim")), ("nll_bits_per_dim_se", ("nll", "nll_bits_per_dim_se")),
    ("ais_ess", ("ais", "ess")), ("ais_chains", ("ais", "chains")), ("ais_accept_mean", ("ais", "accept_mean")),
    ("coverage_entropy", ("coverage", "entropy")), ("coverage_entropy_se", ("coverage", "entropy_se")),
    ("coverage_top_class", ("coverage", "top_class")), ("coverage_top_fraction", ("coverage", "top_fraction")),
    ("classifier_frechet_substitute", ("coverage", "frechet")),
    ("classifier_frechet_substitute_se", ("coverage", "frechet_se")),
    ("high_noise_entropy", ("coverage_high_noise", "entropy")),
    ("high_noise_entropy_se", ("coverage_high_noise", "entropy_se")),
    ("high_noise_top_class", ("coverage_high_noise", "top_class")),
    ("high_noise_top_fraction", ("coverage_high_noise", "top_fraction")),
    ("deform_entropy", ("coverage_deform", "entropy")), ("deform_entropy_se", ("coverage_deform", "entropy_se")),
    ("deform_top_fraction", ("coverage_deform", "top_fraction")),
    ("deform_classifier_frechet_substitute", ("coverage_deform", "frechet")),
    ("deform_classifier_frechet_substitute_se", ("coverage_deform", "frechet_se")),
    ("stay_fraction", ("stay", "fraction")), ("stay_fraction_se", ("stay", "fraction_se")),
    ("stay_radius", ("stay", "radius")), ("stay_mean_distance", ("stay", "mean_distance")),
    ("stay_same_class_fraction", ("stay", "same_class_fraction")),
]
TABLE_COLUMNS = (["regime", "description", "profile", "diverged", "iterations", "temperature"]
                 + [c for c, _ in METRIC_COLUMNS]
                 + ["ais_reliable", "coverage_histogram", "high_noise_histogram", "deform_histogram", "oscillation",
                    "oscillation_acf_lag1", "long_steps", "long_chains", "n_test", "data"])
CLAIM_COLUMNS = ["claim", "paper_claim", "source", "test", "evidence", "verdict", "profile"]


def _pair(m, key, se_key):
    v, s = _get(m, *key), _get(m, *se_key)
    return None if v is None or s is None else (float(v), float(s))


def compare(a, b, direction: str, z: float = 2.0) -> str:
    """Verdict for 'a < b' (direction 'less') or 'a > b' ('greater') from (value, se) pairs."""
    if a is None or b is None or not all(map(math.isfinite, (a[0], b[0]))):
        return "missing"
    if not (math.isfinite(a[1]) and math.isfinite(b[1])):
        return "inconclusive"
    diff = a[0] - b[0] if direction == "greater" else b[0] - a[0]
    se = math.hypot(a[1], b[1])
    if diff > z * se:
        return "reproduced"
    if diff < -z * se:
        return "not reproduced"
    return "inconclusive"


#: AIS estimates whose effective sample size is below this fraction of the particles (or 3) get an
#: infinite standard error in the verdicts: the delta-method se is meaningless when one weight dominates.
AIS_MIN_ESS_FRACTION = 0.1


def ais_reliable(m: dict | None) -> bool:
    ess, n = _get(m, "ais", "ess"), _get(m, "ais", "chains")
    return ess is not None and n is not None and ess >= max(3.0, AIS_MIN_ESS_FRACTION * n)


def _nll_pair(m: dict | None):
    pair = _pair(m, ("nll", "nll_nats"), ("nll", "nll_nats_se"))
    return pair if pair is None or ais_reliable(m) else (pair[0], math.inf)


def _fmt(pair) -> str:
    if pair is None:
        return "n/a"
    return f"{pair[0]:.4g} +- {pair[1]:.2g}" if math.isfinite(pair[1]) else f"{pair[0]:.4g} (AIS ESS too low)"


def claims(metrics: dict[str, dict], profile: str) -> list[dict]:
    """One row per qualitative claim of Gagnon & Lajoie; se-aware verdicts (2 se)."""
    m = {k: (None if v.get("diverged") else v) for k, v in metrics.items()}
    stay = {r: _pair(m.get(r), ("stay", "fraction"), ("stay", "fraction_se")) for r in REGIMES}
    fd = {r: _pair(m.get(r), ("coverage", "frechet"), ("coverage", "frechet_se")) for r in REGIMES}
    nll = {r: _nll_pair(m.get(r)) for r in REGIMES}
    ent = {r: _pair(m.get(r), ("coverage", "entropy"), ("coverage", "entropy_se")) for r in REGIMES}
    ent_hi = {r: _pair(m.get(r), ("coverage_high_noise", "entropy"), ("coverage_high_noise", "entropy_se"))
              for r in REGIMES}
    ent_def = {r: _pair(m.get(r), ("coverage_deform", "entropy"), ("coverage_deform", "entropy_se")) for r in REGIMES}
    half = (0.5, 0.0)

    def kl_no_help():
        v = compare(fd["true_cd_kl"], fd["true_cd"], "less")  # would the CD-sign KL improve the FD?
        return {"reproduced": "not reproduced", "not reproduced": "reproduced",
                "inconclusive": "reproduced"}.get(v, v)

    rows = [
        ("C1", "Under true CD a chain started on a real image stays on it", "6.1, Fig 3",
         "stay_fraction(true_cd) > 0.5", f"true_cd {_fmt(stay['true_cd'])}", compare(stay["true_cd"], half, "greater")),
        ("C2", "Under NLL (Du & Mordatch buffer) chains mix: they leave their data start more often than under true CD",
         "6.1, Fig 3", "stay_fraction(nll) < stay_fraction(true_cd)",
         f"nll {_fmt(stay['nll'])}; true_cd {_fmt(stay['true_cd'])}", compare(stay["nll"], stay["true_cd"], "less")),
        ("C3", "True CD fails to turn noise into sensible images; NLL does better", "6.1, Fig 3",
         "classifier_frechet_substitute(true_cd) > (nll)", f"true_cd {_fmt(fd['true_cd'])}; nll {_fmt(fd['nll'])}",
         compare(fd["true_cd"], fd["nll"], "greater")),
        ("C4", "The KL term with the sign CD prescribes does not help true CD", "6.1",
         "classifier_frechet_substitute(true_cd_kl) not below (true_cd) by 2 se",
         f"true_cd_kl {_fmt(fd['true_cd_kl'])}; true_cd {_fmt(fd['true_cd'])}", kl_no_help()),
        ("C5", "NLL training gives a better energy landscape than true CD (ours: lower test NLL by AIS)",
         "6.1 (quantified here)", "nll_nats(nll) < nll_nats(true_cd)",
         f"nll {_fmt(nll['nll'])}; true_cd {_fmt(nll['true_cd'])}", compare(nll["nll"], nll["true_cd"], "less")),
        ("C6", "With high noise all chains fall into one or a few digits (a funnel)", "6.2.1, Fig 4",
         "high_noise_entropy(nll) < coverage_entropy(nll)",
         f"high {_fmt(ent_hi['nll'])}; low {_fmt(ent['nll'])}", compare(ent_hi["nll"], ent["nll"], "less")),
        ("C7", "Training with deformations gives chains that mix better: more digits when sampled with deformations",
         "6.3, Fig 5", "deform_entropy(nll_deform) > deform_entropy(nll)",
         f"nll_deform {_fmt(ent_def['nll_deform'])}; nll {_fmt(ent_def['nll'])}",
         compare(ent_def["nll_deform"], ent_def["nll"], "greater")),
        ("C8", "Deformations during training give a better energy landscape (ours: lower test NLL by AIS)",
         "6.3 (quantified here)", "nll_nats(nll_deform) < nll_nats(nll)",
         f"nll_deform {_fmt(nll['nll_deform'])}; nll {_fmt(nll['nll'])}",
         compare(nll["nll_deform"], nll["nll"], "less")),
        ("C9", "Du et al.'s (sign-flipped) KL loss helps NLL training (argued in 5.4.4, not tested in the paper)",
         "5.4.4", "classifier_frechet_substitute(nll_du_kl) < (nll)",
         f"nll_du_kl {_fmt(fd['nll_du_kl'])}; nll {_fmt(fd['nll'])}", compare(fd["nll_du_kl"], fd["nll"], "less")),
    ]
    return [dict(zip(CLAIM_COLUMNS, (*r, profile))) for r in rows]


def cmd_table(args) -> None:
    from ebmlab.nijkamp import read_history, oscillation
    runs = _read_runs(args.runs)
    rows, metrics = [], {}
    for regime, (d, m) in runs.items():
        metrics[regime] = m
        row = {"regime": regime, "description": m.get("label", regime), "profile": args.profile,
               "diverged": "yes" if m.get("diverged") else "no", "iterations": m.get("iterations"),
               "temperature": m.get("temperature"), "long_steps": m.get("long_steps"),
               "long_chains": m.get("long_chains"), "n_test": m.get("n_test"), "data": m.get("data")}
        for col, path in METRIC_COLUMNS:
            v = _get(m, *path)
            row[col] = "" if v is None else v
        row["ais_reliable"] = "yes" if ais_reliable(m) else "no"
        for col, key in (("coverage_histogram", "coverage"), ("high_noise_histogram", "coverage_high_noise"),
                         ("deform_histogram", "coverage_deform")):
            h = _get(m, key, "histogram")
            row[col] = "" if h is None else "/".join(map(str, h))
        if (d / "history.csv").exists():
            try:
                osc = oscillation(read_history(d / "history.csv")[0])
                row["oscillation"], row["oscillation_acf_lag1"] = osc["label"], osc.get("acf_lag1", "")
            except ConfigError:
                row["oscillation"] = "no log"
        rows.append(row)
    claim_rows = claims(metrics, args.profile)
    atomic_write_text(args.csv, csv_text(rows, TABLE_COLUMNS))
    atomic_write_text(args.claims, csv_text(claim_rows, CLAIM_COLUMNS))
    if args.metrics:
        atomic_write_json(args.metrics, {
            "regimes": {r["regime"]: {c: r[c] for c in ("nll_nats", "nll_nats_se", "coverage_entropy",
                                                          "classifier_frechet_substitute", "stay_fraction",
                                                          "oscillation") if c in r} for r in rows},
            "claims": {c["claim"]: c["verdict"] for c in claim_rows}})


# ---------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ebmlab.cd_vs_nll", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, helptext in (("classifier", "train the digit classifier on the training split"),
                           ("train", "train one regime (Algorithm 7 with the regime's settings)"),
                           ("evaluate", "AIS NLL, coverage, Frechet distance, stay fraction, figure chains")):
        s = sub.add_parser(name, help=helptext)
        add_config_args(s)
        s.add_argument("--regime", help="regime name when the configuration is the whole study")
        s.add_argument("--out", required=True, help="run folder (classifier: weights file)")
        if name == "evaluate":
            s.add_argument("--classifier", help="digit classifier weights (features and labels)")
    r = sub.add_parser("regimes", help="validate the whole study and list its regimes (for scripts)")
    add_config_args(r)
    f = sub.add_parser("figures", help="Figs 3-5 analogues, samples and class histograms")
    f.add_argument("--runs", nargs="+", required=True)
    f.add_argument("--out-dir", required=True)
    t = sub.add_parser("table", help="regime x metric table and one verdict per claim")
    t.add_argument("--runs", nargs="+", required=True)
    t.add_argument("--profile", required=True)
    t.add_argument("--csv", required=True)
    t.add_argument("--claims", required=True)
    t.add_argument("--metrics", help="DVC metrics JSON")
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    {"regimes": cmd_regimes, "classifier": cmd_classifier, "train": cmd_train, "evaluate": cmd_evaluate, "figures": cmd_figures, "table": cmd_table}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
