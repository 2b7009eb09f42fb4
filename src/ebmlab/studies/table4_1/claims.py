"""Table 4.1 rows: the thesis's FID beside the reproduced scores, with ordering verdicts per column."""

from __future__ import annotations

import math

from ebmlab.papers import TABLE4_1_FID, TABLE4_1_LABELS
from ebmlab.studies.base import ordering_verdicts

TABLE_COLUMNS = ["dataset", "sampler", "fid_paper", "fid_reproduced", "epochs", "n_fid_samples", "profile",
                 "verdict", "classifier_frechet_substitute", "verdict_substitute", "inception_standin_fid",
                 "run", "data", "fid_source", "iterations", "seconds_per_iteration", "accept_prob_final",
                 "precond_mean_final", "diverged"]


#: score column -> the verdict column judging the ordering of that score
VERDICTS = {"fid_reproduced": "verdict", "classifier_frechet_substitute": "verdict_substitute"}


def score_columns(m: dict) -> dict[str, float | None]:
    """A cell's scores by table column: only real-Inception FIDs land in fid_reproduced."""
    from ebmlab.metrics.fid import check_column, column_for
    out = {}
    for kind, value in m["scores"].items():
        ext = m["extractors"][kind]
        col = column_for(ext, "fid_reproduced")
        check_column(col, ext)
        out[col] = value
    return out


def table_rows(metrics: list[dict], profile: str) -> list[dict]:
    """Table 4.1 rows, one per cell, with ordering verdicts per data set (column)."""
    rows = []
    by_ds: dict[str, list[dict]] = {}
    for m in metrics:
        by_ds.setdefault(m["dataset"], []).append(m)
    order = {label: i for i, label in enumerate(TABLE4_1_LABELS)}
    for ds, ms in by_ds.items():
        ms = sorted(ms, key=lambda m: (order.get(m["run"], len(order)), m["run"]))
        cols = {m["run"]: score_columns(m) for m in ms}
        paper = {k: v for k, v in TABLE4_1_FID.get(ds, {}).items() if k in cols}
        verdicts = {}
        for col in VERDICTS:
            if any(col in c for c in cols.values()):
                vals = {run: c.get(col) for run, c in cols.items()}
                verdicts[col] = ordering_verdicts(paper, {k: math.inf if v is None else v  # diverged = worst
                                                          for k, v in vals.items()})
        for m in ms:
            run = m["run"]
            row = {c: m.get(c, "") for c in TABLE_COLUMNS}
            row.update(dataset=ds, sampler=TABLE4_1_LABELS.get(run, run), run=run, profile=profile,
                       fid_paper=TABLE4_1_FID.get(ds, {}).get(run, ""), diverged="yes" if m["diverged"] else "no")
            for col, value in cols[run].items():
                row[col] = "diverged" if m["diverged"] else value
            for col, vcol in VERDICTS.items():
                if run not in paper:
                    row[vcol] = "no paper value"
                elif col in verdicts:
                    row[vcol] = verdicts[col][run] + ("" if col == "fid_reproduced" else " (substitute metric)")
                else:
                    row[vcol] = "no Inception FID in this profile" if col == "fid_reproduced" else ""
            rows.append(row)
    return rows


def metrics_summary(metrics: list[dict]) -> dict:
    """What DVC tracks per cell: its scores, time per iteration, and whether it diverged."""
    return {f"{m['dataset']}/{m['run']}": {**m["scores"], "seconds_per_iteration": m["seconds_per_iteration"],
                                           "diverged": bool(m["diverged"])}
            for m in metrics}
