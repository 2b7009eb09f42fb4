"""Run records: what produced an output (resolved config, seed, versions, commit)."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from ebmlab.io import atomic_write_text

import yaml

_PACKAGES = ("ebmlab", "torch", "torchvision", "numpy", "scipy", "pandas", "matplotlib",
             "pytorch-fid", "elasticdeform", "snakemake", "dvc")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            continue
    return out


def git_commit(cwd: str | Path | None = None) -> dict[str, Any]:
    """HEAD commit and whether the work tree had uncommitted changes ('unknown' outside git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return {"commit": "unknown"}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=20)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown"}


def device_description() -> str:
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # pragma: no cover - torch import problems are reported elsewhere
        pass
    return f"cpu ({platform.processor() or platform.machine()})"


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name: fp32 results agree across CPUs only up to summation order, so a
    record says which one ran it."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_record(*, command: str, config: Any, seed: int | None, extra: dict | None = None,
                argv: list[str] | None = None) -> dict:
    """The record of one run: ``argv`` is the command line (default ``sys.argv``; a command run
    in-process passes its own)."""
    return {
        "command": command,
        "argv": list(sys.argv if argv is None else argv),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "config": config,
        "versions": package_versions(),
        "git": git_commit(),
        "device": device_description(),
        "host": platform.node(),
        "cpu": cpu_model(),
        **(extra or {}),
    }


def write_record(path: str | Path, **kwargs: Any) -> dict:
    rec = make_record(**kwargs)
    atomic_write_text(path, yaml.safe_dump(rec, sort_keys=False))
    return rec
