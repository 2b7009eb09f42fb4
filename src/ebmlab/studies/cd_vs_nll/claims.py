"""The run x metric table (one row per regime and seed) and one verdict per claim of Gagnon & Lajoie.

A claim's numbers are means over the regime's seeds with their sd (ddof 1); an ordering is
reproduced only when the gap between the means exceeds the combined sd (``base.ordered``, z = 1),
a one-seed regime borrowing the other side's sd. A gap within the spread, or one regime with a
single seed compared with another, is ``inconclusive``, never ``reproduced``.
"""

from __future__ import annotations

import math
from pathlib import Path

from ebmlab.studies.base import CLAIM_COLUMNS, Z_SEEDS, compare, fmt, mean_sd, ms, ordered
from ebmlab.studies.cd_vs_nll.jobs import REGIMES


def _get(m: dict | None, *path):
    node = m
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


METRIC_COLUMNS = [
    ("nll_nats", ("nll", "nll_nats")), ("nll_nats_se", ("nll", "nll_nats_se")),
    ("nll_bits_per_dim", ("nll", "nll_bits_per_dim")), ("nll_bits_per_dim_se", ("nll", "nll_bits_per_dim_se")),
    ("ais_ess", ("ais", "ess")), ("ais_chains", ("ais", "chains")), ("ais_accept_mean", ("ais", "accept_mean")),
    ("coverage_entropy", ("coverage", "entropy")), ("coverage_entropy_se", ("coverage", "entropy_se")),
    ("coverage_top_class", ("coverage", "top_class")), ("coverage_top_fraction", ("coverage", "top_fraction")),
    ("classifier_frechet_substitute", ("coverage", "frechet")),
    ("classifier_frechet_substitute_se", ("coverage", "frechet_se")),
    ("high_noise_entropy", ("coverage_high_noise", "entropy")),
    ("high_noise_entropy_se", ("coverage_high_noise", "entropy_se")),
    ("high_noise_top_class", ("coverage_high_noise", "top_class")),
    ("high_noise_top_fraction", ("coverage_high_noise", "top_fraction")),
    ("deform_entropy", ("coverage_deform", "entropy")), ("deform_entropy_se", ("coverage_deform", "entropy_se")),
    ("deform_top_fraction", ("coverage_deform", "top_fraction")),
    ("deform_classifier_frechet_substitute", ("coverage_deform", "frechet")),
    ("deform_classifier_frechet_substitute_se", ("coverage_deform", "frechet_se")),
    ("stay_fraction", ("stay", "fraction")), ("stay_fraction_se", ("stay", "fraction_se")),
    ("stay_radius", ("stay", "radius")), ("stay_mean_distance", ("stay", "mean_distance")),
    ("stay_same_class_fraction", ("stay", "same_class_fraction")),
]
TABLE_COLUMNS = (["regime", "seed", "description", "profile", "diverged", "iterations", "temperature"]
                 + [c for c, _ in METRIC_COLUMNS]
                 + ["ais_reliable", "coverage_histogram", "high_noise_histogram", "deform_histogram", "oscillation",
                    "oscillation_acf_lag1", "long_steps", "long_chains", "n_test", "data"])


#: AIS estimates whose effective sample size is below this fraction of the particles (or 3) give
#: no NLL verdict: the delta-method se is meaningless when one weight dominates.
AIS_MIN_ESS_FRACTION = 0.1


def ais_reliable(m: dict | None) -> bool:
    ess, n = _get(m, "ais", "ess"), _get(m, "ais", "chains")
    return ess is not None and n is not None and ess >= max(3.0, AIS_MIN_ESS_FRACTION * n)


def by_regime(metrics) -> dict[str, list[dict]]:
    """Runs' metrics grouped by regime, seeds in order: from a list of metrics.json contents
    (each names its ``regime``) or a mapping regime -> one run's metrics or a list of them."""
    if isinstance(metrics, dict):
        return {r: sorted(v if isinstance(v, list) else [v], key=lambda m: m.get("seed", 0))
                for r, v in metrics.items()}
    out: dict[str, list[dict]] = {}
    for m in metrics:
        out.setdefault(m["regime"], []).append(m)
    return by_regime(out)


