"""Frechet Inception Distance and its labelled substitutes.

FID (Heusel et al. 2017) is the Frechet distance between Gaussians fitted to features of
real and generated images:

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

Three feature extractors, told apart by their ``id`` (which flows into every statistics
file and score, so a report can check what a number is):

* ``inception``: pytorch-fid's InceptionV3, pool3 (2048-d), with the TensorFlow FID weights
  ``pt_inception-2015-12-05-6726825d.pth``. Only these numbers are FIDs comparable with
  papers. The file is looked up in order: the ``weights`` argument, ``$EBMLAB_FID_WEIGHTS``,
  ``data/weights/`` (DVC-tracked), the torch hub checkpoint cache; it is never downloaded
  implicitly (``python -m ebmlab.metrics.fid weights --fetch`` does that, where there is network).
* ``inception_standin``: the same network with seeded random weights, built without any
  download, fed 75x75 inputs (Inception's smallest) instead of 299x299 to stay cheap on a CPU.
  It exercises the code path; its numbers mean nothing.
* ``classifier``: the penultimate layer of the small digit classifier the pipeline trains
  (``ebmlab.metrics.classifier``): a substitute for digit data, reported in its own column.

Images enter as floats in [0, 1], shape (N, C, H, W), C = 1 (repeated to RGB) or 3. By
default they are rounded to the 8-bit grid first, as pytorch-fid sees images saved as PNG.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ebmlab.cli import guarded

from ebmlab.errors import DataError
from ebmlab.config import Bound
from ebmlab.errors import ConfigError
from ebmlab.config import field as cfield
from ebmlab.data.images import ImageDataConfig
from ebmlab.progress import progress as progress_iter

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"
INCEPTION_SHA256_PREFIX = "6726825d"  # torch hub convention: the file name carries its hash prefix
WEIGHTS_ENV = "EBMLAB_FID_WEIGHTS"
DVC_WEIGHTS_DIR = Path("data/weights")
STANDIN_SIZE = 75

Kind = Literal["inception", "inception_standin", "classifier"]
KINDS: tuple[str, ...] = ("inception", "inception_standin", "classifier")
#: the table column each kind's number belongs in; only real-Inception numbers are FIDs
COLUMNS = {"inception": "fid", "inception_standin": "inception_standin_fid",
           "classifier": "classifier_frechet_substitute"}


# ---------------------------------------------------------------------------
# the closed form

def frechet_distance(mu1, sigma1, mu2, sigma2, *, factor1=None, factor2=None) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    tr((S1 S2)^(1/2)) is the sum of square roots of the eigenvalues of a symmetric PSD
    matrix similar to S1 S2, in float64 (no complex intermediates; singular covariances
    are fine): A^T S2 A when S1 = A A^T is given as a low-rank ``factor1`` (d x k, from k+1
    samples: cheap), else L^T S2 L with the Cholesky factor L of a positive definite S1
    (or S2), else S1^(1/2) S2 S1^(1/2) from an eigendecomposition.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu {mu1.shape} {mu2.shape}, sigma {s1.shape} {s2.shape}")
    a, b = torch.from_numpy(s1), torch.from_numpy(s2)
    a, b = (a + a.T) / 2, (b + b.T) / 2
    diff = mu1 - mu2
    value = float(diff @ diff + torch.trace(a) + torch.trace(b) - 2 * _trace_sqrt_product(a, b, factor1, factor2))
    return max(value, 0.0)  # a squared distance; only rounding can make it negative


def _trace_sqrt_product(a: Tensor, b: Tensor, factor_a=None, factor_b=None) -> float:
    def tr_sqrt(m: Tensor) -> float:
        ev = torch.linalg.eigvalsh((m + m.T) / 2)
        # eigenvalues within rounding of zero are zero: their square roots would add up
        tol = ev.shape[0] * torch.finfo(ev.dtype).eps * ev.abs().max()
        return float(torch.where(ev > tol, ev, torch.zeros_like(ev)).sqrt().sum())

    for f, other in ((factor_a, b), (factor_b, a)):
        if f is not None:
            f = torch.as_tensor(np.asarray(f, np.float64))
            if f.ndim != 2 or f.shape[0] != a.shape[0]:
                raise ValueError(f"a covariance factor must be (d, k), got {tuple(f.shape)}")
            return tr_sqrt(f.T @ (other @ f))
    # torch's LAPACK routines: several times faster than numpy's here at d = 2048
    for m, other in ((a, b), (b, a)):
        chol, info = torch.linalg.cholesky_ex(m)
        if int(info) == 0:
            return tr_sqrt(chol.T @ other @ chol)
    w, v = torch.linalg.eigh(a)
    root = (v * w.clamp(min=0).sqrt()) @ v.T
    return tr_sqrt(root @ b @ root)


# ---------------------------------------------------------------------------
# statistics

@dataclasses.dataclass
class FeatureStats:
    """Mean and covariance (ddof = 1) of n feature vectors, and the extractor that made them.

    ``factor`` (d x n, with sigma = factor @ factor.T) is kept when n <= d: the covariance
    then has rank < n and the Frechet distance takes a fast exact path.
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    extractor_id: str
    meta: dict = dataclasses.field(default_factory=dict)
    factor: np.ndarray | None = None

    @property
    def kind(self) -> str:
        return metric_kind(self.extractor_id)

    def save(self, path) -> None:
        from ebmlab.io import atomic_path
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                extra = {} if self.factor is None else {"factor": self.factor}
                np.savez(fh, mu=self.mu, sigma=self.sigma, n=np.int64(self.n), **extra,
                         extractor_id=np.str_(self.extractor_id), meta=np.str_(json.dumps(self.meta, sort_keys=True)))

    @classmethod
    def load(cls, path) -> "FeatureStats":
        with np.load(path, allow_pickle=False) as f:
            return cls(mu=f["mu"], sigma=f["sigma"], n=int(f["n"]), extractor_id=str(f["extractor_id"]),
                       meta=json.loads(str(f["meta"])), factor=f["factor"] if "factor" in f.files else None)

    def distance(self, other: "FeatureStats") -> float:
        """Frechet distance to ``other`` (same extractor required)."""
        if other.extractor_id != self.extractor_id:
            raise ValueError(f"reference statistics come from {other.extractor_id!r}, not from {self.extractor_id!r}")
        return frechet_distance(self.mu, self.sigma, other.mu, other.sigma, factor1=self.factor, factor2=other.factor)


