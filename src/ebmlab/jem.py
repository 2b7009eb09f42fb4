"""Thesis Table 4.2 and Figs 4.12-4.16: JEM trained with SGLD, pSGLD and MALA (section 4.2.2).

One run = one sampler: a Wide-ResNet classifier-energy trained with JEM's recipe
(:mod:`ebmlab.train.jem`), its held-out accuracy curve, and the FID of its replay-buffer
samples. Every run is its own job::

    python -m ebmlab.jem classifier --params params/smoke.yaml --section jem --out C.pt
    python -m ebmlab.jem reference  --params params/smoke.yaml --section jem --ref-dir R [--classifier C.pt]
    python -m ebmlab.jem train      --params params/smoke.yaml --section jem --run sgld \\
        --out results/smoke/jem/sgld --ref-dir R [--classifier C.pt]
    python -m ebmlab.jem table   --runs results/smoke/jem/* --profile smoke --csv reports/smoke/table4_2.csv
    python -m ebmlab.jem figures --runs results/smoke/jem/* --out-dir reports/smoke/figures --prefix jem
    python -m ebmlab.jem bench   --params params/paper.yaml --section jem --csv reports/jem_epoch_time.csv

Accuracy: ``eval.n_valid`` training images are held out (JEM: 5000, shuffled with seed
1234); every ``eval.every`` epochs the validation and test accuracies are logged (Fig 4.12).
Held-out images get N(0, ``eval.noise``^2) noise, as JEM's evaluation transform adds its
training noise (0.03) to test images; the final test accuracy is reported both ways.

FID: ``fid.n_samples`` states of the final replay buffer (JEM's persistent samples),
scored against the reference statistics of ``fid.reference_split``. Metric kinds follow
issue 3's protocol: ``inception`` (the FID the thesis reports), ``classifier`` (Frechet
distance in a digit classifier's features: a labelled substitute for digit data) and
``inception_standin`` (random-weight Inception: a code-path check). Only real-Inception
FIDs and accuracies on real CIFAR-10 go into the columns compared with the thesis.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Literal

import torch

from ebmlab import samplers
from ebmlab.cli import add_config_args, guarded, raw_config, read_json, require_file, resolve_device
from ebmlab.errors import Diverged
from ebmlab.config import NONNEG, POSITIVE, Bound, Tagged, check, field, from_dict, run_of, to_dict
from ebmlab.errors import ConfigError
from ebmlab.data.images import ImageDataConfig, load_images, to_float
from ebmlab.engine.image import ImageEngineConfig, engine_field, engine_target
from ebmlab.io import atomic_torch_save, atomic_write_json, atomic_write_text
from ebmlab.metrics.fid import Kind, build_extractor, column_for, fid, reference_stats
from ebmlab.models import ModelSpec, WRNConfig, build_model
from ebmlab.papers import JEM_ACC, JEM_ACC_EPOCH1, JEM_FID, JEM_LABELS
from ebmlab.progress import progress as progress_iter
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.samplers import SamplerSpec
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.image import SamplerSchedule, history_columns
from ebmlab.train.jem import VALUE_RANGE, JEMTrainConfig, JEMTrainer



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


@dataclasses.dataclass
class JEMCommon:
    """Settings every run of the study shares."""

    seed: int = field(1, doc="seeds weights, chains and data order (the same for every sampler; JEM: 1)")
    threads: int = field(4, bound=Bound(lo=1), doc="torch CPU threads per job")
    device: Literal["auto", "cpu", "cuda"] = field("auto", doc="auto = cuda when available")
    data: ImageDataConfig = field(default_factory=lambda: from_dict(
        ImageDataConfig, {"name": "cifar10", "range": "symmetric"}, "data"),
        doc="the training split; the test accuracy uses the same config with split 'test' (one-array "
            "sources such as a local .npz hold out data.test_fraction as their test split)")
    model: ModelSpec = field(default_factory=lambda: Tagged("wrn", WRNConfig()))
    train: JEMTrainConfig = field(default_factory=JEMTrainConfig)
    engine: ImageEngineConfig = engine_field()
    eval: JEMEvalConfig = field(default_factory=JEMEvalConfig)
    fid: JEMFIDConfig = field(default_factory=JEMFIDConfig)
    figures: JEMFigureConfig = field(default_factory=JEMFigureConfig)
    on_diverge: Literal["record", "fail"] = field(
        "record", doc="record: the run reports 'diverged' and its last good checkpoint's metrics; fail: exit 3")

    def __post_init__(self):
        check(self.data.range == "symmetric", f"data.range must be 'symmetric' (JEM works in [-1, 1]), "
                                              f"got {self.data.range!r}")
        check(self.data.split == "train", f"data.split must be 'train' (the test split is read as well), "
                                          f"got {self.data.split!r}")
        check(not self.data.dequantize, "data.dequantize must be false (JEM maps grey level k to k / 255)")


@dataclasses.dataclass
class JEMStudy(JEMCommon):
    """The whole study: shared settings plus one sampler per run label."""

    samplers: dict[str, SamplerSpec] = field(default_factory=_default_samplers, doc="run label -> sampler")

    def __post_init__(self):
        super().__post_init__()
        check(len(self.samplers) > 0, "samplers must name at least one run")

    def run(self, label: str) -> "JEMRun":
        return run_of(self, label, JEMCommon, JEMRun)


@dataclasses.dataclass
class JEMRun(JEMCommon):
    """One job's slice: shared settings and its own sampler."""

    label: str = field("sgld", doc="run label")
    sampler: SamplerSpec = field(default_factory=lambda: _default_samplers()["sgld"])


