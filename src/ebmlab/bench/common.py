"""Shared plumbing for the benchmarks: timing, device description, report output."""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ebmlab.io import atomic_write_text


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, reps: int = 3, warmup: int = 1) -> list[float]:
    """Wall seconds of ``reps`` calls of ``fn`` after ``warmup`` calls (device synchronised)."""
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def best(ts: list[float]) -> float:
    """The representative time of repeated runs: the median (robust to one slow rep)."""
    return statistics.median(ts)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model() or "cpu"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_capability() -> str:
    """What torch's CPU kernels were dispatched for (e.g. AVX2, AVX512)."""
    try:
        return torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch
        return "unknown"


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (avx512_bf16 or AMX); else torch emulates it."""
    flags = cpu_flags()
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def measured_peak_gflops(device: torch.device, precision: str, smoke: bool = False,
                         max_seconds: float = 1.0) -> tuple[float, str]:
    """(GFLOP/s, how) of the densest arithmetic measured here at ``precision`` (fp32 | tf32 | bf16)
    on the current thread count: the faster of

    * a dense n x n matmul, n doubling from 256 up to 2048 (8192 on CUDA; 512 for a smoke run)
      while the next size would take under ``max_seconds`` (an emulated bf16 stays affordable);
    * a 3x3 convolution, 128 -> 128 channels, 16 x 16, channels-last, batch 32 (8 smoke;
      on CUDA 256 -> 256 channels, 32 x 32, batch 256): on CPUs without native bf16, torch's
      bf16 matmul takes a path several times slower than oneDNN's bf16 convolutions.

    Each is the fastest of three calls after a warm-up."""
    import torch.nn.functional as F
    top = 512 if smoke else (8192 if device.type == "cuda" else 2048)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    g = torch.Generator(device=device).manual_seed(0)
    try:
        n = 256
        while True:
            a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
            b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
            t = min(timed(lambda: torch.mm(a, b), device, reps=3, warmup=1))
            mm = 2 * n ** 3 / t / 1e9
            if n >= top or t * 8 > max_seconds:
                break
            n *= 2
        if device.type == "cuda":
            batch, c, side = 256, 256, 32
        else:
            batch, c, side = (8 if smoke else 32), 128, 16
        x = torch.randn(batch, c, side, side, device=device, dtype=dtype, generator=g)
        w = torch.randn(c, c, 3, 3, device=device, dtype=dtype, generator=g)
        x, w = (v.contiguous(memory_format=torch.channels_last) for v in (x, w))
        t = min(timed(lambda: F.conv2d(x, w, padding=1), device, reps=3, warmup=1))
        conv = 2 * batch * c * c * 9 * side * side / t / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    how = f"matmul n={n} {mm:.4g}, conv3x3 {c}ch {side}px batch {batch} {conv:.4g}"
    return max(mm, conv), how


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker: totals only. The tracker's backward
    hooks make ``torch.autograd.grad`` on a leaf input (what a sampler's Target calls) fail."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def flop_counter():
    """A ``torch.utils.flop_counter.FlopCounterMode`` counting total FLOPs only (get_total_flops)."""
    from torch.utils.flop_counter import FlopCounterMode
    fc = FlopCounterMode(display=False)
    if hasattr(fc, "mod_tracker"):
        fc.mod_tracker = _GlobalOnly()
    return fc


def sanitise(name: str) -> str:
    """A file-name-safe device name: 'NVIDIA H100 80GB HBM3' -> 'nvidia_h100_80gb_hbm3'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "device"


def load_note() -> str:
    """The 1/5/15-minute load averages, so a reader can judge a CPU timing's conditions."""
    try:
        a, b, c = os.getloadavg()
        return f"load average {a:.2f} {b:.2f} {c:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


#: dense peak throughput, TFLOP/s, by device-name fragment (vendor data sheets; the first
#: fragment found in the name wins, so PCIe parts come before the SXM default)
PEAK_TFLOPS = {
    "H100 PCIe": {"bf16": 756.0, "tf32": 378.0, "fp32": 51.0},
    "H100": {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0},
    "H200": {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5},
    "L40S": {"bf16": 362.0, "tf32": 183.0, "fp32": 91.6},
    "RTX 3090": {"bf16": 71.0, "tf32": 35.6, "fp32": 35.6},
}


def peak_tflops(name: str, precision: str) -> float | None:
    for key, table in PEAK_TFLOPS.items():
        if key.lower() in name.lower():
            return table.get(precision)
    return None


@dataclass
class Report:
    """Lines printed as they come and, optionally, written to a file at the end."""

    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def table(self, header: list[str], rows: list[list[object]]) -> None:
        cells = [header] + [[_fmt(c) for c in r] for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
        for k, r in enumerate(cells):
            self("  ".join(c.ljust(w) if (k == 0 or i == 0) else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths))).rstrip())
            if k == 0:
                self("  ".join("-" * w for w in widths))

    def write(self, path: str | Path) -> None:
        atomic_write_text(path, "\n".join(self.lines) + "\n")


def _fmt(c: object) -> str:
    if isinstance(c, float):
        if c != c:
            return "n/a"
        if abs(c) >= 1000 or (abs(c) < 0.01 and c != 0):
            return f"{c:.3g}"
        return f"{c:.3f}" if abs(c) < 10 else f"{c:.1f}"
    return str(c)
