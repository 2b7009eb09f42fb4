"""The GMM study's reports: the R-hat table of the thesis protocol (thesis section 4.1, one
energy per sampler, mean and 95% interval over seeds, with each energy's exact test NLL), the
fixed-energy sampler comparison, and the claims (the thesis's R-hat order, judged by the
repository's one ordering rule in each of the three settings)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from ebmlab.papers import GMM_LABELS, GMM_RHAT
from ebmlab.studies.base import (
    TIE_RATIO, Z_SEEDS, fmt, mean_sd, ordering_verdicts, pair_verdict, read_runs, relation, write_claims,
    write_table,
)


def stat_columns(name: str) -> list[str]:
    return [f"{name}_mean", f"{name}_ci95_low", f"{name}_ci95_high"]


TABLE_COLUMNS = ["sampler", "run", "rhat_paper", *stat_columns("rhat"), "rhat_sd", "rhat_per_seed",
                 *stat_columns("split_rhat"), *stat_columns("test_nll"), "true_nll", "verdict", "n_seeds", "seeds",
                 "profile", "epochs", "steps", "chains", "draws_per_chain"]
SAMPLER_METRICS = ("rhat", "split_rhat", "bulk_ess", "ess_per_grad", "mode_hops_per_chain", "occupancy_tv", "mmd",
                   "accept_rate")
SAMPLER_COLUMNS = ["energy", "sampler", "run", *[c for m in SAMPLER_METRICS for c in stat_columns(m)],
                   "occupancy_mean", "mode_weights", "n_seeds", "seeds", "chains", "steps", "draws_per_chain", "profile"]
#: the wall times, in their own table (a rerun changes them; the results tables stay byte-identical)
TIMING_COLUMNS = ["job", "profile", "train_wall_seconds", "eval_wall_seconds", "compare_wall_seconds"]
#: the three settings the thesis's order is judged in
SETTINGS = {"thesis": "thesis protocol (each sampler trains its own energy)",
            "true": "fixed energy: the true mixture", "shared": "fixed energy: one shared trained energy"}


def interval(values) -> dict:
    """Mean, sd and the 95% t-interval of the mean over seeds (None: no value; one value: no interval)."""
    from scipy.stats import t
    ms = mean_sd(values)
    if ms is None:
        return {"mean": None, "sd": None, "lo": None, "hi": None}
    v = [x for x in values if isinstance(x, (int, float)) and math.isfinite(x)]
    if len(v) < 2:
        return {"mean": ms[0], "sd": None, "lo": None, "hi": None}
    half = float(t.ppf(0.975, len(v) - 1)) * ms[1] / math.sqrt(len(v))
    return {"mean": ms[0], "sd": ms[1], "lo": ms[0] - half, "hi": ms[0] + half}


def _cells(name: str, iv: dict) -> dict:
    blank = lambda x: "" if x is None else x   # noqa: E731
    return {f"{name}_mean": blank(iv["mean"]), f"{name}_ci95_low": blank(iv["lo"]), f"{name}_ci95_high": blank(iv["hi"])}


def _pair(iv: dict):
    """(mean, sd) for the ordering rule (sd nan for one seed)."""
    return None if iv["mean"] is None else (iv["mean"], math.nan if iv["sd"] is None else iv["sd"])


def by_run(metrics: list[dict]) -> dict[str, list[dict]]:
    """Evaluated runs grouped by label, seeds in order, labels in the thesis's order."""
    out: dict[str, list[dict]] = {}
    for m in metrics:
        out.setdefault(m["label"], []).append(m)
    order = list(GMM_LABELS)
    return {k: sorted(out[k], key=lambda m: m["seed"])
            for k in sorted(out, key=lambda k: (order.index(k) if k in order else len(order), k))}