# ---------------------------------------------------------------------------
# configuration and inputs

def _load(args, *, need_run: bool) -> JEMRun | JEMStudy:
    """A run from a whole study (--params/--section + --run) or from a run slice."""
    raw = raw_config(args)
    if "sampler" in raw:
        run = from_dict(JEMRun, raw)
        if getattr(args, "run", None) and args.run != run.label:
            raise ConfigError(f"--run {args.run!r} does not match the config's label {run.label!r}")
        return run
    study = from_dict(JEMStudy, raw)
    if not need_run:
        return study
    if not getattr(args, "run", None):
        raise ConfigError("--run is required when the configuration is the whole study")
    return study.run(args.run)


@dataclasses.dataclass
class Labelled:
    """uint8 images (N, C, H, W) with integer labels (N,)."""

    x: torch.Tensor
    y: torch.Tensor


def _labelled(images, what: str) -> Labelled:
    if images.y is None:
        raise ConfigError(f"{what}: JEM needs class labels, and {images.config.describe()} has none")
    return Labelled(images.x, images.y.long())


def load_splits(run: JEMCommon) -> tuple[Labelled, Labelled, Labelled]:
    """(train, valid, test); a missing data set is a one-line DataError before any compute.

    ``eval.n_valid`` images of the training split are held out by a seeded shuffle (JEM: 5000).
    """
    full = load_images(run.data)
    test = _labelled(load_images(dataclasses.replace(run.data, split="test")), "data (test split)")
    n = len(full)
    check(run.eval.n_valid < n, f"eval.n_valid={run.eval.n_valid} leaves no training images (the split has {n})")
    train, valid = full.split([n - run.eval.n_valid, run.eval.n_valid], seed=run.eval.split_seed)
    train, valid = _labelled(train, "data"), _labelled(valid, "data")
    n_classes = getattr(run.model.config, "n_classes", None)
    top = int(max(train.y.max(), test.y.max())) + 1
    check(n_classes is None or top <= n_classes,
          f"model.n_classes={n_classes} but the data have labels up to {top - 1}")
    return train, valid, test


def _extractors(metrics: list[str], classifier: str | None, device: torch.device) -> dict:
    """Metric kind -> feature extractor; missing weights raise DataError before any compute."""
    out = {}
    for kind in metrics:
        weights = None
        if kind == "classifier":
            if classifier is None:
                raise ConfigError("metric 'classifier' needs --classifier <weights file> (run 'classifier' first)")
            weights = str(require_file(classifier, "train the digit classifier first (python -m ebmlab.jem "
                                                   "classifier)"))
        out[kind] = build_extractor(kind, weights=weights, device=device)
    return out


def _references(run: JEMCommon, extractors: dict, ref_dir: str) -> dict:
    data_cfg = dataclasses.replace(run.data, split=run.fid.reference_split)
    return {kind: reference_stats(ex, data_cfg, ref_dir, n=run.fid.reference_n) for kind, ex in extractors.items()}


