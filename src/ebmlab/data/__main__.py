"""``python -m ebmlab.data``: fetch the official image sets, inspect or export a configured set.

    python -m ebmlab.data fetch cifar10 [--root data/raw]      # torchvision download, MD5-checked
    python -m ebmlab.data info --config '{name: mnist, path: data/embedded/mnist10k.npz}'
    python -m ebmlab.data export --config '{name: cifar10, split: test}' --out cifar10_test.npz

``export`` writes the configured images (uint8, after resizing) and labels as one .npz
that ``source: local`` reads back: the way to carry a fetched set to a machine without
network.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ebmlab.cli import add_config_args, guarded, resolve
from ebmlab.data.images import TORCHVISION_SETS, ImageDataConfig, fetch, file_sha256, load_images
from ebmlab.io import atomic_path


def cmd_fetch(args) -> None:
    folder = fetch(args.name, args.root)
    print(f"{args.name}: official files in {folder}")


def cmd_info(args) -> None:
    cfg = resolve(args, ImageDataConfig, "data")
    s = load_images(cfg)
    counts = None if s.y is None else np.bincount(s.y.numpy(), minlength=s.num_classes or 0).tolist()
    json.dump({"data": cfg.describe(), "split": cfg.split, "shape": list(s.x.shape), "dtype": "uint8",
               "num_classes": s.num_classes, "class_counts": counts,
               "mean_grey_level": float(s.x.float().mean())}, sys.stdout, indent=2)
    print()


def cmd_export(args) -> None:
    cfg = resolve(args, ImageDataConfig, "data")
    s = load_images(cfg)
    arrays = {"images": s.x.numpy()}
    if s.y is not None:
        arrays["labels"] = s.y.numpy()
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    print(f"{args.out}: {tuple(s.x.shape)} uint8, sha256 {file_sha256(args.out)}")


@guarded
def main(argv: list[str] | None = None) -> int | None:
    p = argparse.ArgumentParser(prog="python -m ebmlab.data", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download a torchvision set (needs network)")
    f.add_argument("name", choices=TORCHVISION_SETS)
    f.add_argument("--root", default="data/raw")
    f.set_defaults(func=cmd_fetch)
    for name, func, hlp in (("info", cmd_info, "shape, classes and source of a configured set"),
                            ("export", cmd_export, "write a configured set as a local .npz")):
        q = sub.add_parser(name, help=hlp)
        add_config_args(q)
        if name == "export":
            q.add_argument("--out", required=True)
        q.set_defaults(func=func)
    args = p.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
