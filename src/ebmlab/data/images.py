"""Image data sets as uint8 tensors, converted to floats in a stated range on demand.

Every set is held in memory as ``uint8`` of shape (N, C, H, W) with H = W = ``size``;
:meth:`ImageSet.to_float` maps it to ``[0, 1]`` (``range: unit``) or ``[-1, 1]``
(``range: symmetric``):

* without dequantisation a grey level k becomes k / 255 (as torchvision's ToTensor), so
  0 and 255 map to the ends of the range exactly;
* with ``dequantize: true`` it becomes (k + u) / 256 with u ~ U[0, 1) drawn afresh at every
  call: uniform noise of one grey level, so the data have a density on [0, 1) (the
  convention of flow models and of Du & Mordatch's IGEBM code).

Sources (``source``):

* ``torchvision``: the official files, fetched once with ``python -m ebmlab.data fetch NAME``
  (torchvision checks their MD5 checksums) into ``<root>/<name>/``; loading never downloads.
* ``local``: an ``.npz`` file (``path``) holding ``images`` (uint8; (N, H, W), (N, H, W, C)
  or (N, C, H, W)) and optionally ``labels``; e.g. data/embedded/mnist10k.npz.
* ``synthetic``: generated images of the named set's shape with class structure
  (deterministic in ``seed`` and the split): what the tests and the smoke profile use
  for sets that cannot be fetched offline.
* ``auto``: ``local`` when ``path`` is given, the bundled arrays for ``digits8``
  (scikit-learn's 8x8 digits) and ``synthetic``, else ``torchvision``.

Geometry (``fit: auto``): MNIST at 32 is zero-padded by 2 pixels a side (the digits keep
their 28x28 scale); everything else is resized (shorter side to ``size``, antialiased)
and centre-cropped. Cats are the 12 cat breeds of Oxford-IIIT Pet (species "cat" in its
annotations), CelebA is centre-cropped to the 140x140 face region before resizing.

Sets with one array only (a local file, digits8) have no official test split:
``test_fraction`` holds out a fixed, seeded part as ``test``. Missing data raise
:class:`ebmlab.cli.DataError` with one line saying how to obtain them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ebmlab.errors import DataError
from ebmlab.config import Bound, check, field, to_dict
from ebmlab.errors import ConfigError

DatasetName = Literal["mnist", "cifar10", "svhn", "cats", "flowers102", "celeba", "digits8", "synthetic"]
RANGES = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights for a grey version of a colour set


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    channels: int            # the set's own number of channels
    native: int | None       # side of the stored images; None = variable-size photos
    num_classes: int | None  # None = no class labels
    kind: Literal["torchvision", "embedded", "synthetic"]
    splits: tuple[str, ...] = ("train", "test")  # official splits ("all" = their union)


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(1, 28, 10, "torchvision"),
    "cifar10": DatasetInfo(3, 32, 10, "torchvision"),
    "svhn": DatasetInfo(3, 32, 10, "torchvision"),
    "cats": DatasetInfo(3, None, 12, "torchvision"),
    "flowers102": DatasetInfo(3, None, 102, "torchvision"),
    "celeba": DatasetInfo(3, None, None, "torchvision"),
    "digits8": DatasetInfo(1, 8, 10, "embedded", splits=()),
    "synthetic": DatasetInfo(3, None, 10, "synthetic"),
}


@dataclasses.dataclass
class ImageDataConfig:
    """An image data set: which one, which split, at what size, range and dequantisation."""

    name: DatasetName = field("mnist", doc="data set")
    split: Literal["train", "test", "all"] = field("train", doc="official split; 'all' = every split together")
    size: int = field(32, bound=Bound(lo=8), doc="output height = width (32; MNIST also 28)")
    channels: int | None = field(None, doc="1 or 3; null = the set's own (1 for mnist/digits8, 3 otherwise)")
    root: str = field("data/raw", doc="where 'python -m ebmlab.data fetch' puts the official files")
    source: Literal["auto", "torchvision", "local", "synthetic"] = field(
        "auto", doc="auto = local if path is set, bundled for digits8/synthetic, else torchvision")
    path: str | None = field(None, doc="local .npz with 'images' (uint8) and optional 'labels'")
    limit: int | None = field(None, bound=Bound(lo=1), doc="keep only the first N images of the split")
    range: Literal["unit", "symmetric"] = field("unit", doc="float range: [0, 1] or [-1, 1]")
    dequantize: bool = field(False, doc="(k + U[0,1)) / 256 instead of k / 255: one grey level of uniform noise")
    fit: Literal["auto", "pad", "resize"] = field(
        "auto", doc="to reach size: auto = pad MNIST 28->32, else resize the shorter side and centre-crop")
    test_fraction: float = field(0.0, bound=Bound(lo=0.0, hi=1.0, hi_exclusive=True),
                                 doc="one-array sources (local file, digits8): part held out as split 'test'")
    split_seed: int = field(0, doc="seed of the permutation that holds out the test part")
    n: int = field(1000, bound=Bound(lo=1), doc="synthetic: images per split")
    seed: int = field(0, doc="synthetic: seed of the class prototypes and the images")
    cache: str | None = field("data/cache/images",
                              doc="folder for resized arrays of photo sets (cats, flowers102, celeba); null = none")

    def __post_init__(self):
        check(self.channels in (None, 1, 3), f"channels must be 1, 3 or null, got {self.channels}")
        src = self.resolved_source
        check(src != "local" or self.path is not None, "source 'local' needs path (an .npz file)")
        check(self.path is None or src == "local", f"path is only read with source 'local' (source is {src!r})")
        check(not (src == "torchvision" and self.name in ("digits8", "synthetic")),
              f"{self.name!r} is not a torchvision data set (use source 'auto')")
        check(self.fit != "pad" or self.name == "mnist" or src in ("local", "synthetic"),
              "fit 'pad' is for MNIST-like digits")
        if self.one_array:
            check(self.split != "test" or self.test_fraction > 0,
                  f"{self.describe()} has no test split: set test_fraction to hold out part of it")
        else:
            check(self.test_fraction == 0, f"test_fraction applies to one-array sources only, not {self.describe()}")

    @property
    def resolved_source(self) -> str:
        if self.source != "auto":
            return self.source
        if self.path is not None:
            return "local"
        return {"digits8": "embedded", "synthetic": "synthetic"}.get(self.name, "torchvision")

    @property
    def one_array(self) -> bool:
        """True when the source is one array that ``test_fraction`` splits (no official splits)."""
        return self.resolved_source in ("local", "embedded")

    @property
    def info(self) -> DatasetInfo:
        return DATASETS[self.name]

    @property
    def out_channels(self) -> int:
        return self.channels or self.info.channels

    @property
    def value_range(self) -> tuple[float, float]:
        return RANGES[self.range]

    def describe(self) -> str:
        """One phrase naming the set and where its images come from (for tables and records)."""
        src = self.resolved_source
        if src == "local":
            return f"{self.name} (local file {Path(self.path).name})"
        if src == "embedded":
            return f"{self.name} (scikit-learn's bundled 8x8 digits)"
        return f"{self.name} ({src})"

    def is_real(self) -> bool:
        """Images of the real set (not synthetic stand-ins)."""
        return self.resolved_source != "synthetic"


@dataclasses.dataclass
class ImageSet:
    """uint8 images (N, C, H, W) on the CPU, labels (N,) or None, and the config they came from."""

    x: Tensor
    y: Tensor | None
    num_classes: int | None
    config: ImageDataConfig

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def value_range(self) -> tuple[float, float]:
        return self.config.value_range

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    def to_float(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """uint8 -> float32 in the config's range, dequantised when the config says so."""
        return to_float(x, self.config.range, self.config.dequantize, generator)

    def batch(self, n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu"
              ) -> tuple[Tensor, Tensor | None]:
        """``n`` images drawn uniformly with replacement, as floats on ``device``, with their labels."""
        idx = torch.randint(len(self), (n,), generator=generator)
        x = self.to_float(self.x[idx], generator).to(device)
        return x, (None if self.y is None else self.y[idx].to(device))

    def subset(self, indices) -> "ImageSet":
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageSet(self.x[idx], None if self.y is None else self.y[idx], self.num_classes, self.config)

    def split(self, parts: Sequence[float | int], seed: int = 0) -> list["ImageSet"]:
        """Disjoint parts of this set (see :func:`split_indices`), e.g. (train, hold-out)."""
        return [self.subset(i) for i in split_indices(len(self), parts, seed)]