def over_seeds(runs: list[dict] | None, *path, reliable=None):
    """(mean, sd over seeds) of one metric of a regime; ``"diverged"`` when every seed diverged;
    None when the regime was not run or the metric is absent. ``reliable(m)`` False for any seed:
    the sd is infinite (no verdict can rest on it)."""
    if not runs:
        return None
    live = [m for m in runs if not m.get("diverged")]
    if not live:
        return "diverged"
    pair = mean_sd(_get(m, *path) for m in live)
    if pair is not None and reliable is not None and not all(reliable(m) for m in live):
        return pair[0], math.inf
    return pair


def _ev(pair, runs) -> str:
    """A claim's number: mean +- sd over seeds and which seeds it rests on."""
    if isinstance(pair, tuple) and math.isinf(pair[1]):
        text = f"{fmt(pair[0])} (AIS ESS too low)"
    else:
        text = ms(pair)
    seeds = [m.get("seed", 0) for m in runs or []]
    lost = [m.get("seed", 0) for m in runs or [] if m.get("diverged")]
    note = f"; diverged: {' '.join(map(str, lost))}" if lost and pair != "diverged" else ""
    return f"{text} [seeds {' '.join(map(str, seeds))}{note}]" if seeds else text


def claims(metrics, profile: str) -> list[dict]:
    """One row per qualitative claim of Gagnon & Lajoie, verdicts by the ordering rule on values over
    seeds (base.ordered: the gap between means must exceed the combined sd; a one-seed regime
    borrows the other side's sd; within the spread: inconclusive). ``metrics``: see :func:`by_regime`."""
    runs = by_regime(metrics)

    def val(regime, *path, **kw):
        return over_seeds(runs.get(regime), *path, **kw)

    def ev(regime, pair, name=None):
        return f"{name or regime} {_ev(pair, runs.get(regime))}"

    def chains_of(*path):
        """A chain statistic (stay fraction, entropy): a diverged regime has no chains to measure,
        so it decides nothing (missing); FD and NLL count a diverged regime as the worse one."""
        return {r: None if (v := val(r, *path)) == "diverged" else v for r in REGIMES}

    stay = chains_of("stay", "fraction")
    fd = {r: val(r, "coverage", "frechet") for r in REGIMES}
    nll = {r: val(r, "nll", "nll_nats", reliable=ais_reliable) for r in REGIMES}
    ent = chains_of("coverage", "entropy")
    ent_hi = chains_of("coverage_high_noise", "entropy")
    ent_def = chains_of("coverage_deform", "entropy")

    def above_half(pair):
        # against a constant nothing is borrowed: one seed (no sd) is inconclusive
        return "missing" if pair is None else compare(pair, (0.5, 0.0), "greater", z=Z_SEEDS)

    rows = [
        ("C1", "Under true CD a chain started on a real image stays on it", "6.1, Fig 3",
         "stay_fraction(true_cd) > 0.5", ev("true_cd", stay["true_cd"]), above_half(stay["true_cd"])),
        ("C2", "Under NLL (Du & Mordatch buffer) chains mix: they leave their data start more often than under true CD",
         "6.1, Fig 3", "stay_fraction(nll) < stay_fraction(true_cd)",
         f"{ev('nll', stay['nll'])}; {ev('true_cd', stay['true_cd'])}", ordered(stay["nll"], stay["true_cd"], "less")),
        ("C3", "True CD fails to turn noise into sensible images; NLL does better", "6.1, Fig 3",
         "classifier_frechet_substitute(true_cd) > (nll)", f"{ev('true_cd', fd['true_cd'])}; {ev('nll', fd['nll'])}",
         ordered(fd["true_cd"], fd["nll"], "greater")),
        ("C4", "The KL term with the sign CD prescribes does not help true CD", "6.1",
         "classifier_frechet_substitute(true_cd_kl) > (true_cd) beyond the spread (worse: it did not help)",
         f"{ev('true_cd_kl', fd['true_cd_kl'])}; {ev('true_cd', fd['true_cd'])}",
         # lower beyond the spread refutes it; within the spread: inconclusive (never reproduced)
         ordered(fd["true_cd_kl"], fd["true_cd"], "greater")),
        ("C5", "NLL training gives a better energy landscape than true CD (ours: lower test NLL by AIS)",
         "6.1 (quantified here)", "nll_nats(nll) < nll_nats(true_cd)",
         f"{ev('nll', nll['nll'])}; {ev('true_cd', nll['true_cd'])}", ordered(nll["nll"], nll["true_cd"], "less")),
        ("C6", "With high noise all chains fall into one or a few digits (a funnel)", "6.2.1, Fig 4",
         "high_noise_entropy(nll) < coverage_entropy(nll)",
         f"{ev('nll', ent_hi['nll'], 'high')}; {ev('nll', ent['nll'], 'low')}",
         ordered(ent_hi["nll"], ent["nll"], "less")),
        ("C7", "Training with deformations gives chains that mix better: more digits when sampled with deformations",
         "6.3, Fig 5", "deform_entropy(nll_deform) > deform_entropy(nll)",
         f"{ev('nll_deform', ent_def['nll_deform'])}; {ev('nll', ent_def['nll'])}",
         ordered(ent_def["nll_deform"], ent_def["nll"], "greater")),
        ("C8", "Deformations during training give a better energy landscape (ours: lower test NLL by AIS)",
         "6.3 (quantified here)", "nll_nats(nll_deform) < nll_nats(nll)",
         f"{ev('nll_deform', nll['nll_deform'])}; {ev('nll', nll['nll'])}",
         ordered(nll["nll_deform"], nll["nll"], "less")),
        ("C9", "Du et al.'s (sign-flipped) KL loss helps NLL training (argued in 5.4.4, not tested in the paper)",
         "5.4.4", "classifier_frechet_substitute(nll_du_kl) < (nll)",
         f"{ev('nll_du_kl', fd['nll_du_kl'])}; {ev('nll', fd['nll'])}", ordered(fd["nll_du_kl"], fd["nll"], "less")),
    ]
    # a regime not run at all is missing, whatever the other side holds
    needs = {"C1": ["true_cd"], "C2": ["nll", "true_cd"], "C3": ["true_cd", "nll"], "C4": ["true_cd_kl", "true_cd"],
             "C5": ["nll", "true_cd"], "C6": ["nll"], "C7": ["nll_deform", "nll"], "C8": ["nll_deform", "nll"],
             "C9": ["nll_du_kl", "nll"]}
    out = []
    for r in rows:
        verdict = "missing" if any(not runs.get(x) for x in needs[r[0]]) else r[5]
        out.append(dict(zip(CLAIM_COLUMNS, (*r[:5], verdict, profile))))
    return out


