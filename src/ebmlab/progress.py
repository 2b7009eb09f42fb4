"""Progress bars that stay quiet when output is not a terminal (logs, CI, Snakemake)."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _auto(enabled: bool | None) -> bool:
    if enabled is None:
        return sys.stderr.isatty()
    return enabled


def progress(iterable: Iterable[T], *, desc: str = "", total: int | None = None,
             enabled: bool | None = None) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar; ``enabled=None`` means 'only on a terminal'."""
    if not _auto(enabled):
        return iter(iterable)
    return iter(tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True))


def progress_range(n: int, *, desc: str = "", enabled: bool | None = None) -> Iterator[int]:
    return progress(range(n), desc=desc, total=n, enabled=enabled)