class _Moments:
    """Streaming mean and centred scatter in float64 (batches merged as in Chan et al.)."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, None, None
        self.kept: list[Tensor] | None = []  # the features themselves while n <= d

    def add(self, f: Tensor) -> None:
        f = f.detach().double()
        nb = f.shape[0]
        if nb == 0:
            return
        if self.kept is not None:
            self.kept.append(f)
            if self.n + nb > f.shape[1]:
                self.kept = None
        mb = f.mean(0)
        c = f - mb
        m2b = c.T @ c
        if self.n == 0:
            self.n, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + torch.outer(delta, delta) * (self.n * nb / n)
        self.n = n

    def stats(self, extractor_id: str, meta: dict | None = None) -> FeatureStats:
        if self.n < 2:
            raise ValueError(f"statistics need at least 2 images, got {self.n}")
        factor = None
        sigma = self.m2 / (self.n - 1)
        if self.kept is not None:
            x = torch.cat(self.kept)
            factor = ((x - self.mean).T / (self.n - 1) ** 0.5)
            sigma = factor @ factor.T
            factor = factor.cpu().numpy()
        return FeatureStats(self.mean.cpu().numpy(), sigma.cpu().numpy(), self.n, extractor_id, meta or {}, factor)


class Extractor(Protocol):
    id: str
    dim: int
    device: torch.device

    def features(self, x: Tensor) -> Tensor: ...


def _unit_batches(images, batch_size: int, quantize: bool) -> Iterable[Tensor]:
    """Float batches in [0, 1] from a float tensor, a uint8 tensor or an ImageSet."""
    x = getattr(images, "x", images)  # an ImageSet: its uint8 images, never dequantised
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got {type(x).__name__} {getattr(x, 'shape', '')}")
    for start in range(0, x.shape[0], batch_size):
        b = x[start:start + batch_size]
        if b.dtype == torch.uint8:
            b = b.float() / 255.0
        else:
            b = b.float().clamp(0, 1)
            if quantize:
                b = (b * 255).round() / 255
        yield b


@torch.no_grad()
def stats_of(extractor: Extractor, images, batch_size: int = 200, quantize: bool = True,
             meta: dict | None = None, progress: bool | None = False) -> FeatureStats:
    """Feature statistics of ``images`` (floats in [0, 1], uint8, or an ImageSet).

    ``progress``: see :mod:`ebmlab.progress` (``None``: a bar on a terminal, else a line to
    stderr every 30 s of a long pass; the default ``False`` keeps FIDs inside training quiet).
    """
    acc = _Moments()
    x = getattr(images, "x", images)
    total = -(-x.shape[0] // batch_size) if isinstance(x, Tensor) and x.ndim == 4 else None
    for b in progress_iter(_unit_batches(images, batch_size, quantize), desc="features (batches)", total=total,
                           enabled=progress):
        acc.add(extractor.features(b.to(extractor.device)))
    return acc.stats(extractor.id, meta)


def fid(samples, ref: FeatureStats, extractor: Extractor, batch_size: int = 200, quantize: bool = True,
        progress: bool | None = False) -> float:
    """Frechet distance of ``samples`` (floats in [0, 1]) to ``ref`` in ``extractor``'s features.

    A real FID only when ``extractor.id`` is the Inception one (see :func:`column_for`).
    ``progress`` as in :func:`stats_of` (``None`` for a final score of many samples).
    """
    if ref.extractor_id != extractor.id:
        raise ValueError(f"reference statistics come from {ref.extractor_id!r}, not from {extractor.id!r}")
    return stats_of(extractor, samples, batch_size, quantize, progress=progress).distance(ref)


def reference_stats(extractor: Extractor, data_cfg, cache_dir, n: int | None = None, *, seed: int = 0,
                    batch_size: int = 200) -> FeatureStats:
    """Statistics of the real images ``data_cfg`` names (uint8 / 255: no dequantisation),
    computed once and cached in ``cache_dir`` under a name keyed by the data, ``n``, the
    seed and the extractor id. ``n`` < the split's size takes a seeded subset (the same
    images every time); ``None`` takes the whole split."""
    from ebmlab.data.images import load_images, split_indices
    path, key = _reference_key(extractor.id, data_cfg, cache_dir, n, seed)
    if path.exists():
        try:
            stats = FeatureStats.load(path)
        except Exception as err:  # a damaged cache file (truncated, bad CRC): recomputed below
            from ebmlab.io import first_line, move_aside, notice
            notice(f"unreadable reference statistics {path} ({first_line(err)}), moved aside to "
                   f"{move_aside(path).name}; recomputing them")
        else:
            if stats.meta.get("key") == key:
                return stats
    data = load_images(data_cfg)  # DataError (how to get it) before any compute
    if n is not None:
        if n > len(data):
            raise ConfigError(f"reference n={n} exceeds the {len(data)} images of {data_cfg.describe()} "
                              f"split {data_cfg.split!r}")
        data = data.subset(split_indices(len(data), [n], seed)[0])
    stats = stats_of(extractor, data.x, batch_size, meta={"key": key, "data": data_cfg.describe(),
                                                          "split": data_cfg.split}, progress=None)
    stats.save(path)
    return stats


def _reference_key(extractor_id: str, data_cfg, cache_dir, n: int | None, seed: int) -> tuple[Path, dict]:
    from ebmlab.data.images import config_key
    key = {"data": config_key(data_cfg), "n": n, "seed": seed, "extractor": extractor_id, "format": 1}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    name = f"{data_cfg.name}-{data_cfg.split}-{data_cfg.size}px-{metric_kind(extractor_id)}-{digest}.npz"
    return Path(cache_dir) / name, key


def reference_path(extractor: Extractor, data_cfg, cache_dir, n: int | None = None, *, seed: int = 0) -> Path:
    """The file :func:`reference_stats` reads or writes for these arguments."""
    return _reference_key(extractor.id, data_cfg, cache_dir, n, seed)[0]


# ---------------------------------------------------------------------------
# which column a number may go in

def metric_kind(extractor_id: str) -> str:
    """'inception', 'inception_standin' or 'classifier', from an extractor id."""
    kind = extractor_id.split(":", 1)[0]
    if kind not in KINDS:
        raise ValueError(f"unknown extractor id {extractor_id!r}")
    return kind


def is_real_fid(extractor_id: str) -> bool:
    """True only for pytorch-fid's Inception with the FID weights: numbers comparable with papers."""
    return metric_kind(extractor_id) == "inception" and INCEPTION_FILE in extractor_id


