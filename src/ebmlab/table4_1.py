"""Thesis Table 4.1 and Figs 4.6-4.11: which sampler trains an image EBM (section 4.2.1).

One cell = one (data set, run) pair: an energy trained with thesis Algorithm 7 and one
sampler (or a sampler switch), then scored by FID. Every cell is its own job::

    python -m ebmlab.table4_1 reference --params params/smoke.yaml --section table4_1 --dataset mnist \\
        --ref-dir results/smoke/table4_1/ref [--classifier results/smoke/table4_1/classifier/mnist.pt]
    python -m ebmlab.table4_1 cell --params params/smoke.yaml --section table4_1 --dataset mnist --run mala \\
        --out results/smoke/table4_1/mnist/mala --ref-dir results/smoke/table4_1/ref [--classifier ...]
    python -m ebmlab.table4_1 table --runs results/smoke/table4_1/*/* --profile smoke --csv t.csv --metrics t.json
    python -m ebmlab.table4_1 figures --runs results/smoke/table4_1/mnist/* --dataset mnist --out-dir figs

Chain noise: the thesis gives "noise 1e-4" and calls it a variance (section 4.2; v ~
N(0, n) in Algorithms 7-10) and, once, a standard deviation. ``noise_is`` says how to
read ``noise``; every sampler of the study gets ``noise_std`` from it (see
docs/table4_1.md for the default and why). Chains are clamped to the data range.

FID samples: ``fid.source: buffer`` scores ``fid.n_samples`` states of the replay
buffer (the model's persistent samples), ``fresh`` runs new chains from uniform noise;
``fid.steps`` more transitions of the run's last sampler are applied first (with the
EMA weights when ``fid.ema``). Metric kinds: ``inception`` (pytorch-fid's Inception
pool3: the FID the thesis reports), ``classifier`` (the Frechet distance in the
features of a small digit classifier: a labelled substitute), ``inception_standin``
(randomly initialised Inception: exercises the code path only).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import Literal

import torch

from ebmlab import samplers
from ebmlab.cli import add_config_args, guarded, raw_config, read_json, require_file, resolve_device
from ebmlab.errors import Diverged
from ebmlab.config import NONNEG, Bound, Tagged, check, field, from_dict, to_dict
from ebmlab.errors import ConfigError
from ebmlab.data.images import ImageDataConfig, load_images
from ebmlab.engine.image import ImageEngineConfig, engine_field, engine_target
from ebmlab.io import atomic_path, atomic_torch_save, atomic_write_json, atomic_write_text
from ebmlab.metrics.classifier import ClassifierConfig
from ebmlab.models import IGEBMConfig, ModelSpec, build_model
from ebmlab.papers import TABLE4_1_FID, TABLE4_1_LABELS
from ebmlab.progress import progress as progress_iter
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.studies.base import ordering_verdicts
from ebmlab.samplers import SamplerSpec
from ebmlab.train.augment import AugmentSpec, NoAugmentConfig
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.image import ImageTrainConfig, ImageTrainer, SamplerSchedule, history_columns
from ebmlab.train.toy import frozen

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
class Table41Common:
    """Settings every cell shares."""

    seed: int = field(0, doc="seeds weights, chains and data order (the same for every sampler)")
    threads: int = field(1, bound=Bound(lo=1), doc="torch CPU threads per job")
    device: Literal["auto", "cpu", "cuda"] = field("auto", doc="auto = cuda when available")
    noise: float = field(1e-4, bound=NONNEG, doc="the thesis's chain noise n (v ~ N(0, n))")
    noise_is: Literal["std", "variance"] = field("variance", doc="read noise as a variance or as a std")
    clamp_chains: bool = field(True, doc="clamp chain states to the data range after every move")
    on_diverge: Literal["record", "fail"] = field(
        "record", doc="record: the cell reports 'diverged' (checkpoint kept); fail: the job fails (exit 3)")
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)
    fid: FIDConfig = field(default_factory=FIDConfig)
    engine: ImageEngineConfig = engine_field()

    @property
    def noise_std(self) -> float:
        return self.noise if self.noise_is == "std" else math.sqrt(self.noise)


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

    def __post_init__(self):
        check(len(self.datasets) > 0, "datasets must name at least one data set")
        clash = sorted(set(self.samplers) & set(self.switches))
        check(not clash, f"run labels must be unique across samplers and switches, got {clash} in both")
        for where, labels in [("table_samplers", self.table_samplers)] + [
                (f"datasets.{ds}.runs", e.runs) for ds, e in self.datasets.items() if e.runs is not None]:
            for label in labels:
                check(label in self.samplers or label in self.switches,
                      f"{where}: unknown run {label!r} (runs: {', '.join(self.runs())})")
        for label, sw in self.switches.items():
            for role in ("first", "then"):
                check(getattr(sw, role) in self.samplers,
                      f"switches.{label}.{role}: unknown sampler {getattr(sw, role)!r} "
                      f"(samplers: {', '.join(self.samplers)})")
        for ds in self.figure_datasets:
            check(ds in self.datasets, f"figure_datasets: unknown data set {ds!r} (datasets: {', '.join(self.datasets)})")

    def runs(self) -> list[str]:
        return list(self.samplers) + list(self.switches)

    def runs_of(self, dataset: str) -> list[str]:
        """The data set's rows (table_samplers unless it names its own), plus every other run on
        the figure data sets."""
        rows = self.datasets[dataset].runs
        rows = list(self.table_samplers if rows is None else rows)
        if dataset in self.figure_datasets:
            rows += [r for r in self.runs() if r not in rows]
        return rows

    def cells(self) -> list[tuple[str, str]]:
        return [(ds, run) for ds in self.datasets for run in self.runs_of(ds)]

    def cell_slice(self, dataset: str, run: str | None = None) -> dict:
        """One job's configuration as plain data (the data set's first run if none is named)."""
        return to_dict(self.cell(dataset, run or self.runs_of(dataset)[0]))

    def cell(self, dataset: str, run: str) -> "Table41Cell":
        if dataset not in self.datasets:
            raise ConfigError(f"unknown data set {dataset!r} (this study has {', '.join(self.datasets)})")
        if run not in self.runs_of(dataset):
            raise ConfigError(f"unknown run {run!r} for {dataset} (runs: {', '.join(self.runs_of(dataset))})")
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(Table41Common)}
        if dataset not in self.figure_datasets:  # the Fig 4.6 curve is drawn for figure data sets only
            shared["fid"] = dataclasses.replace(self.fid, curve_every=None)
        if run in self.switches:
            sw = self.switches[run]
            spec = dict(sampler=self.samplers[sw.first], switch=CellSwitch(sampler=self.samplers[sw.then],
                                                                           after=sw.after))
        else:
            spec = dict(sampler=self.samplers[run])
        return Table41Cell(**shared, dataset=dataset, entry=self.datasets[dataset], run=run, **spec)


@dataclasses.dataclass
class CellSwitch:
    """The sampler a cell switches to, and after how many iterations."""

    sampler: SamplerSpec = field(default_factory=lambda: _sampler_defaults()["mala"])
    after: int = field(100, bound=Bound(lo=1), doc="iterations with the first sampler")


@dataclasses.dataclass
class Table41Cell(Table41Common):
    """One job's slice: shared settings, one data set, one run."""

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


