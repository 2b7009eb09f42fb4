"""The STANLEY study's tables: the FID curves (Figs 4-5), the rings distance curves, the grids
(every cell, ranked) and the best settings over seeds with the claim on them.

The paper gives its curves only as figures, so the curve tables carry no paper value and no
verdict: one row per scored point. The one claim, "STANLEY beats Langevin" on the rings, uses
the repository's ordering rule (``studies.base.ordered``, ``combine``).
"""

from __future__ import annotations

import math

from ebmlab.studies.base import combine, mean_sd, ms, ordered
from ebmlab.studies.stanley.config import SAMPLER_LABELS

CURVE_COLUMNS = ["dataset", "sampler", "iteration", "fid", "profile", "classifier_frechet_substitute",
                 "inception_standin_fid", "n_samples", "data", "sampler_name", "diverged"]
RINGS_COLUMNS = ["sampler", "iteration", "distance", "metric", "profile", "noise_floor", "radial_w1",
                 "noise_floor_radial_w1", "diverged"]


def curve_rows(points: list[dict], profile: str) -> list[dict]:
    """One row per (data set, sampler, iteration); only real-Inception FIDs go in 'fid'."""
    from ebmlab.metrics.fid import check_column, column_for
    rows = []
    for p in sorted(points, key=_point_order):
        row = {c: p.get(c, "") for c in CURVE_COLUMNS}
        row.update(profile=profile, diverged=p["diverged"] or "no",
                   sampler=SAMPLER_LABELS.get(p["sampler"], p["sampler"]))
        for kind, value in p["scores"].items():
            col = column_for(p["extractors"][kind], "fid")
            check_column(col, p["extractors"][kind])
            row[col] = "diverged" if p["diverged"] else value
        rows.append(row)
    return rows


def _point_order(p: dict):
    return p["dataset"], p["sampler"], p["iteration"]


def curve_timing(points: list[dict]) -> list[tuple[str, dict]]:
    """(job label, point) per scored point, in the curve table's order, for ``base.write_timing``:
    <data set>/<curve>/<iteration> is the training segment that ends at that checkpoint (its
    seconds per iteration and wall time cover the curve's training up to there)."""
    return [(f"{p['dataset']}/{p['sampler']}/{p['iteration']}", p) for p in sorted(points, key=_point_order)]


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
    """What DVC tracks: each rings run's final distances and its floor (its speed: rings_timing)."""
    return {m["label"]: {
        "final_distance": m["points"][-1]["distance"] if m["points"] else None,
        "final_radial_w1": m["points"][-1].get("radial_w1") if m["points"] else None,
        "noise_floor": m.get("noise_floor"), "diverged": bool(m["diverged"])} for m in metrics}


def rings_timing(metrics: list[dict]) -> list[tuple[str, dict]]:
    """(job label, metrics) per rings run, each run once (a best cell's first seed is both shown
    and seeded), for ``base.write_timing``."""
    return list({m["label"]: m for m in metrics}.items())


# ---------------------------------------------------------------------------
# the grid (tuned as the paper did) and the best settings over seeds

GRID_SETTINGS = ["th", "noise_std", "step_size"]
GRID_COLUMNS = ["sampler", "run", *GRID_SETTINGS, "temperature", "iterations", "iterations_planned", "score",
                "final_distance", "final_radial_w1", "diverged", "rank", "best", "profile"]
SEED_COLUMNS = ["sampler", "run", "seed", "final_distance", "final_radial_w1", "diverged", "iterations",
                "noise_floor", "noise_floor_radial_w1", "profile"]


def final(m: dict, key: str = "distance"):
    """A rings run's last evaluated value of ``key`` (None when it has none)."""
    pts = [p for p in m["points"] if isinstance(p.get(key), (int, float))]
    return pts[-1][key] if pts else None


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def rank_key(score, diverged: bool, reached: int):
    """Smaller is better: finite scores in order, then runs without one, then diverged runs
    (a later divergence ranks above an earlier one)."""
    if diverged:
        return (2, -reached, 0.0)
    return (0, 0, score) if _finite(score) else (1, 0, 0.0)


def ranked(rows: list[dict], group: str = "sampler") -> list[dict]:
    """``rows`` (each with 'score', 'diverged' yes/no, 'iterations') ranked within each ``group``;
    the first of a group is its best (``best`` yes)."""
    out = []
    for g in dict.fromkeys(r[group] for r in rows):
        mine = sorted((r for r in rows if r[group] == g),
                      key=lambda r: rank_key(r["score"], r["diverged"] == "yes", r["iterations"]))
        for k, r in enumerate(mine, 1):
            out.append({**r, "rank": k, "best": "yes" if k == 1 else "no"})
    return out


def grid_rows(metrics: list[dict], profile: str) -> list[dict]:
    """One row per grid cell, ranked per sampler by the final distance (diverged cells last)."""
    rows = [{"sampler": SAMPLER_LABELS.get(m["sampler"], m["sampler"]), "run": m["label"],
             **{k: m["sampler_config"].get(k, "") for k in GRID_SETTINGS}, "temperature": m.get("temperature"),
             "iterations": m["iterations"], "iterations_planned": m["iterations_planned"],
             "score": final(m), "final_distance": final(m), "final_radial_w1": final(m, "radial_w1"),
             "diverged": "yes" if m["diverged"] else "no", "profile": profile} for m in metrics]
    return ranked(rows)


