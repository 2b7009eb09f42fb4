"""``python -m ebmlab.bench {sampling,train_step,fid,all}``: the image engine against the naive loop.

* ``sampling``: one chain of the IGEBM energy (Du & Mordatch 2019 ResNet: 128/256
  channels, spectral norm, 32x32x3; Langevin, step 100, noise std 0.01, states clamped
  to [0, 1]), batch 128, 60 steps: the naive eager fp32 loop (autograd ``Target``,
  TF32 off, NCHW, spectral norm evaluated at every forward) and each engine option,
  in one process on the same model, start points and seed. Prints time per chain,
  images x steps per second, the ratio to naive, achieved TFLOP/s against the
  device's dense peak, and the equality checks (docs/engine.md): mean energy of the
  final samples, MALA acceptance rate, and FID between engine and naive samples on the
  Inception stand-in, each within its tolerance.
* ``train_step``: a full training iteration of ``ebmlab.train.image.ImageTrainer``
  (replay buffer, 60-step chain, update with Adam) on synthetic CIFAR-shaped data,
  naive (autograd target, fp32) against the engine (``make_target`` hook).
* ``fid``: Inception feature-extraction throughput (batched on the device) and the
  cost of reference statistics computed once and then read from the cache.
* ``all``: the three, written to ``<out-dir>/<device>.txt``.

``--smoke`` shrinks everything (a tiny IGEBM, batch 16, 10 steps) so the whole thing
runs on a CPU in seconds (CI).

With ``--study`` / ``--model`` (and ``--params``), ``sampling`` and ``train_step`` benchmark a
study's own model instead: see :mod:`ebmlab.bench.study`.
"""

from __future__ import annotations

import copy
import math
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ebmlab import samplers
from ebmlab.bench.common import Report, best, cpu_model, device_name, load_note, peak_tflops, sanitise, sync, timed
from ebmlab.cli import resolve_device
from ebmlab.engine.image import ImageEngine, ImageEngineConfig, set_tf32
from ebmlab.models import build_model
from ebmlab.samplers import Target
from ebmlab.train.toy import frozen

FULL_MODEL = {"name": "igebm"}  # single scale, stages 128-256-256, 2 blocks each, spectral norm
SMOKE_MODEL = {"name": "igebm", "stages": [16, 32, 32], "blocks_per_stage": 1}
LANGEVIN = {"step_size": 100.0, "noise_std": 0.01, "clamp": (0.0, 1.0)}
MALA = {"step_size": 100.0, "noise_std": 0.01}

#: equality-check gates (docs/engine.md)
Z_MAX = 4.0          # |mean E difference| in standard errors of an independent-sample mean
Z_ACCEPT = 4.0       # |MALA acceptance-rate difference| in binomial standard errors (floor 0.005)
FID_RATIO_MAX = 1.0  # FID(engine, naive) / FID(naive, naive with another seed)


@dataclass
class Setup:
    device: torch.device
    model: nn.Module
    shape: tuple[int, int, int]
    batch: int
    steps: int
    reps: int
    x0: Tensor
    seed: int
    smoke: bool


def _device(args) -> torch.device:
    device = resolve_device(args.device)
    if device.type == "cpu":
        # OpenMP threads that spin while the cores serve other processes make CPU timings erratic
        torch.set_num_threads(getattr(args, "threads", None) or 1)
    return device


def make_setup(args) -> Setup:
    device = _device(args)
    smoke = args.smoke
    shape = (3, 16, 16) if smoke else (3, 32, 32)
    batch = args.batch or (16 if smoke else 128)
    steps = args.steps or (10 if smoke else 60)
    torch.manual_seed(args.seed)
    model = build_model(SMOKE_MODEL if smoke else FULL_MODEL, in_shape=shape).to(device)
    x_warm = torch.rand(batch, *shape, device=device)
    model.train()
    with torch.no_grad():
        for _ in range(3):  # a few power iterations, as after some training
            model(x_warm)
    model.eval()
    x0 = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(args.seed + 1)).to(device)
    return Setup(device, model, shape, batch, steps, args.reps or (1 if smoke else 3), x0, args.seed, smoke)