def to_float(x: Tensor, range_: str = "unit", dequantize: bool = False,
             generator: torch.Generator | None = None) -> Tensor:
    """uint8 images -> float32 in ``range_`` ('unit' [0, 1] or 'symmetric' [-1, 1])."""
    if x.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {x.dtype}")
    if dequantize:
        dev = generator.device if generator is not None else x.device
        u = torch.rand(x.shape, generator=generator, device=dev).to(x.device)
        unit = (x.float() + u) / 256.0
    else:
        unit = x.float() / 255.0
    return unit if range_ == "unit" else 2.0 * unit - 1.0


def split_indices(n: int, parts: Sequence[float | int], seed: int = 0) -> list[Tensor]:
    """Disjoint index sets of a seeded permutation of ``range(n)``, each sorted.

    ``parts`` are fractions (floats, summing to at most 1) or counts (ints, summing to at
    most ``n``); what is left over belongs to no part. The same (n, parts, seed) always
    gives the same indices.
    """
    if not parts:
        raise ValueError("split_indices needs at least one part")
    if all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        counts = [int(p) for p in parts]
        if min(counts) < 0 or sum(counts) > n:
            raise ValueError(f"counts {counts} do not fit in {n} items")
        bounds = np.cumsum([0] + counts)
    else:
        frac = [float(p) for p in parts]
        if min(frac) < 0 or sum(frac) > 1 + 1e-9:
            raise ValueError(f"fractions {frac} must be >= 0 and sum to at most 1")
        bounds = np.rint(np.cumsum([0.0] + frac) * n).astype(int)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    return [perm[a:b].sort().values for a, b in zip(bounds[:-1], bounds[1:])]


