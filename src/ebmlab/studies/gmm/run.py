"""The GMM study's jobs: train one energy per sampler, then measure R-hat of its chains."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ebmlab import samplers
from ebmlab.config import to_dict
from ebmlab.data.toy import gaussian_mixture
from ebmlab.diagnostics import bulk_ess, rhat, split_rhat
from ebmlab.io import atomic_save_npz, atomic_torch_save, atomic_write_json, atomic_write_text, load_torch
from ebmlab.models import MLPEnergy
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.metrics import quadrature
from ebmlab.metrics.distance import mmd_rbf
from ebmlab.studies.gmm.config import GMMCompare, GMMRun
from ebmlab.studies.gmm.jobs import TRAIN_KEYS
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.toy import start_points, train_toy_cd


def _data(run: GMMRun) -> torch.Tensor:
    gen = torch.Generator().manual_seed(run.seed)
    x, _ = gaussian_mixture(run.data.n_train, run.data.centers, run.data.std, gen)
    return x


def engine_of(run: GMMRun) -> str:
    if run.engine != "auto":
        return run.engine
    return "compiled" if run.train.epochs * run.train.steps >= 200_000 else "closed_form"


def make_target(run: GMMRun):
    """The energy evaluator the samplers use for this run (None: autograd through the model).

    Returns a factory called with the current weights each epoch; a compiled engine
    keeps one :class:`ebmlab.engine.CompiledChain` across epochs (one compilation).
    """
    engine = engine_of(run)
    if engine == "autograd":
        return None
    from ebmlab.engine import CompiledChain, MLPTarget
    from ebmlab.engine.alloc import tune_allocator
    tune_allocator()   # speed only: freed (chains x width) temporaries stay in the heap
    chain = CompiledChain(chunk=run.chunk) if engine == "compiled" else None
    exact = samplers.build(run.sampler).metropolis
    return lambda model: MLPTarget(model, run.matmul_dtype, exact_energy=exact, chain=chain)


def _model(run: GMMRun) -> MLPEnergy:
    torch.manual_seed(run.seed)  # same initial weights for every sampler
    return MLPEnergy(run.model)


def train(run: GMMRun, out: Path) -> None:
    """Train one energy with one sampler (thesis Algorithm 1); resumes from out/ckpt."""
    torch.set_num_threads(run.threads)
    sampler = samplers.build(run.sampler)
    data = _data(run)
    model = _model(run)
    # only what shapes the energy: editing the evaluation's settings never invalidates a checkpoint
    resolved = {k: v for k, v in to_dict(run).items() if k in (*TRAIN_KEYS, "label", "sampler")}
    store = CheckpointStore(out / "ckpt", config_hash(resolved))
    gen = torch.Generator().manual_seed(run.seed + 1)
    result = train_toy_cd(model, data, sampler, run.train, gen, store=store, progress=None,
                          make_target=make_target(run))
    hist = result["history"]
    cols = list(hist[0].keys())
    atomic_write_text(out / "history.csv", csv_text(hist, cols))
    atomic_torch_save({"model": model.state_dict(), "config": resolved}, out / "model.pt")
    # wall times only in the run record (and the study's timing table), never in a result file
    write_record(out / "train.run.yaml", command="ebmlab.studies.gmm train", config=resolved, seed=run.seed,
                 extra={"wall_seconds": result["wall_seconds"], "resumed_from_epoch": result["resumed_from"]})


def _rhat_chains(run: GMMRun, target, data: torch.Tensor, gen: torch.Generator):
    n_steps = run.rhat.steps or run.train.steps
    burn = int(round(run.rhat.burn_in * n_steps))
    idx = torch.randint(data.shape[0], (run.rhat.chains,), generator=gen)
    starts = start_points(data[idx], run.train.init_std, gen)
    sampler = samplers.build(run.sampler)
    res = sampler.run(target, starts, n_steps, generator=gen, keep_trace=True)
    full = torch.cat([starts[None], res.trace])  # (n_steps + 1, chains, 2)
    kept = full[1 + burn::run.rhat.thin].permute(1, 0, 2).numpy()  # (chains, draws, 2)
    return starts, full.permute(1, 0, 2).numpy(), kept, res


def evaluate(run: GMMRun, out: Path) -> None:
    """R-hat, samples and energy map of a trained run."""
    torch.set_num_threads(run.threads)
    ckpt = load_torch(out / "model.pt", "run 'train' first", what="model file")
    model = _model(run)
    model.load_state_dict(ckpt["model"])
    model.requires_grad_(False)
    factory = make_target(run)
    target = factory(model) if factory else model
    data = _data(run)
    gen = torch.Generator().manual_seed(run.seed + 2)
    t0 = time.perf_counter()
    # the scatter of Figs 4.2-4.5: every training point's chain, as in the last training epoch
    starts_all = start_points(data, run.train.init_std, gen)
    sampler = samplers.build(run.sampler)
    finals = sampler.run(target, starts_all, run.train.steps, generator=gen).x
    starts, traces, kept, res = _rhat_chains(run, target, data, gen)
    per_coord = rhat(kept)
    per_coord_split = split_rhat(kept)
    fig = run.figures
    grid = np.linspace(-fig.extent, fig.extent, fig.resolution, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    with torch.no_grad():
        energy_map = model(torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))).reshape(gx.shape).numpy()
    stride = max(1, traces.shape[1] // fig.trace_points)
    nll = _test_nll(run, model)
    metrics = {
        "label": run.label,
        "sampler": run.sampler.name,
        "rhat": float(np.max(per_coord)),
        "rhat_per_coordinate": [float(v) for v in per_coord],
        "split_rhat": float(np.max(per_coord_split)),
        "chains": run.rhat.chains,
        "draws_per_chain": int(kept.shape[1]),
        "accept_rate": float(res.diagnostics["accept_rate"].mean()) if "accept_rate" in res.diagnostics else None,
        **nll,
        "epochs": run.train.epochs,
        "steps": run.train.steps,
        "seed": run.seed,
    }
    atomic_save_npz(out / "samples.npz", data=data.numpy(), starts_all=starts_all.numpy(),
                    finals=finals.numpy(), traces=traces[:, ::stride], grid=grid, energy_map=energy_map)
    atomic_write_json(out / "rhat.json", metrics)
    write_record(out / "evaluate.run.yaml", command="ebmlab.studies.gmm evaluate", config=to_dict(run), seed=run.seed,
                 extra={"wall_seconds": time.perf_counter() - t0})


def _test_set(run, seed: int) -> torch.Tensor:
    """Fresh mixture draws (never the training set) for the test NLL."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    return gaussian_mixture(run.nll.n_test, run.data.centers, run.data.std, gen)[0]


