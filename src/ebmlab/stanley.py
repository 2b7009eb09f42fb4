"""STANLEY (Algorithm 1) against Langevin, MH, HMC and noiseless GD (STANLEY section 5).

Every sampler trains the same energy with Algorithm 1's loop: non-persistent short-run
chains from noise, K transitions per EBM iteration with the parameters frozen, then one
optimiser step on mean E(x+) - mean E(x-) (the image trainer with ``init: short_run``
and no L2 penalty). STANLEY's anisotropic step gamma = s * th / max(th, |grad E|) is
computed per iteration from the gradient at the chains' start states (sampler option
``recompute: run``); its Brownian term is eps * xi (``noise_std`` = eps). The Langevin
baseline is STANLEY's ablation: the same update with a fixed gamma = s, i.e. step s / 2
on the gradient and noise std sqrt(s) * eps (docs/stanley.md).

Three experiments, each its own set of jobs::

    # rings toy (Fig 1 + a distance-to-truth curve the paper does not give)
    python -m ebmlab.stanley rings --params params/smoke.yaml --section stanley.rings --sampler stanley --out DIR
    python -m ebmlab.stanley rings-figure --runs DIR1 DIR2 --profile smoke --figure f.png \\
        --distance-figure d.png --csv d.csv
    # FID curves (Figs 4-5): training in segments, one scoring job per checkpoint
    python -m ebmlab.stanley reference --params ... --section stanley.images --dataset cifar10 --ref-dir REF
    python -m ebmlab.stanley segment --params ... --section stanley.images --dataset cifar10 --sampler stanley \\
        --until 5000 [--previous ckpt/0.pt] --out ckpt/5000.pt
    python -m ebmlab.stanley fid ... --checkpoint ckpt/5000.pt --ref-dir REF --out fid/5000.json
    python -m ebmlab.stanley curves --points fid/*.json --profile smoke --csv c.csv --out-dir FIGS
    # inpainting (Fig 6) with the final checkpoints of one data set
    python -m ebmlab.stanley inpaint --params ... --section stanley.images --checkpoint stanley=A.pt \\
        --checkpoint langevin=B.pt --figure inpaint.png --csv inpaint.csv --profile smoke

Scores at every point of a curve use the same reference statistics, sample count and
seed (``fid.seed``): the samples are fresh short-run chains from noise with the run's
own sampler and K transitions, as the model is trained to produce them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Literal

import torch

from ebmlab import samplers
from ebmlab.cli import add_config_args, guarded, raw_config, read_json, require_file, resolve_device
from ebmlab.errors import Diverged
from ebmlab.config import POSITIVE, Bound, Tagged, check, field, from_dict, to_dict
from ebmlab.errors import ConfigError
from ebmlab.data.images import ImageDataConfig, load_images
from ebmlab.engine.image import ImageEngineConfig, engine_field, engine_target
from ebmlab.data.rings import PointSet, RingsConfig, rings
from ebmlab.io import atomic_torch_save, atomic_write_json, atomic_write_text
from ebmlab.metrics.classifier import ClassifierConfig
from ebmlab.models import ConvNetConfig, ModelSpec, build_model
from ebmlab.progress import progress as progress_iter
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.samplers import SamplerSpec
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.image import ImageTrainConfig, ImageTrainer, SamplerSchedule, history_columns
from ebmlab.train.toy import frozen

Metric = Literal["inception", "classifier", "inception_standin"]

#: the paper's Figs 4-5 compare these five; labels are the figures' legend names
SAMPLER_LABELS = {"stanley": "STANLEY", "langevin": "Langevin", "mh": "MH", "hmc": "HMC", "gd": "GD (no noise)"}


def _spec(name: str, **kw) -> Tagged:
    return Tagged(name, samplers.SAMPLERS[name].Config(**kw))


def start_noise(cfg: ImageTrainConfig, n: int, shape: tuple, value_range, gen: torch.Generator,
                device) -> torch.Tensor:
    """Short-run chain starts as the trainer draws them (uniform box or Gaussian)."""
    if cfg.start_noise == "gaussian":
        return cfg.start_noise_std * torch.randn((n, *shape), generator=gen, device=device)
    lo, hi = value_range
    return lo + (hi - lo) * torch.rand((n, *shape), generator=gen, device=device)


def short_run_samples(model, sampler, cfg: ImageTrainConfig, n: int, shape: tuple, value_range, steps: int,
                      gen: torch.Generator, device, batch_size: int = 500,
                      progress: bool | None = False) -> torch.Tensor:
    """``n`` fresh short-run samples of the frozen model (the way Algorithm 1 draws negatives).

    ``progress``: report the batches (:mod:`ebmlab.progress`; ``None`` for a final score).
    """
    out = []
    was_training = model.training
    model.eval()
    with frozen(model):
        for start in progress_iter(range(0, n, batch_size), desc="short-run samples (batches)", enabled=progress):
            x0 = start_noise(cfg, min(batch_size, n - start), shape, value_range, gen, device)
            out.append(sampler.run(model, x0, steps, generator=gen).x.detach())
    model.train(was_training)
    return torch.cat(out)


# ---------------------------------------------------------------------------
# rings toy (Fig 1)

def _rings_train() -> ImageTrainConfig:
    # Nijkamp et al.'s rings config: batch 100, Adam 1e-4, chains from N(0, 2^2), K = 100
    return ImageTrainConfig(epochs=1.0, batch_size=100, steps=100, lr=1e-4, betas=(0.9, 0.999), alpha=0.0,
                            init="short_run", start_noise="gaussian", start_noise_std=2.0,
                            max_abs_energy=1e6, checkpoint_every=500, chain_log_every=1000)


def _rings_samplers() -> dict:
    # gamma = 0.14 ("constant learning rate 0.14"), th = 0.01, eps = 0.01; Langevin = fixed gamma
    return {"stanley": _spec("stanley", th=0.01, noise_std=0.01, step_size=0.14),
            "langevin": _spec("langevin", step_size=0.07, noise_std=math.sqrt(0.14) * 0.01)}


@dataclasses.dataclass
class RingsCommon:
    """Settings every rings run shares (STANLEY section 5, rings)."""

    seed: int = field(0, doc="seeds weights, data and chains (the same for every sampler)")
    threads: int = field(1, bound=Bound(lo=1), doc="torch CPU threads per job")
    device: Literal["auto", "cpu", "cuda"] = field("cpu", doc="auto = cuda when available")
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

    def __post_init__(self):
        check(self.train.init == "short_run", "stanley.rings.train.init must be 'short_run' (Algorithm 1)")


@dataclasses.dataclass
class RingsStudy(RingsCommon):
    samplers: dict[str, SamplerSpec] = field(default_factory=_rings_samplers, doc="run label -> sampler")

    def __post_init__(self):
        super().__post_init__()
        check(len(self.samplers) > 0, "stanley.rings.samplers must name at least one sampler")

    def run(self, label: str) -> "RingsRun":
        if label not in self.samplers:
            raise ConfigError(f"unknown sampler {label!r} for the rings (runs: {', '.join(self.samplers)})")
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(RingsCommon)}
        return RingsRun(**shared, label=label, sampler=self.samplers[label])


@dataclasses.dataclass
class RingsRun(RingsCommon):
    label: str = field("stanley", doc="run label")
    sampler: SamplerSpec = field(default_factory=lambda: _rings_samplers()["stanley"])


def _train_for(cfg: ImageTrainConfig, iterations: int, n_train: int) -> ImageTrainConfig:
    """``cfg`` set to stop after exactly ``iterations`` EBM iterations."""
    per_epoch = cfg.iterations_per_epoch(n_train)
    return dataclasses.replace(cfg, epochs=iterations / per_epoch + 1.0, max_iterations=iterations)


def cmd_rings(args) -> None:
    run = _load(args, RingsRun, RingsStudy, lambda s: s.run(_need(args, "sampler")))
    out = Path(args.out)
    torch.set_num_threads(run.threads)
    device = resolve_device(run.device)
    sampler = samplers.build(run.sampler)
    gen = torch.Generator().manual_seed(run.seed)
    x_train, _ = rings(run.data.n_train, run.data, gen)
    truth, _ = rings(run.eval_samples, run.data, torch.Generator().manual_seed(run.seed + 104729))
    resolved = to_dict(run)
    torch.manual_seed(run.seed)  # the same initial weights for every sampler
    model = build_model(run.model, (2,))
    cfg = _train_for(run.train, run.iterations, run.data.n_train)
    store = CheckpointStore(out / "ckpt", config_hash(resolved))
    box = run.data.box
    trainer = ImageTrainer(model, PointSet(x_train), cfg, SamplerSchedule(sampler), seed=run.seed, device=device,
                           value_range=box, store=store, progress=None)
    snap_dir = out / "snapshots"
    snap_dir.mkdir(parents=True, exist_ok=True)
    from ebmlab.metrics.distance import energy_distance, mmd_rbf, radial_w1

    def distance(x):
        if run.distance == "mmd":
            return mmd_rbf(x, truth, run.mmd_bandwidth)
        return energy_distance(x, truth)

    def hook(tr: ImageTrainer, it: int):
        done = it + 1
        plot, evaluate = done % run.plot_every == 0, done % run.eval_every == 0 or done == tr.total
        if not (plot or evaluate):
            return None
        g = torch.Generator(device=device).manual_seed(run.seed + 7919)  # same chains at every point
        x = short_run_samples(tr.model, tr.samplers.at(it), cfg, run.eval_samples, (2,), box, cfg.steps, g,
                              device).cpu()
        finite = bool(torch.isfinite(x).all())
        if plot:
            atomic_torch_save({"iteration": done, "x": x}, snap_dir / f"{done}.pt")
        if not finite:
            return {"distance": float("nan"), "radial_w1": float("nan")}
        return {"distance": distance(x), "radial_w1": radial_w1(x, truth)}

    trainer.hooks = [hook]
    diverged = None
    try:
        trainer.train()
    except Diverged as err:
        diverged = str(err)
    hist = trainer.history
    points = [{"iteration": r["iteration"] + 1, "distance": r["distance"], "radial_w1": r.get("radial_w1")}
              for r in hist if "distance" in r]
    # the distance between two independent true samples of the same size: the best reachable value
    other, _ = rings(run.eval_samples, run.data, torch.Generator().manual_seed(run.seed + 1299709))
    floor, floor_w1 = distance(other), radial_w1(other, truth)
    secs = [r["seconds"] for r in hist[1:]] or [r["seconds"] for r in hist]
    atomic_write_text(out / "history.csv", csv_text(hist, history_columns(hist)) if hist else "iteration\n")
    atomic_write_json(out / "truth.json", {"x": truth.tolist()})
    atomic_torch_save({"model": trainer.model.state_dict(), "iteration": trainer.iteration, "config": resolved},
                      out / "model.pt")
    write_record(out / "rings.run.yaml", command="ebmlab.stanley rings", config=resolved, seed=run.seed,
                 extra={"wall_seconds": trainer.wall, "diverged": diverged})
    atomic_write_json(out / "metrics.json", {
        "label": run.label, "sampler": run.sampler.name, "sampler_config": to_dict(run.sampler.config),
        "distance": run.distance, "points": points, "noise_floor": floor, "noise_floor_radial_w1": floor_w1,
        "iterations": trainer.iteration,
        "iterations_planned": trainer.total, "seconds_per_iteration": sum(secs) / len(secs) if secs else None,
        "train_wall_seconds": trainer.wall, "diverged": diverged, "seed": run.seed, "device": str(device),
        "snapshots": sorted(int(p.stem) for p in snap_dir.glob("*.pt")),
        "data": to_dict(run.data)})


def cmd_rings_figure(args) -> None:
    from ebmlab.stanley_figures import rings_distance_figure, rings_figure
    runs = []
    for d in args.runs:
        m = read_json(Path(d) / "metrics.json", "run 'rings' first")
        snaps = {int(p.stem): torch.load(p, weights_only=False)["x"] for p in sorted(Path(d).glob("snapshots/*.pt"))}
        truth = torch.tensor(json.loads((Path(d) / "truth.json").read_text())["x"])
        runs.append({"metrics": m, "snapshots": snaps, "truth": truth})
    rows = [{"sampler": r["metrics"]["label"], "iteration": p["iteration"], "distance": p["distance"],
             "metric": f"{r['metrics']['distance']} distance to true rings samples", "profile": args.profile,
             "noise_floor": r["metrics"].get("noise_floor", ""), "radial_w1": p.get("radial_w1", ""),
             "noise_floor_radial_w1": r["metrics"].get("noise_floor_radial_w1", ""),
             "diverged": "yes" if r["metrics"]["diverged"] else "no"}
            for r in runs for p in r["metrics"]["points"]]
    atomic_write_text(args.csv, csv_text(rows, ["sampler", "iteration", "distance", "metric", "profile", "noise_floor",
                                                "radial_w1", "noise_floor_radial_w1", "diverged"]))
    rings_figure(runs, Path(args.figure))
    rings_distance_figure(runs, Path(args.distance_figure))
    if args.metrics:
        atomic_write_json(args.metrics, {r["metrics"]["label"]: {
            "final_distance": r["metrics"]["points"][-1]["distance"] if r["metrics"]["points"] else None,
            "final_radial_w1": r["metrics"]["points"][-1].get("radial_w1") if r["metrics"]["points"] else None,
            "noise_floor": r["metrics"].get("noise_floor"), "diverged": bool(r["metrics"]["diverged"]),
            "seconds_per_iteration": r["metrics"]["seconds_per_iteration"]} for r in runs})


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
    metrics: list[Metric] = field(default_factory=lambda: ["inception"], doc="scores per point; [] = none")
    iterations: int = field(100000, bound=Bound(lo=1), doc="T, EBM iterations")
    eval_every: int = field(5000, bound=Bound(lo=1), doc="iterations between curve points (= checkpoints)")
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

    dataset: str = field("celeba", doc="data-set label whose final checkpoints are used")
    samplers: list[str] = field(default_factory=lambda: ["stanley", "langevin"], doc="rows of the figure")
    n_images: int = field(8, bound=Bound(lo=1), doc="test images (the first of the test split)")
    mask: Literal["center", "lower_half", "right_half"] = field("center", doc="region to fill")
    mask_fraction: float = field(0.5, bound=Bound(lo=0.0, hi=1.0, lo_exclusive=True),
                                 doc="center: side of the square as a fraction of the image side")
    steps: int | None = field(None, bound=Bound(lo=1), doc="transitions; null = the data set's K")
    seed: int = field(0, doc="seed of the noise the masked pixels start from")


@dataclasses.dataclass
class ImagesCommon:
    """Settings every image job shares."""

    seed: int = field(0, doc="seeds weights, data order and chains (the same for every sampler)")
    threads: int = field(1, bound=Bound(lo=1), doc="torch CPU threads per job")
    device: Literal["auto", "cpu", "cuda"] = field("auto", doc="auto = cuda when available")
    clamp_chains: bool = field(True, doc="clamp chain states to the data range (samplers with a clamp option)")
    on_diverge: Literal["record", "fail"] = field(
        "record", doc="record: later points say 'diverged' (checkpoint kept); fail: the job fails (exit 3)")
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

    def __post_init__(self):
        super().__post_init__()
        check(len(self.datasets) > 0 and len(self.samplers) > 0,
              "stanley.images needs at least one data set and one sampler")
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

    def job(self, dataset: str, label: str) -> "CurveJob":
        if dataset not in self.datasets:
            raise ConfigError(f"unknown data set {dataset!r} (this study has {', '.join(self.datasets)})")
        if label not in self.samplers_of(dataset):
            raise ConfigError(f"unknown sampler {label!r} for {dataset} "
                              f"(curves: {', '.join(self.samplers_of(dataset))})")
        return CurveJob(**self._shared(), dataset=dataset, entry=self.datasets[dataset], label=label,
                        sampler=self.samplers[label])

    def inpaint_job(self) -> "InpaintJob":
        if self.inpainting is None:
            raise ConfigError("stanley.images.inpainting is null: no inpainting in this profile")
        ip = self.inpainting
        return InpaintJob(**self._shared(), dataset=ip.dataset, entry=self.datasets[ip.dataset],
                          samplers={s: self.samplers[s] for s in ip.samplers}, inpainting=ip)

    def _shared(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ImagesCommon)}


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
        """The sampler with this data set's STANLEY threshold and, if set, the data-range clamp."""
        changes = {}
        if spec.name == "stanley" and self.entry.th is not None:
            changes["th"] = self.entry.th
        if self.clamp_chains and hasattr(spec.config, "clamp") and spec.config.clamp is None:
            changes["clamp"] = self.value_range
        return samplers.build(Tagged(spec.name, dataclasses.replace(spec.config, **changes)))


