"""Image data: ranges, shapes, dequantisation, splits, sources and the missing-data error."""

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ebmlab.errors import DataError
from ebmlab.config import from_dict
from ebmlab.errors import ConfigError
from ebmlab.data import __main__ as data_cli
from ebmlab.data.images import (CAT_BREEDS, ImageDataConfig, config_key, load_images, split_indices, to_float)

ROOT = Path(__file__).resolve().parents[1]
MNIST10K = ROOT / "data/embedded/mnist10k.npz"


def cfg(**kw):
    return from_dict(ImageDataConfig, kw, "data")


def test_embedded_mnist_file_is_the_documented_one():
    digest = hashlib.sha256(MNIST10K.read_bytes()).hexdigest()
    assert digest == "f1a23f2fb1a1c97bb00a811807ddd50a888dbcdcdead94147993273c22ee3f37"
    assert digest in (ROOT / "data/embedded/README.md").read_text()


def test_local_mnist_shapes_range_and_padding():
    s28 = load_images(cfg(name="mnist", path=str(MNIST10K), size=28))
    s32 = load_images(cfg(name="mnist", path=str(MNIST10K)))
    assert s28.x.dtype == torch.uint8 and tuple(s28.x.shape) == (10000, 1, 28, 28)
    assert tuple(s32.x.shape) == (10000, 1, 32, 32) and s32.num_classes == 10
    # 32x32 = the 28x28 digit with 2 background pixels on every side
    assert torch.equal(s32.x[:, :, 2:30, 2:30], s28.x)
    assert s32.x[:, :, :2].max() == 0 and s32.x[:, :, :, 30:].max() == 0
    assert np.bincount(s32.y.numpy()).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    x = s32.to_float(s32.x[:100])
    assert x.dtype == torch.float32 and x.min() == 0.0 and x.max() == 1.0
    xs = load_images(cfg(name="mnist", path=str(MNIST10K), range="symmetric")).to_float(s32.x[:100])
    assert xs.min() == -1.0 and xs.max() == 1.0
    assert torch.allclose(xs, 2 * x - 1)


def test_to_float_grey_levels_by_hand():
    x = torch.tensor([0, 1, 128, 255], dtype=torch.uint8)
    assert torch.allclose(to_float(x), torch.tensor([0, 1 / 255, 128 / 255, 1.0]))
    assert torch.allclose(to_float(x, "symmetric"), torch.tensor([-1.0, 2 / 255 - 1, 256 / 255 - 1, 1.0]), atol=1e-6)


def test_dequantisation_stays_inside_one_grey_level():
    x = torch.arange(256, dtype=torch.uint8).repeat(200)
    g = torch.Generator().manual_seed(0)
    u = to_float(x, "unit", True, g)
    k = x.float()
    assert (u >= k / 256).all() and (u < (k + 1) / 256).all()
    assert u.min() >= 0 and u.max() < 1
    # the noise is uniform over the bin: mean offset 1/2, variance 1/12 grey levels^2
    off = u * 256 - k
    assert abs(off.mean() - 0.5) < 0.01 and abs(off.var() - 1 / 12) < 0.005
    # same generator seed, same noise; the symmetric range is the same map stretched
    s = to_float(x, "symmetric", True, torch.Generator().manual_seed(0))
    assert torch.allclose(s, 2 * u - 1)
    assert not torch.equal(u, to_float(x, "unit", True, g))  # fresh noise at every call


def test_digits8_resized_and_split_deterministically():
    full = load_images(cfg(name="digits8", size=16))
    assert tuple(full.x.shape) == (1797, 1, 16, 16) and full.num_classes == 10
    train = load_images(cfg(name="digits8", size=16, test_fraction=0.25))
    test = load_images(cfg(name="digits8", size=16, test_fraction=0.25, split="test"))
    assert len(train) + len(test) == 1797 and len(test) == round(0.25 * 1797)
    # disjoint, and together the whole set (compare images with their labels)
    rows = lambda s: {(bytes(a.numpy()), int(b)) for a, b in zip(s.x, s.y)}  # noqa: E731
    assert rows(train) | rows(test) == rows(full)
    again = load_images(cfg(name="digits8", size=16, test_fraction=0.25, split="test"))
    assert torch.equal(again.x, test.x)
    other = load_images(cfg(name="digits8", size=16, test_fraction=0.25, split="test", split_seed=1))
    assert not torch.equal(other.x, test.x)


