"""The thesis's Gaussian-mixture study (section 4.1): one energy per sampler, then R-hat.

Usage (each step is what one Snakemake job runs; all take explicit arguments)::

    python -m ebmlab.gmm train    --params params/smoke.yaml --section gmm --run mala --out results/x/mala
    python -m ebmlab.gmm evaluate --params params/smoke.yaml --section gmm --run mala --out results/x/mala
    python -m ebmlab.gmm table    --runs results/x/gd results/x/mala ... --profile smoke --csv t.csv --metrics t.json
    python -m ebmlab.gmm figures  --runs results/x/gd ... --out-dir reports/smoke/figures

R-hat protocol (the thesis says only "ten independent chains"; see docs/gmm.md): after
training, ``rhat.chains`` chains start like training chains (random training points
plus N(0, init_noise)) and run ``rhat.steps`` transitions of the run's own sampler;
the first ``rhat.burn_in`` fraction of draws is discarded; R-hat (thesis section 2.2.6)
is computed per coordinate of x and the larger of the two is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ebmlab import samplers
from ebmlab.cli import add_config_args, guarded, require_file
from ebmlab.config import UNIT, Bound, Tagged, check, field, from_dict, run_of, to_dict
from ebmlab.errors import ConfigError
from ebmlab.data.toy import GaussianMixtureConfig, gaussian_mixture
from ebmlab.diagnostics import rhat, split_rhat
from ebmlab.io import atomic_torch_save, atomic_write_json, atomic_write_text
from ebmlab.models import MLPConfig, MLPEnergy
from ebmlab.papers import GMM_LABELS, GMM_RHAT
from ebmlab.records import write_record
from ebmlab.report import csv_text
from ebmlab.studies.base import ordering_verdicts
from ebmlab.samplers import SamplerSpec
from ebmlab.train.checkpoint import CheckpointStore, config_hash
from ebmlab.train.toy import ToyCDConfig, frozen, start_points, train_toy_cd


@dataclasses.dataclass
class RhatConfig:
    """How R-hat is measured after training."""

    chains: int = field(10, bound=Bound(lo=2), doc="M independent chains")
    steps: int | None = field(None, bound=Bound(lo=4), doc="chain length; null = train.steps")
    burn_in: float = field(0.5, bound=Bound(lo=0.0, hi=1.0, hi_exclusive=True),
                           doc="fraction of each chain discarded before R-hat")
    thin: int = field(1, bound=Bound(lo=1), doc="keep every thin-th draw after burn-in")


@dataclasses.dataclass
class FigureConfig:
    extent: float = field(25.0, bound=Bound(lo=0.0, lo_exclusive=True), doc="plot [-extent, extent]^2")
    resolution: int = field(150, bound=Bound(lo=10), doc="energy-map grid points per axis")
    trace_points: int = field(500, bound=Bound(lo=2), doc="points kept per plotted trace")


def _default_samplers() -> dict:
    return {
        "gd": Tagged("gd", samplers.SAMPLERS["gd"].Config(step_size=0.01)),
        "sgld": Tagged("langevin", samplers.SAMPLERS["langevin"].Config(step_size=0.01)),
        "mala": Tagged("mala", samplers.SAMPLERS["mala"].Config(step_size=0.01)),
        "psgld": Tagged("psgld", samplers.SAMPLERS["psgld"].Config(step_size=0.01)),
    }


@dataclasses.dataclass
class GMMShared:
    """Settings every run of the study shares."""

    seed: int = field(0, doc="seeds data, initial weights, chains")
    threads: int = field(1, bound=Bound(lo=1), doc="torch CPU threads per job")
    engine: Literal["auto", "autograd", "closed_form", "compiled"] = field(
        "auto", doc="how the samplers get grad E: generic autograd, the MLP's closed form (eager), or "
                    "compiled (closed form plus transitions compiled in chunks, docs/engine.md); "
                    "auto = compiled for runs of >= 200k transitions per job, else closed_form")
    matmul_dtype: Literal["float32", "bfloat16"] = field(
        "float32", doc="closed_form/compiled: precision of the matrix products; bfloat16 is an opt-in no "
                       "profile uses (its rounding depends on the CPU) and keeps fp32 energies for "
                       "samplers with a Metropolis test (docs/engine.md)")
    chunk: int = field(16, bound=Bound(lo=1), doc="compiled: transitions per compiled call")
    data: GaussianMixtureConfig = field(default_factory=GaussianMixtureConfig)
    model: MLPConfig = field(default_factory=MLPConfig)
    train: ToyCDConfig = field(default_factory=ToyCDConfig)
    rhat: RhatConfig = field(default_factory=RhatConfig)
    figures: FigureConfig = field(default_factory=FigureConfig)


@dataclasses.dataclass
class GMMStudy(GMMShared):
    """The whole study: shared settings plus one sampler per run label."""

    samplers: dict[str, SamplerSpec] = field(default_factory=_default_samplers,
                                             doc="run label -> sampler spec")

    def __post_init__(self):
        check(len(self.samplers) > 0, "samplers must name at least one run")

    def run(self, label: str) -> "GMMRun":
        return run_of(self, label, GMMShared, GMMRun)


@dataclasses.dataclass
class GMMRun(GMMShared):
    """One run's slice: shared settings and its own sampler."""

    label: str = field("run", doc="run label, e.g. mala")
    sampler: SamplerSpec = field(default_factory=lambda: _default_samplers()["sgld"])


