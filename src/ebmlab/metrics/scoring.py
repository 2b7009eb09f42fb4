"""Scoring generated images with every configured feature extractor (FID and its substitutes).

What the image studies share: build the extractors a study's metric list names (missing
weights stop before any compute), fetch or compute the reference statistics of one data
split, and score samples against them. Kinds and columns are defined in :mod:`ebmlab.metrics.fid`.
"""

from __future__ import annotations

import dataclasses

import torch

from ebmlab.errors import ConfigError
from ebmlab.io import require_file


def build_extractors(metrics: list[str], classifier: str | None, device, hint: str = "") -> dict:
    """Metric kind -> feature extractor; missing weights raise ConfigError/DataError before any compute."""
    from ebmlab.metrics.fid import build_extractor
    out = {}
    for kind in metrics:
        weights = None
        if kind == "classifier":
            if classifier is None:
                raise ConfigError("metric 'classifier' needs --classifier <weights file> (the pipeline trains it)")
            weights = str(require_file(classifier, hint or "train the digit classifier first"))
        out[kind] = build_extractor(kind, weights=weights, device=device)
    return out


def reference_statistics(data_cfg, split: str, n: int | None, extractors: dict, ref_dir: str) -> dict:
    """Metric kind -> reference statistics of ``split`` of ``data_cfg`` (cached in ``ref_dir``)."""
    from ebmlab.metrics.fid import reference_stats
    cfg = dataclasses.replace(data_cfg, split=split)
    return {kind: reference_stats(ex, cfg, ref_dir, n=n) for kind, ex in extractors.items()}


def to_unit(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Images from the model's value range to [0, 1] (what the extractors take)."""
    lo, hi = value_range
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def score(samples: torch.Tensor, value_range, extractors: dict, refs: dict,
          progress: bool | None = False) -> dict[str, float]:
    """Each extractor's Frechet distance of ``samples`` to its reference statistics."""
    from ebmlab.metrics.fid import fid
    unit = to_unit(samples, value_range)
    return {kind: float(fid(unit, refs[kind], ex, progress=progress)) for kind, ex in extractors.items()}