def _test_nll(run: GMMRun, model: MLPEnergy) -> dict:
    """Exact test NLL of the trained energy (log Z by quadrature) beside the true mixture's."""
    x = _test_set(run, run.seed)
    g = quadrature.grid(model, run.nll.extent, run.nll.resolution)
    true = quadrature.mixture_energy(run.data.centers, run.data.std)
    return {"test_nll": quadrature.test_nll(model, x, g), "true_nll": float(true(x).double().mean()),
            "log_z": g.log_z, "nll_edge_mass": g.edge_mass}


# ---------------------------------------------------------------------------
# the sampler apart from the model: every sampler on one fixed energy


def nearest_mode(x: np.ndarray, centers) -> np.ndarray:
    """Index of the nearest mixture centre for points (..., 2)."""
    c = np.asarray(centers, dtype=np.float64)
    return np.argmin(((x[..., None, :] - c) ** 2).sum(-1), axis=-1)


def mode_hops(modes: np.ndarray) -> np.ndarray:
    """Per chain, how often the nearest mode changes between consecutive draws ((chains, draws) in)."""
    return (modes[:, 1:] != modes[:, :-1]).sum(axis=1)


def occupancy(modes: np.ndarray, k: int) -> np.ndarray:
    """Fraction of all draws nearest each of the k modes."""
    return np.bincount(modes.reshape(-1), minlength=k) / modes.size