def column_for(extractor_id: str, fid_column: str = "fid") -> str:
    """The column a score with this extractor belongs in: ``fid_column`` (e.g. 'fid_reproduced')
    for real FIDs, else the labelled column of the stand-in or the substitute."""
    if is_real_fid(extractor_id):
        return fid_column
    return COLUMNS[metric_kind(extractor_id)]


def check_column(column: str, extractor_id: str) -> None:
    """Refuse to put a stand-in or substitute number into an FID column."""
    if (column == "fid" or column.startswith("fid_")) and not is_real_fid(extractor_id):
        raise ValueError(f"column {column!r} holds real-Inception FIDs only, not {extractor_id!r} "
                         f"(use {column_for(extractor_id)!r})")


# ---------------------------------------------------------------------------
# extractors

def inception_weights_path(weights: str | os.PathLike | None = None) -> Path:
    """Where the FID Inception weights are; a one-line DataError saying how to get them if nowhere."""
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise DataError(f"FID Inception weights {path} not found: {_weights_hint()}")
        return path
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise DataError(f"${WEIGHTS_ENV}={env} is not a file: {_weights_hint()}")
        return path
    for path in (DVC_WEIGHTS_DIR / INCEPTION_FILE, Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE):
        if path.is_file():
            return path
    raise DataError(f"FID Inception weights {INCEPTION_FILE} not found in ${WEIGHTS_ENV}, {DVC_WEIGHTS_DIR}/ or "
                    f"{Path(torch.hub.get_dir()) / 'checkpoints'}/: {_weights_hint()}")