def engine_variants(setup: Setup, with_compile: bool) -> list[tuple[str, ImageEngineConfig]]:
    """The options measured, from plain precision changes to the whole chain in one graph."""
    if setup.device.type != "cuda":
        return [("fp32 channels-last", ImageEngineConfig(precision="fp32", graph="none")),
                ("bf16 channels-last", ImageEngineConfig(precision="bf16", graph="none"))]
    out = [
        ("tf32", ImageEngineConfig(precision="tf32", channels_last=False, graph="none")),
        ("bf16 channels-last", ImageEngineConfig(precision="bf16", graph="none")),
        ("tf32 channels-last graph/step", ImageEngineConfig(precision="tf32", graph="cuda_graph", chunk=1)),
        ("bf16 channels-last graph/step", ImageEngineConfig(precision="bf16", graph="cuda_graph", chunk=1)),
        ("bf16 channels-last graph/chain", ImageEngineConfig(precision="bf16", graph="cuda_graph",
                                                              chunk=setup.steps)),
    ]
    if with_compile:
        out.append(("bf16 compiled graph/step", ImageEngineConfig(precision="bf16", graph="cuda_graph",
                                                                 compile=True, chunk=1)))
    return out


def naive_target(model: nn.Module) -> Target:
    return Target(model)


def run_chain(sampler, make_target, model, x0, steps, seed, device):
    gen = torch.Generator(device=device).manual_seed(seed)
    model.eval()
    with frozen(model):
        return sampler.run(make_target(model), x0, steps, generator=gen)


def flops_per_step(model: nn.Module, x: Tensor) -> float:
    """FLOPs of one energy-and-input-gradient evaluation of the batch (fwd + input backward)."""
    from torch.utils.flop_counter import FlopCounterMode
    model.eval()
    xg = x.detach().clone().requires_grad_(True)
    with frozen(model), FlopCounterMode(display=False) as fc:
        model(xg).sum().backward()  # parameters frozen: the backward computes the input gradient only
    return float(fc.get_total_flops())


def _fid_tools():
    try:
        from ebmlab.metrics import fid as fid_mod
    except ImportError:
        return None
    return fid_mod


def naive_feature_stats(extractor, naive_lang, naive_lang2):
    """Stand-in feature statistics of the naive samples and of a second naive run (another seed)."""
    if extractor is None:
        return None
    fid_mod = _fid_tools()
    return (fid_mod.stats_of(extractor, naive_lang.x.clamp(0, 1), batch_size=200),
            fid_mod.stats_of(extractor, naive_lang2.x.clamp(0, 1), batch_size=200))


def sample_checks(setup: Setup, label: str, eng: ImageEngine, lang, mala, naive_lang, naive_mala,
                  extractor=None, naive_stats=None) -> dict:
    """Equality checks of one engine option against the naive chains (same starts, same draws)."""
    dev = setup.device
    a = naive_lang
    b = run_chain(lang, eng.make_target, setup.model, setup.x0, setup.steps, setup.seed, dev)
    with torch.no_grad():
        set_tf32(False)
        ea, eb = setup.model(a.x).double(), setup.model(b.x).double()
    n = ea.shape[0]
    se = float(ea.std()) * math.sqrt(2 / n)
    z_e = abs(float(ea.mean() - eb.mean())) / max(se, 1e-12)
    m_a = naive_mala
    m_b = run_chain(mala, eng.make_target, setup.model, setup.x0, setup.steps, setup.seed + 7, dev)
    acc_a = float(m_a.diagnostics["accept_rate"].mean())
    acc_b = float(m_b.diagnostics["accept_rate"].mean())
    decisions = m_a.diagnostics["accept_rate"].numel() * n
    tol_acc = max(0.005, Z_ACCEPT * math.sqrt(max(acc_a * (1 - acc_a), 1e-4) * 2 / decisions))
    out = {"label": label, "E naive": float(ea.mean()), "E engine": float(eb.mean()), "z E": z_e,
           "acc naive": acc_a, "acc engine": acc_b, "acc tol": tol_acc,
           "rms dx": float((a.x - b.x).pow(2).mean().sqrt())}
    ok = z_e <= Z_MAX and abs(acc_a - acc_b) <= tol_acc
    if extractor is not None:
        fid_mod = _fid_tools()
        s_a, s_c = naive_stats
        s_b = fid_mod.stats_of(extractor, b.x.clamp(0, 1), batch_size=200)
        f_ab = fid_mod.frechet_distance(s_a.mu, s_a.sigma, s_b.mu, s_b.sigma)
        f_ac = fid_mod.frechet_distance(s_a.mu, s_a.sigma, s_c.mu, s_c.sigma)
        out.update({"FID(eng,naive)": f_ab, "FID(naive,naive')": f_ac})
        ok = ok and f_ab <= FID_RATIO_MAX * f_ac
    out["check"] = "PASS" if ok else "FAIL"
    return out


