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
            self("  ".join(c.rjust(w) if k else c.ljust(w) for c, w in zip(r, widths)))
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
