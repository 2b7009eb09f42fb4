"""The STANLEY study's jobs: rings runs, curve segments and their scoring, references, inpainting.

Every sampler trains the same energy with Algorithm 1's loop (see the package docstring).
Scores at every point of a curve use the same reference statistics, sample count and seed
(``fid.seed``): the samples are fresh short-run chains from noise with the run's own sampler
and K transitions, as the model is trained to produce them.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import torch

from ebmlab.cli import resolve_device
from ebmlab.config import Tagged, check, to_dict
from ebmlab.data.images import load_images
from ebmlab.data.rings import PointSet, rings
from ebmlab.engine.image import engine_target
from ebmlab.errors import ConfigError
from ebmlab.io import atomic_torch_save, atomic_write_json, atomic_write_text, load_torch
from ebmlab.metrics.scoring import build_extractors, reference_statistics, score, to_unit
from ebmlab.models import build_model
from ebmlab.plotting import save_image_grid
from ebmlab.progress import progress as progress_iter
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.studies.stanley.config import (
    SAMPLER_LABELS, CurveJob, InpaintJob, ReferenceJob, RingsRun, temperature_of,
)
from ebmlab.studies.stanley.jobs import convention_applies
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.image import history_columns, ImageTrainConfig, ImageTrainer, SamplerSchedule, train_or_record
from ebmlab.train.toy import frozen


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


def _train_for(cfg: ImageTrainConfig, iterations: int, n_train: int) -> ImageTrainConfig:
    """``cfg`` set to stop after exactly ``iterations`` EBM iterations."""
    per_epoch = cfg.iterations_per_epoch(n_train)
    return dataclasses.replace(cfg, epochs=iterations / per_epoch + 1.0, max_iterations=iterations)


def _mean_seconds(hist: list[dict]) -> float | None:
    # the first iteration includes warm-up: left out when there are others
    secs = [r["seconds"] for r in hist[1:]] or [r["seconds"] for r in hist]
    return sum(secs) / len(secs) if secs else None


# ---------------------------------------------------------------------------
# rings toy (Fig 1)

def rings_run(run: RingsRun, out: Path) -> None:
    """Train one sampler on the rings toy: Fig 1 snapshots and the distance-to-truth curve."""
    torch.set_num_threads(run.threads)
    device = resolve_device(run.device)
    sampler = run.build_sampler()
    gen = torch.Generator().manual_seed(run.seed)
    x_train, _ = rings(run.data.n_train, run.data, gen)
    truth, _ = rings(run.eval_samples, run.data, torch.Generator().manual_seed(run.seed + 104729))
    resolved = to_dict(run)
    torch.manual_seed(run.seed)  # the same initial weights for every sampler
    model = build_model(run.model, (2,))
    cfg = _train_for(run.train_config(), run.iterations, run.data.n_train)
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
    _, diverged = train_or_record(trainer, "record")   # always recorded: one line on stderr
    hist, reached = list(trainer.history), trainer.iteration   # the curve up to the divergence
    if diverged:
        trainer.restore_last_good()   # model.pt holds the last good state, not the diverged one
    points = [{"iteration": r["iteration"] + 1, "distance": r["distance"], "radial_w1": r.get("radial_w1")}
              for r in hist if "distance" in r]
    # the distance between two independent true samples of the same size: the best reachable value
    other, _ = rings(run.eval_samples, run.data, torch.Generator().manual_seed(run.seed + 1299709))
    floor, floor_w1 = distance(other), radial_w1(other, truth)
    atomic_write_text(out / "history.csv", csv_text(hist, history_columns(hist)) if hist else "iteration\n")
    atomic_write_json(out / "truth.json", {"x": truth.tolist()})
    atomic_torch_save({"model": trainer.model.state_dict(), "iteration": trainer.iteration, "config": resolved},
                      out / "model.pt")
    write_record(out / "rings.run.yaml", command="ebmlab.studies.stanley rings", config=resolved, seed=run.seed,
                 extra={"wall_seconds": trainer.wall, "diverged": diverged})
    atomic_write_json(out / "metrics.json", {
        "label": run.label, "sampler": run.sampler.name, "sampler_config": to_dict(sampler.config),
        "temperature": temperature_of(Tagged(sampler.name, sampler.config)), "gamma_from": run.gamma_from,
        "distance": run.distance, "points": points, "noise_floor": floor, "noise_floor_radial_w1": floor_w1,
        "iterations": reached,
        "iterations_planned": trainer.total, "seconds_per_iteration": _mean_seconds(hist),
        "train_wall_seconds": trainer.wall, "diverged": diverged, "seed": run.seed, "device": str(device),
        "snapshots": sorted(int(p.stem) for p in snap_dir.glob("*.pt")),
        "data": to_dict(run.data)})


# ---------------------------------------------------------------------------
# image FID curves (Figs 4-5)

def _job_hash(job: CurveJob) -> str:
    """Identity of a curve's training (scoring settings excluded: they may change freely)."""
    d = to_dict(job)
    d.pop("fid", None)
    d["entry"].pop("metrics", None)
    if not convention_applies(d, d["sampler"]):   # as its slice: a sampler the convention leaves alone
        d.pop("temperature", None)
        d.pop("baseline", None)
    return config_hash(d)


