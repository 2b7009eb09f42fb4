"""``python -m ebmlab.bench gmm``: energy-gradient evaluations per second per sampler.

For every sampler of the GMM study (thesis section 4.1), on the study's own model,
data, chain starts and seed, it times

* the naive loop: generic autograd ``Target``, one eager ``Sampler.step`` per transition;
* the engine the study uses (``engine``/``matmul_dtype``/``chunk`` of the
  config; ``auto`` resolves to ``compiled`` as for the paper profile),

side by side in one process, prints transitions per second and chain-point gradient
evaluations per second, their ratio, the one-off compile time, and projects the
wall time of the paper profile (epochs x steps transitions per sampler, two jobs at
a time on two cores). It also runs both for the same transitions with the same
random numbers and checks that the coupled chains agree (see docs/engine.md).
"""

from __future__ import annotations

import math
import time

import torch

from ebmlab import samplers
from ebmlab.cli import raw_config
from ebmlab.config import from_dict, to_dict
from ebmlab.studies.base import job_of, seed_label, seeded_runs, seeds, seeds_of
from ebmlab.studies.gmm import run as gmm
from ebmlab.studies.gmm.config import GMMStudy
from ebmlab.studies.gmm.jobs import JOBS
from ebmlab.bench.common import Report, cpu_model, load_note
from ebmlab.engine import CompiledChain, MLPTarget
from ebmlab.samplers import Target
from ebmlab.train.toy import start_points

#: the statistical check: same draws, so the chains are coupled; but gradients differ
#: (float rounding; bf16 when opted in), and a chaotic sampler (pSGLD with tiny lambda)
#: decouples, so the gates are Monte-Carlo bounds for independent samples (Z_MAX standard
#: errors), which coupled chains meet with room to spare; see docs/engine.md.
Z_MAX = 4.0
TOL_ACCEPT = 0.01  # |acceptance-rate difference| (MALA)


def _run(sampler, target, x0, n, seed):
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    res = sampler.run(target, x0, n, generator=gen)
    return res, time.perf_counter() - t0


def sample_check(sampler, model, naive: Target, engine: Target, x0, n: int, seed: int) -> dict:
    """Run both for ``n`` transitions with the same draws and compare the samples' statistics:
    mean fp32 energy E(x) of the final states, per-coordinate mean and std, acceptance."""
    a, _ = _run(sampler, naive, x0, n, seed)
    b, _ = _run(sampler, engine, x0, n, seed)
    m = a.x.shape[0]
    with torch.no_grad():
        ea, eb = model(a.x).double(), model(b.x).double()
    xa, xb = a.x.double(), b.x.double()
    sd = xa.std(0).clamp_min(1e-12)
    out = {
        "dx_p99": float(torch.quantile((a.x - b.x).norm(dim=1), 0.99)),
        "energy_naive": float(ea.mean()), "energy_engine": float(eb.mean()),
        "z_energy": float((ea.mean() - eb.mean()).abs() / (ea.std() * math.sqrt(2 / m)).clamp_min(1e-12)),
        "z_mean": float(((xa.mean(0) - xb.mean(0)).abs() / (sd * math.sqrt(2 / m))).max()),
        "z_std": float(((xa.std(0) - xb.std(0)).abs() / (sd / math.sqrt(m))).max()),
    }
    ok = max(out["z_energy"], out["z_mean"], out["z_std"]) <= Z_MAX
    if "accept_rate" in a.diagnostics:
        ra, rb = float(a.diagnostics["accept_rate"].mean()), float(b.diagnostics["accept_rate"].mean())
        out.update(accept_naive=ra, accept_engine=rb)
        ok = ok and abs(ra - rb) <= TOL_ACCEPT
    out["ok"] = ok
    return out


def schedule(durations: list[float], workers: int) -> float:
    """Makespan of jobs started longest-first on ``workers`` slots (Snakemake --cores 2)."""
    slots = [0.0] * workers
    for d in sorted(durations, reverse=True):
        i = slots.index(min(slots))
        slots[i] += d
    return max(slots) if slots else 0.0