# ---------------------------------------------------------------------------
# configuration from the command line

def _load_cell(args) -> Table41Cell:
    raw = raw_config(args)
    if "entry" not in raw:  # the whole study
        if not (args.dataset and args.run):
            raise ConfigError("--dataset and --run are required when the configuration is the whole study")
        return from_dict(Table41Study, raw).cell(args.dataset, args.run)
    cell = from_dict(Table41Cell, raw)
    for flag, value in (("dataset", cell.dataset), ("run", cell.run)):
        given = getattr(args, flag, None)
        if given and given != value:
            raise ConfigError(f"--{flag} {given!r} does not match the config's {flag} {value!r}")
    return cell


def _extractors(metrics: list[str], classifier: str | None, device: torch.device) -> dict:
    """Metric kind -> feature extractor; missing weights raise DataError before any compute."""
    from ebmlab.metrics.fid import build_extractor
    out = {}
    for kind in metrics:
        weights = None
        if kind == "classifier":
            if classifier is None:
                raise ConfigError("metric 'classifier' needs --classifier <weights file> (the pipeline trains it)")
            weights = str(require_file(classifier, "train the digit classifier first"))
        out[kind] = build_extractor(kind, weights=weights, device=device)
    return out


def _references(entry: DatasetEntry, fid: FIDConfig, extractors: dict, ref_dir: str) -> dict:
    from ebmlab.metrics.fid import reference_stats
    data_cfg = dataclasses.replace(entry.data, split=fid.reference_split)
    return {kind: reference_stats(ex, data_cfg, ref_dir, n=fid.reference_n) for kind, ex in extractors.items()}


