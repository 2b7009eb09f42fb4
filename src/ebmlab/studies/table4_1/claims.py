"""Table 4.1 rows (mean and sd over seeds), one row per cell, and the claims T1-T6 with verdicts.

The spread of a row is the standard deviation of its seeds' values (ddof = 1). An ordering
"a < b" is reproduced only when the gap between the means exceeds the combined spread,
``base.compare(a, b, direction, z=Z)`` with (mean, sd) pairs and Z = 1: gap >
sqrt(sd_a^2 + sd_b^2), the same tolerance on both sides; a one-seed run compared with a seeded
row borrows that row's sd (it has none of its own). A gap within the spread is
``inconclusive``, which never counts as reproduced.
"""

from __future__ import annotations

import math
import statistics
from typing import Iterable, Mapping

from ebmlab.papers import TABLE4_1_FID, TABLE4_1_LABELS
from ebmlab.studies.base import borrow as _borrow
from ebmlab.studies.base import check_verdict as _check
from ebmlab.studies.base import combine, compare, mean_sd, ordering_verdicts
from ebmlab.studies.base import ms as _ms
from ebmlab.studies.base import Z_SEEDS, ordered

#: the ordering rule's z: the gap must exceed the combined sd over seeds
Z = Z_SEEDS

#: row labels: the thesis's, plus this study's extra runs
LABELS = {**TABLE4_1_LABELS, "mala": "MALA (thesis test)", "tempered_mala": "Tempering MALA (thesis test)",
          "mala_exact": "MALA (exact test)", "psgld_lam001": "Precondition (Lambda = 0.01)",
          "sgld_then_mala": "SGLD, then MALA"}
ORDER = ["langevin", "mala", "tempered_mala", "psgld", "mala_exact", "psgld_lam001", "sgld_then_mala"]
SCORES = ["fid_reproduced", "classifier_frechet_substitute", "inception_standin_fid"]
NO_INCEPTION = "no Inception weights here (no network access): the classifier substitute is the score"

TABLE_COLUMNS = ["dataset", "sampler", "run", "fid_paper", "fid_reproduced", "fid_reproduced_sd", "fid_note",
                 "classifier_frechet_substitute", "classifier_frechet_substitute_sd", "verdict_substitute",
                 "accept_prob_final", "accept_prob_final_sd", "precond_mean_final", "precond_mean_final_sd",
                 "n_seeds", "seeds", "n_diverged", "inception_standin_fid", "inception_standin_fid_sd",
                 "epochs", "iterations", "n_fid_samples", "data", "fid_source", "profile"]
CELL_COLUMNS = ["dataset", "run", "seed", "sampler", "step_size", "noise_std", "fid_reproduced",
                "classifier_frechet_substitute", "inception_standin_fid", "accept_prob_final", "precond_mean_final",
                "iterations", "epochs", "n_fid_samples", "diverged", "profile"]
# wall times are in neither: they go to the timing table (--timing, base.TIMING_COLUMNS), one row per cell

#: score column -> the verdict column judging the ordering of that score
VERDICTS = {"classifier_frechet_substitute": "verdict_substitute"}


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


def _order_key(run: str):
    return (ORDER.index(run) if run in ORDER else len(ORDER), run)


