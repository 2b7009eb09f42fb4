"""The AMX kernel for MLP energies (csrc/mlp_amx.c): build, load, pack weights, call.

The kernel computes what :class:`ebmlab.engine.mlp.MLPTarget` computes (energy and
closed-form input gradient of an :class:`ebmlab.models.MLPEnergy`) in one fused pass
per block of 32 chains: hidden-to-hidden products on AMX tiles (bf16 inputs, fp32
accumulation, fp32 outputs), activations and their slopes on AVX-512. It is built
with the system C compiler the first time it is needed and cached under
``$EBMLAB_CACHE`` (default ``~/.cache/ebmlab``), keyed by the source's hash.

``available()`` says whether this machine can run it (x86-64 Linux with AMX-BF16,
a C compiler that knows the AMX intrinsics, and the kernel's permission for the
tile state); everything else falls back to torch code.

The kernel is exposed to torch as the operator ``ebmlab_engine::mlp_energy_grad`` so that a
``torch.compile``d sampler transition can call it without a graph break.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

SOURCE = Path(__file__).with_name("csrc") / "mlp_amx.c"
#: activation codes understood by the kernel (others fall back to torch)
ACTIVATIONS = {"silu": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "elu": 4}
MAXL = 8
MAGIC = 0xEB3701
_CFLAGS = ["-O3", "-march=native", "-mamx-tile", "-mamx-bf16", "-mavx512bf16", "-mavx512f",
           "-shared", "-fPIC", "-std=gnu11"]


def cache_dir() -> Path:
    return Path(os.environ.get("EBMLAB_CACHE", Path.home() / ".cache" / "ebmlab"))


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _build() -> Path:
    """Compile the kernel once per source version and machine; return the .so path."""
    src = SOURCE.read_bytes()
    key = hashlib.sha256(src + " ".join(_CFLAGS).encode() + platform.node().encode()).hexdigest()[:16]
    out = cache_dir() / f"mlp_amx-{key}.so"
    if out.exists():
        return out
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no C compiler found")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        subprocess.run([cc, *_CFLAGS, str(SOURCE), "-o", tmp], check=True, capture_output=True, text=True)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return None
    if not {"amx_bf16", "amx_tile", "avx512_bf16", "avx512f"} <= _cpu_flags():
        return None
    if os.environ.get("EBMLAB_NO_AMX"):
        return None
    try:
        lib = ctypes.CDLL(str(_build()))
    except (OSError, RuntimeError, subprocess.CalledProcessError):
        return None
    if lib.ebm_amx_init() != 0:
        return None
    f = lib.ebm_mlp_blob
    f.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                  ctypes.c_int, ctypes.c_int, ctypes.c_int]
    f.restype = ctypes.c_int
    return lib


def available() -> bool:
    """True when the AMX kernel can run here."""
    return _library() is not None


def supports(model: nn.Module) -> bool:
    """True when ``model`` is an MLP the kernel handles (and the kernel can run)."""
    from ebmlab.models.mlp import MLPEnergy
    if not isinstance(model, MLPEnergy) or not available():
        return False
    c = model.config
    return (c.activation in ACTIVATIONS and 1 <= len(c.hidden) <= MAXL and 1 <= c.in_dim <= 16
            and all(h % 32 == 0 for h in c.hidden))


def _tiles(b: Tensor) -> Tensor:
    """Pack B (K x N) for AMX: tile (kc, nc) holds B[32 kc + 2 r + j, 16 nc + c] at [r, c, j]."""
    k, n = b.shape
    return b.reshape(k // 32, 16, 2, n // 16, 16).permute(0, 3, 1, 4, 2).contiguous()


def _split(w: Tensor) -> tuple[Tensor, Tensor]:
    hi = w.to(torch.bfloat16)
    return hi, (w - hi.float()).to(torch.bfloat16)


def pack(model: nn.Module) -> Tensor:
    """All weights of ``model`` in one uint8 buffer, laid out as csrc/mlp_amx.c expects."""
    c = model.config
    lin = [m for m in model.net if isinstance(m, nn.Linear)]
    ws = [m.weight.detach().float().cpu() for m in lin]
    bs = [m.bias.detach().float().cpu() for m in lin]
    L = len(c.hidden)
    parts: list[tuple[str, int, np.ndarray]] = []

    def add(name: str, index: int, t: Tensor) -> None:
        arr = t.contiguous().view(torch.int16 if t.dtype == torch.bfloat16 else t.dtype).numpy()
        parts.append((name, index, arr))

    add("w1t", 0, ws[0].t())
    add("w_out", 0, ws[-1].reshape(-1))
    for i in range(L):
        add("bias", i, bs[i])
    for i in range(1, L):
        fh, fl = _split(_tiles(ws[i].t()))
        bh, bl = _split(_tiles(ws[i]))
        add("fwd_hi", i - 1, fh)
        add("fwd_lo", i - 1, fl)
        add("bwd_hi", i - 1, bh)
        add("bwd_lo", i - 1, bl)
    # header: magic, L, in_dim, act, widths[8], w1t, w_out, bias[8], 4 x [7] offsets, 2 doubles
    slots = {"w1t": 12, "w_out": 13, "bias": 14, "fwd_hi": 22, "fwd_lo": 29, "bwd_hi": 36, "bwd_lo": 43}
    header = np.zeros(50, dtype=np.int64)
    header[:4] = [MAGIC, L, c.in_dim, ACTIVATIONS[c.activation]]
    header[4:4 + L] = c.hidden
    offset = 64 * 8  # the header occupies 416 bytes; data starts 64-byte aligned
    chunks = []
    for name, index, arr in parts:
        header[slots[name] + index] = offset
        raw = arr.tobytes()
        pad = (-len(raw)) % 64
        chunks.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    doubles = np.array([1.0 / c.input_scale, float(bs[-1].reshape(-1)[0])], dtype=np.float64)
    head = header.tobytes() + doubles.tobytes()
    blob = head + b"\0" * (64 * 8 - len(head)) + b"".join(chunks)
    return torch.frombuffer(bytearray(blob), dtype=torch.uint8)


# --- the torch operator ---------------------------------------------------------------
# Defined with torch.library.Library rather than the custom_op decorator: the dispatcher
# then calls the implementation directly (measured ~8.6 vs ~15 us per call for 16 points;
# the compiled chunks call it once per transition).

_LIB = torch.library.Library("ebmlab_engine", "DEF")
_LIB.define("mlp_energy_grad(Tensor x, Tensor blob, bool want_grad, int fwd_passes, int bwd_passes)"
            " -> (Tensor, Tensor)")


def _op_cpu(x: Tensor, blob: Tensor, want_grad: bool, fwd_passes: int, bwd_passes: int):
    lib = _library()
    if lib is None:
        raise RuntimeError("the AMX kernel is not available on this machine")
    if x.dtype != torch.float32 or not x.is_contiguous():
        x = x.to(torch.float32).contiguous()
    n = x.shape[0]
    e = torch.empty(n, dtype=torch.float32)
    g = torch.empty_like(x) if want_grad else x.new_empty((0, x.shape[1]))
    rc = lib.ebm_mlp_blob(blob.data_ptr(), n, x.data_ptr(), e.data_ptr(), g.data_ptr() if want_grad else None,
                          int(want_grad), fwd_passes, bwd_passes)
    if rc != 0:
        raise RuntimeError(f"mlp kernel failed with code {rc}")
    return e, g


_LIB.impl("mlp_energy_grad", _op_cpu, "CPU")


@torch.library.register_fake("ebmlab_engine::mlp_energy_grad")
def _op_fake(x, blob, want_grad, fwd_passes, bwd_passes):
    g = torch.empty_like(x) if want_grad else x.new_empty((0, x.shape[1]))
    return x.new_empty(x.shape[0]), g


def energy_grad(blob: Tensor, x: Tensor, want_grad: bool = True, fwd_passes: int = 1,
                bwd_passes: int = 1) -> tuple[Tensor, Tensor]:
    """Run the kernel: energies (n,) and input gradients (n, in_dim) of the points ``x``."""
    return _op_cpu(x.detach(), blob, want_grad, fwd_passes, bwd_passes)


def tune_allocator() -> None:
    """Keep freed activations in the heap instead of returning them to the OS.

    glibc serves blocks above 128 KiB with mmap and unmaps them on free, so every
    (1000 x 128) fp32 temporary costs page faults; one mallopt call per process
    removes that (measured: a 128k-element add drops from ~37 to ~14 us).
    """
    if platform.system() != "Linux":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except OSError:
        pass