def segment(job: CurveJob, until: int, previous: Path | None, out: Path) -> None:
    """Train one curve from iteration ``until - eval_every`` (checkpoint ``previous``) to ``until``."""
    every = job.entry.eval_every
    if until not in job.entry.points():
        raise ConfigError(f"--until {until} is not a checkpoint of this curve (every {every} up to "
                          f"{job.entry.iterations})")
    if (until > every) != (previous is not None):
        raise ConfigError(f"--previous is needed exactly when --until > {every}")
    torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    sampler = job.build_sampler(job.sampler)
    data = load_images(job.entry.data)                  # DataError (how to get it) before any compute
    jhash = _job_hash(job)
    prev = None
    if previous is not None:
        prev = load_torch(previous, "run the previous segment first", what="segment checkpoint")
        if prev.get("job_hash") != jhash or prev.get("iteration") != until - every:
            raise ConfigError(f"{previous} is not iteration {until - every} of this curve's training")
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
    _, diverged = train_or_record(trainer, job.on_diverge)
    if diverged is not None:
        state = store.load() or (prev["trainer"] if prev is not None else None)
        if state is None:  # nothing good yet: the weights training started from
            trainer.restore_last_good()
            state = trainer.state_dict()
    if diverged is None:
        state = trainer.state_dict()
    atomic_torch_save({"format": "ebmlab-stanley-segment-1", "job_hash": jhash, "iteration": until,
                       "trainer": state, "diverged": diverged, "wall_seconds": trainer.wall,
                       "config": to_dict(job)}, out)
    shutil.rmtree(partial, ignore_errors=True)


def _extractors_refs(job: CurveJob | ReferenceJob, metrics: list[str], classifier: str | None, ref_dir, device):
    extractors = build_extractors(metrics, classifier, device)
    refs = reference_statistics(job.data if isinstance(job, ReferenceJob) else job.entry.data,
                                job.fid.reference_split, job.fid.reference_n, extractors, ref_dir)
    return extractors, refs


def reference(job: ReferenceJob, ref_dir: str, classifier: str | None) -> None:
    """One data set's reference feature statistics (cached in ``ref_dir``)."""
    torch.set_num_threads(job.threads)
    extractors, refs = _extractors_refs(job, job.metrics, classifier, ref_dir, resolve_device(job.device))
    atomic_write_json(Path(ref_dir) / f"{job.dataset}.json", {
        "dataset": job.dataset, "split": job.fid.reference_split,
        "metrics": {k: {"extractor": getattr(extractors[k], "id", k), "n": getattr(refs[k], "n", None)}
                    for k in refs}})


def _load_segment(path, job: CurveJob) -> dict:
    ckpt = load_torch(path, "run its training segment first", what="segment checkpoint")
    if ckpt.get("job_hash") != _job_hash(job):
        raise ConfigError(f"{path} was trained with another configuration than this curve's")
    return ckpt


def _model_at(job, ckpt: dict, shape, device):
    model = build_model(job.entry.model, shape)
    model.load_state_dict(ckpt["trainer"]["model"])
    return model.to(device)


def fid_point(job: CurveJob, checkpoint: str, ref_dir: str, classifier: str | None, out: str,
              samples: str | None = None) -> None:
    """Score one checkpoint of a curve (and, if asked, write a grid of 64 of the scored samples)."""
    torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    data = load_images(job.entry.data)
    extractors, refs = _extractors_refs(job, job.entry.metrics, classifier, ref_dir, device)
    ckpt = _load_segment(checkpoint, job)
    hist = ckpt["trainer"]["history"]
    sampler = job.build_sampler(job.sampler)
    point = {"dataset": job.dataset, "sampler": job.curve, "sampler_name": job.sampler.name,
             "sampler_config": to_dict(sampler.config), "temperature": temperature_of(Tagged(sampler.name, sampler.config)),
             "iteration": ckpt["iteration"], "n_samples": 0, "diverged": ckpt.get("diverged"),
             "scores": {k: None for k in extractors},
             "extractors": {k: getattr(ex, "id", k) for k, ex in extractors.items()},
             "data": job.entry.data.describe(), "steps": job.steps, "seed": job.fid.seed,
             "seconds_per_iteration": _mean_seconds(hist),
             "train_wall_seconds": ckpt["trainer"]["wall_seconds"], "device": str(device)}
    grid = None
    if not ckpt.get("diverged"):
        model = _model_at(job, ckpt, tuple(data.x.shape[1:]), device)
        gen = torch.Generator(device=device).manual_seed(job.fid.seed)
        x = short_run_samples(model, sampler, job.train, job.fid.n_samples,
                              tuple(data.x.shape[1:]), job.value_range, job.steps, gen, device, job.fid.batch_size,
                              progress=None)
        point["n_samples"] = int(x.shape[0])
        if bool(torch.isfinite(x).all()):
            point["scores"] = score(x, job.value_range, extractors, refs, progress=None)
        else:
            point["diverged"] = "non-finite samples"
        grid = to_unit(x[:64], job.value_range)
    if samples:
        save_image_grid(grid, samples)  # None (diverged): a grey tile
    atomic_write_json(out, point)


# ---------------------------------------------------------------------------
# inpainting (Fig 6)

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


INPAINT_COLUMNS = ["dataset", "sampler", "masked_mse", "n_images", "iteration", "diverged", "profile"]


def inpainting(job: InpaintJob, checkpoints: dict[str, str], figure: str, csv: str, profile: str) -> None:
    """Fig 6 and its table: fill the mask of the first test images with each curve's final energy."""
    from ebmlab.studies.stanley.figures import inpainting_figure
    missing = [s for s in job.samplers if s not in checkpoints]
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
        curve = job.curve_job(label)
        ckpt = _load_segment(checkpoints[label], curve)
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
                     "profile": profile, "dataset": job.dataset, "iteration": iteration,
                     "diverged": "yes" if ckpt.get("diverged") else "no"})
    inpainting_figure(to_unit(x, job.value_range), mask, {k: None if v is None else to_unit(v, job.value_range)
                                                          for k, v in filled.items()},
                      Path(figure), f"{job.entry.data.describe()}, mask {ip.mask}")
    atomic_write_text(csv, csv_text(rows, INPAINT_COLUMNS))
