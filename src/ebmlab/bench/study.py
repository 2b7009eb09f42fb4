"""Each study's own image model, naive loop against the engine (``--study`` / ``--model``).

``python -m ebmlab.bench sampling --params params/fast.yaml --study table4_1`` (and ``train_step``,
``model`` for both, ``all-models`` for the four) takes from the study's params section, with plain
dictionary access, what its jobs would run:

========== ======= ========================================================================
study      model   section, image shape and main sampler
========== ======= ========================================================================
table4_1   cnn     ``table4_1`` (+ ``datasets.mnist``): its langevin sampler with noise std
                   sqrt(noise) when ``noise_is: variance`` (step 100, std 0.01), clamped to
                   the data range; ``train`` with its aux terms (the KL term)
jem        wrn     ``jem``: WRN energy
                   -logsumexp(logits), its ``sgld`` sampler; the JEM trainer on labelled
                   synthetic digits (JEMTrainConfig defaults where ``train`` is silent)
cd_vs_nll  gagnon  ``cd_vs_nll``: its ``sampler``; ``train`` (Gagnon defaults) with the first
                   regime's init / reinit_prob / aux / augment
stanley    convnet ``stanley.images`` (+ ``datasets.mnist``): its langevin sampler, clamped
                   to the data range; ``train`` with the data set's steps / lr / optimizer
========== ======= ========================================================================

The image shape is the data config's ``size`` and channels (MNIST digits: 1), the range
[0, 1] or [-1, 1] (``range: symmetric``); batch = ``train.batch_size`` chains, chain
length = ``train.steps``; the images are synthetic (``ebmlab.data.images`` source
``synthetic``) so the benchmark runs anywhere. Without ``--params`` a built-in copy of
params/fast.yaml's settings is used (with ``--smoke``, of params/smoke.yaml's). Threads:
the section's ``threads`` (what its jobs set) unless ``--threads``.

Loops compared (one process, same model weights, batch, start points and seed):

* ``naive eager fp32``: the loop of a study with ``engine: {enabled: false}``: autograd
  :class:`ebmlab.samplers.Target` on the live model, NCHW, fp32. It is timed first, before
  anything in the process has called mallopt (glibc's own, dynamic, allocator thresholds);
* ``naive eager fp32, alt``: the same loop timed again in the alternating rounds below,
  after ``reset_allocator()`` (glibc's start values; note that any mallopt call switches
  glibc's dynamic threshold off for the rest of the process, so this is not exactly the
  untouched allocator: compare its row with the first);
* the engine options: on CPU fp32 channels-last, fp32 channels-last compiled (chunks of
  10 transitions; compile time reported separately; skipped with a note if it fails),
  bf16 channels-last (not a default; emulated on CPUs without avx512_bf16/amx_bf16);
  on CUDA fp32 / tf32 / bf16 channels-last with CUDA graphs, and compiled; plus the
  study's own ``engine:`` section when it differs from all of these. ``*`` marks the row
  that is what the study runs with this params file.

After the first timings, reps alternate: one chain (training iteration) of each loop in
turn, the allocator switched for each (``reset_allocator`` for the naive loop,
``tune_allocator`` for engine options that use it), so the ``alt`` speed-ups are robust to
background load. Options far slower than naive (e.g. emulated bf16) get one timed rep.
``--options`` picks the engine options; ``--smoke`` (batch <= 8, 3 steps, one rep, two
iterations) leaves the compiled option out unless ``--compile``.

Arithmetic: FLOPs counted with ``torch.utils.flop_counter.FlopCounterMode`` (totals only)
over a naive chain (forward + input gradient per step, plus the start evaluation) and over
one whole naive training iteration (chain, loss forward and backward, aux terms, update),
the same counts for every option; GFLOP/s against the peak measured here with the same
thread count: the faster of a dense matmul (n up to 2048 on CPU, 8192 on CUDA) and a dense
3x3 convolution, fp32 and bf16 (and tf32 on CUDA); on GPUs the data sheet's peak is
printed as well.

Equality checks of each engine option against the naive loop (same starts, same draws):
mean fp32 energy of the final chains of the study's Langevin sampler, within 4 standard
errors; MALA acceptance rate (the study's ``mala`` sampler, else MALA with the main
sampler's step, noise and clamp) within 4 binomial standard errors, at least 0.005. A
failed check makes the exit status nonzero.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ebmlab import samplers
from ebmlab.bench.common import (
    Report, cpu_capability, cpu_flags, cpu_model, device_name, flop_counter, load_note, measured_peak_gflops,
    native_bf16, peak_tflops, sanitise, sync,
)
from ebmlab.config import Tagged, from_dict
from ebmlab.io import load_yaml
from ebmlab.errors import ConfigError
from ebmlab.data.images import ImageDataConfig, load_images
from ebmlab.engine.alloc import reset_allocator, tune_allocator
from ebmlab.engine.image import ImageEngine, ImageEngineConfig, set_tf32
from ebmlab.models import build_model
from ebmlab.samplers import Target
from ebmlab.train.image import ImageTrainConfig
from ebmlab.train.toy import frozen

#: study -> the name its model goes by (``--model``) and in report file names
STUDY_MODELS = {"table4_1": "cnn", "jem": "wrn", "cd_vs_nll": "gagnon", "stanley": "convnet"}
MODEL_STUDIES = {m: s for s, m in STUDY_MODELS.items()}

#: equality-check gates (docs/engine.md)
Z_MAX = 4.0          # |mean E difference| in standard errors
Z_ACCEPT = 4.0       # |MALA acceptance difference| in binomial standard errors
ACC_FLOOR = 0.005    # ... but at least this
SLOW = 4.0           # an option this many times slower than naive gets one timed rep

SMOKE = {"batch": 8, "steps": 3, "reps": 1, "iterations": 2}
FULL = {"reps": 5, "iterations": 5}   # timed chains / training iterations per loop

_LANGEVIN_100 = {"name": "langevin", "step_size": 100, "track_acceptance": True}
_MALA_100 = {"name": "mala", "step_size": 100, "temperature": "implied"}
_SGLD_1 = {"name": "langevin", "step_size": 1.0, "noise_std": 0.01, "track_acceptance": True}
_MALA_1 = {"name": "mala", "step_size": 1.0, "noise_std": 0.01, "temperature": "implied"}
_CDN_SAMPLER = {"name": "langevin", "step_size": 10.0, "noise_std": 0.005, "clamp": [0.0, 1.0]}
_STANLEY_SAMPLERS = {"langevin": {"name": "langevin", "step_size": 0.5, "noise_std": 0.01}}

#: the settings of params/fast.yaml and params/smoke.yaml this benchmark reads, for runs
#: without --params (kept in step by hand; --params is authoritative)
BUILTIN = {
    "fast": {
        "table4_1": {
            "seed": 0, "threads": 1, "noise": 1.0e-4, "noise_is": "variance",
            "engine": {"precision": "fp32", "channels_last": True},
            "train": {"epochs": 2, "batch_size": 64, "steps": 60, "lr": 1.0e-4, "betas": [0.0, 0.999], "alpha": 1.0,
                      "init": "nll", "buffer_size": 10000, "reinit_prob": 0.05,
                      "aux": [{"name": "kl", "weight": 1.0, "chains": 64, "entropy_weight": 0.3}]},
            "datasets": {"mnist": {"data": {"name": "mnist", "size": 14, "dequantize": True},
                                   "model": {"name": "cnn", "channels": [16, 32, 32, 64], "hidden": 64}}},
            "samplers": {"langevin": _LANGEVIN_100, "mala": _MALA_100},
        },
        "jem": {
            "seed": 1, "threads": 1, "engine": {"precision": "fp32", "channels_last": True},
            "data": {"name": "mnist", "size": 14, "range": "symmetric"},
            "model": {"name": "wrn", "depth": 10, "width": 1},
            "train": {"epochs": 4, "warmup_iters": 200, "chain_log_every": 25,
                      "data_augment": {"pad": 2, "flip": False}},
            "samplers": {"sgld": _SGLD_1, "mala": _MALA_1},
        },
        "cd_vs_nll": {
            "seed": 0, "threads": 1, "engine": {"precision": "fp32", "channels_last": True},
            "data": {"name": "mnist", "size": 14, "dequantize": True},
            "model": {"name": "gagnon_mnist", "width": 32, "latent": 128}, "sampler": _CDN_SAMPLER,
            "train": {"epochs": 8, "batch_size": 128, "buffer_size": 10000},
            "regimes": {"nll": {"init": "nll", "reinit_prob": 0.05}},
        },
        "stanley": {"images": {
            "seed": 0, "threads": 1, "engine": {"precision": "fp32", "channels_last": True},
            "train": {"batch_size": 64, "steps": 30, "lr": 1.0e-4, "optimizer": "adam", "betas": [0.9, 0.999],
                      "alpha": 0.0, "init": "short_run", "max_abs_energy": 1.0e+6, "chain_log_every": 1000},
            "datasets": {"mnist": {"data": {"name": "mnist", "size": 14, "range": "symmetric"},
                                   "model": {"name": "convnet", "channels": [16, 16, 16, 16]}}},
            "samplers": _STANLEY_SAMPLERS,
        }},
    },
    "smoke": {
        "table4_1": {
            "seed": 0, "threads": 1, "noise": 1.0e-4, "noise_is": "variance",
            "train": {"batch_size": 16, "steps": 5, "buffer_size": 64,
                      "aux": [{"name": "kl", "chains": 8, "entropy_min_buffer": 32, "entropy_compare": 16}]},
            "datasets": {"mnist": {"data": {"name": "digits8", "size": 8},
                                   "model": {"name": "cnn", "channels": [8, 8], "strides": [2, 2], "hidden": 16}}},
            "samplers": {"langevin": _LANGEVIN_100, "mala": _MALA_100},
        },
        "jem": {
            "seed": 1, "threads": 1, "data": {"name": "digits8", "size": 8, "range": "symmetric"},
            "model": {"name": "wrn", "depth": 10, "width": 1},
            "train": {"batch_size": 32, "steps": 5, "buffer_size": 200, "data_augment": {"pad": 1, "flip": False}},
            "samplers": {"sgld": _SGLD_1, "mala": _MALA_1},
        },
        "cd_vs_nll": {
            "seed": 0, "threads": 1, "data": {"name": "digits8", "size": 8, "dequantize": True},
            "model": {"name": "gagnon_mnist", "width": 8, "latent": 32}, "sampler": _CDN_SAMPLER,
            "train": {"batch_size": 64, "buffer_size": 500},
            "regimes": {"nll": {"init": "nll", "reinit_prob": 0.05}},
        },
        "stanley": {"images": {
            "seed": 0, "threads": 1,
            "train": {"batch_size": 16, "steps": 5, "lr": 1.0e-3, "betas": [0.9, 0.999], "alpha": 0.0,
                      "init": "short_run", "max_abs_energy": 1.0e+6},
            "datasets": {"mnist": {"data": {"name": "digits8", "size": 8},
                                   "model": {"name": "convnet", "channels": [8, 8, 8, 8]}}},
            "samplers": _STANLEY_SAMPLERS,
        }},
    },
}


# ---------------------------------------------------------------------------
# what a study runs, read from its params section

@dataclass
class StudyBench:
    """One study's model, shapes, sampler, training iteration and engine setting."""

    study: str
    model_key: str
    section: str
    source: str
    model_spec: dict
    data: ImageDataConfig
    train: ImageTrainConfig
    trainer: str                      # "image" | "jem"
    sampler: object                   # the main (Langevin) sampler
    mala: object
    mala_note: str
    engine: ImageEngineConfig | None  # the section's engine: (None = absent, defaults)
    threads: int
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.data.out_channels, self.data.size, self.data.size)

    @property
    def value_range(self) -> tuple[float, float]:
        return self.data.value_range


