"""The study's jobs: the digit classifier, one regime's training, and its evaluation.

``evaluate`` measures (a) the test-set NLL at the training temperature by AIS
(ebmlab.metrics.ais), (b) mode coverage: the class histogram and its entropy of
``long_chains`` chains run ``long_steps`` steps from uniform noise, classified by the
digit classifier (also at the high noise of Fig 4, and with a deformation every
``deform_every`` steps for the regimes in ``deform_coverage``), (c) the classifier-feature
Frechet distance of those samples to the test set (a labelled substitute for FID), (d) the
fraction of chains started on test images that end within ``stay_radius`` x (median
nearest-neighbour distance between test images) of their start. It also runs the chains of
the Fig 3-5 analogues for the regimes that appear in them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ebmlab.cli import resolve_device
from ebmlab.config import to_dict
from ebmlab.data.images import load_images
from ebmlab.engine.image import engine_target
from ebmlab.errors import ConfigError
from ebmlab.io import atomic_path, atomic_torch_save, atomic_write_json, atomic_write_text, load_torch, require_file
from ebmlab.metrics.ais import ais_log_z, nll_from_ais
from ebmlab.metrics.classifier import train_classifier
from ebmlab.metrics.scoring import to_unit
from ebmlab.models import build_model
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.studies.cd_vs_nll.config import REGIME_LABELS, ClassifierRun, CDvsNLLStudy, EvalRun, TrainRun
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.deform import ElasticConfig, deformation_callback, elasticdeform_module
from ebmlab.train.image import history_columns, ImageTrainer, SamplerSchedule, train_or_record
from ebmlab.train.practical import ScaledEnergy, lr_annealing_hook


def _energy(run: TrainRun | EvalRun, in_shape) -> torch.nn.Module:
    torch.manual_seed(run.seed)  # the same initial weights for every regime
    net = build_model(run.model, tuple(in_shape))
    return ScaledEnergy(net, run.eps) if run.practical.rescale_energy else net


def _load_split(cfg, split: str | None = None):
    data = cfg.data if split is None else dataclasses.replace(cfg.data, split=split)
    return load_images(data)


# ---------------------------------------------------------------------------
# check, classifier and train


def check_study(study: CDvsNLLStudy) -> list[str]:
    """Validate what the jobs will need (device, data files, elasticdeform); the regime names."""
    from ebmlab.studies.base import job_of
    from ebmlab.studies.cd_vs_nll.jobs import JOBS
    resolve_device(study.device)
    for split in ("train", study.test_split):
        _load_split(study, split)
    if any(job_of(study, JOBS["evaluate"], r).uses_deformation() for r in study.regimes):
        elasticdeform_module()
    return list(study.regimes)


def classifier(cfg: ClassifierRun, out: Path) -> None:
    """The digit classifier of (b) and (c), trained on the study's training images."""
    torch.set_num_threads(cfg.threads)
    train_classifier(cfg.data, out, device=resolve_device(cfg.device), seed=cfg.seed, config=cfg.classifier)


def train(run: TrainRun, out: Path) -> None:
    """One regime: Algorithm 7 with the regime's settings; resumes from out/ckpt."""
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
    trainer = ImageTrainer(model, data, run.train_config(), SamplerSchedule(run.train_sampler()),
                           seed=run.seed, device=device, value_range=run.value_range, store=store, hooks=hooks,
                           make_target=make_target, progress=None)
    _, diverged = train_or_record(trainer, run.on_diverge)   # record: one line on stderr
    hist, reached = list(trainer.history), trainer.iteration   # the curves up to the divergence
    if diverged:
        trainer.restore_last_good()   # model.pt holds the last good state, not the diverged one
    atomic_write_text(out / "history.csv", csv_text(hist, history_columns(hist)) if hist else "iteration,d_st,r_t\n")
    atomic_torch_save({"model": trainer.model.state_dict(), "config": resolved, "iteration": trainer.iteration,
                       "diverged": diverged}, out / "model.pt")
    write_record(out / "train.run.yaml", command="ebmlab.studies.cd_vs_nll train", config=resolved, seed=run.seed,
                 extra={"wall_seconds": trainer.wall, "iterations": reached, "diverged": diverged})


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