def best_cells(rows: list[dict], metrics: list[dict]) -> dict[str, str]:
    """Sampler name (stanley, langevin, ...) -> its best grid cell's label."""
    name = {m["label"]: m["sampler"] for m in metrics}
    return {name[r["run"]]: r["run"] for r in rows if r["best"] == "yes"}


def seed_rows(metrics: list[dict], profile: str) -> list[dict]:
    """Each seeded run of a best setting, then its sampler's mean +- sd over seeds."""
    rows = []
    for cell in dict.fromkeys(m["label"].rsplit("/", 1)[0] for m in metrics):
        runs = [m for m in metrics if m["label"].rsplit("/", 1)[0] == cell]
        name = SAMPLER_LABELS.get(runs[0]["sampler"], runs[0]["sampler"])
        for m in runs:
            rows.append({"sampler": name, "run": cell, "seed": m["seed"], "final_distance": final(m),
                         "final_radial_w1": final(m, "radial_w1"), "diverged": "yes" if m["diverged"] else "no",
                         "iterations": m["iterations"], "noise_floor": m.get("noise_floor"),
                         "noise_floor_radial_w1": m.get("noise_floor_radial_w1"), "profile": profile})
        ok = [m for m in runs if not m["diverged"]]
        rows.append({"sampler": name, "run": cell, "seed": "mean +- sd (runs that did not diverge)",
                     "final_distance": ms(mean_sd(final(m) for m in ok)),
                     "final_radial_w1": ms(mean_sd(final(m, "radial_w1") for m in ok)),
                     "diverged": f"{len(runs) - len(ok)} of {len(runs)}", "iterations": "", "noise_floor": "",
                     "noise_floor_radial_w1": "", "profile": profile})
    return rows


def _side(runs: list[dict], other: list[dict], key: str):
    """One side of the ordering rule: mean_sd over the seeds that did not diverge, or 'diverged'
    when more of its seeds diverged than the other side's (diverged runs are the worst)."""
    n_div = sum(bool(m["diverged"]) for m in runs)
    if n_div == len(runs) or n_div > sum(bool(m["diverged"]) for m in other):
        return "diverged"
    return mean_sd(final(m, key) for m in runs if not m["diverged"])


def rings_claims(stanley: list[dict], langevin: list[dict], profile: str) -> list[dict]:
    """'STANLEY beats Langevin' on the rings: both distances smaller, gap beyond the spread over seeds."""
    parts, evidence = [], []
    for key, what in (("distance", "energy distance"), ("radial_w1", "radial W1")):
        a, b = (_side(stanley, langevin, key), _side(langevin, stanley, key)) if stanley and langevin else (None, None)
        parts.append(ordered(a, b, "less"))
        evidence.append(f"{what}: STANLEY {ms(a)}, Langevin {ms(b)}")
    label = lambda runs: runs[0]["label"].rsplit("/", 1)[0] if runs else "none"  # noqa: E731
    div = lambda runs: f"{sum(bool(m['diverged']) for m in runs)} of {len(runs)} seeds diverged"  # noqa: E731
    return [{"claim": "stanley_beats_langevin_rings",
             "paper_claim": "STANLEY's samples match the rings better than vanilla Langevin's (Fig 1)",
             "source": "STANLEY section 5, Fig 1",
             "test": "best grid setting of each, final distances to true samples over seeds: STANLEY smaller "
                     "by more than the combined sd (ordered) on both distances (combine); diverged seeds are "
                     "the worst",
             "evidence": f"STANLEY {label(stanley)} ({div(stanley)}), Langevin {label(langevin)} "
                         f"({div(langevin)}); " + "; ".join(evidence),
             "verdict": "missing" if not (stanley and langevin) else combine(parts), "profile": profile}]


IMAGE_GRID_COLUMNS = ["dataset", "sampler", "run", *GRID_SETTINGS, "temperature", "iterations", "score",
                      "score_column", "diverged", "rank", "best", "profile"]


def image_grid_rows(rows: list[dict], points: list[dict], profile: str) -> list[dict]:
    """One row per grid curve: its last point's score (the curve table's first score column
    that has values), ranked per sampler, diverged curves last."""
    from ebmlab.studies.stanley.figures import SCORE_COLUMNS
    col = next((c for c, _ in SCORE_COLUMNS if any(isinstance(r.get(c), float) for r in rows)), None)
    last = {}
    for p in sorted(points, key=lambda p: p["iteration"]):
        last[(p["dataset"], p["sampler"])] = p
    row_of = {(r["dataset"], r["sampler"]): r for r in rows}   # a cell keeps its label (no legend name)
    out = []
    for (ds, cell), p in last.items():
        r = row_of.get((ds, cell), {})
        out.append({"dataset": ds, "sampler": SAMPLER_LABELS.get(p["sampler_name"], p["sampler_name"]), "run": cell,
                    **{k: p.get("sampler_config", {}).get(k, "") for k in GRID_SETTINGS},
                    "temperature": p.get("temperature"), "iterations": p["iteration"],
                    "score": r.get(col) if col and p["diverged"] is None else None, "score_column": col or "",
                    "diverged": "yes" if p["diverged"] else "no", "profile": profile})
    return ranked(out)
