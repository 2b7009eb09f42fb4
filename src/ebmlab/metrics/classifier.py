"""A small digit classifier: the feature space of the substitute Frechet distance, and labels
for class histograms of generated digits.

The Inception weights behind FID cannot be obtained on the machines this project runs on,
so for digit data the pipeline trains this classifier and measures the Frechet distance in
its penultimate-layer features (a common practice for MNIST). That number is labelled
``classifier_frechet_substitute`` and never compared with a paper's FID.

Network: conv3x3(32) - ReLU - maxpool2 - conv3x3(64) - ReLU - maxpool2 - linear(128) - ReLU
[features] - linear(classes). Trained with Adam on images in [0, 1] (no dequantisation);
a seeded hold-out part of the data measures its accuracy.

    python -m ebmlab.metrics.classifier train --config '{data: {name: mnist, path: data/embedded/mnist10k.npz}}' \\
        --out results/classifier/mnist.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebmlab.cli import add_config_args, guarded, resolve, resolve_device
from ebmlab.config import NONNEG, POSITIVE, Bound, check, field, to_dict
from ebmlab.errors import ConfigError
from ebmlab.data.images import LUMA, ImageDataConfig, file_sha256, load_images, split_indices


@dataclasses.dataclass
class ClassifierConfig:
    """Architecture and training of the digit classifier."""

    channels: tuple[int, int] = field((32, 64), doc="filters of the two convolutions")
    hidden: int = field(128, bound=Bound(lo=2), doc="width of the feature (penultimate) layer")
    epochs: float = field(5.0, bound=POSITIVE, doc="passes over the training part")
    batch_size: int = field(64, bound=Bound(lo=1))
    lr: float = field(1e-3, bound=POSITIVE, doc="Adam learning rate")
    weight_decay: float = field(0.0, bound=NONNEG)
    holdout: float = field(0.1, bound=Bound(lo=0.0, hi=1.0, lo_exclusive=True, hi_exclusive=True),
                           doc="fraction of the images held out to measure accuracy")
    min_accuracy: float | None = field(None, bound=Bound(lo=0.0, hi=1.0),
                                       doc="fail (exit 2, no weights written) below this hold-out accuracy")


@dataclasses.dataclass
class ClassifierJob:
    """``python -m ebmlab.metrics.classifier train``: which images, which network, where."""

    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    seed: int = field(0, doc="seeds the weights, the hold-out split and the batch order")
    device: Literal["auto", "cpu", "cuda"] = field("auto")
    threads: int = field(1, bound=Bound(lo=1))


class DigitNet(nn.Module):
    def __init__(self, in_channels: int, size: int, n_classes: int, channels=(32, 64), hidden: int = 128):
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(c2 * (size // 4) ** 2, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class DigitClassifier:
    """A trained :class:`DigitNet` as a feature extractor (``id``, ``dim``, ``features``) and a labeller.

    Inputs are floats in [0, 1] of any size and 1 or 3 channels; they are converted to the
    training images' channels (luminance) and size (bilinear) first.
    """

    def __init__(self, net: DigitNet, *, channels: int, size: int, n_classes: int, id: str, device, info=None):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        self.channels, self.size, self.n_classes, self.id = channels, size, n_classes, id
        self.dim = net.head.in_features
        self.info = info or {}

    @property
    def num_classes(self) -> int:
        return self.n_classes

    def _prepare(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected images (N, 1 or 3, H, W), got {tuple(x.shape)}")
        x = x.to(self.device, torch.float32)
        if x.shape[1] != self.channels:
            x = x.expand(-1, 3, -1, -1) if self.channels == 3 else (
                x * torch.tensor(LUMA, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.size)
        return x

    @torch.no_grad()
    def features(self, x: Tensor, batch_size: int = 2048) -> Tensor:
        return torch.cat([self.net.body(self._prepare(b)) for b in x.split(batch_size)])

    @torch.no_grad()
    def logits(self, x: Tensor, batch_size: int = 2048) -> Tensor:
        return torch.cat([self.net(self._prepare(b)) for b in x.split(batch_size)])

    def predict(self, x: Tensor) -> Tensor:
        return self.logits(x).argmax(1)


def load_classifier(path, device="cpu") -> DigitClassifier:
    """The classifier saved by :func:`train_classifier`; its id names the file's sha256."""
    from ebmlab.io import load_torch
    hint = "train it with 'python -m ebmlab.metrics.classifier train'"
    ckpt = load_torch(path, hint, what="classifier weights file")
    path = Path(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != "ebmlab-digit-classifier-1":
        raise ConfigError(f"{path} is not a digit classifier saved by ebmlab.metrics.classifier")
    a = ckpt["arch"]
    net = DigitNet(a["in_channels"], a["size"], a["n_classes"], tuple(a["channels"]), a["hidden"])
    net.load_state_dict(ckpt["state_dict"])
    return DigitClassifier(net, channels=a["in_channels"], size=a["size"], n_classes=a["n_classes"],
                           id=f"classifier:penultimate:{Path(path).name}:sha256={file_sha256(path)[:12]}",
                           device=device, info=ckpt.get("info", {}))


def train_classifier(data_cfg: ImageDataConfig, out, *, device="cpu", seed: int = 0,
                     config: ClassifierConfig | None = None, progress: bool | None = None) -> dict:
    """Train on ``data_cfg``'s labelled images, write the weights to ``out`` (atomically) with a
    metrics JSON and a run record beside it; returns the metrics. Missing data or labels stop
    with one line before any training."""
    from ebmlab.io import atomic_torch_save, atomic_write_json
    from ebmlab.progress import progress_range
    from ebmlab.records import write_record
    cfg = config or ClassifierConfig()
    data = load_images(dataclasses.replace(data_cfg, range="unit", dequantize=False))
    if data.y is None:
        raise ConfigError(f"{data_cfg.describe()} has no labels: the classifier needs labelled digits")
    check(data.x.shape[-1] >= 4, "the classifier needs images of at least 4x4 pixels")
    device = torch.device(device)
    n_classes = int(data.num_classes or int(data.y.max()) + 1)
    train_idx, hold_idx = split_indices(len(data), [1.0 - cfg.holdout, cfg.holdout], seed)
    check(len(train_idx) >= 1 and len(hold_idx) >= 1, f"{len(data)} images are too few to hold some out")
    x = data.x.to(device)
    y = data.y.to(device)
    c, s = data.x.shape[1], data.x.shape[-1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitNet(c, s, n_classes, cfg.channels, cfg.hidden).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed + 1)
    per_epoch = max(1, len(train_idx) // cfg.batch_size)
    steps = max(1, round(cfg.epochs * per_epoch))
    t0 = time.perf_counter()
    net.train()
    last: dict = {}  # the latest loss tensor, read (a host sync) only when a progress line is written
    for step in progress_range(steps, desc="classifier", enabled=progress,
                               fields=lambda: {"loss": float(last["loss"])} if last else {}):
        if step % per_epoch == 0:
            order = train_idx[torch.randperm(len(train_idx), generator=gen)]
        k = step % per_epoch
        idx = order[k * cfg.batch_size:(k + 1) * cfg.batch_size].to(device)
        loss = F.cross_entropy(net(x[idx].float() / 255.0), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last["loss"] = loss.detach()
    net.eval()
    with torch.no_grad():
        hold = hold_idx.to(device)
        pred = torch.cat([net(x[b].float() / 255.0).argmax(1) for b in hold.split(2048)])
        accuracy = float((pred == y[hold]).float().mean())
    metrics = {"holdout_accuracy": accuracy, "n_train": len(train_idx), "n_holdout": len(hold_idx),
               "n_classes": n_classes, "steps": steps, "final_loss": float(loss.detach()), "data": data_cfg.describe(),
               "input": [c, s, s], "seconds": time.perf_counter() - t0, "device": str(device)}
    if cfg.min_accuracy is not None and accuracy < cfg.min_accuracy:
        raise ConfigError(f"classifier hold-out accuracy {accuracy:.4f} is below min_accuracy {cfg.min_accuracy}")
    out = Path(out)
    atomic_torch_save({"format": "ebmlab-digit-classifier-1",
                       "arch": {"in_channels": c, "size": s, "n_classes": n_classes, "channels": list(cfg.channels),
                                "hidden": cfg.hidden},
                       "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
                       "info": metrics}, out)
    atomic_write_json(out.with_suffix(".json"), metrics)
    write_record(out.with_suffix(".run.yaml"), command="ebmlab.metrics.classifier train",
                 config={"data": to_dict(data_cfg), "classifier": to_dict(cfg)}, seed=seed)
    return metrics


@guarded
def main(argv: list[str] | None = None) -> int | None:
    p = argparse.ArgumentParser(prog="python -m ebmlab.metrics.classifier", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the classifier and write its weights")
    add_config_args(t)
    t.add_argument("--out", required=True, help="weights file (.pt); metrics .json and record .run.yaml beside it")
    args = p.parse_args(argv)
    job = resolve(args, ClassifierJob)
    torch.set_num_threads(job.threads)
    m = train_classifier(job.data, args.out, device=resolve_device(job.device), seed=job.seed, config=job.classifier)
    print(f"{args.out}: hold-out accuracy {m['holdout_accuracy']:.4f} on {m['n_holdout']} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