def _section(params: dict, path: str, source: str) -> dict:
    node = params
    for part in path.split("."):
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            raise ConfigError(f"{source} has no section '{path}'")
        node = node[part]
    return node


def _data(d: dict | None, where: str) -> ImageDataConfig:
    return from_dict(ImageDataConfig, d or {"name": "mnist"}, where)


def _build_sampler(spec: dict, where: str, *, noise_std: float | None = None, clamp=None):
    """The sampler of a params entry, with a forced noise std and a default clamp (None: as given)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"{where}: expected a sampler mapping with a name, got {spec!r}")
    body = {k: v for k, v in spec.items() if k != "name"}
    cfg = samplers.build(spec["name"], **body).config
    changes = {}
    if noise_std is not None and hasattr(cfg, "noise_std"):
        changes["noise_std"] = noise_std
    if clamp is not None and getattr(cfg, "clamp", "absent") is None:
        changes["clamp"] = tuple(clamp)
    return samplers.build(Tagged(spec["name"], dataclasses.replace(cfg, **changes)))


def _mala_like(main) -> object:
    c = main.config
    return samplers.build("mala", step_size=c.step_size, noise_std=c.noise_std, clamp=getattr(c, "clamp", None))


def _first_dataset(sec: dict, where: str, source: str) -> tuple[str, dict]:
    ds = sec.get("datasets") or {}
    if not isinstance(ds, dict) or not ds:
        raise ConfigError(f"{source}: {where}.datasets names no data set")
    name = "mnist" if "mnist" in ds else next(iter(ds))
    return name, ds[name] or {}


def _engine(sec: dict, where: str) -> ImageEngineConfig | None:
    d = sec.get("engine")
    return None if d is None else from_dict(ImageEngineConfig, d, f"{where}.engine")


def read_study(study: str, params: dict, source: str) -> StudyBench:
    """What ``study``'s jobs run, from its section of ``params`` (plain dictionary access)."""
    if study == "table4_1":
        sec = _section(params, "table4_1", source)
        name, ds = _first_dataset(sec, "table4_1", source)
        data = _data(ds.get("data"), f"table4_1.datasets.{name}.data")
        train = from_dict(ImageTrainConfig, sec.get("train") or {}, "table4_1.train")
        noise, noise_is = float(sec.get("noise", 1e-4)), sec.get("noise_is", "variance")
        std = noise if noise_is == "std" else math.sqrt(noise)
        clamp = data.value_range if sec.get("clamp_chains", True) else None
        sams = sec.get("samplers") or {"langevin": _LANGEVIN_100, "mala": _MALA_100}
        label = "langevin" if "langevin" in sams else next(iter(sams))
        main = _build_sampler(sams[label], f"table4_1.samplers.{label}", noise_std=std, clamp=clamp)
        if "mala" in sams:
            mala = _build_sampler(sams["mala"], "table4_1.samplers.mala", noise_std=std, clamp=clamp)
            mala_note = "the study's mala sampler (its noise and clamp rules)"
        else:
            mala, mala_note = _mala_like(main), "MALA with the main sampler's step, noise and clamp"
        notes = [f"chain noise std {std:g} from noise {noise:g} read as a {noise_is}; data set '{name}'; "
                 f"sampler '{label}'"]
        return StudyBench(study, "cnn", "table4_1", source, dict(ds.get("model") or {"name": "igebm"}), data,
                          train, "image", main, mala, mala_note, _engine(sec, "table4_1"),
                          int(sec.get("threads", 1)), int(sec.get("seed", 0)), notes)
    if study == "jem":
        from ebmlab.train.jem import JEMTrainConfig
        section = "jem"
        sec = _section(params, section, source)
        data = _data(sec.get("data") or {"name": "cifar10", "range": "symmetric"}, f"{section}.data")
        train = from_dict(JEMTrainConfig, sec.get("train") or {}, f"{section}.train")
        sams = sec.get("samplers") or {"sgld": _SGLD_1, "mala": _MALA_1}
        label = "sgld" if "sgld" in sams else next(iter(sams))
        main = _build_sampler(sams[label], f"{section}.samplers.{label}")
        if "mala" in sams:
            mala, mala_note = _build_sampler(sams["mala"], f"{section}.samplers.mala"), "the study's mala sampler"
        else:
            mala, mala_note = _mala_like(main), "MALA with the main sampler's step, noise and clamp"
        notes = [f"section '{section}'; sampler '{label}'; JEMTrainer on labelled synthetic images (JEM's pad/crop/flip, CE term)"]
        return StudyBench(study, "wrn", section, source, dict(sec.get("model") or {"name": "wrn"}), data, train,
                          "jem", main, mala, mala_note, _engine(sec, section), int(sec.get("threads", 4)),
                          int(sec.get("seed", 1)), notes)
    if study == "cd_vs_nll":
        from ebmlab.studies.cd_vs_nll.config import GagnonTrainConfig, Regime
        sec = _section(params, "cd_vs_nll", source)
        data = _data(sec.get("data"), "cd_vs_nll.data")
        main = _build_sampler(sec.get("sampler") or _CDN_SAMPLER, "cd_vs_nll.sampler")
        train = from_dict(GagnonTrainConfig, sec.get("train") or {}, "cd_vs_nll.train")
        regimes = sec.get("regimes") or {"nll": {"init": "nll", "reinit_prob": 0.05}}
        label = next(iter(regimes))
        reg = from_dict(Regime, regimes[label] or {}, f"cd_vs_nll.regimes.{label}")
        train = dataclasses.replace(train, init=reg.init, reinit_prob=reg.reinit_prob, aux=list(reg.aux),
                                    augment=reg.augment)
        notes = [f"regime '{label}' (the first of the section: init {reg.init}, reinit_prob {reg.reinit_prob:g}, "
                 f"aux {[a.name for a in reg.aux] or 'none'}, augment {reg.augment.name})"]
        if (sec.get("practical") or {}).get("rescale_energy"):
            notes.append("practical.rescale_energy is set: the bench times the unscaled network")
        return StudyBench(study, "gagnon", "cd_vs_nll", source,
                          dict(sec.get("model") or {"name": "gagnon_mnist"}), data, train, "image", main,
                          _mala_like(main), "MALA with the main sampler's step, noise and clamp",
                          _engine(sec, "cd_vs_nll"), int(sec.get("threads", 1)), int(sec.get("seed", 0)), notes)
    if study == "stanley":
        sec = _section(params, "stanley.images", source)
        name, ds = _first_dataset(sec, "stanley.images", source)
        data = _data(ds.get("data"), f"stanley.images.datasets.{name}.data")
        train = from_dict(ImageTrainConfig, sec.get("train") or {
            "epochs": 1.0, "batch_size": 100, "steps": 50, "lr": 1e-4, "betas": [0.9, 0.999], "alpha": 0.0,
            "init": "short_run", "max_abs_energy": 1e6}, "stanley.images.train")
        over = {k: ds[k] for k in ("steps", "lr", "optimizer") if ds.get(k) is not None}
        train = dataclasses.replace(train, **over)
        sams = sec.get("samplers") or _STANLEY_SAMPLERS
        label = "langevin" if "langevin" in sams else next(iter(sams))
        clamp = data.value_range if sec.get("clamp_chains", True) else None
        main = _build_sampler(sams[label], f"stanley.images.samplers.{label}", clamp=clamp)
        notes = [f"data set '{name}'; sampler '{label}'"
                 + (f"; the data set's {', '.join(over)} replace train's" if over else "")]
        return StudyBench(study, "convnet", "stanley.images", source,
                          dict(ds.get("model") or {"name": "convnet"}), data, train, "image", main,
                          _mala_like(main), "MALA with the main sampler's step, noise and clamp (no mala in the study)",
                          _engine(sec, "stanley.images"), int(sec.get("threads", 1)), int(sec.get("seed", 0)), notes)
    raise ConfigError(f"unknown study {study!r} (choose from {', '.join(STUDY_MODELS)})")


