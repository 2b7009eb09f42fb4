"""The diagnostics jobs: one run's history in, its figure and metrics JSON out; a study's runs
in, its table, claims and summary figure out."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ebmlab.diagnostics import learning_history, summarise
from ebmlab.errors import ConfigError
from ebmlab.io import atomic_write_json, atomic_write_text, read_json
from ebmlab.report import csv_text


def _json_safe(v):
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _column(hist: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) if isinstance(r.get(key), (int, float)) else math.nan for r in hist])


def read_run(history: str | Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """d_st, r_t and whether the training diverged, from a history.csv (the flag from the
    folder's metrics.json or model.pt, as the studies write them) or a trainer checkpoint
    (``.pt`` holding ``trainer.history``: STANLEY's curve segments)."""
    path = Path(history)
    if path.suffix == ".pt":
        from ebmlab.io import load_torch
        ckpt = load_torch(path, "train the run first")
        hist = (ckpt.get("trainer") or {}).get("history")
        if not hist or not any("d_st" in r and "r_t" in r for r in hist):
            raise ConfigError(f"{path}: the checkpoint's trainer history logs no d_st / r_t")
        return _column(hist, "d_st"), _column(hist, "r_t"), bool(ckpt.get("diverged"))
    d, r = learning_history(path)
    flag = None
    if (path.parent / "metrics.json").exists():
        flag = read_json(path.parent / "metrics.json", "").get("diverged")
    elif (path.parent / "model.pt").exists():
        from ebmlab.io import load_torch
        flag = load_torch(path.parent / "model.pt", "").get("diverged")
    return d, r, bool(flag)


def diagnose(history: str | Path, figure_path: str | Path | None, metrics_path: str | Path | None,
             title: str = "", burn_in: float = 0.5, max_lag: int = 20) -> dict:
    """Read one run's history, write its figure and metrics; returns the summary."""
    if not 0 <= burn_in < 1:
        raise ConfigError(f"burn_in must lie in [0, 1), got {burn_in}")
    d, r, diverged = read_run(history)
    diverged = diverged or not (np.isfinite(d).all() and np.isfinite(r).all())
    summary = {**summarise(d, r, burn_in, max_lag), "diverged": diverged,
               "outcome": "diverged" if diverged else "convergent"}
    if figure_path:
        from ebmlab.studies.nijkamp.figures import figure
        figure(d, r, summary, figure_path, title)
    if metrics_path:  # strict JSON: undefined correlations (too few iterations) become null
        atomic_write_json(metrics_path, _json_safe({"history": str(history), "title": title, **summary}))
    return summary


def summary(metrics: list[str], runs: list[str], study: str, profile: str, csv_path: str,
            claims_path: str | None = None, figure_path: str | None = None, eps: float | None = None) -> list[dict]:
    """A study's diagnosed runs as one table (and the claims N1-N2, a summary figure)."""
    from ebmlab.studies.base import write_claims
    from ebmlab.studies.nijkamp import claims as nc
    if len(metrics) != len(runs):
        raise ConfigError(f"--metrics names {len(metrics)} files but --runs {len(runs)} runs")
    summaries = {run: read_json(m, "run the diagnose step first") for run, m in zip(runs, metrics)}
    table = nc.rows(study, summaries, profile, eps)
    atomic_write_text(csv_path, csv_text(table, nc.COLUMNS))
    if claims_path:
        write_claims(claims_path, nc.claims(study, table, profile))
    if figure_path:
        from ebmlab.studies.nijkamp.figures import summary_figure
        summary_figure(table, f"{study} ({profile})", figure_path)
    return table


def pool(tables: list[str], profile: str, claims_path: str) -> list[dict]:
    """The claims N1-N2 over every study's runs (their ``nijkamp_<study>.csv`` tables)."""
    import csv
    from ebmlab.io import require_file
    from ebmlab.studies.base import write_claims
    from ebmlab.studies.nijkamp import claims as nc
    rows = []
    for t in tables:
        with open(require_file(t, "run the nijkamp summary step first"), newline="") as fh:
            rows += list(csv.DictReader(fh))
    studies = ", ".join(dict.fromkeys(r["study"] for r in rows)) or "no study"
    out = nc.claims(f"all runs ({studies})", rows, profile)
    write_claims(claims_path, out)
    return out
