"""Report tables: the paper's value beside the reproduced one, with a verdict.

Verdicts compare what a paper claims, not digits that depend on unreported details:
for a table of one metric over several rows the claim is the ordering of the rows.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from ebmlab.io import atomic_write_text


def ordering_verdicts(paper: Mapping[str, float], reproduced: Mapping[str, float],
                      tie_ratio: float = 1.25) -> dict[str, str]:
    """Per row: does its order against every other row agree with the paper's?

    Two paper values within a factor ``tie_ratio`` of each other count as a tie (either
    order agrees, e.g. the thesis's MALA 6.46 vs pSGLD 6.49). A row is ``consistent``
    when every pairwise order involving it agrees, else ``inconsistent``; rows with a
    missing or non-finite reproduced value get ``missing``.
    """
    out = {}
    keys = [k for k in paper if k in reproduced]
    for k in paper:
        r = reproduced.get(k)
        if r is None or (isinstance(r, float) and math.isnan(r)):
            out[k] = "missing"
            continue
        ok = True
        for j in keys:
            if j == k:
                continue
            rj = reproduced[j]
            if rj is None or (isinstance(rj, float) and math.isnan(rj)):
                continue
            pk, pj = paper[k], paper[j]
            if max(pk, pj) / max(min(pk, pj), 1e-300) <= tie_ratio:
                continue
            if (pk > pj) != (r > rj):
                ok = False
        out[k] = "consistent" if ok else "inconsistent"
    return out


def csv_text(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="raise", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({c: _fmt(row.get(c, "")) for c in columns})
    return buf.getvalue()


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
    atomic_write_text(path, csv_text(rows, columns))


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        if math.isinf(v):
            return "inf"
        if math.isnan(v):
            return "nan"
        return f"{v:.6g}"
    return v