def study_of(args) -> str:
    if getattr(args, "model", None):
        return MODEL_STUDIES[args.model]
    return args.study


def load_bench(args) -> StudyBench:
    if args.params:
        params, source = load_yaml(args.params), args.params
        if not isinstance(params, dict):
            raise ConfigError(f"{args.params}: expected a mapping of sections")
    else:
        profile = "smoke" if args.smoke else "fast"
        params, source = BUILTIN[profile], f"built-in copy of params/{profile}.yaml's settings"
    return read_study(study_of(args), params, source)


# ---------------------------------------------------------------------------
# the loops compared

@dataclass
class Option:
    label: str
    cfg: ImageEngineConfig | None      # None: the naive loop
    precision: str = "fp32"            # which measured peak it is compared with
    star: bool = False                 # what the study runs with this params file
    engine: ImageEngine | None = None
    chain_warm: list[float] = field(default_factory=list)   # untimed first chains (compiled: record, compile)
    chain_times: list[float] = field(default_factory=list)
    chain_result: object = None
    iter_warm: list[float] = field(default_factory=list)
    iter_times: list[float] = field(default_factory=list)
    failed: str | None = None
    slow: bool = False
    trainer: object = None

    @property
    def chain(self) -> float:
        return statistics.median(self.chain_times) if self.chain_times else math.nan

    @property
    def iteration(self) -> float:
        return statistics.median(self.iter_times) if self.iter_times else math.nan