def _oscillation(history: Path) -> dict:
    """Nijkamp's oscillation label of the run's d_st (``no log``: the history has no d_st)."""
    from ebmlab.diagnostics import learning_history, oscillation
    from ebmlab.errors import ConfigError
    try:
        osc = oscillation(learning_history(history)[0])
    except ConfigError:
        return {"oscillation": "no log"}
    return {"oscillation": osc["label"], "oscillation_acf_lag1": osc.get("acf_lag1", "")}


def table_rows(runs, profile: str) -> list[dict]:
    """One row per evaluated run (``runs``: (folder, metrics.json) pairs, regimes and seeds in order)."""
    rows = []
    for d, m in runs:
        regime = m.get("regime")
        row = {"regime": regime, "seed": m.get("seed", ""), "description": m.get("label", regime),
               "profile": profile, "diverged": "yes" if m.get("diverged") else "no",
               "iterations": m.get("iterations"), "temperature": m.get("temperature"),
               "long_steps": m.get("long_steps"), "long_chains": m.get("long_chains"), "n_test": m.get("n_test"),
               "data": m.get("data")}
        for col, path in METRIC_COLUMNS:
            v = _get(m, *path)
            row[col] = "" if v is None else v
        row["ais_reliable"] = "yes" if ais_reliable(m) else "no"
        for col, key in (("coverage_histogram", "coverage"), ("high_noise_histogram", "coverage_high_noise"),
                         ("deform_histogram", "coverage_deform")):
            h = _get(m, key, "histogram")
            row[col] = "" if h is None else "/".join(map(str, h))
        if (Path(d) / "history.csv").exists():
            row.update(_oscillation(Path(d) / "history.csv"))
        rows.append(row)
    return rows


def metrics_summary(rows: list[dict], claim_rows: list[dict]) -> dict:
    """What DVC tracks: the headline numbers per run (<regime>/seed<k>) and the verdict per claim."""
    keys = ("nll_nats", "nll_nats_se", "coverage_entropy", "classifier_frechet_substitute", "stay_fraction",
            "oscillation")
    return {"runs": {f"{r['regime']}/seed{r['seed']}": {c: r[c] for c in keys if c in r} for r in rows},
            "claims": {c["claim"]: c["verdict"] for c in claim_rows}}
