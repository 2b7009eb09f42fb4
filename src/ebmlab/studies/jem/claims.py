"""Table 4.2 (mean and sd over seeds per sampler) and the claims J1-J5 with verdicts.

The thesis's numbers are CIFAR-10 numbers (WRN-28-10, 100 epochs). Only a run on real
CIFAR-10 fills ``accuracy_reproduced``/``fid_reproduced``; any other data set's values go to
``accuracy_substitute`` and the score columns of :func:`ebmlab.metrics.fid.column_for`, and can
be compared with the thesis in ordering and spread only, never in value.

Verdicts follow the repository's one ordering rule (:func:`ebmlab.studies.base.ordered`): an
ordering holds only when the gap between the means exceeds the combined sd over seeds (a
one-seed run borrows the other side's sd), with the same tolerance on both sides. A claim
that samplers *do not* differ ("barely differ", "almost the same", "similar") is an
equivalence claim: it is reproduced only when every pairwise |gap| plus its combined sd stays
within a stated margin, not reproduced when a pair is ordered by more than the margin, and
inconclusive otherwise (a wide spread never proves a tie). A row every seed of which diverged
counts as the worst; a diverged seed's accuracy and score are those of its last good state.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Iterable, Mapping

from ebmlab.metrics.fid import column_for
from ebmlab.papers import JEM_ACC, JEM_ACC_EPOCH1, JEM_FID, JEM_LABELS
from ebmlab.studies.base import (RunFolder, check_verdict, combine, mean_sd, ms, ordered, read_runs, write_claims,
                                 write_table, write_timing)

#: J1: accuracies "barely differ" when every pairwise |gap| + combined sd <= this (the thesis's
#: largest gap is 0.01; twice that)
ACC_MARGIN = 0.02
#: J3: acceptance "almost the same": |gap| + combined sd <= this
ACCEPT_MARGIN = 0.05
#: J5: scores "similar": |gap| + combined sd <= this fraction of the pair's mean (the thesis's
#: FIDs 56.4-59.4 span 5%; twice that)
SCORE_REL_MARGIN = 0.10
#: J2: "1/G grows": the mean 1/G of the run's last 10% of iterations over its first 10%
GROWTH = 2.0

#: row order and labels: the thesis's rows, then this study's extra ones
LABELS = {**JEM_LABELS, "mala": "MALA (thesis test)", "mala_exact": "MALA (exact test)"}
ORDER = ["sgld", "psgld", "psgld_small", "mala", "mala_exact"]
SCORE_COLUMNS = ["fid_reproduced", "classifier_frechet_substitute", "inception_standin_fid",
                 "inception_fid_substitute_data"]
PAPER_DATA = "CIFAR-10 (thesis Table 4.2: WRN-28-10, 100 epochs)"

TABLE_COLUMNS = ["sampler", "run", "data", "paper_data", "accuracy_paper", "accuracy_reproduced",
                 "accuracy_reproduced_sd", "accuracy_substitute", "accuracy_substitute_sd", "fid_paper",
                 *[c for col in SCORE_COLUMNS for c in (col, f"{col}_sd")],
                 "acc_epoch1_paper", "acc_epoch1", "acc_epoch1_sd", "accept_prob_final", "accept_prob_final_sd",
                 "inv_precond_final", "inv_precond_final_sd", "test_acc_clean", "n_seeds", "seeds", "n_diverged",
                 "diverged_at_iteration", "status", "verdict", "epochs", "profile", "note"]
# wall times are in neither the table nor its metrics: they go to the timing table (--timing,
# base.TIMING_COLUMNS), one row per (run, seed); J4, a claim about time, reads them from the runs


def kind(m: Mapping) -> str:
    """Which of the thesis's rows a run is: sgld, psgld (lambda = 1), psgld_small, mala (the
    thesis's test), mala_exact, or its own label."""
    cfg, name = m["sampler_config"], m["sampler"]
    if name in ("langevin", "sgld"):
        return "sgld"
    if name == "psgld":
        return "psgld" if cfg.get("lam") == 1.0 else "psgld_small"
    if name == "mala":
        return "mala_exact" if cfg.get("test") == "exact" else "mala"
    return m["run"]


def scores_by_column(m: Mapping) -> dict[str, float | None]:
    """A run's scores by table column (real-Inception FIDs of real CIFAR-10 only in fid_reproduced)."""
    fid_column = "fid_reproduced" if m["real_cifar10"] else "inception_fid_substitute_data"
    return {column_for(m["extractors"][k], fid_column): v for k, v in m["scores"].items()}