def table_rows(metrics: list[dict], profile: str) -> list[dict]:
    """One row per run of the thesis protocol: R-hat, split R-hat and test NLL over its seeds."""
    runs = by_run(metrics)
    stats = {k: {c: interval([m.get(c) for m in ms]) for c in ("rhat", "split_rhat", "test_nll")}
             for k, ms in runs.items()}
    verdicts = ordering_verdicts({k: v for k, v in GMM_RHAT.items() if k in runs},
                                 {k: _pair(st["rhat"]) for k, st in stats.items()})
    rows = []
    for k, ms in runs.items():
        st, m0 = stats[k], ms[0]
        row = {"sampler": GMM_LABELS.get(k, k), "run": k, "rhat_paper": GMM_RHAT.get(k, ""),
               "rhat_sd": "" if st["rhat"]["sd"] is None else st["rhat"]["sd"],
               "rhat_per_seed": " ".join(fmt(m["rhat"]) for m in ms),
               "true_nll": statistics.fmean(m["true_nll"] for m in ms) if all("true_nll" in m for m in ms) else "",
               "verdict": verdicts.get(k, "no paper value"), "n_seeds": len(ms),
               "seeds": " ".join(str(m["seed"]) for m in ms), "profile": profile,
               **{c: m0[c] for c in ("epochs", "steps", "chains", "draws_per_chain")}}
        for c in ("rhat", "split_rhat", "test_nll"):
            row.update(_cells(c, st[c]))
        rows.append(row)
    return rows


def sampler_stats(compares: list[dict]) -> dict[tuple[str, str], dict]:
    """(energy, sampler label) -> per-metric interval over the chain seeds, plus the raw runs."""
    out: dict[tuple[str, str], list[dict]] = {}
    for c in sorted(compares, key=lambda c: (list(SETTINGS).index(c["energy"]), c["seed"])):
        for label, r in c["samplers"].items():
            out.setdefault((c["energy"], label), []).append({**r, "_job": c})
    return {k: {"runs": v, **{m: interval([r.get(m) for r in v]) for m in SAMPLER_METRICS}} for k, v in out.items()}


def sampler_rows(compares: list[dict], profile: str) -> list[dict]:
    rows = []
    for (energy, label), st in sampler_stats(compares).items():
        runs, job = st["runs"], st["runs"][0]["_job"]
        k = len(runs[0]["occupancy"])
        occ = [statistics.fmean(r["occupancy"][i] for r in runs) for i in range(k)]
        row = {"energy": energy, "sampler": GMM_LABELS.get(label, label.upper() if label == "hmc" else label),
               "run": label, "occupancy_mean": " ".join(f"{v:.3f}" for v in occ),
               "mode_weights": " ".join(f"{v:.3f}" for v in job["mode_weights"]), "n_seeds": len(runs),
               "seeds": " ".join(str(r["_job"]["seed"]) for r in runs), "chains": job["chains"],
               "steps": job["steps"], "draws_per_chain": job["draws_per_chain"], "profile": profile}
        for m in SAMPLER_METRICS:
            row.update(_cells(m, st[m]))
        rows.append(row)
    return rows


def _evidence(name: str, iv: dict) -> str:
    if iv["mean"] is None:
        return f"{name} n/a"
    ci = "" if iv["lo"] is None else f" [95% {fmt(iv['lo'])}, {fmt(iv['hi'])}]"
    return f"{name} {fmt(iv['mean'])}{ci}"