# ---------------------------------------------------------------------------
# sampling for FID

def to_unit(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    lo, hi = value_range
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def fid_samples(trainer: ImageTrainer, n: int, fid: FIDConfig, sampler, gen: torch.Generator, *,
                progress: bool | None = False) -> torch.Tensor:
    """``n`` samples for scoring (see the module docstring), on the trainer's device.

    ``progress``: report the batches (:mod:`ebmlab.progress`; ``None`` for the final
    score, ``False`` in the curve hook).
    """
    model = trainer.ema if (fid.ema and trainer.ema is not None) else trainer.model
    if fid.source == "buffer":
        buf = trainer.buffer
        n = min(n, len(buf))
        idx = torch.randperm(len(buf), generator=gen, device=gen.device)[:n]
        pool = buf.data[idx.to(buf.device)]
    else:
        pool = None
    out = []
    was_training = model.training
    model.eval()
    for start in progress_iter(range(0, n, fid.batch_size), desc="FID samples (batches)", enabled=progress):
        m = min(fid.batch_size, n - start)
        x = pool[start:start + m] if pool is not None else _uniform(trainer, m, gen)
        if fid.steps > 0:
            with frozen(model):
                x = sampler.run(trainer.make_target(model), x, fid.steps, generator=gen).x
        out.append(x.detach())
    model.train(was_training)
    return torch.cat(out)


def _uniform(trainer: ImageTrainer, n: int, gen: torch.Generator) -> torch.Tensor:
    lo, hi = trainer.value_range
    shape = (n, *trainer.image_shape)
    return lo + (hi - lo) * torch.rand(shape, generator=gen, device=trainer.device)


def score(samples: torch.Tensor, value_range, extractors: dict, refs: dict,
          progress: bool | None = False) -> dict[str, float]:
    """Each extractor's Frechet distance of ``samples``; ``progress`` as in ``fid``."""
    from ebmlab.metrics.fid import fid
    unit = to_unit(samples, value_range)
    return {kind: float(fid(unit, refs[kind], ex, progress=progress)) for kind, ex in extractors.items()}


def fid_curve_hook(cell: Table41Cell, extractors: dict, refs: dict, per_epoch: int):
    """Fig 4.6: the first metric every ``curve_every`` iterations of the curve window."""
    fid = cell.fid
    if fid.curve_every is None or not cell.entry.metrics:
        return None
    window = fid.curve_iterations or per_epoch
    kind = cell.entry.metrics[0]
    curve_cfg = dataclasses.replace(fid, steps=0 if fid.source == "buffer" else fid.steps, ema=False)

    def hook(trainer: ImageTrainer, it: int):
        done = it + 1
        if done > window or (done % fid.curve_every and done != 1):
            return None
        gen = torch.Generator(device=trainer.device).manual_seed(cell.seed * 1000003 + done)
        x = fid_samples(trainer, fid.curve_samples, curve_cfg, trainer.samplers.at(it), gen)
        value = score(x, trainer.value_range, {kind: extractors[kind]}, refs)[kind]
        return {f"curve_{kind}": value}

    return hook


# ---------------------------------------------------------------------------
# subcommands

def cmd_reference(args) -> None:
    raw = raw_config(args)
    if "entry" in raw:
        cell = from_dict(Table41Cell, raw)
        entry, fid = cell.entry, cell.fid
    else:
        if not args.dataset:
            raise ConfigError("--dataset is required when the configuration is the whole study")
        study = from_dict(Table41Study, raw)
        if args.dataset not in study.datasets:
            raise ConfigError(f"unknown data set {args.dataset!r} (this study has {', '.join(study.datasets)})")
        entry, fid, cell = study.datasets[args.dataset], study.fid, study
    torch.set_num_threads(cell.threads)
    device = resolve_device(cell.device)
    extractors = _extractors(entry.metrics, args.classifier, device)
    t0 = time.perf_counter()
    refs = _references(entry, fid, extractors, args.ref_dir)
    summary = {kind: {"extractor": getattr(extractors[kind], "id", kind), "n": getattr(refs[kind], "n", None)}
               for kind in refs}
    atomic_write_json(Path(args.ref_dir) / f"{args.dataset or cell.dataset}.json",
                      {"dataset": args.dataset or cell.dataset, "split": fid.reference_split,
                       "metrics": summary, "seconds": time.perf_counter() - t0})


def cmd_cell(args) -> None:
    cell = _load_cell(args)
    out = Path(args.out)
    torch.set_num_threads(cell.threads)
    device = resolve_device(cell.device)
    schedule = cell.schedule()
    data = load_images(cell.entry.data)                 # DataError (how to get it) before any compute
    extractors = _extractors(cell.entry.metrics, args.classifier, device)
    refs = _references(cell.entry, cell.fid, extractors, args.ref_dir)
    resolved = to_dict(cell)
    torch.manual_seed(cell.seed)  # the same initial weights for every sampler of a data set
    model = build_model(cell.entry.model, tuple(data.x.shape[1:]))
    store = CheckpointStore(out / "ckpt", config_hash(resolved))
    make_target = engine_target(model.to(device), cell.engine, device)
    trainer = ImageTrainer(model, data, cell.train_config, schedule, seed=cell.seed, device=device,
                           value_range=cell.value_range, store=store, make_target=make_target, progress=None)
    hook = fid_curve_hook(cell, extractors, refs, trainer.per_epoch)
    trainer.hooks = [hook] if hook else []
    diverged = None
    try:
        result = trainer.train()
    except Diverged as err:
        if cell.on_diverge == "fail":
            raise
        diverged = str(err)
    metrics = _evaluate(cell, trainer, extractors, refs, out, diverged, device)
    hist = trainer.history
    if hist:
        atomic_write_text(out / "history.csv", csv_text(hist, history_columns(hist)))
    else:
        atomic_write_text(out / "history.csv", "iteration\n")
    atomic_write_json(out / "chains.json", trainer.chain_log)
    atomic_torch_save({"model": trainer.model.state_dict(),
                       "ema": None if trainer.ema is None else trainer.ema.state_dict(),
                       "iteration": trainer.iteration, "config": resolved}, out / "model.pt")
    write_record(out / "cell.run.yaml", command="ebmlab.table4_1 cell", config=resolved, seed=cell.seed,
                 extra={"wall_seconds": trainer.wall,
                        "resumed_from_iteration": None if diverged else result.resumed_from,
                        "diverged": diverged, "numerics": cell.engine.describe()})
    atomic_write_json(out / "metrics.json", metrics)  # last: the job's completion marker


def _evaluate(cell: Table41Cell, trainer: ImageTrainer, extractors, refs, out: Path, diverged, device) -> dict:
    hist = trainer.history
    secs = [r["seconds"] for r in hist[1:]] or [r["seconds"] for r in hist]  # first iteration: warm-up
    tail = hist[-max(1, len(hist) // 10):] if hist else []

    def tail_mean(key):
        vals = [r[key] for r in tail if key in r and r[key] == r[key]]
        return sum(vals) / len(vals) if vals else None

    scores, n_scored = {kind: None for kind in extractors}, 0
    if diverged is None:
        gen = torch.Generator(device=device).manual_seed(cell.seed + 7919)
        x = fid_samples(trainer, cell.fid.n_samples, cell.fid, trainer.samplers.at(trainer.total - 1), gen,
                        progress=None)
        n_scored = int(x.shape[0])
        scores = score(x, trainer.value_range, extractors, refs, progress=None)
        _save_grid(to_unit(x[:64], trainer.value_range), out / "samples.png")
    else:
        _save_grid(None, out / "samples.png")
    return {
        "dataset": cell.dataset,
        "run": cell.run,
        "sampler": cell.sampler.name,
        "sampler_config": {"name": cell.sampler.name, **to_dict(trainer.samplers.first.config)},
        "switch_to": None if cell.switch is None else cell.switch.sampler.name,
        "switch_after": None if cell.switch is None else cell.switch.after,
        "scores": scores,
        "extractors": {k: getattr(ex, "id", k) for k, ex in extractors.items()},
        "n_fid_samples": n_scored,
        "fid_source": cell.fid.source,
        "fid_steps": cell.fid.steps,
        "fid_ema": cell.fid.ema,
        "iterations": trainer.iteration,
        "iterations_planned": trainer.total,
        "epochs": trainer.iteration / trainer.per_epoch,
        "seconds_per_iteration": sum(secs) / len(secs) if secs else None,
        "train_wall_seconds": trainer.wall,
        "accept_prob_final": tail_mean("accept_prob_mean"),
        "precond_mean_final": tail_mean("precond_mean_mean"),
        "diverged": diverged,
        "data": cell.entry.data.describe(),
        "noise_std": cell.noise_std,
        "seed": cell.seed,
        "device": str(device),
    }


def _save_grid(x: torch.Tensor | None, path: Path, nrow: int = 8, pad: int = 1) -> None:
    """PNG of up to 64 images in [0, 1] (PIL only: no plotting stack in the training job)."""
    from PIL import Image
    if x is None:  # diverged: a uniform grey tile
        x = torch.full((1, 1, 8, 8), 0.5)
    x = x.detach().float().cpu().clamp(0, 1)
    n, c, h, w = x.shape
    rows = (n + nrow - 1) // nrow
    cols = min(n, nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top:top + h, left:left + w] = x[i]
    arr = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(arr[:, :, 0] if c == 1 else arr)
    scale = max(1, 256 // image.size[0])
    image = image.resize((image.size[0] * scale, image.size[1] * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


TABLE_COLUMNS = ["dataset", "sampler", "fid_paper", "fid_reproduced", "epochs", "n_fid_samples", "profile",
                 "verdict", "classifier_frechet_substitute", "verdict_substitute", "inception_standin_fid",
                 "run", "data", "fid_source", "iterations", "seconds_per_iteration", "accept_prob_final",
                 "precond_mean_final", "diverged"]


#: score column -> the verdict column judging the ordering of that score
VERDICTS = {"fid_reproduced": "verdict", "classifier_frechet_substitute": "verdict_substitute"}


def score_columns(m: dict) -> dict[str, float | None]:
    """A cell's scores by table column: only real-Inception FIDs land in fid_reproduced."""
    from ebmlab.metrics.fid import check_column, column_for
    out = {}
    for kind, value in m["scores"].items():
        ext = m["extractors"][kind]
        col = column_for(ext, "fid_reproduced")
        check_column(col, ext)
        out[col] = value
    return out


def table_rows(metrics: list[dict], profile: str) -> list[dict]:
    """Table 4.1 rows, one per cell, with ordering verdicts per data set (column)."""
    rows = []
    by_ds: dict[str, list[dict]] = {}
    for m in metrics:
        by_ds.setdefault(m["dataset"], []).append(m)
    order = {label: i for i, label in enumerate(TABLE4_1_LABELS)}
    for ds, ms in by_ds.items():
        ms = sorted(ms, key=lambda m: (order.get(m["run"], len(order)), m["run"]))
        cols = {m["run"]: score_columns(m) for m in ms}
        paper = {k: v for k, v in TABLE4_1_FID.get(ds, {}).items() if k in cols}
        verdicts = {}
        for col in VERDICTS:
            if any(col in c for c in cols.values()):
                vals = {run: c.get(col) for run, c in cols.items()}
                verdicts[col] = ordering_verdicts(paper, {k: math.inf if v is None else v  # diverged = worst
                                                          for k, v in vals.items()})
        for m in ms:
            run = m["run"]
            row = {c: m.get(c, "") for c in TABLE_COLUMNS}
            row.update(dataset=ds, sampler=TABLE4_1_LABELS.get(run, run), run=run, profile=profile,
                       fid_paper=TABLE4_1_FID.get(ds, {}).get(run, ""), diverged="yes" if m["diverged"] else "no")
            for col, value in cols[run].items():
                row[col] = "diverged" if m["diverged"] else value
            for col, vcol in VERDICTS.items():
                if run not in paper:
                    row[vcol] = "no paper value"
                elif col in verdicts:
                    row[vcol] = verdicts[col][run] + ("" if col == "fid_reproduced" else " (substitute metric)")
                else:
                    row[vcol] = "no Inception FID in this profile" if col == "fid_reproduced" else ""
            rows.append(row)
    return rows


def _load_metrics(run_dirs: list[str]) -> list[dict]:
    return [read_json(Path(d) / "metrics.json", "run the 'cell' step first")
            for d in run_dirs]


def cmd_table(args) -> None:
    metrics = _load_metrics(args.runs)
    rows = table_rows(metrics, args.profile)
    atomic_write_text(args.csv, csv_text(rows, TABLE_COLUMNS))
    if args.metrics:
        atomic_write_json(args.metrics, {
            f"{m['dataset']}/{m['run']}": {**{k: v for k, v in m["scores"].items()},
                                           "seconds_per_iteration": m["seconds_per_iteration"],
                                           "diverged": bool(m["diverged"])}
            for m in metrics})


def cmd_figures(args) -> None:
    from ebmlab.table4_1_figures import write_figures
    write_figures([Path(d) for d in args.runs], args.dataset, Path(args.out_dir))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ebmlab.table4_1", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reference", help="reference feature statistics of one data set (cached)")
    add_config_args(r)
    r.add_argument("--dataset", help="data set label when the configuration is the whole study")
    r.add_argument("--ref-dir", required=True, help="cache folder of reference statistics")
    r.add_argument("--classifier", help="digit-classifier weights (metric 'classifier')")
    c = sub.add_parser("cell", help="train one (data set, run) cell with Algorithm 7, then score it")
    add_config_args(c)
    c.add_argument("--dataset", help="data set label when the configuration is the whole study")
    c.add_argument("--run", help="run label when the configuration is the whole study")
    c.add_argument("--out", required=True, help="run folder")
    c.add_argument("--ref-dir", required=True, help="cache folder of reference statistics")
    c.add_argument("--classifier", help="digit-classifier weights (metric 'classifier')")
    t = sub.add_parser("table", help="collect cells into Table 4.1")
    t.add_argument("--runs", nargs="+", required=True)
    t.add_argument("--profile", required=True)
    t.add_argument("--csv", required=True)
    t.add_argument("--metrics", help="DVC metrics JSON")
    f = sub.add_parser("figures", help="Figs 4.6-4.11 from the cells of one data set")
    f.add_argument("--runs", nargs="+", required=True)
    f.add_argument("--dataset", required=True)
    f.add_argument("--out-dir", required=True)
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    {"reference": cmd_reference, "cell": cmd_cell, "table": cmd_table, "figures": cmd_figures}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