def _key(cfg: ImageEngineConfig | None, device: torch.device) -> tuple:
    """What makes two engine settings run differently on ``device``."""
    if cfg is None or not cfg.enabled:
        return ("naive",)
    cuda = device.type == "cuda"
    graph = cuda and cfg.graph in ("auto", "cuda_graph")
    prec = cfg.precision if (cuda or cfg.precision == "bf16") else "fp32"   # no TF32 on CPUs
    return ("engine", prec, cfg.channels_last, cfg.compile, cfg.chunk if (graph or cfg.compile) else 1, graph,
            None if cuda else cfg.tune_allocator, cfg.cudnn_benchmark if cuda else None)


OPTION_NAMES = ("fp32", "tf32", "bf16", "compile", "study")


def engine_options(bench: StudyBench, device: torch.device, steps: int, chosen: list[str]) -> list[Option]:
    chunk = max(1, min(10, steps))
    cuda = device.type == "cuda"
    graph = "auto" if cuda else "none"
    where = "graph/step" if cuda else ""
    table = {
        "fp32": Option(f"engine fp32 channels-last {where}".strip(), ImageEngineConfig(precision="fp32", graph=graph)),
        "tf32": Option(f"engine tf32 channels-last {where}".strip(), ImageEngineConfig(precision="tf32", graph=graph),
                       "tf32"),
        "bf16": Option(f"engine bf16 channels-last {where}".strip() + " (not a default)",
                       ImageEngineConfig(precision="bf16", graph=graph), "bf16"),
        "compile": Option(f"engine fp32 channels-last compiled, chunk {chunk}" + (" graph" if cuda else ""),
                          ImageEngineConfig(precision="fp32", graph=graph, compile=True, chunk=chunk)),
    }
    if not cuda:
        table.pop("tf32")
    out = [table[n] for n in chosen if n in table]
    study_cfg = bench.engine if bench.engine is not None else ImageEngineConfig()
    want = _key(study_cfg, device)
    if want != ("naive",):
        match = [o for o in out if _key(o.cfg, device) == want]
        if match:
            match[0].star = True
        elif "study" in chosen:
            prec = study_cfg.precision if (cuda or study_cfg.precision == "bf16") else "fp32"
            out.append(Option(f"study's {study_cfg.describe()}", study_cfg, prec, star=True))
    return out