def bench_sampling(args, out: Report, setup: Setup | None = None) -> bool:
    setup = setup or make_setup(args)
    dev, name = setup.device, device_name(setup.device)
    t_start = time.perf_counter()
    out(f"== sampling: IGEBM {'smoke (tiny)' if setup.smoke else 'CIFAR-10 (128/256 channels, spectral norm)'} "
        f"energy, {setup.shape[0]}x{setup.shape[1]}x{setup.shape[2]}, batch {setup.batch}, {setup.steps} "
        f"Langevin steps (step {LANGEVIN['step_size']:g}, noise std {LANGEVIN['noise_std']:g}, clamp [0, 1])")
    flops = flops_per_step(setup.model, setup.x0)
    out(f"device: {name}; torch {torch.__version__}; FLOPs per step (forward + input gradient, batch "
        f"{setup.batch}): {flops / 1e9:.1f} GFLOP = {flops / setup.batch / 2e9:.2f} GFLOP per image forward")
    if dev.type == "cpu":
        out(f"CPU: {cpu_model()}; {torch.get_num_threads()} threads; {load_note()}")
    lang = samplers.build("langevin", **LANGEVIN)
    mala = samplers.build("mala", **MALA)

    def chain_time(make_target) -> float:
        ts = timed(lambda: run_chain(lang, make_target, setup.model, setup.x0, setup.steps, setup.seed, dev),
                   dev, reps=setup.reps, warmup=1)
        return best(ts)

    set_tf32(False)
    t_naive = chain_time(naive_target)
    naive_lang = run_chain(lang, naive_target, setup.model, setup.x0, setup.steps, setup.seed, dev)
    naive_lang2 = run_chain(lang, naive_target, setup.model, setup.x0, setup.steps, setup.seed + 1, dev)
    naive_mala = run_chain(mala, naive_target, setup.model, setup.x0, setup.steps, setup.seed + 7, dev)
    fid_mod = _fid_tools()
    extractor = None
    if fid_mod is not None:
        try:
            extractor = fid_mod.build_extractor("inception_standin", device=dev)
        except ImportError as err:  # pytorch-fid missing: the FID check is skipped, and says so
            out(f"FID check skipped: {err}")
    naive_stats = naive_feature_stats(extractor, naive_lang, naive_lang2)
    rows = [["naive eager fp32", t_naive, setup.batch * setup.steps / t_naive, 1.0,
             flops * setup.steps / t_naive / 1e12, _peak_pct(name, "fp32", flops * setup.steps / t_naive)]]
    checks = []
    best_engine = None
    for label, cfg in engine_variants(setup, args.compile):
        if args.time_budget and time.perf_counter() - t_start > args.time_budget:
            out(f"  {label}: skipped (time budget of {args.time_budget:g} s used)")
            continue
        try:
            eng = ImageEngine(setup.model, cfg, device=dev)
            t0 = time.perf_counter()
            run_chain(lang, eng.make_target, setup.model, setup.x0, setup.steps, setup.seed, dev)
            sync(dev)
            first = time.perf_counter() - t0
            t = chain_time(eng.make_target)
            prec = "bf16" if cfg.precision == "bf16" else cfg.precision
            rows.append([label, t, setup.batch * setup.steps / t, t_naive / t, flops * setup.steps / t / 1e12,
                         _peak_pct(name, prec, flops * setup.steps / t)])
            out(f"  {label}: {t:.4f} s per chain (first chain incl. capture/compile {first:.2f} s)")
            checks.append(sample_checks(setup, label, eng, lang, mala, naive_lang, naive_mala, extractor,
                                        naive_stats))
            if best_engine is None or t < best_engine[1]:
                best_engine = (label, t, eng)  # kept: train_step reuses its graphs and compiled chunks
            del eng
        except Exception as err:  # report and go on with the other options
            out(f"  {label}: FAILED ({type(err).__name__}: {str(err).splitlines()[0][:160]})")
            eng = None
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    out()
    out(f"Per chain ({setup.steps} steps x {setup.batch} images; median of {setup.reps} after a warm-up chain):")
    out.table(["loop", "s/chain", "img*steps/s", "speed-up", "TFLOP/s", "% of peak"], rows)
    out()
    tol = (f"gates: z(mean E) <= {Z_MAX:g}, |d accept| <= acc tol = {Z_ACCEPT:g} binomial standard errors"
           + (f", FID(engine, naive) <= {FID_RATIO_MAX:g} x FID(naive, naive other seed)" if extractor else
              "; FID check skipped (ebmlab.metrics.fid not available)"))
    out(f"Equality checks (Langevin and MALA chains from the same starts with the same draws; {tol}; "
        f"FIDs on the Inception stand-in: random weights, 75 px, meaningless as FIDs):")
    if checks:
        cols = list(checks[0].keys())
        out.table(cols, [[c.get(k, math.nan) for k in cols] for c in checks])
    ok = bool(checks) and all(c["check"] == "PASS" for c in checks)
    if best_engine:
        out(f"fastest engine option: {best_engine[0]}, {best_engine[1]:.4f} s per chain, "
            f"{t_naive / best_engine[1]:.1f}x the naive loop")
    args._best_engine = best_engine
    args._langevin = lang
    return ok


