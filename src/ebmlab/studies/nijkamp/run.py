"""The diagnostics job: one run's history.csv in, its figure and metrics JSON out."""

from __future__ import annotations

import math
from pathlib import Path

from ebmlab.diagnostics import learning_history, summarise
from ebmlab.errors import ConfigError
from ebmlab.io import atomic_write_json


def _json_safe(v):
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return None if isinstance(v, float) and not math.isfinite(v) else v


def diagnose(history: str | Path, figure_path: str | Path | None, metrics_path: str | Path | None,
             title: str = "", burn_in: float = 0.5, max_lag: int = 20) -> dict:
    """Read one run's history, write its figure and metrics; returns the summary."""
    if not 0 <= burn_in < 1:
        raise ConfigError(f"burn_in must lie in [0, 1), got {burn_in}")
    d, r = learning_history(history)
    summary = summarise(d, r, burn_in, max_lag)
    if figure_path:
        from ebmlab.studies.nijkamp.figures import figure
        figure(d, r, summary, figure_path, title)
    if metrics_path:  # strict JSON: undefined correlations (too few iterations) become null
        atomic_write_json(metrics_path, _json_safe({"history": str(history), "title": title, **summary}))
    return summary