def is_real_cifar10(cfg: ImageDataConfig) -> bool:
    return cfg.name == "cifar10" and cfg.resolved_source == "torchvision"


# ---------------------------------------------------------------------------
# accuracy

@torch.no_grad()
def accuracy(model, data: Labelled, *, noise: float, seed: int, batch_size: int, device,
             limit: int | None = None, progress: bool | None = False) -> float:
    """Top-1 accuracy of argmax g(x) on ``data`` with N(0, noise^2) added (own generator).

    ``progress``: report the batches (:mod:`ebmlab.progress`; ``None`` for the final
    evaluation, ``False`` inside training hooks).
    """
    n = data.x.shape[0] if limit is None else min(limit, data.x.shape[0])
    if n == 0:
        return float("nan")
    gen = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    correct = 0
    for start in progress_iter(range(0, n, batch_size), desc="accuracy (batches)", enabled=progress):
        x = to_float(data.x[start:start + batch_size].to(device), "symmetric")
        if noise > 0:
            x = x + noise * torch.randn(x.shape, generator=gen, device=device)
        y = data.y[start:start + batch_size].to(device)
        correct += int((model.logits(x).argmax(1) == y).sum())
    model.train(was_training)
    return correct / n


def accuracy_hook(run: JEMCommon, valid: Labelled, test: Labelled, device):
    """Fig 4.12: validation and test accuracy every ``eval.every`` epochs and at the end."""

    def hook(trainer: JEMTrainer, it: int):
        done = it + 1
        every = max(1, round(run.eval.every * trainer.per_epoch))
        if done % every and done != trainer.total:
            return None
        seed = run.seed * 1_000_003 + done   # never the trainer's generators: resume stays exact
        kw = dict(noise=run.eval.noise, batch_size=run.eval.batch_size, device=device)
        return {"valid_acc": accuracy(trainer.model, valid, seed=seed, **kw),
                "test_acc": accuracy(trainer.model, test, seed=seed + 1, limit=run.eval.curve_test_limit, **kw)}

    return hook


# ---------------------------------------------------------------------------
# subcommands

def cmd_classifier(args) -> None:
    """Train the digit classifier whose features the substitute Frechet distance uses."""
    study = _load(args, need_run=False)
    from ebmlab.metrics.classifier import train_classifier
    torch.set_num_threads(study.threads)
    train_classifier(study.data, args.out, device=resolve_device(study.device), seed=study.seed)


def cmd_reference(args) -> None:
    study = _load(args, need_run=False)
    torch.set_num_threads(study.threads)
    extractors = _extractors(study.fid.metrics, args.classifier, resolve_device(study.device))
    t0 = time.perf_counter()
    refs = _references(study, extractors, args.ref_dir)
    atomic_write_json(Path(args.ref_dir) / "jem.json", {
        "data": study.data.describe(), "split": study.fid.reference_split,
        "metrics": {k: {"extractor": getattr(extractors[k], "id", k), "n": getattr(refs[k], "n", None)}
                    for k in refs},
        "seconds": time.perf_counter() - t0})


def _seconds_per_iteration(history: list[dict]) -> float | None:
    secs = [r["seconds"] for r in history[1:]] or [r["seconds"] for r in history]   # first: warm-up
    return sum(secs) / len(secs) if secs else None


def _first_epoch_acc(history: list[dict], per_epoch: int) -> float | None:
    for r in history:
        if r["iteration"] + 1 >= per_epoch and "test_acc" in r:
            return r["test_acc"]
    return None