# ---------------------------------------------------------------------------
# loading

def load_images(cfg: ImageDataConfig) -> ImageSet:
    """The images ``cfg`` describes; missing data raise a one-line DataError saying how to get them."""
    src = cfg.resolved_source
    if src == "synthetic":
        x, y = synthetic_images(cfg)
    elif src == "embedded":
        x, y = _one_array_split(cfg, *_digits8())
    elif src == "local":
        x, y = _one_array_split(cfg, *_read_npz(Path(cfg.path), cfg.name))
    else:
        x, y = _torchvision_split(cfg)
    x = fit_images(x, cfg)
    if cfg.limit is not None:
        x = x[:cfg.limit]
        y = None if y is None else y[:cfg.limit]
    if len(x) == 0:
        raise DataError(f"{cfg.describe()} split {cfg.split!r} is empty")
    num_classes = cfg.info.num_classes
    if y is not None and src == "local":
        num_classes = max(num_classes or 0, int(y.max()) + 1)
    return ImageSet(x.contiguous(), y, num_classes if y is not None else None, cfg)


def _one_array_split(cfg: ImageDataConfig, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
    if cfg.split == "all" or cfg.test_fraction == 0:
        return x, y  # __post_init__ has refused 'test' without a test fraction
    train, test = split_indices(len(x), [1.0 - cfg.test_fraction, cfg.test_fraction], cfg.split_seed)
    idx = train if cfg.split == "train" else test
    return x[idx], None if y is None else y[idx]


def _read_npz(path: Path, name: str) -> tuple[Tensor, Tensor | None]:
    if not path.exists():
        raise DataError(f"local image file {path} not found (an .npz with 'images' uint8 and optional 'labels'; "
                        f"the 10,000 MNIST digits are in data/embedded/mnist10k.npz)")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f:
                raise DataError(f"{path} has no array 'images' (keys: {', '.join(f.files)})")
            images = f["images"]
            labels = f["labels"] if "labels" in f else None
    except DataError:
        raise
    except Exception as err:  # BadZipFile, a bad CRC-32, zlib.error, EOFError: a damaged file
        from ebmlab.io import first_line
        raise DataError(f"cannot read {path} as .npz ({first_line(err)}): the file is damaged; "
                        f"restore it (git checkout if committed, dvc pull if pushed to the DVC remote) or rebuild it") from None
    if images.dtype != np.uint8:
        raise DataError(f"{path}: 'images' must be uint8 grey levels 0-255, got {images.dtype}")
    x = _as_nchw(images, path)
    y = None
    if labels is not None:
        if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise DataError(f"{path}: 'labels' must be {len(x)} non-negative integers, got {labels.dtype} "
                            f"{labels.shape}")
        y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def _as_nchw(a: np.ndarray, where) -> Tensor:
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[3] in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise DataError(f"{where}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3, "
                        f"got shape {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a))


def _digits8() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled 1,797 8x8 digits (grey levels 0-16) as uint8 0-255."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    return torch.from_numpy(x[:, None]), torch.from_numpy(d.target.astype(np.int64))


# ---------------------------------------------------------------------------
# geometry and channels

def fit_images(x: Tensor, cfg: ImageDataConfig) -> Tensor:
    """uint8 (N, C, H, W) -> (N, out_channels, size, size) by padding or resize + centre crop."""
    x = _convert_channels(x, cfg.out_channels)
    h, w = x.shape[-2:]
    s = cfg.size
    if (h, w) == (s, s):
        return x
    pad = cfg.fit == "pad" or (cfg.fit == "auto" and cfg.name == "mnist" and h == w and h < s)
    if pad:
        if h > s or w > s:
            raise ConfigError(f"fit 'pad' cannot shrink {h}x{w} images to {s}x{s}")
        top, left = (s - h) // 2, (s - w) // 2
        return F.pad(x, (left, s - w - left, top, s - h - top))
    return resize_center_crop(x, s)


def resize_center_crop(x: Tensor, size: int) -> Tensor:
    """Shorter side to ``size`` (bilinear, antialiased when shrinking), then the central square."""
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = []
    for chunk in x.split(4096):
        y = F.interpolate(chunk.float(), size=(nh, nw), mode="bilinear", align_corners=False,
                          antialias=scale < 1)
        top, left = (nh - size) // 2, (nw - size) // 2
        out.append(y[..., top:top + size, left:left + size].round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def _convert_channels(x: Tensor, channels: int) -> Tensor:
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1:
        return x.expand(-1, 3, -1, -1).clone()
    w = torch.tensor(LUMA).view(1, 3, 1, 1)
    return (x.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------
# synthetic images with class structure

def synthetic_images(cfg: ImageDataConfig) -> tuple[Tensor, Tensor]:
    """``cfg.n`` images of the named set's shape: per class a smooth random prototype, plus
    per-image shifts, contrast changes and pixel noise. Prototypes depend on ``seed`` only,
    images on (seed, split), so train and test come from one distribution."""
    c, s = cfg.info.channels, cfg.size  # the set's own channels; fit_images converts
    k = cfg.info.num_classes or 10
    proto_gen = torch.Generator().manual_seed(_mix(cfg.seed, "prototypes"))
    coarse = torch.rand((k, c, 4, 4), generator=proto_gen)
    protos = F.interpolate(coarse, size=(s, s), mode="bicubic", align_corners=False).clamp(0, 1)
    splits = {"train": ("train",), "test": ("test",), "all": ("train", "test")}[cfg.split]
    xs, ys = [], []
    for part in splits:
        g = torch.Generator().manual_seed(_mix(cfg.seed, part))
        y = torch.randint(k, (cfg.n,), generator=g)
        img = protos[y]
        shift = torch.randint(-2, 3, (cfg.n, 2), generator=g)
        img = torch.stack([torch.roll(im, (int(a), int(b)), dims=(-2, -1)) for im, (a, b) in zip(img, shift)])
        contrast = 0.7 + 0.6 * torch.rand((cfg.n, 1, 1, 1), generator=g)
        img = 0.5 + contrast * (img - 0.5) + 0.05 * torch.randn(img.shape, generator=g)
        xs.append((img.clamp(0, 1) * 255).round().to(torch.uint8))
        ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def _mix(seed: int, tag: str) -> int:
    h = hashlib.sha256(f"{seed}:{tag}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


# ---------------------------------------------------------------------------
# torchvision sets (official files under <root>/<name>/; loading never downloads)

CAT_BREEDS = ("Abyssinian", "Bengal", "Birman", "Bombay", "British Shorthair", "Egyptian Mau", "Maine Coon",
              "Persian", "Ragdoll", "Russian Blue", "Siamese", "Sphynx")
_TV_SPLITS = {  # our split -> the torchvision splits it is made of
    "mnist": {"train": (True,), "test": (False,)},
    "cifar10": {"train": (True,), "test": (False,)},
    "svhn": {"train": ("train",), "test": ("test",)},
    "cats": {"train": ("trainval",), "test": ("test",)},
    "flowers102": {"train": ("train", "val"), "test": ("test",)},
    "celeba": {"train": ("train",), "test": ("test",)},
}


TORCHVISION_SETS = tuple(_TV_SPLITS)


def fetch_hint(cfg_or_name, root: str = "data/raw") -> str:
    name = getattr(cfg_or_name, "name", cfg_or_name)
    root = getattr(cfg_or_name, "root", root)
    return (f"fetch it with 'python -m ebmlab.data fetch {name} --root {root}' (needs network) or "
            f"'dvc pull data/dvc.yaml:fetch@{name}' (once it was pushed to the DVC remote), or give data.source=local and data.path=<file.npz>")


def tv_splits(name: str, split: str) -> tuple:
    table = _TV_SPLITS[name]
    if split == "all":
        return tuple(s for v in table.values() for s in v)
    return table[split]


def _torchvision_split(cfg: ImageDataConfig) -> tuple[Tensor, Tensor | None]:
    folder = Path(cfg.root) / cfg.name
    xs, ys = [], []
    for part in tv_splits(cfg.name, cfg.split):
        x, y = _cached(cfg, part, folder)
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), (None if ys[0] is None else torch.cat(ys))


def _open_torchvision(name: str, part, folder: Path, download: bool = False):
    import torchvision.datasets as tvd
    root = str(folder)
    if name == "mnist":
        return tvd.MNIST(root, train=part, download=download)
    if name == "cifar10":
        return tvd.CIFAR10(root, train=part, download=download)
    if name == "svhn":
        return tvd.SVHN(root, split=part, download=download)
    if name == "cats":
        return tvd.OxfordIIITPet(root, split=part, target_types=["category", "binary-category"], download=download)
    if name == "flowers102":
        return tvd.Flowers102(root, split=part, download=download)
    if name == "celeba":
        return tvd.CelebA(root, split=part, target_type=[], download=download)
    raise ValueError(name)


def _cached(cfg: ImageDataConfig, part, folder: Path) -> tuple[Tensor, Tensor | None]:
    """One torchvision split as uint8 NCHW at its stored size (photo sets: at ``size``, cached)."""
    photo = cfg.info.native is None
    cache = None
    if photo and cfg.cache:
        cache = Path(cfg.cache) / f"{cfg.name}-{part}-{cfg.size}.npz"
        if cache.exists():
            try:
                return _read_npz(cache, cfg.name)
            except DataError as err:  # a damaged cache is rebuilt from the official files
                from ebmlab.io import move_aside, notice
                notice(f"{err}; moved aside to {move_aside(cache).name}, rebuilding it")
    try:
        ds = _open_torchvision(cfg.name, part, folder)
    except (RuntimeError, FileNotFoundError, OSError) as err:
        raise DataError(f"{cfg.name} ({cfg.split}) not found in {folder}: {fetch_hint(cfg)}") from err
    if cfg.name == "mnist":
        x, y = ds.data.numpy(), ds.targets.numpy()
    elif cfg.name == "cifar10":
        x, y = ds.data, np.asarray(ds.targets)
    elif cfg.name == "svhn":
        x, y = ds.data, np.asarray(ds.labels)
    else:
        x, y = _decode_photos(cfg.name, ds, cfg.size)
    x_t = _as_nchw(np.asarray(x, dtype=np.uint8), folder)
    y_t = None if y is None else torch.from_numpy(np.asarray(y, dtype=np.int64))
    if cache is not None:
        from ebmlab.io import atomic_path
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, images=x_t.numpy(), **({} if y_t is None else {"labels": y_t.numpy()}))
    return x_t, y_t


def _decode_photos(name: str, ds, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode, crop and resize every photo of a torchvision set to size x size RGB."""
    from PIL import Image
    keep = range(len(ds))
    labels = None
    if name == "cats":
        # species 0 = cat in torchvision's binary-category target; labels = index in CAT_BREEDS
        keep = [i for i in keep if ds._bin_labels[i] == 0]
        labels = np.asarray([CAT_BREEDS.index(ds.classes[ds._labels[i]]) for i in keep], dtype=np.int64)
    elif name == "flowers102":
        labels = np.asarray(ds._labels, dtype=np.int64)
    out = np.empty((len(keep), size, size, 3), dtype=np.uint8)
    for j, i in enumerate(keep):
        img = ds[i][0].convert("RGB")
        if name == "celeba":  # aligned 178x218 faces: keep the central 140x140 face region
            w, h = img.size
            img = img.crop(((w - 140) // 2, (h - 140) // 2, (w - 140) // 2 + 140, (h - 140) // 2 + 140))
        w, h = img.size
        scale = size / min(w, h)
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
        w, h = img.size
        left, top = (w - size) // 2, (h - size) // 2
        out[j] = np.asarray(img.crop((left, top, left + size, top + size)))
    return out, labels


def fetch(name: str, root: str = "data/raw") -> Path:
    """Download every split of a torchvision set into ``<root>/<name>/`` (MD5-checked by torchvision)."""
    if name not in _TV_SPLITS:
        raise ConfigError(f"{name!r} is not fetched: choose from {', '.join(TORCHVISION_SETS)}")
    from ebmlab.io import created_folder, first_line
    folder = Path(root) / name
    try:
        with created_folder(folder):   # a failed download leaves no (empty or partial) new folder
            for part in tv_splits(name, "all"):
                _open_torchvision(name, part, folder, download=True)
    except Exception as err:  # URLError, socket errors, a failed MD5 check
        raise DataError(f"cannot download {name} into {folder} ({first_line(err)}): this needs network; "
                        f"on a machine without it, copy {folder} from one that has it, or carry an export "
                        f"('python -m ebmlab.data export') as a local .npz") from None
    return folder


def config_key(cfg: ImageDataConfig) -> dict:
    """What determines the uint8 images of a config (not their float range or dequantisation)."""
    d = to_dict(cfg)
    for k in ("range", "dequantize", "root", "cache", "source"):
        d.pop(k)
    d["source"] = cfg.resolved_source
    if cfg.resolved_source == "local" and Path(cfg.path).exists():
        d["path"] = Path(cfg.path).name
        d["sha256"] = file_sha256(cfg.path)
    return d


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = ["ImageDataConfig", "ImageSet", "DATASETS", "CAT_BREEDS", "TORCHVISION_SETS", "load_images", "split_indices", "to_float",
           "synthetic_images", "fit_images", "resize_center_crop", "fetch", "fetch_hint", "config_key",
           "file_sha256"]