def evaluate(run: EvalRun, out: Path, classifier_path: str | None) -> None:
    """(a)-(d) and the figure chains of a trained regime; metrics.json is written last."""
    torch.set_num_threads(run.threads)
    device = resolve_device(run.device)
    if run.uses_deformation():
        elasticdeform_module()
    ckpt = load_torch(out / "model.pt", "run 'train' first", map_location=device, what="model file")
    clf = _classifier(classifier_path, device)
    test = _load_split(run, run.test_split)
    ev, vr, T = run.eval, run.value_range, run.temperature
    t0 = time.perf_counter()
    head = {"regime": run.label, "label": REGIME_LABELS.get(run.label, run.label), "temperature": T,
            "iterations": ckpt["iteration"], "diverged": ckpt["diverged"], "seed": run.seed, "device": str(device),
            "data": run.data.describe()}
    if ckpt["diverged"]:  # no model to evaluate: empty chains, metrics say why
        _save_npz(out / "chains.npz", {})
        atomic_write_json(out / "metrics.json", head)
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
    ref = clf.features(to_unit(x_test, vr)).double().cpu().numpy()
    ref_mu, ref_cov = ref.mean(0), np.cov(ref, rowvar=False)

    def score(samples: Tensor) -> dict:
        u = to_unit(samples, vr)
        cov = coverage(clf.predict(u).cpu().numpy(), clf.n_classes, ev.bootstrap, rng)
        fd, fd_se = frechet_with_se(clf.features(u).double().cpu().numpy(), ref_mu, ref_cov, ev.bootstrap, rng)
        return {**cov, "frechet": fd, "frechet_se": fd_se}

    low = run.eval_sampler(ev.noise_std)
    x_long = batched_chains(chain_target, low, uniform(ev.long_chains, shape, vr, gen, device), ev.long_steps, gen,
                            ev.batch, what="long chains")
    metrics = {**head, "nll": nll, "coverage": score(x_long)}
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
    same = (clf.predict(to_unit(ends, vr)) == clf.predict(to_unit(starts, vr))).double().mean()
    n = starts.shape[0]
    metrics["stay"] = {"fraction": stay, "fraction_se": math.sqrt(max(stay * (1 - stay), 1.0 / n) / n),
                       "radius": radius, "mean_distance": float(dist.mean()), "same_class_fraction": float(same),
                       "n": n}

    chains = figure_chains(run, chain_target, x_test, device)
    _save_npz(out / "chains.npz", {"long_samples": to_unit(x_long[:64], vr).cpu().numpy(),
                                   "high_samples": to_unit(x_high[:64], vr).cpu().numpy(), **chains})
    metrics.update({"ais": {"ess": ais.ess, "chains": run.ais.chains, "steps": run.ais.steps,
                            "accept_mean": float(ais.accept.mean()), "log_z": ais.log_z, "log_z_se": ais.log_z_se},
                    "n_test": n_test, "eval_seconds": time.perf_counter() - t0,
                    "long_steps": ev.long_steps, "long_chains": ev.long_chains, "noise_std": ev.noise_std,
                    "high_noise_std": ev.high_noise_std, "noise_is": run.noise_is, "train_noise_std": run.eps})
    write_record(out / "evaluate.run.yaml", command="ebmlab.studies.cd_vs_nll evaluate", config=to_dict(run),
                 seed=run.seed, extra={"numerics": run.engine.describe()})
    atomic_write_json(out / "metrics.json", metrics)  # last: the job's completion marker


def _save_npz(path: Path, arrays: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def figure_chains(run: EvalRun, model, x_test: Tensor, device) -> dict[str, np.ndarray]:
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