def _tail_mean(history: list[dict], key: str) -> float | None:
    tail = history[-max(1, len(history) // 10):]
    vals = [r[key] for r in tail if key in r and r[key] == r[key]]
    return sum(vals) / len(vals) if vals else None


def cmd_train(args) -> None:
    run = _load(args, need_run=True)
    out = Path(args.out)
    torch.set_num_threads(run.threads)
    device = resolve_device(run.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True   # as JEM
    train, valid, test = load_splits(run)   # DataError (how to get it) before any compute
    extractors = _extractors(run.fid.metrics, args.classifier, device)
    refs = _references(run, extractors, args.ref_dir)
    sampler = samplers.build(run.sampler)
    resolved = to_dict(run)
    torch.manual_seed(run.seed)   # the same initial weights for every sampler
    model = build_model(run.model, tuple(train.x.shape[1:]))
    store = CheckpointStore(out / "ckpt", config_hash(resolved))
    make_target = engine_target(model.to(device), run.engine, device)
    trainer = JEMTrainer(model, train, run.train, SamplerSchedule(sampler), seed=run.seed, device=device,
                         store=store, make_target=make_target, progress=None)
    trainer.hooks = [accuracy_hook(run, valid, test, device)]
    diverged, resumed = None, None
    try:
        resumed = trainer.train().resumed_from
    except Diverged as err:
        if run.on_diverge == "fail":
            raise
        diverged = str(err)
    # up to the divergence, for the curves (loading the checkpoint below truncates the trainer's copies)
    history, chain_log, restarts = list(trainer.history), list(trainer.chain_log), list(trainer.restarts)
    diverged_at = trainer.iteration if diverged else None
    if diverged:
        saved = store.load()   # report the last good checkpoint (None: diverged before the first one)
        if saved is not None:
            trainer.load_state_dict(saved)
    metrics = _final_metrics(run, trainer, history, valid, test, extractors, refs, out, device)
    metrics.update({"status": "diverged" if diverged else "completed", "diverged": diverged,
                    "diverged_at_iteration": diverged_at,
                    "diverged_at_epoch": None if diverged_at is None else diverged_at / trainer.per_epoch,
                    "restarts": restarts})
    atomic_write_text(out / "history.csv", csv_text(history, history_columns(history)) if history else "iteration\n")
    atomic_write_json(out / "chains.json", chain_log)
    atomic_torch_save({"model": trainer.model.state_dict(), "iteration": trainer.iteration, "config": resolved},
                      out / "model.pt")
    write_record(out / "train.run.yaml", command="ebmlab.jem train", config=resolved, seed=run.seed,
                 extra={"wall_seconds": trainer.wall, "resumed_from_iteration": resumed, "diverged": diverged})
    atomic_write_json(out / "metrics.json", metrics)   # last: the job's completion marker


def _final_metrics(run: JEMRun, trainer: JEMTrainer, history, valid, test, extractors, refs, out: Path,
                   device) -> dict:
    kw = dict(batch_size=run.eval.batch_size, device=device, progress=None)
    seed = run.seed * 1_000_003 + 999_983
    model = trainer.model
    scores, n_scored = {kind: None for kind in extractors}, 0
    if trainer.buffer is not None and len(trainer.buffer) > 0:
        buf = trainer.buffer
        n_scored = min(run.fid.n_samples, len(buf))
        gen = torch.Generator().manual_seed(seed)
        x = buf.data[torch.randperm(len(buf), generator=gen)[:n_scored].to(buf.device)]
        unit = ((x.clamp(*VALUE_RANGE) - VALUE_RANGE[0]) / (VALUE_RANGE[1] - VALUE_RANGE[0]))
        scores = {kind: float(fid(unit, refs[kind], ex, batch_size=run.fid.batch_size, progress=None))
                  for kind, ex in extractors.items()}
        _save_grid(unit[:64], out / "samples.png")
    else:
        _save_grid(None, out / "samples.png")
    sampler_cfg = to_dict(run.sampler)
    return {
        "run": run.label,
        "sampler": run.sampler.name,
        "sampler_config": sampler_cfg,
        "data": run.data.describe(),
        "real_cifar10": is_real_cifar10(run.data),
        "model": to_dict(run.model),
        "test_acc": accuracy(model, test, noise=run.eval.noise, seed=seed, **kw),
        "test_acc_clean": accuracy(model, test, noise=0.0, seed=seed, **kw),
        "valid_acc": accuracy(model, valid, noise=run.eval.noise, seed=seed + 1, **kw),
        "eval_noise": run.eval.noise,
        "acc_epoch1": _first_epoch_acc(history, trainer.per_epoch),
        "scores": scores,
        "extractors": {k: getattr(ex, "id", k) for k, ex in extractors.items()},
        "n_fid_samples": n_scored,
        "iterations": trainer.iteration,
        "iterations_planned": trainer.total,
        "iterations_per_epoch": trainer.per_epoch,
        "n_train": trainer.n_train,
        "epochs": trainer.iteration / trainer.per_epoch,
        "epochs_planned": run.train.epochs,
        "seconds_per_iteration": _seconds_per_iteration(history),
        "train_wall_seconds": trainer.wall,
        "accept_prob_final": _tail_mean(history, "accept_prob_mean"),
        "inv_precond_final": _tail_mean(history, "precond_inv_mean_mean"),
        "chain_iterations": run.figures.chain_iterations,
        "seed": run.seed,
        "device": str(device),
    }


def _save_grid(x: torch.Tensor | None, path: Path) -> None:
    from ebmlab.jem_figures import sample_grid
    sample_grid(x, path)


# ---------------------------------------------------------------------------
# the table

TABLE_COLUMNS = ["sampler", "accuracy_paper", "fid_paper", "accuracy_reproduced", "fid_reproduced", "epochs",
                 "profile", "verdict", "data", "accuracy_substitute", "classifier_frechet_substitute",
                 "inception_standin_fid", "inception_fid_substitute_data", "verdict_substitute",
                 "acc_epoch1_paper", "acc_epoch1", "status", "diverged_at_epoch", "test_acc_clean",
                 "seconds_per_epoch", "accept_prob_final", "inv_precond_final", "run"]
ACC_TOL = 0.03        # |accuracy - thesis| counted as agreeing
FID_REL_TOL = 0.25    # |FID - thesis| / thesis counted as agreeing
SPREAD_TOL = 0.02     # "samplers barely differ": accuracy within this of the SGLD run


def _kind(m: dict) -> str:
    """Which of the thesis's rows a run is: sgld, psgld (lambda = 1), psgld_small, mala, or other."""
    cfg = m["sampler_config"]
    if m["sampler"] in ("langevin", "sgld"):
        return "sgld"
    if m["sampler"] == "psgld":
        return "psgld" if cfg.get("lam") == 1.0 else "psgld_small"
    return m["sampler"] if m["sampler"] == "mala" else "other"


def claims(metrics: list[dict]) -> dict:
    """The thesis's two claims, measured on these runs (any data set)."""
    by = {_kind(m): m for m in metrics}
    sgld = by.get("sgld")
    out: dict = {}
    if sgld is not None:
        others = [m for k, m in by.items() if k in ("psgld", "mala") and m["status"] == "completed"]
        gaps = {m["run"]: m["test_acc"] - sgld["test_acc"] for m in others}
        out["accuracy_gap_vs_sgld"] = gaps
        out["samplers_barely_differ"] = bool(gaps) and all(abs(g) <= SPREAD_TOL for g in gaps.values())
    small = by.get("psgld_small")
    if small is not None and sgld is not None:
        a, b = small.get("acc_epoch1"), sgld.get("acc_epoch1")
        out["small_lambda_acc_epoch1"] = a
        out["sgld_acc_epoch1"] = b
        out["small_lambda_faster_first_epoch"] = None if a is None or b is None else a > b
        out["small_lambda_diverged"] = small["status"] == "diverged"
        out["small_lambda_diverged_at_epoch"] = small.get("diverged_at_epoch")
    return out


def _claim_verdict(kind: str, m: dict, cl: dict) -> str:
    if kind in ("psgld", "mala"):
        gap = cl.get("accuracy_gap_vs_sgld", {}).get(m["run"])
        if gap is None:
            return "diverged" if m["status"] == "diverged" else "no SGLD run"
        return f"{'consistent' if abs(gap) <= SPREAD_TOL else 'inconsistent'} (accuracy - SGLD = {gap:+.3f})"
    if kind == "psgld_small":
        fast, div = cl.get("small_lambda_faster_first_epoch"), cl.get("small_lambda_diverged")
        ok = bool(fast) and bool(div)
        return (f"{'consistent' if ok else 'inconsistent'} (first-epoch accuracy above SGLD: "
                f"{'n/a' if fast is None else 'yes' if fast else 'no'}; diverged: {'yes' if div else 'no'})")
    return "reference row" if kind == "sgld" else "no paper claim"


def table_rows(metrics: list[dict], profile: str) -> list[dict]:
    order = {k: i for i, k in enumerate(JEM_LABELS)}
    metrics = sorted(metrics, key=lambda m: (order.get(_kind(m), len(order)), m["run"]))
    cl = claims(metrics)
    rows = []
    for m in metrics:
        kind = _kind(m)
        real = m["real_cifar10"]
        done = m["status"] == "completed"
        acc = m["test_acc"]
        row = {c: "" for c in TABLE_COLUMNS}
        row.update({
            "sampler": JEM_LABELS.get(kind, m["run"]), "run": m["run"], "profile": profile, "data": m["data"],
            "accuracy_paper": JEM_ACC.get(kind, ""), "fid_paper": JEM_FID.get(kind, ""),
            "acc_epoch1_paper": JEM_ACC_EPOCH1.get(kind, ""), "acc_epoch1": m.get("acc_epoch1"),
            "epochs": m["epochs"], "status": m["status"], "diverged_at_epoch": m.get("diverged_at_epoch"),
            "test_acc_clean": m["test_acc_clean"], "accept_prob_final": m["accept_prob_final"],
            "inv_precond_final": m["inv_precond_final"],
            "seconds_per_epoch": (None if m["seconds_per_iteration"] is None
                                  else m["seconds_per_iteration"] * m["iterations_per_epoch"]),
        })
        row["accuracy_reproduced" if real else "accuracy_substitute"] = acc
        # stand-in and substitute scores get their own columns; so does a real FID of other images
        fid_column = "fid_reproduced" if real else "inception_fid_substitute_data"
        for metric, value in m["scores"].items():
            if value is not None:
                row[column_for(m["extractors"][metric], fid_column)] = value
        fid_in = row["fid_reproduced"] if row["fid_reproduced"] != "" else None
        verdict = _claim_verdict(kind, m, cl)
        if real:
            if kind in JEM_ACC and done:
                ok = abs(acc - JEM_ACC[kind]) <= ACC_TOL and (
                    fid_in is None or abs(fid_in - JEM_FID[kind]) / JEM_FID[kind] <= FID_REL_TOL)
                row["verdict"] = f"{'consistent' if ok else 'inconsistent'} with the thesis's values; {verdict}"
            else:
                row["verdict"] = verdict if kind != "sgld" or done else "diverged"
            row["verdict_substitute"] = ""
        else:
            row["verdict"] = f"not comparable (data: {m['data']})"
            row["verdict_substitute"] = f"{verdict} [substitute data]"
        if not done:
            row["verdict" if real else "verdict_substitute"] += f"; diverged at epoch {m['diverged_at_epoch']:.2f}"
        rows.append(row)
    return rows


def _load_metrics(run_dirs: list[str]) -> list[dict]:
    return [read_json(Path(d) / "metrics.json", "run the 'train' step first")
            for d in run_dirs]


def cmd_table(args) -> None:
    metrics = _load_metrics(args.runs)
    rows = table_rows(metrics, args.profile)
    atomic_write_text(args.csv, csv_text(rows, TABLE_COLUMNS))
    if args.metrics:
        atomic_write_json(args.metrics, {
            "claims": claims(metrics),
            "runs": {m["run"]: {"test_acc": m["test_acc"], "status": m["status"], **m["scores"],
                                "seconds_per_iteration": m["seconds_per_iteration"]} for m in metrics}})


def cmd_figures(args) -> None:
    from ebmlab.jem_figures import write_figures
    write_figures([Path(d) for d in args.runs], Path(args.out_dir), args.prefix, args.chain_iterations)


# ---------------------------------------------------------------------------
# time per epoch

def _parse_size(text: str) -> tuple[int, int]:
    try:
        depth, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--models: expected DEPTHxWIDTH such as 28x10, got {text!r}") from None
    return depth, width


def cmd_bench(args) -> None:
    """Seconds per iteration of every run's sampler on CIFAR-shaped synthetic data, per model size."""
    study = _load(args, need_run=False)
    sizes = [_parse_size(s) for s in args.models]
    for depth, width in sizes:
        from_dict(WRNConfig, {"depth": depth, "width": width}, "model")   # one-line error for a bad size
    torch.set_num_threads(study.threads)
    device = resolve_device(study.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cfg = study.train
    n_iter = args.warmup + args.iterations
    g = torch.Generator().manual_seed(0)
    shape = (3, 32, 32)
    data = Labelled((torch.rand(cfg.batch_size * n_iter, *shape, generator=g) * 255).to(torch.uint8),
                    torch.randint(10, (cfg.batch_size * n_iter,), generator=g))
    train_cfg = dataclasses.replace(cfg, epochs=1.0, max_iterations=n_iter, warmup_iters=0)
    rows = []
    for depth, width in sizes:
        for label, spec in study.samplers.items():
            torch.manual_seed(study.seed)
            model = build_model(Tagged("wrn", WRNConfig(depth=depth, width=width)), shape)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            trainer = JEMTrainer(model, data, train_cfg, SamplerSchedule(samplers.build(spec)), seed=study.seed,
                                 device=device, progress=None)
            hist = trainer.train().history
            secs = sorted(r["seconds"] for r in hist[args.warmup:])
            per_it = secs[len(secs) // 2]
            per_epoch_50k = per_it * (50000 // cfg.batch_size)
            rows.append({
                "sampler": label, "sampler_name": spec.name, "model": f"WRN-{depth}-{width}",
                "params_millions": sum(p.numel() for p in model.parameters()) / 1e6,
                "batch_size": cfg.batch_size, "steps": cfg.steps, "iterations_timed": len(secs),
                "seconds_per_iteration": per_it, "seconds_per_epoch_50k": per_epoch_50k,
                "hours_per_100_epochs": per_epoch_50k * 100 / 3600,
                "peak_memory_gb": (torch.cuda.max_memory_allocated(device) / 2 ** 30
                                   if device.type == "cuda" else ""),
                "device": _device_name(device), "torch": torch.__version__,
            })
            del trainer, model
    columns = list(rows[0])
    atomic_write_text(args.csv, csv_text(rows, columns))
    print(csv_text(rows, columns), end="")


def _device_name(device: torch.device) -> str:
    from ebmlab.records import device_description
    return device_description() if device.type == "cuda" else "cpu"


# ---------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ebmlab.jem", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("classifier", help="train the digit classifier of the substitute metric")
    add_config_args(k)
    k.add_argument("--out", required=True, help="weights file to write")
    r = sub.add_parser("reference", help="reference feature statistics of the data set (cached)")
    add_config_args(r)
    r.add_argument("--ref-dir", required=True, help="cache folder of reference statistics")
    r.add_argument("--classifier", help="digit-classifier weights (metric 'classifier')")
    t = sub.add_parser("train", help="train JEM with one sampler, then measure accuracy and FID")
    add_config_args(t)
    t.add_argument("--run", help="run label (a key of samplers:) when the configuration is the whole study")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--ref-dir", required=True, help="cache folder of reference statistics")
    t.add_argument("--classifier", help="digit-classifier weights (metric 'classifier')")
    b = sub.add_parser("table", help="collect runs into Table 4.2")
    b.add_argument("--runs", nargs="+", required=True)
    b.add_argument("--profile", required=True)
    b.add_argument("--csv", required=True)
    b.add_argument("--metrics", help="metrics JSON (DVC): per-run numbers and the thesis's claims")
    f = sub.add_parser("figures", help="Figs 4.12-4.16 from trained runs")
    f.add_argument("--runs", nargs="+", required=True)
    f.add_argument("--out-dir", required=True)
    f.add_argument("--prefix", default="jem", help="file-name prefix, e.g. jem or jem_mnist")
    f.add_argument("--chain-iterations", type=int, nargs="+", default=None,
                   help="iterations for Figs 4.13/4.14 (default: the runs' figures.chain_iterations)")
    s = sub.add_parser("bench", help="seconds per iteration and per 50,000-image epoch on synthetic CIFAR shapes")
    add_config_args(s)
    s.add_argument("--models", nargs="+", default=["28x10"], help="WRN sizes DEPTHxWIDTH, e.g. 28x10 28x2")
    s.add_argument("--iterations", type=int, default=5, help="timed iterations per (size, sampler)")
    s.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    s.add_argument("--csv", required=True)
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    {"classifier": cmd_classifier, "reference": cmd_reference, "train": cmd_train, "table": cmd_table,
     "figures": cmd_figures, "bench": cmd_bench}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