@dataclasses.dataclass
class CurveJob(_ImageJobMixin, ImagesCommon):
    """One (data set, sampler) curve: its training segments and scoring points."""

    dataset: str = field("cifar10", doc="panel label")
    entry: CurveDataset = field(default_factory=CurveDataset)
    label: str = field("stanley", doc="curve label")
    sampler: SamplerSpec = field(default_factory=lambda: _images_samplers()["stanley"])


@dataclasses.dataclass
class InpaintJob(_ImageJobMixin, ImagesCommon):
    dataset: str = field("celeba", doc="data-set label")
    entry: CurveDataset = field(default_factory=CurveDataset)
    samplers: dict[str, SamplerSpec] = field(default_factory=dict, doc="label -> sampler")
    inpainting: InpaintConfig = field(default_factory=InpaintConfig)


def _need(args, flag: str) -> str:
    value = getattr(args, flag, None)
    if not value:
        raise ConfigError(f"--{flag} is required when the configuration is the whole study")
    return value


def _load(args, job_cls, study_cls, pick):
    """The job from a job slice (what Snakemake passes) or from the whole study section."""
    raw = raw_config(args)
    job_keys = {f.name for f in dataclasses.fields(job_cls)} - {f.name for f in dataclasses.fields(study_cls)}
    if job_keys & set(raw):
        return from_dict(job_cls, raw)
    return pick(from_dict(study_cls, raw))