def _peak_pct(name: str, precision: str, flops_per_s: float) -> float:
    peak = peak_tflops(name, precision)
    return math.nan if peak is None else 100.0 * flops_per_s / (peak * 1e12)


# ---------------------------------------------------------------------------
# training iteration

def bench_train_step(args, out: Report, setup: Setup | None = None) -> bool:
    from ebmlab.config import Tagged
    from ebmlab.data.images import ImageDataConfig, load_images
    from ebmlab.train.augment import Du2020AugmentConfig
    from ebmlab.train.image import ImageTrainConfig, ImageTrainer, SamplerSchedule
    setup = setup or make_setup(args)
    dev = setup.device
    data = load_images(ImageDataConfig(name="synthetic", size=setup.shape[1], channels=setup.shape[0],
                                       n=max(4 * setup.batch, 64), dequantize=True))
    cfg = ImageTrainConfig(batch_size=setup.batch, steps=setup.steps, epochs=1000.0, init="nll",
                           buffer_size=max(10 * setup.batch, 100), augment=Tagged("du2020", Du2020AugmentConfig()))
    sampler = getattr(args, "_langevin", None) or samplers.build("langevin", **LANGEVIN)
    iters = args.iterations or (2 if setup.smoke else 8)
    out(f"== train_step: ImageTrainer iteration (replay buffer with reinit 0.05, du2020 augmentation, "
        f"{setup.steps}-step Langevin chain, loss and Adam update), batch {setup.batch}, synthetic "
        f"{setup.shape[1]}x{setup.shape[2]} data; median of {iters} iterations after 2 warm-up ones")

    def run(make_target, engine) -> float:
        model = copy.deepcopy(setup.model)
        if engine is not None:
            if engine.config.channels_last:
                model.to(memory_format=torch.channels_last)
            engine.bind(model)  # the sampling benchmark's engine: its graphs are captured already
            set_tf32(engine.config.precision != "fp32")
            make_target = engine.make_target
        else:
            set_tf32(False)
        trainer = ImageTrainer(model, data, cfg, SamplerSchedule(sampler), seed=setup.seed, device=dev,
                               make_target=make_target)
        times = []
        for it in range(iters + 2):
            sync(dev)
            t0 = time.perf_counter()
            trainer.step(it)
            sync(dev)
            times.append(time.perf_counter() - t0)
        del trainer
        return statistics.median(times[2:])

    t_naive = run(None, None)
    best_engine = getattr(args, "_best_engine", None)
    if best_engine is not None:
        label, _, engine = best_engine
    else:
        label, cfg_e = engine_variants(setup, False)[-1]
        engine = ImageEngine(setup.model, cfg_e, device=dev)
    try:
        t_engine = run(None, engine)
    except Exception as err:
        out(f"  engine ({label}): FAILED ({type(err).__name__}: {str(err).splitlines()[0][:160]})")
        return False
    out.table(["loop", "s/iteration", "speed-up"], [["naive eager fp32", t_naive, 1.0],
                                                     [f"engine: {label}", t_engine, t_naive / t_engine]])
    ok = True
    if not setup.smoke:
        target_ok = t_engine <= 0.10 and t_naive / t_engine >= 8
        out(f"acceptance (issue 7): <= 0.10 s per iteration and >= 8x naive: "
            f"{'met' if target_ok else 'NOT met'} ({t_engine:.3f} s, {t_naive / t_engine:.1f}x)")
    return ok


