"""The regime x metric table and one se-aware verdict per claim of Gagnon & Lajoie."""

from __future__ import annotations

import math
from pathlib import Path

from ebmlab.studies.base import CLAIM_COLUMNS, compare
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
TABLE_COLUMNS = (["regime", "description", "profile", "diverged", "iterations", "temperature"]
                 + [c for c, _ in METRIC_COLUMNS]
                 + ["ais_reliable", "coverage_histogram", "high_noise_histogram", "deform_histogram", "oscillation",
                    "oscillation_acf_lag1", "long_steps", "long_chains", "n_test", "data"])


def _pair(m, key, se_key):
    v, s = _get(m, *key), _get(m, *se_key)
    return None if v is None or s is None else (float(v), float(s))


#: AIS estimates whose effective sample size is below this fraction of the particles (or 3) get an
#: infinite standard error in the verdicts: the delta-method se is meaningless when one weight dominates.
AIS_MIN_ESS_FRACTION = 0.1


def ais_reliable(m: dict | None) -> bool:
    ess, n = _get(m, "ais", "ess"), _get(m, "ais", "chains")
    return ess is not None and n is not None and ess >= max(3.0, AIS_MIN_ESS_FRACTION * n)


def _nll_pair(m: dict | None):
    pair = _pair(m, ("nll", "nll_nats"), ("nll", "nll_nats_se"))
    return pair if pair is None or ais_reliable(m) else (pair[0], math.inf)


def _fmt(pair) -> str:
    if pair is None:
        return "n/a"
    return f"{pair[0]:.4g} +- {pair[1]:.2g}" if math.isfinite(pair[1]) else f"{pair[0]:.4g} (AIS ESS too low)"


def claims(metrics: dict[str, dict], profile: str) -> list[dict]:
    """One row per qualitative claim of Gagnon & Lajoie; se-aware verdicts (2 se)."""
    m = {k: (None if v.get("diverged") else v) for k, v in metrics.items()}
    stay = {r: _pair(m.get(r), ("stay", "fraction"), ("stay", "fraction_se")) for r in REGIMES}
    fd = {r: _pair(m.get(r), ("coverage", "frechet"), ("coverage", "frechet_se")) for r in REGIMES}
    nll = {r: _nll_pair(m.get(r)) for r in REGIMES}
    ent = {r: _pair(m.get(r), ("coverage", "entropy"), ("coverage", "entropy_se")) for r in REGIMES}
    ent_hi = {r: _pair(m.get(r), ("coverage_high_noise", "entropy"), ("coverage_high_noise", "entropy_se"))
              for r in REGIMES}
    ent_def = {r: _pair(m.get(r), ("coverage_deform", "entropy"), ("coverage_deform", "entropy_se")) for r in REGIMES}
    half = (0.5, 0.0)

    def kl_no_help():
        v = compare(fd["true_cd_kl"], fd["true_cd"], "less")  # would the CD-sign KL improve the FD?
        return {"reproduced": "not reproduced", "not reproduced": "reproduced",
                "inconclusive": "reproduced"}.get(v, v)

    rows = [
        ("C1", "Under true CD a chain started on a real image stays on it", "6.1, Fig 3",
         "stay_fraction(true_cd) > 0.5", f"true_cd {_fmt(stay['true_cd'])}", compare(stay["true_cd"], half, "greater")),
        ("C2", "Under NLL (Du & Mordatch buffer) chains mix: they leave their data start more often than under true CD",
         "6.1, Fig 3", "stay_fraction(nll) < stay_fraction(true_cd)",
         f"nll {_fmt(stay['nll'])}; true_cd {_fmt(stay['true_cd'])}", compare(stay["nll"], stay["true_cd"], "less")),
        ("C3", "True CD fails to turn noise into sensible images; NLL does better", "6.1, Fig 3",
         "classifier_frechet_substitute(true_cd) > (nll)", f"true_cd {_fmt(fd['true_cd'])}; nll {_fmt(fd['nll'])}",
         compare(fd["true_cd"], fd["nll"], "greater")),
        ("C4", "The KL term with the sign CD prescribes does not help true CD", "6.1",
         "classifier_frechet_substitute(true_cd_kl) not below (true_cd) by 2 se",
         f"true_cd_kl {_fmt(fd['true_cd_kl'])}; true_cd {_fmt(fd['true_cd'])}", kl_no_help()),
        ("C5", "NLL training gives a better energy landscape than true CD (ours: lower test NLL by AIS)",
         "6.1 (quantified here)", "nll_nats(nll) < nll_nats(true_cd)",
         f"nll {_fmt(nll['nll'])}; true_cd {_fmt(nll['true_cd'])}", compare(nll["nll"], nll["true_cd"], "less")),
        ("C6", "With high noise all chains fall into one or a few digits (a funnel)", "6.2.1, Fig 4",
         "high_noise_entropy(nll) < coverage_entropy(nll)",
         f"high {_fmt(ent_hi['nll'])}; low {_fmt(ent['nll'])}", compare(ent_hi["nll"], ent["nll"], "less")),
        ("C7", "Training with deformations gives chains that mix better: more digits when sampled with deformations",
         "6.3, Fig 5", "deform_entropy(nll_deform) > deform_entropy(nll)",
         f"nll_deform {_fmt(ent_def['nll_deform'])}; nll {_fmt(ent_def['nll'])}",
         compare(ent_def["nll_deform"], ent_def["nll"], "greater")),
        ("C8", "Deformations during training give a better energy landscape (ours: lower test NLL by AIS)",
         "6.3 (quantified here)", "nll_nats(nll_deform) < nll_nats(nll)",
         f"nll_deform {_fmt(nll['nll_deform'])}; nll {_fmt(nll['nll'])}",
         compare(nll["nll_deform"], nll["nll"], "less")),
        ("C9", "Du et al.'s (sign-flipped) KL loss helps NLL training (argued in 5.4.4, not tested in the paper)",
         "5.4.4", "classifier_frechet_substitute(nll_du_kl) < (nll)",
         f"nll_du_kl {_fmt(fd['nll_du_kl'])}; nll {_fmt(fd['nll'])}", compare(fd["nll_du_kl"], fd["nll"], "less")),
    ]
    return [dict(zip(CLAIM_COLUMNS, (*r, profile))) for r in rows]