def main(args, out: Report) -> bool:
    study = from_dict(GMMStudy, raw_config(args))
    labels = args.samplers or list(study.samplers)
    first = seeds(to_dict(study))[0]   # the benchmark times each run's first seed
    for label in labels:
        job_of(study, JOBS["train"], seed_label(label, first))  # unknown labels stop here, before any output
    torch.set_num_threads(study.threads)
    out(f"GMM sampling benchmark ({args.params or 'defaults'}, section {args.section})")
    out(f"CPU: {cpu_model()}; torch {torch.__version__}; {study.threads} thread(s) per job")
    out(f"model: MLP {study.model.in_dim}-{'-'.join(map(str, study.model.hidden))}-1 ({study.model.activation}); "
        f"{study.data.n_train} chains; paper profile: {study.train.epochs} epochs x {study.train.steps} steps")
    out(f"before: {load_note()}")
    rows, checks, per_job, naive_job = [], [], [], []
    all_ok = True
    for label in labels:
        run = job_of(study, JOBS["train"], seed_label(label, first))
        engine_name = gmm.engine_of(run) if run.engine != "auto" else "compiled"
        data = gmm._data(run)
        model = gmm._model(run).requires_grad_(False)
        sampler = samplers.build(run.sampler)
        x0 = start_points(data, run.train.init_std, torch.Generator().manual_seed(run.seed + 1))
        naive = Target(model)
        chain = CompiledChain(chunk=run.chunk) if engine_name == "compiled" else None
        make = (lambda: MLPTarget(model, run.matmul_dtype, exact_energy=sampler.metropolis, chain=chain))
        if engine_name == "autograd":
            make = lambda: Target(model)  # noqa: E731
        # compile (first call) and warm up both
        _run(sampler, naive, x0, 2, run.seed)
        t_first = _run(sampler, make(), x0, 2 * run.chunk + 1, run.seed)[1]
        n_naive, n_engine = args.naive_steps, args.steps
        _, t_naive = _run(sampler, naive, x0, n_naive, run.seed)
        _, t_engine = _run(sampler, make(), x0, n_engine, run.seed)
        s_naive, s_engine = t_naive / n_naive, t_engine / n_engine
        chains = x0.shape[0]
        rows.append([label, f"{engine_name}/{run.matmul_dtype}", 1e3 * s_naive, 1e3 * s_engine,
                     s_naive / s_engine, chains / s_naive, chains / s_engine, t_first])
        c = sample_check(sampler, model, naive, make(), x0, args.check_steps, run.seed)
        all_ok = all_ok and c["ok"]
        checks.append([label, c["energy_naive"], c["energy_engine"], c["z_energy"], c["z_mean"], c["z_std"],
                       c.get("accept_naive", math.nan), c.get("accept_engine", math.nan), c["dx_p99"],
                       "PASS" if c["ok"] else "FAIL"])
        transitions = study.train.epochs * study.train.steps
        # evaluation: one chain over every training point plus R-hat's chains, about one epoch
        per_job.append(t_first + (transitions + study.train.steps) * s_engine)
        naive_job.append((transitions + study.train.steps) * s_naive)
    out(f"after: {load_note()}")
    out()
    out(f"Per transition of all chains ({args.naive_steps} naive / {args.steps} engine transitions timed "
        "after warm-up; grads/s = chain-point gradient evaluations per second):")
    out.table(["sampler", "engine", "naive ms", "engine ms", "speed-up", "naive grads/s", "engine grads/s",
               "first call s"], rows)
    out("(first call s: the engine's first run of 2 chunks, i.e. its compilation; 'speed-up' = naive / engine)")
    out()
    out(f"Sample check ({args.check_steps} transitions from the same starts with the same draws; mean fp32 "
        f"energy of the final states, per-coordinate mean and std as z-scores of independent-sample "
        f"errors, gate z <= {Z_MAX:g}; |d accept| <= {TOL_ACCEPT}; p99 |dx| = coupling, not gated):")
    out.table(["sampler", "E naive", "E engine", "z E", "z mean", "z std", "acc naive", "acc engine",
               "p99 |dx|", "check"], checks)
    out()
    workers = 2
    # every seed of a run is one more training of the same cost
    raw = to_dict(study)
    n_seeds = [len(seeds_of(raw, label, seeded_runs(raw))) for label in labels]
    per_job = [t for t, n in zip(per_job, n_seeds) for _ in range(n)]
    naive_job = [t for t, n in zip(naive_job, n_seeds) for _ in range(n)]
    out(f"Projected run of this configuration on {workers} cores ({len(per_job)} trainings (runs x seeds) of "
        f"{study.train.epochs} x "
        f"{study.train.steps} transitions, plus evaluation and the compilation above; process start-up and "
        f"figures not included):")
    out(f"  engine: {schedule(per_job, workers) / 60:.1f} min with {workers} jobs at a time (snakemake --cores "
        f"{workers}), {sum(per_job) / workers / 60:.1f} min with all {len(per_job)} at once (--cores {len(per_job)}: "
        f"{len(per_job) / workers:g} per core, sharing it evenly)")
    out(f"  naive:  {schedule(naive_job, workers) / 60:.1f} min with {workers} jobs at a time")
    return all_ok


def add_arguments(p) -> None:
    from ebmlab.cli import add_config_args
    add_config_args(p)
    p.set_defaults(params="params/paper.yaml", section="gmm")
    p.add_argument("--samplers", nargs="*", help="run labels (default: all of the study)")
    p.add_argument("--steps", type=int, default=2000, help="engine transitions timed per sampler")
    p.add_argument("--naive-steps", type=int, default=200, help="naive transitions timed per sampler")
    p.add_argument("--check-steps", type=int, default=300, help="transitions of the coupled-chain check")