def _first_last(hist: list[Mapping], key: str) -> tuple[float, float] | None:
    v = [r[key] for r in hist if isinstance(r.get(key), float) and math.isfinite(r[key])]
    if len(v) < 2:
        return None
    n = max(1, len(v) // 10)
    return statistics.fmean(v[:n]), statistics.fmean(v[-n:])


def _mean_of(hist: list[Mapping], key: str) -> float | None:
    v = [r[key] for r in hist if isinstance(r.get(key), float) and math.isfinite(r[key])]
    return statistics.fmean(v) if v else None


class Rows:
    """The runs grouped by thesis row (:func:`kind`): metrics and history per seed."""

    def __init__(self, runs: Iterable[tuple[Mapping, list[Mapping]]]):
        self.by: dict[str, list[tuple[Mapping, list[Mapping]]]] = {}
        for m, hist in runs:
            self.by.setdefault(kind(m), []).append((m, hist))
        for k in self.by:
            self.by[k].sort(key=lambda mh: mh[0].get("seed", 0))

    def kinds(self) -> list[str]:
        return sorted(self.by, key=lambda k: (ORDER.index(k) if k in ORDER else len(ORDER), k))

    def metrics(self, k: str) -> list[Mapping]:
        return [m for m, _ in self.by.get(k, [])]

    def value(self, k: str, f, worst_if_diverged: bool = True):
        """(mean, sd) over seeds of f(metrics); 'diverged' when every seed diverged (and
        ``worst_if_diverged``); None when the row is absent."""
        ms_ = self.metrics(k)
        if not ms_:
            return None
        if worst_if_diverged and all(m["status"] == "diverged" for m in ms_):
            return "diverged"
        return mean_sd(f(m) for m in ms_)

    def per_seed(self, k: str, f):
        """(mean, sd) over seeds of f(history)."""
        return mean_sd(f(h) for _, h in self.by.get(k, []))


def equivalent(a, b, margin: float) -> str:
    """The equivalence verdict for 'a and b do not differ' (margin in the values' units)."""
    if a is None or b is None:
        return "missing"
    if a == "diverged" or b == "diverged":
        return "inconclusive" if a == b else "not reproduced"
    sd = math.hypot(*(0.0 if math.isnan(x[1]) else x[1] for x in (a, b)))
    if any(math.isnan(x[1]) for x in (a, b)) and sd == 0.0:
        return "inconclusive"   # no spread on either side: a tie cannot be shown
    gap = abs(a[0] - b[0])
    if gap + sd <= margin:
        return "reproduced"
    if gap > margin and gap > sd:
        return "not reproduced"
    return "inconclusive"


def _acc(m: Mapping) -> float:
    return m["test_acc"]


def _score(col: str):
    return lambda m: scores_by_column(m).get(col)


def score_column(R: Rows) -> str | None:
    """The score the claims judge: the real FID where there is one, else the first score present."""
    for col in SCORE_COLUMNS:
        if any(scores_by_column(m).get(col) is not None for k in R.by for m in R.metrics(k)):
            return col
    return None


def claims(runs: Iterable[tuple[Mapping, list[Mapping]]], profile: str) -> list[dict]:
    """J1-J5 on the runs: (metrics.json, history rows) per run and seed."""
    R = Rows(runs)
    src = "thesis section 4.2.2"
    out: list[dict] = []

    def claim(cid, paper, source, test, evidence, verdict):
        out.append({"claim": cid, "paper_claim": paper, "source": f"{src}, {source}", "test": test,
                    "evidence": evidence, "verdict": verdict, "profile": profile})

    trio = ["sgld", "psgld", "mala"]
    acc = {k: R.value(k, _acc) for k in ORDER}
    ev_acc = "; ".join(f"{k} {ms(acc[k])} (n = {len(R.metrics(k))})" for k in ORDER if acc[k] is not None)
    pairs = [(a, b) for i, a in enumerate(trio) for b in trio[i + 1:]]
    claim("J1", "test accuracy barely differs between SGLD, pSGLD (lambda = 1) and MALA (0.89 / 0.89 / 0.88)",
          "Table 4.2",
          f"every pair of sgld, psgld, mala: |gap in mean test accuracy| + combined sd over seeds <= "
          f"{ACC_MARGIN:g} (reproduced); a gap > {ACC_MARGIN:g} and > its sd: not reproduced",
          f"test accuracy: {ev_acc}",
          combine([equivalent(acc[a], acc[b], ACC_MARGIN) for a, b in pairs]))

    # J2: first-epoch accuracy, divergence, 1/G growth of the small-lambda run
    e1 = {k: R.value(k, lambda m: m.get("acc_epoch1"), worst_if_diverged=False) for k in ("sgld", "psgld_small")}
    small = R.metrics("psgld_small")
    div = [m for m in small if m["status"] == "diverged"]
    growth = R.per_seed("psgld_small", lambda h: (lambda fl: None if fl is None or fl[0] <= 0 else fl[1] / fl[0])(
        _first_last(h, "precond_inv_mean_mean")))
    if not small or e1["sgld"] is None:
        j2 = "missing"
    else:
        j2 = combine([ordered(e1["psgld_small"], e1["sgld"], "greater"),
                      check_verdict(len(div) == len(small)),
                      check_verdict(None if growth is None else growth[0] >= GROWTH)])
    at = ", ".join(f"seed {m.get('seed')}: iteration {m['diverged_at_iteration']}" for m in div) or "none"
    claim("J2", "with a small lambda pSGLD learns faster in the first epoch (0.36 vs 0.26 after one epoch), "
                "then diverges (loss to about 1e8 in one batch), with 1/G growing", "text and Fig 4.16",
          f"accuracy after epoch 1: psgld_small > sgld (gap > combined sd); every psgld_small seed diverges; "
          f"mean 1/G over its last 10% of iterations >= {GROWTH:g} x its first 10%",
          f"accuracy after epoch 1: psgld_small {ms(e1['psgld_small'])}, sgld {ms(e1['sgld'])}; diverged: {at}; "
          f"1/G last/first: {ms(growth)}", j2)

    # J3: in-chain acceptance over training, MALA (applied) vs SGLD (computed, not applied)
    acc_p = {k: R.per_seed(k, lambda h: _mean_of(h, "accept_prob_mean")) for k in ("sgld", "mala", "mala_exact")}
    claim("J3", "MALA's in-chain acceptance is almost the same as SGLD's computed one", "Figs 4.13-4.15",
          f"mean acceptance over all training iterations, mala (thesis test) vs sgld (computed with the same "
          f"test): |gap| + combined sd <= {ACCEPT_MARGIN:g}",
          "mean acceptance: " + "; ".join(f"{k} {ms(v)}" for k, v in acc_p.items() if v is not None),
          equivalent(acc_p["mala"], acc_p["sgld"], ACCEPT_MARGIN))

    # J4: time per iteration, MALA against SGLD, at the same accuracy (J1's pair)
    spi = {k: R.value(k, lambda m: m.get("seconds_per_iteration"), worst_if_diverged=False) for k in trio}
    claim("J4", "MALA costs more time per iteration than SGLD for the same accuracy", "text after Fig 4.15",
          "seconds per training iteration: mala > sgld (gap > combined sd over seeds), and their accuracies "
          f"equivalent as in J1 (margin {ACC_MARGIN:g})",
          f"seconds per iteration: mala {ms(spi['mala'])}, sgld {ms(spi['sgld'])}; accuracy: mala "
          f"{ms(acc['mala'])}, sgld {ms(acc['sgld'])} (jobs ran two at a time on shared cores)",
          combine([ordered(spi["mala"], spi["sgld"], "greater"), equivalent(acc["mala"], acc["sgld"], ACC_MARGIN)]))

    col = score_column(R)
    sc = {k: R.value(k, _score(col)) for k in ORDER} if col else {k: None for k in ORDER}
    rel = [equivalent(sc[a], sc[b], SCORE_REL_MARGIN * _pair_mean(sc[a], sc[b])) for a, b in pairs]
    claim("J5", "sample quality (FID) is similar across samplers (57.1 / 59.4 / 56.4)", "Table 4.2",
          f"{col or 'score'} of every pair of sgld, psgld, mala: |gap| + combined sd <= {SCORE_REL_MARGIN:g} x "
          f"the pair's mean",
          f"{col or 'score'}: " + "; ".join(f"{k} {ms(v)}" for k, v in sc.items() if v is not None),
          combine(rel) if col else "missing")
    return out


def _pair_mean(a, b) -> float:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return abs(a[0] + b[0]) / 2
    return 0.0


# ---------------------------------------------------------------------------
# the table


def _row_verdict(k: str, claims_by: Mapping[str, Mapping]) -> str:
    names = {"sgld": ["J1", "J5"], "psgld": ["J1", "J5"], "mala": ["J1", "J3", "J4", "J5"], "psgld_small": ["J2"]}
    ids = names.get(k)
    if not ids:
        return "no thesis claim (this study's extra row)"
    return "; ".join(f"{c} {claims_by[c]['verdict']}" for c in ids if c in claims_by)


def _fmt_seeds(values) -> str:
    return " ".join(str(v) for v in values)


def table_rows(runs: list[tuple[Mapping, list[Mapping]]], profile: str, judged: list[dict] | None = None) -> list[dict]:
    """Table 4.2: one row per thesis row (sampler), the mean and sd over its seeds (``judged``:
    the claims of these runs, if already computed)."""
    R = Rows(runs)
    claims_by = {c["claim"]: c for c in (judged if judged is not None else claims(runs, profile))}
    rows = []
    for k in R.kinds():
        ms_ = R.metrics(k)
        real = all(m["real_cifar10"] for m in ms_)
        row = {c: "" for c in TABLE_COLUMNS}
        n_div = sum(m["status"] == "diverged" for m in ms_)

        def put(col, f):
            v = mean_sd(f(m) for m in ms_)
            if v is not None:
                row[col] = v[0]
                if f"{col}_sd" in row:
                    row[f"{col}_sd"] = "" if math.isnan(v[1]) else v[1]

        put("accuracy_reproduced" if real else "accuracy_substitute", _acc)
        for col in SCORE_COLUMNS:
            if any(scores_by_column(m).get(col) is not None for m in ms_):
                put(col, _score(col))
        for col in ("acc_epoch1", "accept_prob_final", "inv_precond_final", "test_acc_clean"):
            put(col, lambda m, col=col: m.get(col))
        first = ms_[0]
        row.update({
            "sampler": LABELS.get(k, k), "run": ",".join(dict.fromkeys(m["run"] for m in ms_)),
            "data": first["data"], "paper_data": PAPER_DATA if k in JEM_ACC or k in JEM_ACC_EPOCH1 else "",
            "accuracy_paper": JEM_ACC.get(k, ""), "fid_paper": JEM_FID.get(k, ""),
            "acc_epoch1_paper": JEM_ACC_EPOCH1.get(k, ""),
            "n_seeds": len(ms_), "seeds": _fmt_seeds(m.get("seed") for m in ms_), "n_diverged": n_div,
            "diverged_at_iteration": _fmt_seeds(m["diverged_at_iteration"] for m in ms_ if m["status"] == "diverged"),
            "status": ("diverged" if n_div == len(ms_) else f"{n_div} of {len(ms_)} seeds diverged" if n_div
                       else "completed"),
            "verdict": _row_verdict(k, claims_by), "epochs": first["epochs_planned"], "profile": profile,
            "note": "" if real else "the thesis's values are CIFAR-10 numbers: compare ordering and spread, "
                                    "not value; a diverged seed is scored at its last good state",
        })
        rows.append(row)
    return rows


def metrics_summary(runs: list[tuple[Mapping, list[Mapping]]], profile: str = "",
                    judged: list[dict] | None = None) -> dict:
    """The DVC metrics JSON: per row the mean and sd over seeds, and each claim's verdict."""
    R = Rows(runs)
    judged = judged if judged is not None else claims(runs, profile)
    out = {"claims": {c["claim"]: c["verdict"] for c in judged}, "rows": {}}
    for k in R.kinds():
        e = {"n_seeds": len(R.metrics(k)), "n_diverged": sum(m["status"] == "diverged" for m in R.metrics(k))}
        for name, f in (("test_acc", _acc), *[(c, _score(c)) for c in SCORE_COLUMNS]):
            v = mean_sd(f(m) for m in R.metrics(k))
            if v is not None:
                e[name] = v[0]
                e[f"{name}_sd"] = None if math.isnan(v[1]) else v[1]
        out["rows"][k] = e
    return out


HINT = "run the 'train' step first"


def read(run_dirs: Iterable[str | Path]) -> list[tuple[dict, list[dict]]]:
    """(metrics.json, history rows) of each run folder (a missing file: one DataError line)."""
    return [(f.metrics, f.history) for f in (RunFolder(d, HINT) for d in run_dirs)]


def job_label(m: Mapping) -> str:
    """A run's job label, as ``--job`` takes it: <run>/seed<k>."""
    return m.get("job") or f"{m['run']}/seed{m.get('seed')}"


def table_command(runs, profile, csv, metrics_path, claims_path, timing_path=None) -> None:
    """``table``: Table 4.2 (mean and sd over seeds), its DVC metrics, with --claims J1-J5 and,
    with --timing, the runs' wall times (one row per run and seed)."""
    read_runs(runs, "metrics.json", HINT)   # every metrics.json first: one line naming the missing one
    data = read(runs)
    judged = claims(data, profile)   # once: the table's verdict column and the metrics use them too
    write_table(csv, table_rows(data, profile, judged), TABLE_COLUMNS, metrics_path,
                metrics_summary(data, profile, judged))
    if claims_path:
        write_claims(claims_path, judged)
    write_timing(timing_path, [(job_label(m), m) for m, _ in data], profile)