def _weights_hint() -> str:
    return (f"download {INCEPTION_URL} into {DVC_WEIGHTS_DIR}/ ('python -m ebmlab.metrics.fid weights --fetch' "
            f"or 'dvc pull data/dvc.yaml:fetch_inception' once it was pushed to the DVC remote) or point ${WEIGHTS_ENV} at the file")


def _check_sha(path: Path) -> None:
    from ebmlab.data.images import file_sha256
    digest = file_sha256(path)
    if not digest.startswith(INCEPTION_SHA256_PREFIX):
        raise DataError(f"{path} is not the FID Inception weights (sha256 {digest[:8]}..., expected "
                        f"{INCEPTION_SHA256_PREFIX}...): {_weights_hint()}")


def _pytorch_fid_inception(state_dict_of) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (pool3 only), with the state dict ``state_dict_of(model)`` gives
    in place of the URL download (its architecture, our weights)."""
    import pytorch_fid.inception as pfi
    from unittest import mock
    built = {}
    original = pfi._inception_v3

    def capture(*args, **kwargs):
        built["model"] = original(*args, **kwargs)
        return built["model"]

    def loader(url, *args, **kwargs):
        return state_dict_of(built["model"])

    with mock.patch.object(pfi, "_inception_v3", capture), mock.patch.object(pfi, "load_state_dict_from_url", loader):
        net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False, normalize_input=True)
    return net.eval()


def _random_state(seed: int):
    """Seeded He-normal convolutions (activations keep their scale through ~90 layers)."""
    def state_dict_of(model: torch.nn.Module) -> dict:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in sorted(model.named_parameters()):
                if p.ndim == 4:
                    fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                    p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                elif p.ndim == 2:
                    p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
        return model.state_dict()  # loading a model's own tensors onto it is a no-op copy
    return state_dict_of


def standin_weights(seed: int = 0) -> dict:
    """The stand-in's full state dict, in the layout of the FID weights file (for tests and tools)."""
    out = {}

    def keep(model):
        out.update({k: v.clone() for k, v in _random_state(seed)(model).items()})
        return out

    _pytorch_fid_inception(keep)
    return out


