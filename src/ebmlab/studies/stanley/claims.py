"""The STANLEY study's tables: the FID curves (Figs 4-5) and the rings distance curve.

The paper gives its curves only as figures, so the tables carry no paper value and no
verdict: one row per scored point.
"""

from __future__ import annotations

from ebmlab.studies.stanley.config import SAMPLER_LABELS

CURVE_COLUMNS = ["dataset", "sampler", "iteration", "fid", "profile", "classifier_frechet_substitute",
                 "inception_standin_fid", "n_samples", "data", "sampler_name", "seconds_per_iteration", "diverged"]
RINGS_COLUMNS = ["sampler", "iteration", "distance", "metric", "profile", "noise_floor", "radial_w1",
                 "noise_floor_radial_w1", "diverged"]


def curve_rows(points: list[dict], profile: str) -> list[dict]:
    """One row per (data set, sampler, iteration); only real-Inception FIDs go in 'fid'."""
    from ebmlab.metrics.fid import check_column, column_for
    rows = []
    for p in sorted(points, key=lambda p: (p["dataset"], p["sampler"], p["iteration"])):
        row = {c: p.get(c, "") for c in CURVE_COLUMNS}
        row.update(profile=profile, diverged=p["diverged"] or "no",
                   sampler=SAMPLER_LABELS.get(p["sampler"], p["sampler"]))
        for kind, value in p["scores"].items():
            col = column_for(p["extractors"][kind], "fid")
            check_column(col, p["extractors"][kind])
            row[col] = "diverged" if p["diverged"] else value
        rows.append(row)
    return rows


def curves_summary(rows: list[dict]) -> dict:
    """What DVC tracks: the last point of every curve."""
    last: dict = {}
    for r in rows:
        cols = ("iteration", "fid", "classifier_frechet_substitute", "inception_standin_fid")
        last[f"{r['dataset']}/{r['sampler']}"] = {c: r[c] for c in cols if r[c] != ""}
    return last


def rings_rows(metrics: list[dict], profile: str) -> list[dict]:
    """One row per (sampler, evaluated iteration) of the rings runs."""
    return [{"sampler": m["label"], "iteration": p["iteration"], "distance": p["distance"],
             "metric": f"{m['distance']} distance to true rings samples", "profile": profile,
             "noise_floor": m.get("noise_floor", ""), "radial_w1": p.get("radial_w1", ""),
             "noise_floor_radial_w1": m.get("noise_floor_radial_w1", ""),
             "diverged": "yes" if m["diverged"] else "no"}
            for m in metrics for p in m["points"]]


def rings_summary(metrics: list[dict]) -> dict:
    """What DVC tracks: each rings run's final distances, its floor and its speed."""
    return {m["label"]: {
        "final_distance": m["points"][-1]["distance"] if m["points"] else None,
        "final_radial_w1": m["points"][-1].get("radial_w1") if m["points"] else None,
        "noise_floor": m.get("noise_floor"), "diverged": bool(m["diverged"]),
        "seconds_per_iteration": m["seconds_per_iteration"]} for m in metrics}