def settle(opt: Option, device: torch.device) -> None:
    """Process-wide state of the loop ``opt`` as its study would have it."""
    eng = opt.cfg
    if device.type == "cpu":
        if eng is not None and eng.tune_allocator:
            tune_allocator()
        else:
            reset_allocator()
    set_tf32(eng is not None and eng.precision != "fp32")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(eng is not None and eng.cudnn_benchmark)


def _clock(fn, device: torch.device) -> tuple[float, object]:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


def run_chain(sampler, make_target, model: nn.Module, x0: Tensor, steps: int, seed: int, device: torch.device):
    gen = torch.Generator(device=device).manual_seed(seed)
    model.eval()
    with frozen(model):
        return sampler.run(make_target(model), x0, steps, generator=gen)


def _short(err: Exception) -> str:
    return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:160]}"


# ---------------------------------------------------------------------------
# the benchmark of one study's model

@dataclass
class Setup:
    bench: StudyBench
    device: torch.device
    model: nn.Module
    batch: int
    steps: int
    reps: int
    iterations: int
    warmup: int
    x0: Tensor
    seed: int
    smoke: bool


def make_setup(args, bench: StudyBench) -> Setup:
    from ebmlab.cli import resolve_device
    device = resolve_device(args.device)
    threads = args.threads or bench.threads
    torch.set_num_threads(threads)
    smoke = args.smoke
    batch = args.batch or (min(bench.train.batch_size, SMOKE["batch"]) if smoke else bench.train.batch_size)
    steps = args.steps or (min(bench.train.steps, SMOKE["steps"]) if smoke else bench.train.steps)
    reps = args.reps or (SMOKE["reps"] if smoke else FULL["reps"])
    iterations = args.iterations or (SMOKE["iterations"] if smoke else FULL["iterations"])
    seed = bench.seed if args.seed is None else args.seed
    torch.manual_seed(seed)   # the study's initial weights
    model = build_model(bench.model_spec, bench.shape).to(device)
    if any("parametrizations" in name for name, _ in model.named_parameters()):
        model.train()
        with torch.no_grad():   # a few power iterations, as after some training
            for _ in range(3):
                model(torch.rand(batch, *bench.shape, device=device))
    model.eval()
    lo, hi = bench.value_range
    g = torch.Generator().manual_seed(seed + 1)
    x0 = (lo + (hi - lo) * torch.rand(batch, *bench.shape, generator=g)).to(device)
    return Setup(bench, device, model, batch, steps, reps, iterations, 2, x0, seed, smoke)


def _describe_sampler(s) -> str:
    c = s.config
    parts = [f"step {c.step_size:g}"]
    if getattr(c, "noise_std", None) is not None:
        parts.append(f"noise std {c.noise_std:g}")
    if getattr(c, "clamp", None) is not None:
        parts.append(f"clamp [{c.clamp[0]:g}, {c.clamp[1]:g}]")
    if getattr(c, "temperature", None) is not None:
        parts.append(f"temperature {c.temperature}")
    return f"{s.name} ({', '.join(parts)})"


