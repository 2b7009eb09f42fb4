"""The JEM study's jobs: the digit classifier, reference statistics, one training run per
sampler (accuracy and FID), and the time-per-epoch bench."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from ebmlab import samplers
from ebmlab.cli import resolve_device
from ebmlab.config import Tagged, check, from_dict, to_dict
from ebmlab.data.images import ImageDataConfig, load_images, to_float
from ebmlab.engine.image import engine_target
from ebmlab.errors import ConfigError
from ebmlab.io import atomic_torch_save, atomic_write_json, atomic_write_text
from ebmlab.metrics.fid import fid
from ebmlab.metrics.scoring import build_extractors, reference_statistics, to_unit
from ebmlab.models import WRNConfig, build_model
from ebmlab.plotting import save_image_grid
from ebmlab.progress import progress as progress_iter
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.studies.jem.config import JEMBench, JEMClassifier, JEMCommon, JEMReference, JEMRun
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.image import history_columns, SamplerSchedule, train_or_record
from ebmlab.train.jem import VALUE_RANGE, JEMTrainer

CLASSIFIER_HINT = "train the digit classifier first (python -m ebmlab.studies.jem classifier)"


# ---------------------------------------------------------------------------
# inputs

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


def _references(cfg: JEMReference | JEMRun, extractors: dict, ref_dir: str) -> dict:
    return reference_statistics(cfg.data, cfg.fid.reference_split, cfg.fid.reference_n, extractors, ref_dir)


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
# the jobs

def classifier(cfg: JEMClassifier, out: Path) -> None:
    """Train the digit classifier whose features the substitute Frechet distance uses."""
    from ebmlab.metrics.classifier import train_classifier
    torch.set_num_threads(cfg.threads)
    train_classifier(cfg.data, out, device=resolve_device(cfg.device), seed=cfg.seed)


def reference(cfg: JEMReference, ref_dir: str, classifier_weights: str | None) -> None:
    """Reference feature statistics of ``fid.reference_split`` for every metric (cached in ``ref_dir``)."""
    torch.set_num_threads(cfg.threads)
    extractors = build_extractors(cfg.fid.metrics, classifier_weights, resolve_device(cfg.device), CLASSIFIER_HINT)
    t0 = time.perf_counter()
    refs = _references(cfg, extractors, ref_dir)
    atomic_write_json(Path(ref_dir) / "jem.json", {
        "data": cfg.data.describe(), "split": cfg.fid.reference_split,
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


def train(run: JEMRun, out: Path, ref_dir: str, classifier_weights: str | None) -> None:
    """Train JEM with one sampler, then measure accuracy and FID; resumes from out/ckpt."""
    torch.set_num_threads(run.threads)
    device = resolve_device(run.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True   # as JEM
    train_set, valid, test = load_splits(run)   # DataError (how to get it) before any compute
    extractors = build_extractors(run.fid.metrics, classifier_weights, device, CLASSIFIER_HINT)
    refs = _references(run, extractors, ref_dir)
    sampler = samplers.build(run.sampler)
    resolved = to_dict(run)
    torch.manual_seed(run.seed)   # the same initial weights for every sampler
    model = build_model(run.model, tuple(train_set.x.shape[1:]))
    store = CheckpointStore(out / "ckpt", config_hash(resolved))
    make_target = engine_target(model.to(device), run.engine, device)
    trainer = JEMTrainer(model, train_set, run.train, SamplerSchedule(sampler), seed=run.seed, device=device,
                         store=store, make_target=make_target, progress=None)
    trainer.hooks = [accuracy_hook(run, valid, test, device)]
    result, diverged = train_or_record(trainer, run.on_diverge)
    resumed = None if result is None else result.resumed_from
    # up to the divergence, for the curves (loading the checkpoint below truncates the trainer's copies)
    history, chain_log, restarts = list(trainer.history), list(trainer.chain_log), list(trainer.restarts)
    diverged_at = trainer.iteration if diverged else None
    if diverged:   # score and save the last good state (without a checkpoint: the starting weights)
        trainer.restore_last_good()
    metrics = _final_metrics(run, trainer, history, valid, test, extractors, refs, out, device)
    metrics.update({"status": "diverged" if diverged else "completed", "diverged": diverged,
                    "diverged_at_iteration": diverged_at,
                    "diverged_at_epoch": None if diverged_at is None else diverged_at / trainer.per_epoch,
                    "restarts": restarts})
    atomic_write_text(out / "history.csv", csv_text(history, history_columns(history)) if history else "iteration\n")
    atomic_write_json(out / "chains.json", chain_log)
    atomic_torch_save({"model": trainer.model.state_dict(), "iteration": trainer.iteration, "config": resolved},
                      out / "model.pt")
    write_record(out / "train.run.yaml", command="ebmlab.studies.jem train", config=resolved, seed=run.seed,
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
        unit = to_unit(x, VALUE_RANGE)
        # fid directly, not scoring.score: the feature batch is the study's fid.batch_size
        scores = {kind: float(fid(unit, refs[kind], ex, batch_size=run.fid.batch_size, progress=None))
                  for kind, ex in extractors.items()}
        save_image_grid(unit[:64], out / "samples.png")
    else:
        save_image_grid(None, out / "samples.png")
    sampler_cfg = to_dict(run.sampler)
    return {
        "run": run.label,
        "job": run.job_label,
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


# ---------------------------------------------------------------------------
# time per epoch

def _parse_size(text: str) -> tuple[int, int]:
    try:
        depth, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--models: expected DEPTHxWIDTH such as 28x10, got {text!r}") from None
    return depth, width


def bench(cfg: JEMBench, models: list[str], iterations: int, warmup: int, csv_path: str) -> None:
    """Seconds per iteration of every run's sampler on CIFAR-shaped synthetic data, per model size."""
    sizes = [_parse_size(s) for s in models]
    for depth, width in sizes:
        from_dict(WRNConfig, {"depth": depth, "width": width}, "model")   # one-line error for a bad size
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    tcfg = cfg.train
    n_iter = warmup + iterations
    g = torch.Generator().manual_seed(0)
    shape = (3, 32, 32)
    data = Labelled((torch.rand(tcfg.batch_size * n_iter, *shape, generator=g) * 255).to(torch.uint8),
                    torch.randint(10, (tcfg.batch_size * n_iter,), generator=g))
    train_cfg = dataclasses.replace(tcfg, epochs=1.0, max_iterations=n_iter, warmup_iters=0)
    rows = []
    for depth, width in sizes:
        for label, spec in cfg.samplers.items():
            torch.manual_seed(cfg.seed)
            model = build_model(Tagged("wrn", WRNConfig(depth=depth, width=width)), shape)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            trainer = JEMTrainer(model, data, train_cfg, SamplerSchedule(samplers.build(spec)), seed=cfg.seed,
                                 device=device, progress=None)
            hist = trainer.train().history
            secs = sorted(r["seconds"] for r in hist[warmup:])
            per_it = secs[len(secs) // 2]
            per_epoch_50k = per_it * (50000 // tcfg.batch_size)
            rows.append({
                "sampler": label, "sampler_name": spec.name, "model": f"WRN-{depth}-{width}",
                "params_millions": sum(p.numel() for p in model.parameters()) / 1e6,
                "batch_size": tcfg.batch_size, "steps": tcfg.steps, "iterations_timed": len(secs),
                "seconds_per_iteration": per_it, "seconds_per_epoch_50k": per_epoch_50k,
                "hours_per_100_epochs": per_epoch_50k * 100 / 3600,
                "peak_memory_gb": (torch.cuda.max_memory_allocated(device) / 2 ** 30
                                   if device.type == "cuda" else ""),
                "device": _device_name(device), "torch": torch.__version__,
            })
            del trainer, model
    columns = list(rows[0])
    atomic_write_text(csv_path, csv_text(rows, columns))
    print(csv_text(rows, columns), end="")


def _device_name(device: torch.device) -> str:
    from ebmlab.records import device_description
    return device_description() if device.type == "cuda" else "cpu"