class InceptionExtractor:
    """pool3 features of pytorch-fid's InceptionV3 (real or stand-in weights)."""

    dim = 2048

    def __init__(self, net: torch.nn.Module, id: str, device, input_size: int = 299):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        self.id = id
        self.input_size = input_size

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected images (N, 1 or 3, H, W), got {tuple(x.shape)}")
        x = x.to(self.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # pytorch-fid's own resize (bilinear, align_corners=False) to the network's input size
        x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return self.net(x)[0].flatten(1)


def build_extractor(kind: str, *, weights: str | None = None, device="cpu", seed: int = 0,
                    standin_size: int = STANDIN_SIZE) -> Extractor:
    """A feature extractor; missing weights raise a one-line DataError before any compute."""
    if kind == "inception":
        path = inception_weights_path(weights)
        _check_sha(path)
        from ebmlab.io import load_torch
        state = load_torch(path, _weights_hint(), weights_only=True, what="FID Inception weights file")
        net = _pytorch_fid_inception(lambda model: state)
        return InceptionExtractor(net, f"inception:pool3:{INCEPTION_FILE}", device)
    if kind == "inception_standin":
        net = _pytorch_fid_inception(_random_state(seed))
        return InceptionExtractor(net, f"inception_standin:pool3:random-seed{seed}:{standin_size}px", device,
                                  input_size=standin_size)
    if kind == "classifier":
        if weights is None:
            raise ConfigError("the classifier extractor needs weights (a file from "
                              "'python -m ebmlab.metrics.classifier train')")
        from ebmlab.metrics.classifier import load_classifier
        return load_classifier(weights, device=device)
    raise ConfigError(f"unknown feature extractor {kind!r} (choose from {', '.join(KINDS)})")


# ---------------------------------------------------------------------------
# command line

@dataclasses.dataclass
class ReferenceJob:
    """``python -m ebmlab.metrics.fid reference``: statistics of one data set's split."""

    data: ImageDataConfig = cfield(default_factory=ImageDataConfig)
    extractor: Kind = cfield("inception", doc="feature extractor kind")
    weights: str | None = cfield(None, doc="weights file (classifier: required; inception: optional override)")
    n: int | None = cfield(None, bound=Bound(lo=2), doc="reference images; null = the whole split")
    seed: int = cfield(0, doc="seed of the subset when n is set; stand-in weights seed")
    batch_size: int = cfield(200, bound=Bound(lo=1))
    device: Literal["auto", "cpu", "cuda"] = cfield("auto")
    threads: int = cfield(1, bound=Bound(lo=1))


def cmd_weights(args) -> None:
    if args.fetch:
        from ebmlab.io import created_folder, first_line
        dest = DVC_WEIGHTS_DIR / INCEPTION_FILE
        try:
            with created_folder(dest.parent):   # a failed download leaves no new folder behind
                torch.hub.download_url_to_file(INCEPTION_URL, str(dest), hash_prefix=INCEPTION_SHA256_PREFIX)
        except Exception as err:  # URLError, socket errors, a wrong hash
            raise DataError(f"cannot download the FID Inception weights from {INCEPTION_URL} into {dest} "
                            f"({first_line(err)}): this needs network; copy the file there from a machine "
                            f"that has it, or set {WEIGHTS_ENV}") from None
    path = inception_weights_path()
    _check_sha(path)
    print(f"FID Inception weights: {path}")


def cmd_reference(args) -> None:
    from ebmlab.cli import resolve
    job = resolve(args, ReferenceJob)
    torch.set_num_threads(job.threads)
    from ebmlab.cli import resolve_device
    device = resolve_device(job.device)
    ex = build_extractor(job.extractor, weights=job.weights, device=device, seed=job.seed)
    stats = reference_stats(ex, job.data, args.cache_dir, job.n, seed=job.seed, batch_size=job.batch_size)
    print(f"{reference_path(ex, job.data, args.cache_dir, job.n, seed=job.seed)}: {stats.n} images, "
          f"{stats.mu.shape[0]} features, extractor {ex.id}")


@guarded
def main(argv: list[str] | None = None) -> int | None:
    import argparse
    from ebmlab.cli import add_config_args
    p = argparse.ArgumentParser(prog="python -m ebmlab.metrics.fid", description="FID weights and reference statistics")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("weights", help="where the Inception weights are (or how to get them)")
    w.add_argument("--fetch", action="store_true", help=f"download them into {DVC_WEIGHTS_DIR}/ (needs network)")
    w.set_defaults(func=cmd_weights)
    r = sub.add_parser("reference", help="compute (or find cached) reference statistics")
    add_config_args(r)
    r.add_argument("--cache-dir", required=True)
    r.set_defaults(func=cmd_reference)
    args = p.parse_args(argv)
    args.func(args)
    return 0


__all__ = ["frechet_distance", "FeatureStats", "build_extractor", "stats_of", "reference_stats", "fid",
           "metric_kind", "is_real_fid", "column_for", "check_column", "inception_weights_path",
           "InceptionExtractor", "COLUMNS", "KINDS", "INCEPTION_FILE", "INCEPTION_URL", "WEIGHTS_ENV",
           "reference_path", "ReferenceJob", "standin_weights"]


if __name__ == "__main__":
    import sys
    sys.exit(main())