def header(out: Report, setup: Setup, what: str) -> None:
    b, dev = setup.bench, setup.device
    n_params = sum(p.numel() for p in setup.model.parameters())
    spec = ", ".join(f"{k}: {v}" for k, v in b.model_spec.items())
    out(f"== {what}: study {b.study} (model {b.model_key}), {b.source} section '{b.section}'"
        + (" [smoke: shrunk batch/steps/reps]" if setup.smoke else ""))
    out(f"torch {torch.__version__}; device {device_name(dev)}")
    if dev.type == "cpu":
        flags = cpu_flags()
        shown = ", ".join(f"{f} {'yes' if f in flags else 'no'}"
                          for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"))
        out(f"CPU: {cpu_model()}; torch capability {cpu_capability()}; flags: {shown}; "
            f"native bf16: {'yes' if native_bf16() else 'no (bf16 is emulated)'}")
        out(f"threads: {torch.get_num_threads()} (the section's threads: {b.threads}); {load_note()}")
    else:
        cap = torch.cuda.get_device_capability(dev)
        out(f"GPU: {torch.cuda.get_device_name(dev)}, compute capability {cap[0]}.{cap[1]}, CUDA {torch.version.cuda}; "
            f"host threads {torch.get_num_threads()}")
    out(f"model: {{{spec}}}, {n_params:,} parameters; images {setup.bench.shape[0]}x{b.shape[1]}x{b.shape[2]} "
        f"in [{b.value_range[0]:g}, {b.value_range[1]:g}] (synthetic); batch {setup.batch}; {setup.steps} steps"
        f" (train.batch_size {b.train.batch_size}, train.steps {b.train.steps}); seed {setup.seed}")
    out(f"sampler: {_describe_sampler(b.sampler)}; MALA check: {_describe_sampler(b.mala)} ({b.mala_note})")
    aux = ", ".join(f"{a.name}" for a in b.train.aux) or "none"
    out(f"training: {'JEMTrainer' if b.trainer == 'jem' else 'ImageTrainer'}, init {b.train.init}, aux terms: {aux}, "
        f"augment {b.train.augment.name}, optimizer {b.train.optimizer}")
    eng = b.engine.describe() if b.engine is not None else f"none (defaults: {ImageEngineConfig().describe()})"
    out(f"study's engine section: {eng}")
    for note in b.notes:
        out(f"note: {note}")


def bench_model(args, out: Report, sampling: bool = True, train: bool = True) -> bool:
    """sampling and/or train_step of one study's model; True when every check passes."""
    bench = load_bench(args)
    setup = make_setup(args, bench)
    dev = setup.device
    what = " + ".join(w for w, on in (("sampling", sampling), ("train_step", train)) if on)
    header(out, setup, what)
    chosen = args.options or [n for n in OPTION_NAMES if n != "compile" or _compile_on(args)]
    if "compile" not in chosen and args.options is None:
        out("note: the compiled option is left out (smoke run; --compile includes it)")
    data = _train_data(setup) if train else None

    # -- phase A: the naive loop first, before anything has called mallopt ---------------
    naive = Option("naive eager fp32", None)
    alt = Option("naive eager fp32, alt", None)
    set_tf32(False)
    chain_flops = iter_flops = math.nan
    ref = naive_mala = None
    if sampling:
        with flop_counter() as fc:
            t, ref = _clock(lambda: run_chain(bench.sampler, Target, setup.model, setup.x0, setup.steps, setup.seed,
                                              dev), dev)
        naive.chain_warm.append(t)
        chain_flops = float(fc.get_total_flops())
        for _ in range(setup.reps):
            naive.chain_times.append(_clock(lambda: run_chain(bench.sampler, Target, setup.model, setup.x0,
                                                              setup.steps, setup.seed, dev), dev)[0])
        naive_mala = run_chain(bench.mala, Target, setup.model, setup.x0, setup.steps, setup.seed + 7, dev)
        out(f"  {naive.label}: {naive.chain:.4f} s per chain (median of {setup.reps}; FLOPs counted on the "
            f"first: {chain_flops / 1e9:.4g} GFLOP, {chain_flops / setup.steps / 1e9:.4g} per step: forward + "
            f"input gradient of the batch, start evaluation included)")
    if train:
        naive.trainer = _trainer(setup, data, copy.deepcopy(setup.model), None)
        for it in range(setup.warmup + setup.iterations):
            if it == setup.warmup - 1:
                with flop_counter() as fc:
                    t, _ = _clock(lambda: naive.trainer.step(it), dev)
                iter_flops = float(fc.get_total_flops())
            else:
                t, _ = _clock(lambda: naive.trainer.step(it), dev)
            (naive.iter_times if it >= setup.warmup else naive.iter_warm).append(t)
        naive.trainer = None
        out(f"  {naive.label}: {naive.iteration:.4f} s per training iteration (median of {setup.iterations} after "
            f"{setup.warmup} warm-up; FLOPs of iteration {setup.warmup - 1}, the whole iteration counted once: "
            f"{iter_flops / 1e9:.4g} GFLOP)")

    # -- the measured peak ------------------------------------------------------------------
    peaks = _peaks(out, dev, setup.smoke)

    # -- phase B: engine options, reps alternating with the naive loop ----------------------
    opts = engine_options(bench, dev, setup.steps, chosen)
    for o in opts:
        try:
            o.engine = ImageEngine(setup.model, o.cfg, device=dev)
        except Exception as err:   # report and go on with the others
            o.failed = f"engine setup failed ({_short(err)})"
    if bench.engine is not None and not bench.engine.enabled:
        naive.star = alt.star = True
    loops = [alt] + opts
    if sampling:
        _sampling_rounds(out, setup, loops, naive)
    if train:
        _train_rounds(out, setup, data, loops, naive)

    # -- summary ----------------------------------------------------------------------------
    out()
    out(f"Summary ({setup.batch} chains x {setup.steps} steps per chain; medians; 'x' = speed-up over the naive "
        f"row timed first, 'x alt' = over the alt row, timed in the same alternating rounds):")
    rows = []
    for o in [naive] + loops:
        if o.failed and not o.chain_times and not o.iter_times:
            continue
        pk = peaks.get(o.precision, math.nan)
        rows.append([("* " if o.star else "  ") + o.label, o.chain, o.iteration,
                     naive.chain / o.chain, naive.iteration / o.iteration,
                     alt.chain / o.chain, alt.iteration / o.iteration,
                     chain_flops / o.chain / 1e9, 100 * chain_flops / o.chain / 1e9 / pk,
                     iter_flops / o.iteration / 1e9, 100 * iter_flops / o.iteration / 1e9 / pk])
    out.table(["loop", "s/chain", "s/iteration", "x chain", "x iter", "x chain alt", "x iter alt",
               "GFLOP/s chain", "% peak", "GFLOP/s iter", "% peak"], rows)
    out("* = what the study runs with this params file (its engine: section, or the engine defaults); "
        "% peak against the measured peak of the row's precision; bf16 is never a default "
        "(engine.precision: bf16 opts in)" + ("" if dev.type != "cpu" or native_bf16()
                                              else ", and is emulated on this CPU"))
    if dev.type == "cpu":
        out("'x alt' of the first naive row: the naive loop with glibc's untouched allocator (dynamic mmap "
            "threshold) over the same loop after reset_allocator() (fixed 128 KiB thresholds; any mallopt call "
            "ends glibc's dynamic threshold for the process)")
    for o in opts:
        if o.failed:
            out(f"  {o.label}: {o.failed}")
        if o.slow:
            out(f"  {o.label}: one timed chain / iteration after one warm-up (more than {SLOW:g}x slower than "
                f"naive)")
        if o.cfg is not None and o.cfg.compile and not o.failed:
            parts = []
            if o.chain_times:
                w = sum(o.chain_warm)
                parts.append(f"{len(o.chain_warm)} warm-up chains (record the draws, compile) {w:.2f} s vs "
                             f"{o.chain:.3g} s steady: compile time ~{w - len(o.chain_warm) * o.chain:.2f} s")
            if o.iter_times:
                w = sum(o.iter_warm)
                parts.append(f"{len(o.iter_warm)} warm-up training iterations {w:.2f} s vs {o.iteration:.3g} s "
                             f"steady (~{w - len(o.iter_warm) * o.iteration:.2f} s more"
                             + (", the chunk compiled in sampling is reused)" if o.chain_times else ")"))
            out(f"  compile: {'; '.join(parts)}")
    # a broken engine option fails the run; a compiled option that does not compile is only noted
    ok = not any(o.failed for o in opts if not o.cfg.compile)
    if sampling:
        ok = _checks(out, setup, opts, ref, naive_mala) and ok
    return ok


def _compile_on(args) -> bool:
    return (not args.smoke) if args.compile is None else bool(args.compile)


def _peaks(out: Report, dev: torch.device, smoke: bool) -> dict[str, float]:
    precisions = ["fp32", "bf16"] + (["tf32"] if dev.type == "cuda" else [])
    peaks, parts = {}, []
    for p in precisions:
        peaks[p], how = measured_peak_gflops(dev, p, smoke=smoke)
        parts.append(f"{p} {peaks[p]:.4g} GFLOP/s ({how})")
    threads = f", threads: {torch.get_num_threads()}" if dev.type == "cpu" else ""
    out(f"measured peak (the faster of a dense matmul and a dense convolution, fastest of 3 calls{threads}): "
        + "; ".join(parts))
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        sheet = {p: peak_tflops(name, p) for p in precisions}
        if any(v is not None for v in sheet.values()):
            out("data sheet (dense, for reference): " + "; ".join(f"{p} {v * 1e3:.4g} GFLOP/s"
                                                              for p, v in sheet.items() if v is not None))
    return peaks


def _train_data(setup: Setup):
    b = setup.bench
    n = max(8 * setup.batch, 256)
    return load_images(ImageDataConfig(name="synthetic", size=b.data.size, channels=b.data.out_channels, n=n,
                                       dequantize=b.data.dequantize, range=b.data.range, seed=setup.seed))


def _trainer(setup: Setup, data, model: nn.Module, make_target):
    from ebmlab.train.image import ImageTrainer, SamplerSchedule
    b = setup.bench
    cfg = dataclasses.replace(b.train, batch_size=setup.batch, steps=setup.steps, max_iterations=None,
                              checkpoint_every=10 ** 9)
    sched = SamplerSchedule(b.sampler)
    if b.trainer == "jem":
        from ebmlab.train.jem import JEMTrainer
        return JEMTrainer(model, data, cfg, sched, seed=setup.seed, device=setup.device, make_target=make_target,
                          progress=None)
    return ImageTrainer(model, data, cfg, sched, seed=setup.seed, device=setup.device, value_range=b.value_range,
                        make_target=make_target, progress=None)


def _sampling_rounds(out: Report, setup: Setup, loops: list[Option], naive: Option) -> None:
    """Warm-up chains (two for compiled options: the first records the draws, the second
    compiles), then ``reps`` rounds of one timed chain per loop, the naive loop first."""
    b, dev = setup.bench, setup.device

    def chain(o: Option):
        make = Target if o.cfg is None else o.engine.make_target
        return run_chain(b.sampler, make, setup.model, setup.x0, setup.steps, setup.seed, dev)

    def warmups(o: Option) -> int:
        return 2 if o.cfg is not None and o.cfg.compile else 1

    for r in range(2 + setup.reps):
        for o in loops:
            w = warmups(o)
            if o.failed or r < 2 - w or (o.slow and len(o.chain_times) >= 1):
                continue
            settle(o, dev)
            try:
                t, res = _clock(lambda: chain(o), dev)
            except Exception as err:
                o.failed = f"sampling failed ({_short(err)})" + ("; compiled option skipped" if o.cfg and
                                                                  o.cfg.compile else "")
                out(f"  {o.label}: {o.failed}")
                continue
            if len(o.chain_warm) < w:
                o.chain_warm.append(t)
            else:
                o.chain_times.append(t)
                o.chain_result = res
                o.slow = o.slow or (o.cfg is not None and t > SLOW * naive.chain)   # no more reps
    set_tf32(False)
    for o in loops:
        if o.chain_times:
            out(f"  {o.label}: {o.chain:.4f} s per chain (median of {len(o.chain_times)}; warm-up "
                + ", ".join(f"{t:.3f}" for t in o.chain_warm) + " s)")


def _train_rounds(out: Report, setup: Setup, data, loops: list[Option], naive: Option) -> None:
    """``warmup`` untimed iterations, then ``iterations`` rounds of one timed iteration per loop."""
    dev = setup.device
    for o in loops:
        if o.failed:
            continue
        model = copy.deepcopy(setup.model)
        if o.cfg is not None and o.cfg.channels_last:
            model.to(memory_format=torch.channels_last)   # as engine_target does for the loss pass
        o.trainer = _trainer(setup, data, model, None if o.cfg is None else o.engine.make_target)
    for it in range(setup.warmup + setup.iterations):
        for o in loops:
            if o.trainer is None or (o.slow and len(o.iter_times) >= 1):
                continue
            settle(o, dev)
            try:
                t, _ = _clock(lambda: o.trainer.step(it), dev)
            except Exception as err:
                o.failed = f"train_step failed at iteration {it} ({_short(err)})"
                out(f"  {o.label}: {o.failed}")
                o.trainer = None
                continue
            if it < setup.warmup and not (o.slow and o.iter_warm):   # slow options: one warm-up
                o.iter_warm.append(t)
                if it == 0 and o.cfg is not None and naive.iter_warm and t > SLOW * naive.iter_warm[0]:
                    o.slow = True
            else:
                o.iter_times.append(t)
    set_tf32(False)
    for o in loops:
        o.trainer = None
        if o.iter_times:
            out(f"  {o.label}: {o.iteration:.4f} s per training iteration (median of {len(o.iter_times)}; warm-up "
                + ", ".join(f"{t:.3f}" for t in o.iter_warm) + " s)")


def _checks(out: Report, setup: Setup, opts: list[Option], ref, naive_mala) -> bool:
    b, dev, model = setup.bench, setup.device, setup.model
    n = setup.x0.shape[0]
    out()
    out(f"Equality checks against the naive loop (same starts, same draws; {n} chains x {setup.steps} steps): "
        f"|mean E(engine) - mean E(naive)| of the final {b.sampler.name} chains (fp32 energy of the live model) "
        f"<= {Z_MAX:g} standard errors (se = sd(E naive) sqrt(2/n)); MALA acceptance |difference| <= max("
        f"{ACC_FLOOR:g}, {Z_ACCEPT:g} binomial se = {Z_ACCEPT:g} sqrt(2 p(1-p) / (steps n))):")
    set_tf32(False)
    model.eval()
    with torch.no_grad():
        ea = model(ref.x).double()
    se = max(float(ea.std()) * math.sqrt(2 / n), 1e-12)
    acc_a = float(naive_mala.diagnostics["accept_rate"].mean())
    decisions = naive_mala.diagnostics["accept_rate"].numel() * n
    tol = max(ACC_FLOOR, Z_ACCEPT * math.sqrt(max(acc_a * (1 - acc_a), 1e-4) * 2 / decisions))
    rows, ok = [], True
    for o in opts:
        if o.chain_result is None:
            continue
        settle(o, dev)
        try:
            m_b = run_chain(b.mala, o.engine.make_target, model, setup.x0, setup.steps, setup.seed + 7, dev)
        except Exception as err:
            out(f"  {o.label}: MALA chain failed ({_short(err)})")
            ok = False
            continue
        set_tf32(False)
        with torch.no_grad():
            eb = model(o.chain_result.x.contiguous()).double()
        z = abs(float(ea.mean() - eb.mean())) / se
        acc_b = float(m_b.diagnostics["accept_rate"].mean())
        passed = z <= Z_MAX and abs(acc_a - acc_b) <= tol
        ok = ok and passed
        rows.append([o.label, float(ea.mean()), float(eb.mean()), z, Z_MAX, acc_a, acc_b, abs(acc_a - acc_b), tol,
                     float((ref.x - o.chain_result.x).pow(2).mean().sqrt()), "PASS" if passed else "FAIL"])
    set_tf32(False)
    if rows:
        out.table(["option", "E naive", "E engine", "z", "z max", "acc naive", "acc engine", "|d acc|", "acc tol",
                   "rms dx", "check"], rows)
    else:
        out("  no engine option produced chains: nothing checked")
        ok = False
    return ok


# ---------------------------------------------------------------------------
# all four models, each in a fresh process

def report_path(out_dir: str | Path, device: torch.device, model_key: str, smoke: bool) -> Path:
    dev = "cpu" if device.type == "cpu" else sanitise(torch.cuda.get_device_name(device))
    return Path(out_dir) / f"{dev}-{model_key}{'_smoke' if smoke else ''}.txt"


def bench_all_models(args, out: Report) -> bool:
    from ebmlab.cli import resolve_device
    device = resolve_device(args.device)
    models = args.models or list(MODEL_STUDIES)
    out(f"== all-models: {', '.join(models)}, each in a fresh process "
        f"({args.params or 'built-in settings'}; device {device.type})")
    ok, written = True, []
    for key in models:
        path = report_path(args.out_dir, device, key, args.smoke)
        cmd = [sys.executable, "-m", "ebmlab.bench", "model", "--model", key, "--device", device.type,
               "--out", str(path)] + _forward(args)
        sys.stdout.flush()
        rc = subprocess.run(cmd, env=os.environ.copy()).returncode
        written.append((key, path, rc))
        ok = ok and rc == 0
    out()
    out.table(["model", "report", "status"],
              [[k, str(p), "ok" if rc == 0 else f"exit {rc} (a check failed or the run broke)"]
               for k, p, rc in written])
    return ok


def _forward(args) -> list[str]:
    out = []
    for flag in ("params", "batch", "steps", "reps", "iterations", "seed", "threads"):
        v = getattr(args, flag, None)
        if v is not None:
            out += [f"--{flag}", str(v)]
    if args.smoke:
        out.append("--smoke")
    if args.compile is not None:
        out.append("--compile" if args.compile else "--no-compile")
    if args.options:
        out += ["--options", *args.options]
    return out


def add_study_arguments(p, *, required: bool = False) -> None:
    """--params, --study / --model, --options (sampling, train_step and model)."""
    p.add_argument("--params", default=None,
                   help="profile file to read the study's settings from, e.g. params/fast.yaml "
                        "(default: a built-in copy of params/fast.yaml's, or smoke.yaml's with --smoke)")
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--study", choices=list(STUDY_MODELS),
                   help="benchmark this study's model (without --study/--model: the IGEBM benchmark)")
    g.add_argument("--model", choices=list(MODEL_STUDIES), help="the same by model: " + ", ".join(
        f"{m} = {s}" for m, s in MODEL_STUDIES.items()))
    add_option_arguments(p)