# ---------------------------------------------------------------------------

def load_study(args) -> GMMStudy:
    """The whole study from --params/--section or --config, plus --set overrides."""
    from ebmlab.cli import raw_config
    return from_dict(GMMStudy, raw_config(args))


def _load_run(args) -> GMMRun:
    """A run config from a whole study (--params/--section + --run) or from a run slice."""
    from ebmlab.cli import raw_config
    raw = raw_config(args)
    if "sampler" not in raw:  # a whole study (its samplers may be the defaults)
        if not args.run:
            raise ConfigError("--run is required when the configuration is the whole study")
        return from_dict(GMMStudy, raw).run(args.run)
    run = from_dict(GMMRun, raw)
    if args.run and args.run != run.label:
        raise ConfigError(f"--run {args.run!r} does not match the config's label {run.label!r}")
    return run


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


def cmd_train(args) -> None:
    run = _load_run(args)
    out = Path(args.out)
    torch.set_num_threads(run.threads)
    sampler = samplers.build(run.sampler)
    data = _data(run)
    model = _model(run)
    resolved = to_dict(run)
    store = CheckpointStore(out / "ckpt", config_hash(resolved))
    gen = torch.Generator().manual_seed(run.seed + 1)
    result = train_toy_cd(model, data, sampler, run.train, gen, store=store, progress=None,
                          make_target=make_target(run))
    hist = result["history"]
    cols = list(hist[0].keys())
    atomic_write_text(out / "history.csv", csv_text(hist, cols))
    atomic_torch_save({"model": model.state_dict(), "config": resolved}, out / "model.pt")
    write_record(out / "train.run.yaml", command="ebmlab.gmm train", config=resolved, seed=run.seed,
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


def cmd_evaluate(args) -> None:
    run = _load_run(args)
    out = Path(args.out)
    torch.set_num_threads(run.threads)
    ckpt = torch.load(require_file(out / "model.pt", "run 'train' first"), map_location="cpu", weights_only=False)
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
    train_rec = (out / "train.run.yaml")
    wall_train = None
    if train_rec.exists():
        import yaml
        wall_train = yaml.safe_load(train_rec.read_text()).get("wall_seconds")
    metrics = {
        "label": run.label,
        "sampler": run.sampler.name,
        "rhat": float(np.max(per_coord)),
        "rhat_per_coordinate": [float(v) for v in per_coord],
        "split_rhat": float(np.max(per_coord_split)),
        "chains": run.rhat.chains,
        "draws_per_chain": int(kept.shape[1]),
        "train_wall_seconds": wall_train,
        "eval_wall_seconds": time.perf_counter() - t0,
        "accept_rate": float(res.diagnostics["accept_rate"].mean()) if "accept_rate" in res.diagnostics else None,
        "epochs": run.train.epochs,
        "steps": run.train.steps,
        "seed": run.seed,
    }
    np.savez_compressed(out / ".samples.tmp.npz", data=data.numpy(), starts_all=starts_all.numpy(),
                        finals=finals.numpy(), traces=traces[:, ::stride], grid=grid, energy_map=energy_map)
    (out / ".samples.tmp.npz").replace(out / "samples.npz")
    atomic_write_json(out / "rhat.json", metrics)
    write_record(out / "evaluate.run.yaml", command="ebmlab.gmm evaluate", config=to_dict(run), seed=run.seed)


TABLE_COLUMNS = ["sampler", "rhat_paper", "rhat_reproduced", "split_rhat_reproduced", "verdict", "profile",
                 "seed", "epochs", "steps", "wall_seconds", "chains", "draws_per_chain"]


def cmd_table(args) -> None:
    rows = []
    for d in args.runs:
        m = json.loads(require_file(Path(d) / "rhat.json", "run 'evaluate' first").read_text())
        rows.append(m)
    repro = {m["label"]: m["rhat"] for m in rows}
    verdicts = ordering_verdicts({k: v for k, v in GMM_RHAT.items() if k in repro}, repro)
    table = []
    for m in rows:
        label = m["label"]
        table.append({
            "sampler": GMM_LABELS.get(label, label),
            "rhat_paper": GMM_RHAT.get(label, ""),
            "rhat_reproduced": m["rhat"],
            "split_rhat_reproduced": m["split_rhat"],
            "verdict": verdicts.get(label, "no paper value"),
            "profile": args.profile,
            "seed": m["seed"],
            "epochs": m["epochs"],
            "steps": m["steps"],
            "wall_seconds": m["train_wall_seconds"],
            "chains": m["chains"],
            "draws_per_chain": m["draws_per_chain"],
        })
    atomic_write_text(args.csv, csv_text(table, TABLE_COLUMNS))
    if args.metrics:
        atomic_write_json(args.metrics, {m["label"]: {"rhat": m["rhat"], "split_rhat": m["split_rhat"],
                                                      "train_wall_seconds": m["train_wall_seconds"]}
                                         for m in rows})


def cmd_figures(args) -> None:
    from ebmlab.plots import gmm_data_figure, gmm_run_figure
    out = Path(args.out_dir)
    first = np.load(require_file(Path(args.runs[0]) / "samples.npz", "run 'evaluate' first"))
    gmm_data_figure(first["data"], first["starts_all"], out / "gmm_data.png")
    for d in args.runs:
        s = np.load(require_file(Path(d) / "samples.npz", "run 'evaluate' first"))
        m = json.loads(require_file(Path(d) / "rhat.json", "run 'evaluate' first").read_text())
        gmm_run_figure(s, m, out / f"gmm_{m['label']}.png", title=GMM_LABELS.get(m["label"], m["label"]))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ebmlab.gmm", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, helptext in (("train", "train one energy with one sampler (Algorithm 1)"),
                           ("evaluate", "R-hat, samples and energy map of a trained run")):
        s = sub.add_parser(name, help=helptext)
        add_config_args(s)
        s.add_argument("--run", help="run label (a key of samplers:) when the config is the whole study")
        s.add_argument("--out", required=True, help="run folder")
    t = sub.add_parser("table", help="collect runs into the R-hat table")
    t.add_argument("--runs", nargs="+", required=True)
    t.add_argument("--profile", required=True)
    t.add_argument("--csv", required=True)
    t.add_argument("--metrics", help="DVC metrics JSON")
    f = sub.add_parser("figures", help="Figs 4.1-4.5 from evaluated runs")
    f.add_argument("--runs", nargs="+", required=True)
    f.add_argument("--out-dir", required=True)
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    {"train": cmd_train, "evaluate": cmd_evaluate, "table": cmd_table, "figures": cmd_figures}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
