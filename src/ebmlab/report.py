"""CSV text for tables and histories (numbers to six significant digits, inf and nan spelled out)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from ebmlab.io import atomic_write_text


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