def _curve_job(args) -> CurveJob:
    job = _load(args, CurveJob, ImagesStudy, lambda s: s.job(_need(args, "dataset"), _need(args, "sampler")))
    for flag, value in (("dataset", job.dataset), ("sampler", job.label)):
        given = getattr(args, flag, None)
        if given and given != value:
            raise ConfigError(f"--{flag} {given!r} does not match the config's {value!r}")
    return job


def _job_hash(job: CurveJob) -> str:
    """Identity of a curve's training (scoring settings excluded: they may change freely)."""
    d = to_dict(job)
    d.pop("fid", None)
    d["entry"].pop("metrics", None)
    return config_hash(d)


def cmd_segment(args) -> None:
    job = _curve_job(args)
    until, every = int(args.until), job.entry.eval_every
    if until not in job.entry.points():
        raise ConfigError(f"--until {until} is not a checkpoint of this curve (every {every} up to "
                          f"{job.entry.iterations})")
    prev_path = Path(args.previous) if args.previous else None
    if (until > every) != (prev_path is not None):
        raise ConfigError(f"--previous is needed exactly when --until > {every}")
    torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    sampler = job.build_sampler(job.sampler)
    data = load_images(job.entry.data)                  # DataError (how to get it) before any compute
    jhash = _job_hash(job)
    prev = None
    if prev_path is not None:
        prev = torch.load(require_file(prev_path, "run the previous segment first"), map_location="cpu",
                          weights_only=False)
        if prev.get("job_hash") != jhash or prev.get("iteration") != until - every:
            raise ConfigError(f"{prev_path} is not iteration {until - every} of this curve's training")
    out = Path(args.out)
    if prev is not None and prev.get("diverged"):  # keep the last good state and say so at every later point
        atomic_torch_save({**prev, "iteration": until}, out)
        return
    torch.manual_seed(job.seed)  # the same initial weights for every sampler of a data set
    model = build_model(job.entry.model, tuple(data.x.shape[1:]))
    cfg = _train_for(job.train_config(), until, data.x.shape[0])
    partial = out.parent / f".partial_{out.stem}"
    store = CheckpointStore(partial, config_hash({"job": jhash, "until": until}))
    make_target = engine_target(model.to(device), job.engine, device)
    trainer = ImageTrainer(model, data, cfg, SamplerSchedule(sampler), seed=job.seed, device=device,
                           value_range=job.value_range, store=store, make_target=make_target, progress=None)
    if prev is not None:
        trainer.load_state_dict(prev["trainer"])
    diverged = None
    try:
        trainer.train()
    except Diverged as err:
        if job.on_diverge == "fail":
            raise
        diverged = str(err)
        state = store.load() or (prev["trainer"] if prev is not None else None)
        if state is None:
            state = trainer.state_dict()  # nothing good yet: the initial weights
    if diverged is None:
        state = trainer.state_dict()
    atomic_torch_save({"format": "ebmlab-stanley-segment-1", "job_hash": jhash, "iteration": until,
                       "trainer": state, "diverged": diverged, "wall_seconds": trainer.wall,
                       "config": to_dict(job)}, out)
    shutil.rmtree(partial, ignore_errors=True)