def group(metrics: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Cells by (data set, run), seeds in order; the step-size sweep's cells (step_*) left out."""
    out: dict[tuple[str, str], list[dict]] = {}
    for m in metrics:
        if not m["run"].startswith("step_"):
            out.setdefault((m["dataset"], m["run"]), []).append(m)
    first = {ds: i for i, ds in enumerate(dict.fromkeys(k[0] for k in out))}  # data sets as given
    return {k: sorted(out[k], key=lambda m: m.get("seed", 0))
            for k in sorted(out, key=lambda k: (first[k[0]], _order_key(k[1])))}




def table_rows(metrics: list[dict], profile: str) -> list[dict]:
    """Table 4.1: one row per (data set, run), the mean and sd over its seeds."""
    groups = group(metrics)
    stats: dict[tuple[str, str], dict] = {}
    for key, ms in groups.items():
        live = [m for m in ms if not m["diverged"]]
        cols = [score_columns(m) for m in live]
        st = {c: mean_sd(cs.get(c) for cs in cols) for c in SCORES}
        st.update({k: mean_sd(m.get(k) for m in ms) for k in ("accept_prob_final", "precond_mean_final")})
        stats[key] = st
    rows = []
    for ds in dict.fromkeys(k[0] for k in groups):
        keys = [k for k in groups if k[0] == ds]
        paper = {run: v for run, v in TABLE4_1_FID.get(ds, {}).items() if (ds, run) in groups}
        verdicts = {}
        for col in VERDICTS:
            vals = {run: stats[(ds, run)][col] for _, run in keys}
            if any(v is not None for v in vals.values()):
                # the repository's one ordering rule on (mean, sd over seeds); every seed diverged = worst
                verdicts[col] = ordering_verdicts(paper, {k: "diverged" if v is None else v for k, v in vals.items()})
        for key in keys:
            run, ms, st = key[1], groups[key], stats[key]
            m0 = ms[0]
            n_div = sum(bool(m["diverged"]) for m in ms)
            row = {c: "" for c in TABLE_COLUMNS}
            row.update(dataset=ds, sampler=LABELS.get(run, run), run=run, profile=profile,
                       fid_paper=TABLE4_1_FID.get(ds, {}).get(run, ""), n_seeds=len(ms),
                       seeds=" ".join(str(m.get("seed", "")) for m in ms), n_diverged=n_div,
                       epochs=m0["epochs"], iterations=m0["iterations"], n_fid_samples=m0["n_fid_samples"],
                       data=m0.get("data", ""), fid_source=m0.get("fid_source", ""))
            for col in SCORES + ["accept_prob_final", "precond_mean_final"]:
                v = st[col]
                if v is None:
                    present = col in SCORES and any(col in score_columns(m) for m in ms)
                    row[col] = "diverged" if present and n_div else ""
                else:
                    row[col], row[f"{col}_sd"] = v[0], ("" if math.isnan(v[1]) else v[1])
            if st["fid_reproduced"] is None and not any("fid_reproduced" in score_columns(m) for m in ms):
                row["fid_note"] = NO_INCEPTION
            for col, vcol in VERDICTS.items():
                if run not in paper:
                    row[vcol] = "no paper value"
                elif col in verdicts:
                    row[vcol] = verdicts[col][run] + " (substitute metric)"
            rows.append(row)
    return rows


def cell_rows(metrics: list[dict], profile: str) -> list[dict]:
    """One row per cell (every seed, and the step-size sweep)."""
    rows = []
    first = {ds: i for i, ds in enumerate(dict.fromkeys(m["dataset"] for m in metrics))}
    for m in sorted(metrics, key=lambda m: (first[m["dataset"]], _order_key(m["run"]), m.get("seed", 0))):
        row = {c: m.get(c, "") for c in CELL_COLUMNS}
        row.update(profile=profile, step_size=m.get("sampler_config", {}).get("step_size", ""),
                   diverged="yes" if m["diverged"] else "no")
        for col, value in score_columns(m).items():
            row[col] = "diverged" if m["diverged"] else value
        rows.append(row)
    return rows


def metrics_summary(metrics: list[dict]) -> dict:
    """What DVC tracks per row: mean and sd over seeds of its scores, acceptance and G."""
    out = {}
    for (ds, run), ms in group(metrics).items():
        live = [m for m in ms if not m["diverged"]]
        entry = {"n_seeds": len(ms), "n_diverged": len(ms) - len(live)}
        for kind in ms[0]["scores"]:
            entry[kind] = mean_sd(m["scores"].get(kind) for m in live)
        for k in ("accept_prob_final", "precond_mean_final"):
            entry[k] = mean_sd(m.get(k) for m in ms)
        out[f"{ds}/{run}"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in entry.items()}
    return out


# ---------------------------------------------------------------------------
# the claims (thesis section 4.2.1)

#: iterations of the thesis's "first 100 batches" (T4) and the switch (T5)
EARLY = 100
#: T4: "falls towards 0" means a final acceptance below this; SGLD's band
FALLEN = 0.1
SGLD_BAND = (0.95, 0.99)
#: T4: two acceptances "match" when their gap is within max(combined sd, MATCH)
MATCH = 0.05
#: T6: "near 1" and "barely changes" as a relative tolerance; "about 1e-3" as a factor
NEAR = 0.1
ABOUT = 3.0


class Runs:
    """The cells of one data set by run label: metrics and history per seed."""

    def __init__(self, cells: Iterable[tuple[Mapping, list[Mapping]]]):
        self.by: dict[str, list[tuple[Mapping, list[Mapping]]]] = {}
        for m, hist in cells:
            self.by.setdefault(m["run"], []).append((m, hist))

    def score(self, run: str, col: str = "classifier_frechet_substitute"):
        """(mean, sd) of a score over seeds; 'diverged' when every seed diverged; None when absent."""
        cells = self.by.get(run, [])
        if not cells:
            return None
        live = [m for m, _ in cells if not m["diverged"]]
        if not live:
            return "diverged"
        return mean_sd(score_columns(m).get(col) for m in live)

    def per_seed(self, run: str, f) -> tuple[float, float] | None:
        """(mean, sd) over seeds of f(history) (None where a seed lacks the column)."""
        return mean_sd(f(hist) for _, hist in self.by.get(run, []))


def _window(hist, key, lo=None, hi=None):
    v = [r[key] for r in hist if isinstance(r.get(key), float) and math.isfinite(r[key])
         and (lo is None or r["iteration"] >= lo) and (hi is None or r["iteration"] < hi)]
    return statistics.fmean(v) if v else None


def _tail(hist, key):
    n = len(hist)
    return _window(hist[n - max(1, n // 10):], key) if n else None


def _rel_change(hist, key):
    v = [r[key] for r in hist if isinstance(r.get(key), float) and math.isfinite(r[key])]
    return (max(v) - min(v)) / abs(statistics.fmean(v)) if v and statistics.fmean(v) else None


def claims(cells: Iterable[tuple[Mapping, list[Mapping]]], profile: str, dataset: str = "mnist") -> list[dict]:
    """T1-T6 on one data set's cells: (metrics.json, history rows) per cell."""
    R = Runs((m, h) for m, h in cells if m["dataset"] == dataset and not m["run"].startswith("step_"))
    src = "thesis section 4.2.1"
    out = []

    def claim(cid, paper, source, test, evidence, verdict):
        out.append({"claim": cid, "paper_claim": paper, "source": f"{src}, {source}", "test": test,
                    "evidence": evidence, "verdict": verdict, "profile": profile})

    sc = {r: R.score(r) for r in ("langevin", "psgld", "mala", "tempered_mala", "mala_exact", "sgld_then_mala")}
    ev = "; ".join(f"{r} {_ms(v) if v != 'diverged' else 'diverged'}" for r, v in sc.items() if v is not None)
    rule = f"gap between means > combined sd over seeds (z = {Z:g})"

    def against(a, others, direction):
        vs = [ordered(sc[a], sc[o], direction) for o in others]
        return "missing" if sc[a] is None or any(sc[o] is None for o in others) else combine(vs)

    claim("T1", "Langevin gives the best FID", "Table 4.1",
          f"substitute score langevin < psgld, mala, tempered_mala; {rule}", ev,
          against("langevin", ["psgld", "mala", "tempered_mala"], "less"))
    claim("T2", "pSGLD (lambda = 1) is next", "Table 4.1",
          f"substitute score psgld > langevin and psgld < mala, tempered_mala; {rule}", ev,
          combine([ordered(sc["psgld"], sc["langevin"], "greater") if sc["psgld"] and sc["langevin"] else "missing",
                   against("psgld", ["mala", "tempered_mala"], "less")]))
    claim("T3", "MALA and tempered MALA are far worse", "Table 4.1",
          f"substitute score mala, tempered_mala (thesis test) > langevin and > psgld; {rule}", ev,
          combine([against("mala", ["langevin", "psgld"], "greater"),
                   against("tempered_mala", ["langevin", "psgld"], "greater")]))

    # T4: acceptance probability per training batch (mean over the chain's steps)
    key = "accept_prob_mean"
    m_early = R.per_seed("mala", lambda h: _window(h, key, hi=EARLY))
    s_early = R.per_seed("langevin", lambda h: _window(h, key, hi=EARLY))
    m_late = R.per_seed("mala", lambda h: _tail(h, key))
    s_late = R.per_seed("langevin", lambda h: _tail(h, key))
    if None in (m_early, s_early, m_late, s_late):
        t4 = "missing"
    else:
        a, b = _borrow(m_early, s_early)
        tol = max(math.hypot(a[1], b[1]) if not math.isnan(a[1]) else 0.0, MATCH)
        lo, hi = SGLD_BAND
        sd = 0.0 if math.isnan(s_late[1]) else s_late[1]
        t4 = combine([_check(abs(a[0] - b[0]) <= tol),
                      compare(*_borrow(m_late, m_early), "less", z=Z),
                      _check(m_late[0] < FALLEN),
                      _check(lo - sd <= s_late[0] <= hi + sd)])
    claim("T4", "MALA's acceptance matches SGLD's computed one for about the first 100 batches, then falls "
                "towards 0; SGLD's stays at 0.95-0.99", "Figs 4.7-4.9",
          f"mean acceptance over iterations < {EARLY}: |mala - sgld| <= max(combined sd, {MATCH}); "
          f"mala's last 10% < its first {EARLY} ({rule}) and < {FALLEN}; sgld's last 10% in "
          f"[{SGLD_BAND[0]}, {SGLD_BAND[1]}] +- its sd",
          f"first {EARLY} iterations: mala {_ms(m_early)}, sgld {_ms(s_early)}; last 10%: mala {_ms(m_late)}, "
          f"sgld {_ms(s_late)} (mala = thesis test)", t4)

    sw = sc["sgld_then_mala"]
    t5 = "missing" if sw is None or sc["langevin"] is None else ordered(sw, sc["langevin"], "greater")
    claim("T5", "switching from SGLD to MALA after 100 batches makes the FID rise", "Fig 4.10",
          f"final substitute score of sgld_then_mala (one seed, borrows langevin's sd) > langevin's; {rule}",
          f"sgld_then_mala {_ms(sw) if sw != 'diverged' else 'diverged'}; langevin {_ms(sc['langevin'])}", t5)

    # T6: G = 1 / (lambda + sqrt(V)), mean over pixels, per training batch
    g = "precond_mean_mean"
    g1, g001 = R.per_seed("psgld", lambda h: _tail(h, g)), R.per_seed("psgld_lam001", lambda h: _tail(h, g))
    c1, c001 = (R.per_seed("psgld", lambda h: _rel_change(h, g)),
                R.per_seed("psgld_lam001", lambda h: _rel_change(h, g)))
    g_ev = (f"final mean G: lambda = 1 {_ms(g1)}, lambda = 0.01 {_ms(g001)}; relative change over training "
            f"(max - min) / mean: lambda = 1 {_ms(c1)}, lambda = 0.01 {_ms(c001)}")
    if None in (g1, c1, g001, c001):
        t6a = t6b = "missing"
    else:
        t6a = combine([_check(abs(g1[0] - 1) <= NEAR), _check(c1[0] <= NEAR), _check(abs(g001[0] - 1) > NEAR)])
        t6b = combine([_check(1e-3 / ABOUT <= g1[0] <= 1e-3 * ABOUT), _check(c1[0] <= NEAR)])
    claim("T6a", "lambda = 1 pins G near 1 (and it barely changes); lambda = 0.01 does not", "Fig 4.11",
          f"lambda = 1: |final G - 1| <= {NEAR} and relative change <= {NEAR}; lambda = 0.01: |final G - 1| > {NEAR}",
          g_ev, t6a)
    claim("T6b", "pSGLD's G stays tiny (about 1e-3) and barely changes", "Fig 4.11",
          f"lambda = 1 (the table's run): final G within a factor {ABOUT:g} of 1e-3 and relative change <= {NEAR}",
          g_ev, t6b)
    return out


# ---------------------------------------------------------------------------
# the commands

HINT = "run the 'cell' step first"


def cell_label(m: Mapping) -> str:
    """A cell's job label, as ``--job`` takes it: <data set>/<run>/seed<k>."""
    return f"{m['dataset']}/{m['run']}/seed{m.get('seed', 0)}"


def table_command(runs, profile, csv, metrics_path, claims_path, timing_path=None) -> None:
    """``table``: the table (mean and sd over seeds), its DVC metrics, with --claims T1-T6 and,
    with --timing, the cells' wall times (one row per cell)."""
    from ebmlab.studies.base import RunFolder, write_claims, write_table, write_timing
    from ebmlab.studies.base import read_runs
    folders = [RunFolder(d, HINT) for d in runs] if claims_path else None
    metrics = [f.metrics for f in folders] if folders else read_runs(runs, "metrics.json", HINT)
    write_table(csv, table_rows(metrics, profile), TABLE_COLUMNS, metrics_path, metrics_summary(metrics))
    write_timing(timing_path, [(cell_label(m), m) for m in metrics], profile)
    if claims_path:
        cells = [(f.metrics, f.history) for f in folders]
        datasets = list(dict.fromkeys(m["dataset"] for m in metrics))
        # the claims are about the figure data set's runs; the first data set that has them
        ds = next((d for d in datasets if any(m["dataset"] == d and m["run"] == "sgld_then_mala" for m in metrics)),
                  datasets[0])
        write_claims(claims_path, claims(cells, profile, ds))


def cells_command(runs, profile, csv, metrics_path, timing_path=None) -> None:
    """``cells``: one row per cell (every seed, and the step-size sweep) and, with --timing, their
    wall times."""
    from ebmlab.studies.base import read_runs, write_table, write_timing
    metrics = read_runs(runs, "metrics.json", HINT)
    write_table(csv, cell_rows(metrics, profile), CELL_COLUMNS, metrics_path,
                {cell_label(m): {**m["scores"], "accept_prob_final": m["accept_prob_final"],
                                 "diverged": bool(m["diverged"])} for m in metrics})
    write_timing(timing_path, [(cell_label(m), m) for m in metrics], profile)