def _energy(run: GMMCompare, shared_model: Path | None):
    """(evaluator the samplers use, exact-draw source, mode weights) of the job's energy."""
    k = len(run.data.centers)
    if run.energy == "true":
        e = quadrature.mixture_energy(run.data.centers, run.data.std)
        exact = lambda n, gen: gaussian_mixture(n, run.data.centers, run.data.std, gen)[0]  # noqa: E731
        return e, exact, np.full(k, 1.0 / k)
    from ebmlab.engine import MLPTarget
    ckpt = load_torch(shared_model, "train the shared energy's run first", what="model file")
    model = MLPEnergy(run.model)
    model.load_state_dict(ckpt["model"])
    model.requires_grad_(False)
    g = quadrature.grid(model, run.compare.grid_extent, run.compare.grid_resolution)
    weights = np.bincount(nearest_mode(g.points.numpy(), run.data.centers), weights=g.log_mass.exp().numpy(),
                          minlength=k)
    return MLPTarget(model, "float32"), lambda n, gen: quadrature.draws(g, n, gen), weights


def compare(run: GMMCompare, out: Path, shared_model: Path | None = None) -> None:
    """Every sampler (the study's and the reference ones) on one fixed energy, the same
    over-dispersed starts for all: R-hat, bulk ESS per gradient evaluation, mode hops,
    occupancy against the energy's own mode weights, MMD to exact draws."""
    if run.energy == "shared" and shared_model is None:
        from ebmlab.errors import ConfigError
        raise ConfigError("energy 'shared' needs --shared-model (the shared energy's model.pt)")
    torch.set_num_threads(run.threads)
    t0 = time.perf_counter()
    c = run.compare
    n_chains = c.chains or run.rhat.chains
    n_steps = c.steps or run.rhat.steps or run.train.steps
    burn = int(round(run.rhat.burn_in * n_steps))
    target, exact_draws, weights = _energy(run, shared_model)
    gen = torch.Generator().manual_seed(run.compare_seed)
    pool, _ = gaussian_mixture(run.data.n_train, run.data.centers, run.data.std, gen)
    exact = exact_draws(c.exact_draws, gen)
    starts = start_points(pool[torch.randint(len(pool), (n_chains,), generator=gen)], run.train.init_std, gen)
    k = len(run.data.centers)
    rows = {}
    for label, spec in {**run.samplers, **c.reference}.items():
        sampler = samplers.build(spec)
        chain_gen = torch.Generator().manual_seed(run.compare_seed + 1)   # common noise stream per sampler
        res = sampler.run(target, starts, n_steps, generator=chain_gen, keep_trace=True)
        kept = res.trace[burn:].permute(1, 0, 2).double().numpy()          # (chains, draws, 2)
        modes = nearest_mode(kept, run.data.centers)
        occ = occupancy(modes, k)
        ess = float(np.min(bulk_ess(kept)))
        flat = torch.from_numpy(kept.reshape(-1, 2)).float()
        thin = flat[torch.linspace(0, len(flat) - 1, min(c.mmd_points, len(flat))).long()]
        rows[label] = {
            "sampler": spec.name,
            "rhat": float(np.max(rhat(kept))),
            "split_rhat": float(np.max(split_rhat(kept))),
            "bulk_ess": ess,
            # per gradient evaluation of one chain's state: every chain's evaluations counted
            "grad_evals": int(res.n_grad_evals * n_chains),
            "ess_per_grad": ess / max(res.n_grad_evals * n_chains, 1),
            "mode_hops_per_chain": float(mode_hops(modes).mean()),
            "occupancy": [float(v) for v in occ],
            "occupancy_tv": float(0.5 * np.abs(occ - weights).sum()),
            "mmd": mmd_rbf(thin, exact, bandwidth=c.mmd_bandwidth),
            "accept_rate": float(res.diagnostics["accept_rate"].mean()) if "accept_rate" in res.diagnostics
            else None,
        }
    result = {"energy": run.energy, "seed": run.compare_seed, "chains": n_chains, "steps": n_steps,
              "draws_per_chain": n_steps - burn, "mode_weights": [float(v) for v in weights],
              "shared_model": str(shared_model) if shared_model else None, "samplers": rows}
    atomic_write_json(out / "compare.json", result)
    write_record(out / "compare.run.yaml", command="ebmlab.studies.gmm compare", config=to_dict(run),
                 seed=run.compare_seed, extra={"wall_seconds": time.perf_counter() - t0})