def _extractors_refs(job, args, device):
    from ebmlab.metrics.scoring import build_extractors, reference_statistics
    extractors = build_extractors(job.entry.metrics, args.classifier, device)
    refs = reference_statistics(job.entry.data, job.fid.reference_split, job.fid.reference_n, extractors,
                                args.ref_dir)
    return extractors, refs


def cmd_reference(args) -> None:
    job = _curve_job(args)
    torch.set_num_threads(job.threads)
    extractors, refs = _extractors_refs(job, args, resolve_device(job.device))
    atomic_write_json(Path(args.ref_dir) / f"{job.dataset}.json", {
        "dataset": job.dataset, "split": job.fid.reference_split,
        "metrics": {k: {"extractor": getattr(extractors[k], "id", k), "n": getattr(refs[k], "n", None)}
                    for k in refs}})


def _load_segment(path, job: CurveJob) -> dict:
    ckpt = torch.load(require_file(path, "run its training segment first"), map_location="cpu", weights_only=False)
    if ckpt.get("job_hash") != _job_hash(job):
        raise ConfigError(f"{path} was trained with another configuration than this curve's")
    return ckpt


def _model_at(job, ckpt: dict, shape, device):
    model = build_model(job.entry.model, shape)
    model.load_state_dict(ckpt["trainer"]["model"])
    return model.to(device)