def claim_rows(metrics: list[dict], compares: list[dict], profile: str) -> list[dict]:
    """The thesis's R-hat order, pair by pair, in each setting (the thesis protocol and both fixed energies)."""
    thesis = by_run(metrics)
    values = {"thesis": {k: interval([m["rhat"] for m in ms]) for k, ms in thesis.items()}}
    for (energy, label), st in sampler_stats(compares).items():
        values.setdefault(energy, {})[label] = st["rhat"]
    test = (f"relation of ln R-hat: ordered when |d| > ln {TIE_RATIO} and > {Z_SEEDS:g} combined sd over seeds, "
            f"a tie when |d| + sd <= ln {TIE_RATIO}, else inconclusive; the paper's values by the same tolerance")
    keys = [k for k in GMM_RHAT]
    rows = []
    n = 0
    for setting, vals in values.items():
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                n += 1
                pr = relation(GMM_RHAT[a], GMM_RHAT[b])
                if a in vals and b in vals:
                    rr = relation(_pair(vals[a]), _pair(vals[b]))
                    verdict = pair_verdict(pr, rr)
                    evidence = f"{_evidence(GMM_LABELS[a], vals[a])} vs {_evidence(GMM_LABELS[b], vals[b])}: {rr}"
                else:
                    verdict, evidence = "missing", "no run"
                rows.append({"claim": f"R{n} {SETTINGS[setting]}: R-hat {GMM_LABELS[a]} {pr} {GMM_LABELS[b]}",
                             "paper_claim": f"R-hat {GMM_LABELS[a]} {GMM_RHAT[a]} {pr} {GMM_LABELS[b]} {GMM_RHAT[b]}",
                             "source": "thesis section 4.1, R-hat table (one energy per sampler)",
                             "test": test, "evidence": evidence, "verdict": verdict, "profile": profile})
    return rows


def metrics_summary(metrics: list[dict], compares: list[dict]) -> dict:
    """What DVC tracks: the means over seeds per run and per (energy, sampler)."""
    out = {"thesis": {k: {c: interval([m.get(c) for m in ms])["mean"] for c in ("rhat", "split_rhat", "test_nll")}
                      for k, ms in by_run(metrics).items()}}
    for (energy, label), st in sampler_stats(compares).items():
        out.setdefault(energy, {})[label] = {m: st[m]["mean"] for m in ("rhat", "ess_per_grad", "mmd")}
    return out


def timing_rows(run_dirs: list, compare_dirs: list, profile: str) -> list[dict]:
    """Wall times per job, from the run records."""
    import yaml

    from ebmlab.io import require_file

    def wall(path, hint):
        return yaml.safe_load(require_file(path, hint).read_text()).get("wall_seconds")

    rows = []
    for d in map(Path, run_dirs):
        rows.append({"job": f"{d.parent.name}/{d.name}", "profile": profile,
                     "train_wall_seconds": wall(d / "train.run.yaml", "run 'train' first"),
                     "eval_wall_seconds": wall(d / "evaluate.run.yaml", "run 'evaluate' first")})
    for d in map(Path, compare_dirs):
        rows.append({"job": f"compare/{d.parent.name}/{d.name}", "profile": profile,
                     "compare_wall_seconds": wall(d / "compare.run.yaml", "run 'compare' first")})
    return rows


def samplers_table(args) -> None:
    """The ``samplers`` command: the fixed-energy comparison from the compare jobs alone (it needs
    no thesis-protocol training beyond the shared energy, so it can be built before the R-hat table)."""
    from ebmlab.io import atomic_write_text
    from ebmlab.report import csv_text
    compares = read_runs(args.compare, "compare.json", "run 'compare' first")
    atomic_write_text(args.csv, csv_text(sampler_rows(compares, args.profile), SAMPLER_COLUMNS))


def table(args) -> None:
    """The ``table`` command: the R-hat table, the claims, the metrics and the timings."""
    from ebmlab.io import atomic_write_text
    from ebmlab.report import csv_text
    metrics = read_runs(args.runs, "rhat.json", "run 'evaluate' first")
    compares = read_runs(args.compare, "compare.json", "run 'compare' first")
    write_table(args.csv, table_rows(metrics, args.profile), TABLE_COLUMNS, args.metrics,
                metrics_summary(metrics, compares))
    write_claims(args.claims, claim_rows(metrics, compares, args.profile))
    if args.timing:
        atomic_write_text(args.timing, csv_text(timing_rows(args.runs, args.compare, args.profile), TIMING_COLUMNS))