def add_option_arguments(p) -> None:
    p.add_argument("--options", nargs="+", choices=list(OPTION_NAMES), default=None,
                   help="engine options to compare with the naive loop (default: all; 'compile' left out "
                        "with --smoke unless --compile; tf32 on CUDA only; 'study' = the section's engine: "
                        "when it differs from the others)")


def add_common_arguments(p) -> None:
    """The options of ``model`` and ``all-models`` (sampling/train_step get them from image.add_arguments)."""
    p.add_argument("--params", default=None, help="profile file, e.g. params/fast.yaml (default: built-in copy)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--smoke", action="store_true",
                   help=f"batch <= {SMOKE['batch']}, {SMOKE['steps']} steps, {SMOKE['reps']} rep, "
                        f"{SMOKE['iterations']} iterations (CPU, seconds)")
    p.add_argument("--batch", type=int, default=None, help="chains (default: the study's train.batch_size)")
    p.add_argument("--steps", type=int, default=None, help="chain length (default: the study's train.steps)")
    p.add_argument("--reps", type=int, default=None, help=f"timed chains per loop (default {FULL['reps']})")
    p.add_argument("--iterations", type=int, default=None,
                   help=f"timed training iterations per loop (default {FULL['iterations']})")
    p.add_argument("--seed", type=int, default=None, help="default: the study's seed")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: the section's threads)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="include the compiled engine option (default: yes, except with --smoke)")
    add_option_arguments(p)