# ---------------------------------------------------------------------------
# FID feature extraction

def bench_fid(args, out: Report, setup: Setup | None = None) -> bool:
    fid_mod = _fid_tools()
    if fid_mod is None:
        out("== fid: skipped (ebmlab.metrics.fid, issue 3's FID helper, is not available)")
        return True
    from ebmlab.errors import DataError
    from ebmlab.data.images import ImageDataConfig
    try:
        import pytorch_fid  # noqa: F401
    except ImportError as err:
        out(f"== fid: skipped ({err})")
        return True
    dev = _device(args)
    n = args.fid_images or (64 if args.smoke else 10000)
    try:
        extractor = fid_mod.build_extractor("inception", device=dev)
        what = "InceptionV3 pool3 with the FID weights"
    except DataError:
        size = 75 if args.smoke else 299
        extractor = fid_mod.build_extractor("inception_standin", device=dev, standin_size=size)
        what = (f"InceptionV3 pool3 architecture with random weights at {size} px (the FID weights are not on "
                f"this machine; throughput does not depend on the weights)")
    out(f"== fid: {what}; {n} synthetic 32x32 images; batches of {args.fid_batch} on {device_name(dev)}")
    data_cfg = ImageDataConfig(name="synthetic", size=32, channels=3, n=n)
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        fid_mod.reference_stats(extractor, data_cfg, cache, batch_size=args.fid_batch)
        sync(dev)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = fid_mod.reference_stats(extractor, data_cfg, cache, batch_size=args.fid_batch)
        t_cached = time.perf_counter() - t0
    samples = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(dev)
    t = best(timed(lambda: fid_mod.stats_of(extractor, samples, batch_size=args.fid_batch), dev, reps=2, warmup=1))
    score = fid_mod.frechet_distance(*_stats_pair(fid_mod.stats_of(extractor, samples, args.fid_batch), ref))
    out(f"feature extraction: {n / t:.0f} images/s ({t:.2f} s for {n}); reference statistics: {t_first:.2f} s "
        f"computed, {t_cached * 1e3:.1f} ms from the cache; Frechet distance uniform noise vs synthetic set "
        f"= {score:.1f} ({'FID' if fid_mod.is_real_fid(extractor.id) else 'stand-in, not an FID'})")
    return True


def _stats_pair(a, b):
    return a.mu, a.sigma, b.mu, b.sigma


# ---------------------------------------------------------------------------

def bench_all(args, out: Report) -> bool:
    setup = make_setup(args)
    ok = bench_sampling(args, out, setup)
    out()
    ok = bench_train_step(args, out, setup) and ok
    out()
    ok = bench_fid(args, out, setup) and ok
    return ok


def add_arguments(p, kind: str) -> None:
    import argparse
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--smoke", action="store_true", help="tiny model and batch (CPU, seconds)")
    p.add_argument("--batch", type=int, default=None,
                   help="chains (default 128, smoke 16; with --study: the study's train.batch_size)")
    p.add_argument("--steps", type=int, default=None,
                   help="chain length (default 60, smoke 10; with --study: the study's train.steps)")
    p.add_argument("--reps", type=int, default=None, help="timed chains per option (default 3; with --study 5)")
    p.add_argument("--seed", type=int, default=None, help="default 0; with --study: the study's seed")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default 1; with --study: the section's threads, what its jobs use)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="also time torch.compile (+ CUDA graph); with --study on by default except with --smoke")
    p.add_argument("--time-budget", type=float, default=None,
                   help="seconds after which remaining sampling options are skipped (IGEBM only)")
    p.add_argument("--iterations", type=int, default=None,
                   help="train_step: timed iterations (default 8, smoke 2; with --study 5)")
    p.add_argument("--fid-images", type=int, default=None, help="fid: images (default 10000; smoke 64)")
    p.add_argument("--fid-batch", type=int, default=500, help="fid: images per batch")