def cmd_fid(args) -> None:
    from ebmlab.metrics.scoring import score
    job = _curve_job(args)
    torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    data = load_images(job.entry.data)
    extractors, refs = _extractors_refs(job, args, device)
    ckpt = _load_segment(args.checkpoint, job)
    hist = ckpt["trainer"]["history"]
    secs = [r["seconds"] for r in hist[1:]] or [r["seconds"] for r in hist]
    point = {"dataset": job.dataset, "sampler": job.label, "sampler_name": job.sampler.name,
             "iteration": ckpt["iteration"], "n_samples": 0, "diverged": ckpt.get("diverged"),
             "scores": {k: None for k in extractors},
             "extractors": {k: getattr(ex, "id", k) for k, ex in extractors.items()},
             "data": job.entry.data.describe(), "steps": job.steps, "seed": job.fid.seed,
             "seconds_per_iteration": sum(secs) / len(secs) if secs else None,
             "train_wall_seconds": ckpt["trainer"]["wall_seconds"], "device": str(device)}
    if not ckpt.get("diverged"):
        model = _model_at(job, ckpt, tuple(data.x.shape[1:]), device)
        gen = torch.Generator(device=device).manual_seed(job.fid.seed)
        x = short_run_samples(model, job.build_sampler(job.sampler), job.train, job.fid.n_samples,
                              tuple(data.x.shape[1:]), job.value_range, job.steps, gen, device, job.fid.batch_size,
                              progress=None)
        point["n_samples"] = int(x.shape[0])
        if bool(torch.isfinite(x).all()):
            point["scores"] = score(x, job.value_range, extractors, refs, progress=None)
        else:
            point["diverged"] = "non-finite samples"
        if args.samples:
            from ebmlab.metrics.scoring import to_unit
            from ebmlab.plotting import save_image_grid
            save_image_grid(to_unit(x[:64], job.value_range), Path(args.samples))
    elif args.samples:
        from ebmlab.plotting import save_image_grid
        save_image_grid(None, Path(args.samples))
    atomic_write_json(args.out, point)


