"""Process-wide allocator setting for CPU chains (Linux/glibc only; a no-op elsewhere).

glibc serves blocks above its mmap threshold (128 KiB at start, adapting up to 32 MiB)
with mmap and returns them to the OS on free, so a chain that allocates the same large
activations at every step pays page faults each time. Raising the mmap and trim
thresholds keeps freed blocks in the heap. This changes no number, only where memory
comes from; ``python -m ebmlab.bench`` measures it with the rest of the engine.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
GLIBC_DEFAULT = 128 * 1024   # both thresholds' start values

_state = {"tuned": False}


def _mallopt(threshold: int) -> bool:
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1
    return libc.mallopt(M_TRIM_THRESHOLD, threshold) == 1 and ok


def tune_allocator(threshold: int = 1 << 30) -> bool:
    """Keep freed blocks below ``threshold`` bytes in the heap; True where it took effect."""
    ok = _mallopt(threshold)
    _state["tuned"] = ok
    return ok


def reset_allocator() -> bool:
    """Back to glibc's start thresholds. Not quite a fresh process: any mallopt call turns
    glibc's dynamic mmap threshold off for good, so the benchmark times its first naive
    loop before touching the allocator and reports this reset loop as a second row."""
    ok = _mallopt(GLIBC_DEFAULT)
    if ok:
        _state["tuned"] = False
    return ok


def allocator_tuned() -> bool:
    return _state["tuned"]
