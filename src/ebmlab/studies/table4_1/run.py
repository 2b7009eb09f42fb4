"""The Table 4.1 study's jobs: reference statistics of one data set, and one cell (train, then score).

FID samples: ``fid.source: buffer`` scores ``fid.n_samples`` states of the replay
buffer (the model's persistent samples), ``fresh`` runs new chains from uniform noise;
``fid.steps`` more transitions of the run's last sampler are applied first (with the
EMA weights when ``fid.ema``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from ebmlab.cli import resolve_device
from ebmlab.config import to_dict
from ebmlab.data.images import load_images
from ebmlab.engine.image import engine_target
from ebmlab.io import atomic_torch_save, atomic_write_json, atomic_write_text
from ebmlab.metrics.scoring import build_extractors, reference_statistics, score, to_unit
from ebmlab.models import build_model
from ebmlab.progress import progress as progress_iter
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.studies.table4_1.config import FIDConfig, Table41Cell, Table41Reference
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.image import history_columns, ImageTrainer, train_or_record
from ebmlab.train.toy import frozen


def _references(entry, fid: FIDConfig, extractors: dict, ref_dir: str | Path) -> dict:
    return reference_statistics(entry.data, fid.reference_split, fid.reference_n, extractors, str(ref_dir))


# ---------------------------------------------------------------------------
# sampling for FID

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
# the jobs

def reference(job: Table41Reference, ref_dir: str | Path, classifier: str | None) -> None:
    """Reference feature statistics of one data set (cached in ``ref_dir``) and a summary JSON."""
    torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    extractors = build_extractors(job.entry.metrics, classifier, device)
    t0 = time.perf_counter()
    refs = _references(job.entry, job.fid, extractors, ref_dir)
    summary = {kind: {"extractor": getattr(extractors[kind], "id", kind), "n": getattr(refs[kind], "n", None)}
               for kind in refs}
    atomic_write_json(Path(ref_dir) / f"{job.dataset}.json",
                      {"dataset": job.dataset, "split": job.fid.reference_split,
                       "metrics": summary, "seconds": time.perf_counter() - t0})


def cell(cell: Table41Cell, out: Path, ref_dir: str | Path, classifier: str | None) -> None:
    """Train one (data set, run) cell with Algorithm 7, then score it; resumes from out/ckpt."""
    torch.set_num_threads(cell.threads)
    device = resolve_device(cell.device)
    schedule = cell.schedule()
    data = load_images(cell.entry.data)                 # DataError (how to get it) before any compute
    extractors = build_extractors(cell.entry.metrics, classifier, device)
    refs = _references(cell.entry, cell.fid, extractors, ref_dir)
    resolved = to_dict(cell)
    torch.manual_seed(cell.seed)  # the same initial weights for every sampler of a data set
    model = build_model(cell.entry.model, tuple(data.x.shape[1:]))
    store = CheckpointStore(out / "ckpt", config_hash(resolved))
    make_target = engine_target(model.to(device), cell.engine, device)
    trainer = ImageTrainer(model, data, cell.train_config, schedule, seed=cell.seed, device=device,
                           value_range=cell.value_range, store=store, make_target=make_target, progress=None)
    hook = fid_curve_hook(cell, extractors, refs, trainer.per_epoch)
    trainer.hooks = [hook] if hook else []
    result, diverged = train_or_record(trainer, cell.on_diverge)
    metrics = _evaluate(cell, trainer, extractors, refs, out, diverged, device)
    # the curves up to the divergence; model.pt then holds the last good state, not the diverged one
    hist, chain_log = list(trainer.history), list(trainer.chain_log)
    if diverged:
        metrics["model_state"] = trainer.restore_last_good()
    if hist:
        atomic_write_text(out / "history.csv", csv_text(hist, history_columns(hist)))
    else:
        atomic_write_text(out / "history.csv", "iteration\n")
    atomic_write_json(out / "chains.json", chain_log)
    atomic_torch_save({"model": trainer.model.state_dict(),
                       "ema": None if trainer.ema is None else trainer.ema.state_dict(),
                       "iteration": trainer.iteration, "diverged": diverged, "config": resolved}, out / "model.pt")
    write_record(out / "cell.run.yaml", command="ebmlab.studies.table4_1 cell", config=resolved, seed=cell.seed,
                 extra={"wall_seconds": trainer.wall,
                        "resumed_from_iteration": None if diverged else result.resumed_from,
                        "diverged": diverged, "numerics": cell.engine.describe()})
    atomic_write_json(out / "metrics.json", metrics)  # last: the job's completion marker


def _evaluate(cell: Table41Cell, trainer: ImageTrainer, extractors, refs, out: Path, diverged, device) -> dict:
    from ebmlab.plotting import save_image_grid
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
        save_image_grid(to_unit(x[:64], trainer.value_range), out / "samples.png")
    else:
        save_image_grid(None, out / "samples.png")  # diverged: a grey tile
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