CURVE_COLUMNS = ["dataset", "sampler", "iteration", "fid", "profile", "classifier_frechet_substitute",
                 "inception_standin_fid", "n_samples", "data", "sampler_name", "seconds_per_iteration", "diverged"]


def curve_rows(points: list[dict], profile: str) -> list[dict]:
    """One row per (data set, sampler, iteration); only real-Inception FIDs go in 'fid'."""
    from ebmlab.metrics.fid import check_column, column_for
    rows = []
    for p in sorted(points, key=lambda p: (p["dataset"], p["sampler"], p["iteration"])):
        row = {c: p.get(c, "") for c in CURVE_COLUMNS}
        row.update(profile=profile, diverged=p["diverged"] or "no",
                   sampler=SAMPLER_LABELS.get(p["sampler"], p["sampler"]))
        for kind, value in p["scores"].items():
            col = column_for(p["extractors"][kind], "fid")
            check_column(col, p["extractors"][kind])
            row[col] = "diverged" if p["diverged"] else value
        rows.append(row)
    return rows


def cmd_curves(args) -> None:
    from ebmlab.stanley_figures import curve_figures
    points = [read_json(p, "run its 'fid' job first") for p in args.points]
    rows = curve_rows(points, args.profile)
    atomic_write_text(args.csv, csv_text(rows, CURVE_COLUMNS))
    curve_figures(rows, Path(args.out_dir), args.profile)
    if args.metrics:
        last: dict = {}
        for r in rows:
            cols = ("iteration", "fid", "classifier_frechet_substitute", "inception_standin_fid")
            last[f"{r['dataset']}/{r['sampler']}"] = {c: r[c] for c in cols if r[c] != ""}
        atomic_write_json(args.metrics, last)


