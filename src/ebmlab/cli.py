"""Shared command-line plumbing for ``python -m ebmlab.<cmd>`` entry points.

Every entry point takes its configuration explicitly, in one of two ways:

* ``--params params/smoke.yaml --section gmm``: a section of a profile file (by hand);
* ``--config '<inline YAML/JSON>'``: the slice a Snakemake rule passes;

plus any number of ``--set key.path=value`` overrides. Bad input is reported as one
line on stderr (``error: ...``) with exit status 2, before any output is written.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any, Callable

import yaml

from ebmlab.config import from_dict
from ebmlab.io import load_yaml
from ebmlab.errors import EXIT_BAD_INPUT, EXIT_DIVERGED, ConfigError, DataError, Diverged

def parse_inline(text: str) -> Any:
    """Parse an inline YAML/JSON mapping given on the command line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"malformed inline config: {problem}") from None


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a nested mapping."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value")
        key, raw = item.split("=", 1)
        value = parse_inline(raw) if raw else ""
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = value
    return data


def select(data: Any, section: str | None, source: str) -> Any:
    """Return ``data[section]`` for a dotted section name, with a clear error."""
    if not section:
        return data
    node = data
    for part in section.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"section '{section}' not found in {source}")
        node = node[part]
    return node


def resolve_device(choice: str):
    """A torch device from 'auto' (cuda when available, else cpu), 'cpu' or 'cuda'."""
    import torch
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device is 'cuda' but no CUDA device is available")
    return torch.device(choice)


def add_config_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("configuration")
    g.add_argument("--params", help="profile file, e.g. params/smoke.yaml")
    g.add_argument("--section", help="dotted section of --params to use, e.g. gmm")
    g.add_argument("--config", help="inline YAML/JSON mapping (what Snakemake passes)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one value, e.g. --set train.epochs=3 (repeatable)")


def raw_config(args: argparse.Namespace) -> dict:
    if args.params and args.config:
        raise ConfigError("give either --params or --config, not both")
    if args.params:
        data = select(load_yaml(args.params), args.section, args.params)
    elif args.config is not None:
        data = parse_inline(args.config)
    else:
        data = {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration must be a mapping, got {type(data).__name__}")
    return apply_overrides(data, args.set)


def resolve(args: argparse.Namespace, cls: type, where: str = "") -> Any:
    """Parse and validate the configuration given on the command line into ``cls``."""
    return from_dict(cls, raw_config(args), where)


def guarded(main: Callable[[list[str] | None], int | None]) -> Callable[[list[str] | None], int]:
    """Turn expected failures into a one-line message and an exit status."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv) or 0
        except (ConfigError, DataError) as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except Diverged as err:
            print(f"diverged: {err}", file=sys.stderr)
            return EXIT_DIVERGED

    return wrapper