def test_one_array_without_test_part_has_no_test_split():
    with pytest.raises(ConfigError, match="^data: mnist \\(local file mnist10k.npz\\) has no test split: "
                                          "set test_fraction to hold out part of it$"):
        cfg(name="mnist", path=str(MNIST10K), split="test")
    with pytest.raises(ConfigError, match="test_fraction applies to one-array sources only"):
        cfg(name="cifar10", test_fraction=0.1)


def test_synthetic_is_deterministic_with_the_named_shape():
    a = load_images(cfg(name="cifar10", source="synthetic", n=64))
    b = load_images(cfg(name="cifar10", source="synthetic", n=64))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert tuple(a.x.shape) == (64, 3, 32, 32) and a.x.dtype == torch.uint8 and a.num_classes == 10
    assert tuple(load_images(cfg(name="mnist", source="synthetic", n=8, size=28)).x.shape) == (8, 1, 28, 28)
    assert load_images(cfg(name="flowers102", source="synthetic", n=8)).num_classes == 102
    test = load_images(cfg(name="cifar10", source="synthetic", n=64, split="test"))
    assert not torch.equal(test.x, a.x)
    assert not torch.equal(load_images(cfg(name="cifar10", source="synthetic", n=64, seed=1)).x, a.x)
    # class structure: images are closer to their own class mean than to other classes' means
    x = a.x.float().flatten(1)
    means = torch.stack([x[a.y == k].mean(0) for k in range(10) if (a.y == k).any()])
    labels = torch.tensor([k for k in range(10) if (a.y == k).any()])
    nearest = labels[torch.cdist(x, means).argmin(1)]
    assert (nearest == a.y).float().mean() > 0.9


def test_limit_channels_and_batch():
    s = load_images(cfg(name="digits8", limit=100, channels=3))
    assert tuple(s.x.shape) == (100, 3, 32, 32)
    assert torch.equal(s.x[:, 0], s.x[:, 2])
    xb, yb = s.batch(10, torch.Generator().manual_seed(0))
    assert xb.shape == (10, 3, 32, 32) and xb.dtype == torch.float32 and yb.shape == (10,)
    grey = load_images(cfg(name="cifar10", source="synthetic", n=4, channels=1))
    colour = load_images(cfg(name="cifar10", source="synthetic", n=4))
    luma = (colour.x.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    assert (grey.x.float() - luma).abs().max() <= 0.5


def test_split_indices():
    a, b, c = split_indices(10, [0.5, 0.3, 0.2], seed=3)
    assert (len(a), len(b), len(c)) == (5, 3, 2)
    assert sorted(torch.cat([a, b, c]).tolist()) == list(range(10))
    assert all(torch.equal(p, q) for p, q in zip(split_indices(10, [0.5, 0.3, 0.2], seed=3), (a, b, c)))
    x, y = split_indices(10, [4, 3], seed=0)
    assert len(x) == 4 and len(y) == 3 and not set(x.tolist()) & set(y.tolist())
    with pytest.raises(ValueError, match="do not fit"):
        split_indices(5, [3, 3])
    s = load_images(cfg(name="digits8", size=8))
    train, hold = s.split([0.9, 0.1], seed=0)
    assert len(train) + len(hold) == len(s) and hold.y is not None


def test_missing_official_set_is_one_line_with_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        load_images(cfg(name="cifar10", root=str(tmp_path)))
    msg = str(err.value)
    assert msg == (f"cifar10 (train) not found in {tmp_path}/cifar10: fetch it with 'python -m ebmlab.data fetch "
                   f"cifar10 --root {tmp_path}' (needs network) or 'dvc pull data/dvc.yaml:fetch@cifar10' (once it was pushed to the DVC remote), or give "
                   f"data.source=local and data.path=<file.npz>")


@pytest.mark.parametrize("name", ["mnist", "svhn", "cats", "flowers102", "celeba"])
def test_every_official_set_reports_missing_data(tmp_path, name):
    with pytest.raises(DataError, match=f"^{name} \\(test\\) not found in .*python -m ebmlab.data fetch {name}"):
        load_images(cfg(name=name, split="test", root=str(tmp_path), cache=None))


def test_missing_and_bad_local_files(tmp_path):
    with pytest.raises(DataError, match=f"^local image file {tmp_path}/none.npz not found"):
        load_images(cfg(name="mnist", path=str(tmp_path / "none.npz")))
    np.savez(tmp_path / "f.npz", images=np.zeros((3, 8, 8), np.float32))
    with pytest.raises(DataError, match="'images' must be uint8 grey levels 0-255, got float32$"):
        load_images(cfg(name="mnist", path=str(tmp_path / "f.npz")))
    np.savez(tmp_path / "h.npz", images=np.full((5, 32, 32, 3), 7, np.uint8))  # NHWC, no labels
    s = load_images(cfg(name="cifar10", source="local", path=str(tmp_path / "h.npz")))
    assert tuple(s.x.shape) == (5, 3, 32, 32) and s.y is None and s.num_classes is None


def _idx(path: Path, a: np.ndarray) -> None:
    """An MNIST idx file (big-endian header, uint8 payload), as torchvision reads it."""
    magic = 0x800 + a.ndim
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes())