def inpaint_mask(shape: tuple[int, int, int], kind: str, fraction: float) -> torch.Tensor:
    """1 where pixels are to be filled, 0 where they are observed; shape (1, C, H, W)."""
    c, h, w = shape
    m = torch.zeros(1, c, h, w)
    if kind == "lower_half":
        m[..., h // 2:, :] = 1
    elif kind == "right_half":
        m[..., :, w // 2:] = 1
    else:
        sh, sw = max(1, round(h * fraction)), max(1, round(w * fraction))
        top, left = (h - sh) // 2, (w - sw) // 2
        m[..., top:top + sh, left:left + sw] = 1
    return m


def inpaint(model, sampler, observed: torch.Tensor, mask: torch.Tensor, steps: int, value_range,
            gen: torch.Generator) -> torch.Tensor:
    """Sample the masked pixels under E with the observed ones held fixed.

    The chain runs on z with the energy E(observed * (1 - mask) + z * mask): the gradient
    is zero off the mask, so only the masked pixels move toward low energy."""
    lo, hi = value_range
    keep = observed * (1 - mask)

    def energy(z):
        return model(keep + z * mask)

    z0 = lo + (hi - lo) * torch.rand(observed.shape, generator=gen, device=observed.device)
    with frozen(model):
        z = sampler.run(energy, z0, steps, generator=gen, progress=None, desc="inpaint").x
    return (keep + z * mask).detach()


def cmd_inpaint(args) -> None:
    from ebmlab.stanley_figures import inpainting_figure
    job = _load(args, InpaintJob, ImagesStudy, lambda s: s.inpaint_job())
    ckpts = dict(_pair(s) for s in args.checkpoint)
    missing = [s for s in job.samplers if s not in ckpts]
    if missing:
        raise ConfigError(f"--checkpoint label=path is missing for {', '.join(missing)}")
    torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    ip = job.inpainting
    test = load_images(dataclasses.replace(job.entry.data, split="test"))
    check(len(test) >= 1, "the test split is empty")
    x = test.to_float(test.x[:ip.n_images]).to(device)
    mask = inpaint_mask(tuple(x.shape[1:]), ip.mask, ip.mask_fraction).to(device)
    filled, rows = {}, []
    for label, spec in job.samplers.items():
        curve = CurveJob(**{f.name: getattr(job, f.name) for f in dataclasses.fields(ImagesCommon)},
                         dataset=job.dataset, entry=job.entry, label=label, sampler=spec)
        ckpt = _load_segment(ckpts[label], curve)
        # a diverged curve keeps its last good state: inpaint with that, and say so
        name = SAMPLER_LABELS.get(label, label)
        iteration = ckpt["trainer"]["iteration"] if ckpt.get("diverged") else ckpt["iteration"]
        if ckpt.get("diverged"):
            name = f"{name} (diverged; state of iteration {iteration})"
        model = _model_at(curve, ckpt, tuple(x.shape[1:]), device)
        gen = torch.Generator(device=device).manual_seed(ip.seed)  # the same start noise for every sampler
        out = inpaint(model, job.build_sampler(spec), x, mask, ip.steps or job.steps, job.value_range, gen)
        filled[name] = out if bool(torch.isfinite(out).all()) else None
        mse = float(((out - x) * mask).pow(2).sum() / (mask.sum() * x.shape[0]))
        rows.append({"sampler": SAMPLER_LABELS.get(label, label), "masked_mse": mse, "n_images": int(x.shape[0]),
                     "profile": args.profile, "dataset": job.dataset, "iteration": iteration,
                     "diverged": "yes" if ckpt.get("diverged") else "no"})
    from ebmlab.metrics.scoring import to_unit
    inpainting_figure(to_unit(x, job.value_range), mask, {k: None if v is None else to_unit(v, job.value_range)
                                                          for k, v in filled.items()},
                      Path(args.figure), f"{job.entry.data.describe()}, mask {ip.mask}")
    atomic_write_text(args.csv, csv_text(rows, ["dataset", "sampler", "masked_mse", "n_images", "iteration",
                                                "diverged", "profile"]))


def _pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"--checkpoint takes label=path, got {text!r}")
    k, v = text.split("=", 1)
    return k, v


# ---------------------------------------------------------------------------
# the whole study section (what params files hold under 'stanley:')

@dataclasses.dataclass
class StanleyStudy:
    """STANLEY section 5: the rings toy, the image FID curves and inpainting."""

    rings: RingsStudy | None = field(default_factory=RingsStudy, doc="Fig 1; null = not in this profile")
    images: ImagesStudy | None = field(default_factory=ImagesStudy, doc="Figs 4-6; null = not in this profile")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ebmlab.stanley", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rings", help="train one sampler on the rings toy (Fig 1 snapshots, distance curve)")
    add_config_args(r)
    r.add_argument("--sampler", help="run label when the configuration is the whole rings section")
    r.add_argument("--out", required=True, help="run folder")
    rf = sub.add_parser("rings-figure", help="Fig 1 and the distance-to-truth curve from rings runs")
    rf.add_argument("--runs", nargs="+", required=True)
    rf.add_argument("--profile", required=True)
    rf.add_argument("--figure", required=True)
    rf.add_argument("--distance-figure", required=True)
    rf.add_argument("--csv", required=True)
    rf.add_argument("--metrics", help="DVC metrics JSON")
    for name, text in (("reference", "reference feature statistics of one data set (cached)"),
                       ("segment", "train one curve up to its next checkpoint"),
                       ("fid", "score one checkpoint of a curve")):
        s = sub.add_parser(name, help=text)
        add_config_args(s)
        s.add_argument("--dataset", help="data-set label when the configuration is the whole images section")
        s.add_argument("--sampler", help="curve label when the configuration is the whole images section")
        if name in ("reference", "fid"):
            s.add_argument("--ref-dir", required=True, help="cache folder of reference statistics")
            s.add_argument("--classifier", help="digit-classifier weights (metric 'classifier')")
        if name == "segment":
            s.add_argument("--until", required=True, type=int, help="iteration this segment ends at")
            s.add_argument("--previous", help="the previous segment's checkpoint (none for the first)")
            s.add_argument("--out", required=True, help="checkpoint file to write")
        if name == "fid":
            s.add_argument("--checkpoint", required=True)
            s.add_argument("--out", required=True, help="point JSON")
            s.add_argument("--samples", help="also write a grid of 64 scored samples (PNG)")
    c = sub.add_parser("curves", help="collect scored points into the curves table and figures")
    c.add_argument("--points", nargs="+", required=True)
    c.add_argument("--profile", required=True)
    c.add_argument("--csv", required=True)
    c.add_argument("--out-dir", required=True, help="figure folder (stanley_fid_<dataset>.png)")
    c.add_argument("--metrics", help="DVC metrics JSON")
    i = sub.add_parser("inpaint", help="Fig 6: inpainting with the final checkpoints")
    add_config_args(i)
    i.add_argument("--checkpoint", action="append", default=[], metavar="LABEL=PATH", required=True)
    i.add_argument("--figure", required=True)
    i.add_argument("--csv", required=True)
    i.add_argument("--profile", required=True)
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    {"rings": cmd_rings, "rings-figure": cmd_rings_figure, "reference": cmd_reference, "segment": cmd_segment,
     "fid": cmd_fid, "curves": cmd_curves, "inpaint": cmd_inpaint}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