def _oscillation(history: Path) -> dict:
    """Nijkamp's oscillation label of the run's d_st (``no log``: the history has no d_st)."""
    from ebmlab.diagnostics import learning_history, oscillation
    from ebmlab.errors import ConfigError
    try:
        osc = oscillation(learning_history(history)[0])
    except ConfigError:
        return {"oscillation": "no log"}
    return {"oscillation": osc["label"], "oscillation_acf_lag1": osc.get("acf_lag1", "")}


def table_rows(runs: dict[str, tuple[Path, dict]], profile: str) -> list[dict]:
    """One row per evaluated regime (``runs``: regime -> (folder, metrics.json))."""
    rows = []
    for regime, (d, m) in runs.items():
        row = {"regime": regime, "description": m.get("label", regime), "profile": profile,
               "diverged": "yes" if m.get("diverged") else "no", "iterations": m.get("iterations"),
               "temperature": m.get("temperature"), "long_steps": m.get("long_steps"),
               "long_chains": m.get("long_chains"), "n_test": m.get("n_test"), "data": m.get("data")}
        for col, path in METRIC_COLUMNS:
            v = _get(m, *path)
            row[col] = "" if v is None else v
        row["ais_reliable"] = "yes" if ais_reliable(m) else "no"
        for col, key in (("coverage_histogram", "coverage"), ("high_noise_histogram", "coverage_high_noise"),
                         ("deform_histogram", "coverage_deform")):
            h = _get(m, key, "histogram")
            row[col] = "" if h is None else "/".join(map(str, h))
        if (d / "history.csv").exists():
            row.update(_oscillation(d / "history.csv"))
        rows.append(row)
    return rows


def metrics_summary(rows: list[dict], claim_rows: list[dict]) -> dict:
    """What DVC tracks: the headline numbers per regime and the verdict per claim."""
    return {"regimes": {r["regime"]: {c: r[c] for c in ("nll_nats", "nll_nats_se", "coverage_entropy",
                                                         "classifier_frechet_substitute", "stay_fraction",
                                                         "oscillation") if c in r} for r in rows},
            "claims": {c["claim"]: c["verdict"] for c in claim_rows}}