def test_torchvision_mnist_files_are_read(tmp_path):
    raw = tmp_path / "mnist/MNIST/raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    imgs = {p: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for p, n in (("train", 6), ("t10k", 4))}
    for p, a in imgs.items():
        _idx(raw / f"{p}-images-idx3-ubyte", a)
        _idx(raw / f"{p}-labels-idx1-ubyte", np.arange(len(a), dtype=np.uint8))
    s = load_images(cfg(name="mnist", root=str(tmp_path), size=28))
    assert torch.equal(s.x[:, 0], torch.from_numpy(imgs["train"])) and s.y.tolist() == list(range(6))
    both = load_images(cfg(name="mnist", root=str(tmp_path), split="all"))
    assert tuple(both.x.shape) == (10, 1, 32, 32)


def test_cats_are_the_cat_breeds_of_oxford_pets(tmp_path):
    from PIL import Image
    base = tmp_path / "cats/oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations").mkdir()
    # image id, class id (1-based), species (1 = cat, 2 = dog), breed id
    rows = [("Abyssinian_1", 1, 1, 1), ("american_bulldog_1", 2, 2, 1), ("Bengal_1", 3, 1, 2),
            ("Sphynx_1", 4, 1, 12)]
    (base / "annotations/trainval.txt").write_text("".join(f"{a} {b} {c} {d}\n" for a, b, c, d in rows))
    for i, (image_id, *_) in enumerate(rows):
        Image.new("RGB", (60 + 10 * i, 40), (40 * i, 100, 200)).save(base / "images" / f"{image_id}.jpg")
    s = load_images(cfg(name="cats", root=str(tmp_path), cache=str(tmp_path / "cache")))
    assert tuple(s.x.shape) == (3, 3, 32, 32)  # the bulldog is dropped
    assert s.y.tolist() == [CAT_BREEDS.index("Abyssinian"), CAT_BREEDS.index("Bengal"), CAT_BREEDS.index("Sphynx")]
    assert s.num_classes == 12
    assert (tmp_path / "cache/cats-trainval-32.npz").exists()
    again = load_images(cfg(name="cats", root=str(tmp_path / "elsewhere"), cache=str(tmp_path / "cache")))
    assert torch.equal(again.x, s.x)  # from the cache, no photos needed


def test_config_key_ignores_float_conversion_and_names_the_file():
    a = config_key(cfg(name="mnist", path=str(MNIST10K)))
    b = config_key(cfg(name="mnist", path=str(MNIST10K), range="symmetric", dequantize=True))
    assert a == b and a["sha256"].startswith("f1a23f2f")
    assert config_key(cfg(name="mnist", path=str(MNIST10K), size=28)) != a


def test_cli_export_round_trip(tmp_path, capsys):
    out = tmp_path / "d.npz"
    assert data_cli.main(["export", "--config", "{name: digits8, size: 8, limit: 20}", "--out", str(out)]) == 0
    back = load_images(cfg(name="digits8", source="local", path=str(out), size=8))
    assert torch.equal(back.x, load_images(cfg(name="digits8", size=8, limit=20)).x)
    assert data_cli.main(["info", "--config", "{name: cifar10, root: /nonexistent}"]) == 2
    assert capsys.readouterr().err.startswith("error: cifar10 (train) not found in /nonexistent/cifar10: ")
