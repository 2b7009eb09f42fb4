"""One row per diagnosed run of a study, and the appendix's claims N1-N2 with verdicts from them.

A run's ``outcome`` is ``diverged`` when its training was recorded as diverged (or its d_st /
r_t log holds non-finite values), else ``convergent``: the learning finished stably. That is
our proxy for Nijkamp's convergent learning (long-run samples that match the data), which no
study here measures for every run; docs/nijkamp.md says so.
"""

from __future__ import annotations

import math

from ebmlab.studies.base import CLAIM_COLUMNS, check_verdict, fmt

COLUMNS = ["study", "run", "outcome", "oscillation", "acf_lag1", "threshold", "fraction_positive",
           "r_t_tail_mean", "r_t_in_0.08_0.15", "iterations", "eps", "profile"]
#: the appendix's r_t range for convergent runs at eps = 0.015 (appendix A)
R_T_RANGE = (0.08, 0.15)
EPS_PAPER = 0.015


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def rows(study: str, summaries: dict[str, dict], profile: str, eps: float | None = None) -> list[dict]:
    """``summaries``: run -> the metrics JSON ``diagnose`` writes."""
    out = []
    for run, s in summaries.items():
        r_t = _num(s.get("r_t_tail_mean"))
        out.append({"study": study, "run": run, "outcome": s.get("outcome", ""), "oscillation": s.get("label", ""),
                    "acf_lag1": _num(s.get("acf_lag1")) if _num(s.get("acf_lag1")) is not None else "",
                    "threshold": s.get("threshold", ""), "fraction_positive": s.get("fraction_positive", ""),
                    "r_t_tail_mean": "" if r_t is None else r_t,
                    "r_t_in_0.08_0.15": "" if r_t is None else ("yes" if R_T_RANGE[0] <= r_t <= R_T_RANGE[1] else "no"),
                    "iterations": s.get("iterations", ""), "eps": "" if eps is None else eps, "profile": profile})
    return out


def _counts(table: list[dict], outcome: str) -> dict[str, int]:
    labels = [r["oscillation"] for r in table if r["outcome"] == outcome]
    return {k: labels.count(k) for k in ("weak", "strong", "none", "too_short")}


def _side(c: dict[str, int], expect: str) -> str | None:
    """Does the majority of the weak/strong labels of one side agree with ``expect``? None: no labels."""
    other = "strong" if expect == "weak" else "weak"
    n = c[expect] + c[other]
    if n == 0:
        return None
    if c[expect] == c[other]:
        return "inconclusive"
    return "reproduced" if c[expect] > c[other] else "not reproduced"


def _is_paper_eps(eps) -> bool:
    return eps != "" and eps is not None and math.isclose(float(eps), EPS_PAPER, rel_tol=1e-6)


def claims(study: str, table: list[dict], profile: str) -> list[dict]:
    """N1: oscillation weak for convergent, strong for non-convergent learning (appendix D);
    N2: r_t in [0.08, 0.15] late in convergent runs with eps = 0.015 (appendix A; each row's
    ``eps``). ``table``: :func:`rows` of one study, or of several (``study`` names them)."""
    conv, div = _counts(table, "convergent"), _counts(table, "diverged")
    sides = [_side(conv, "weak"), _side(div, "strong")]
    if not table:
        n1 = "missing"
    elif None in sides:   # one side has no run: the contrast is not tested ("convergent" is only a proxy)
        n1 = "inconclusive"
    elif "not reproduced" in sides:
        n1 = "not reproduced"
    else:
        n1 = "reproduced" if sides == ["reproduced", "reproduced"] else "inconclusive"
    ev1 = (f"{study}: convergent runs weak {conv['weak']} / strong {conv['strong']} / none {conv['none']} / "
           f"too short {conv['too_short']}; diverged runs weak {div['weak']} / strong {div['strong']} / "
           f"none {div['none']} / too short {div['too_short']}")
    conv_rt = [r for r in table if r["outcome"] == "convergent" and r["r_t_tail_mean"] != ""]
    listed = "; ".join(f"{r['run']} {fmt(r['r_t_tail_mean'])}" for r in conv_rt) or "none"
    at_paper = [float(r["r_t_tail_mean"]) for r in conv_rt if _is_paper_eps(r.get("eps", ""))]
    if not conv_rt:
        n2 = "missing"
    elif not at_paper:
        n2 = "inconclusive"   # the range is stated for eps = 0.015 only
    else:
        n2 = check_verdict(all(R_T_RANGE[0] <= v <= R_T_RANGE[1] for v in at_paper))
    eps_seen = sorted({fmt(float(r["eps"])) for r in table if r.get("eps", "") != ""})
    eps_text = f"eps = {', '.join(eps_seen)}" if eps_seen else "eps not given"
    return [
        dict(zip(CLAIM_COLUMNS, (
            "N1", "Weak oscillation of d_st tends to occur for convergent ML, strong oscillation for non-convergent ML",
            "Nijkamp et al., appendix D", "majority label: weak among convergent runs and strong among diverged runs "
            "(lag-1 acf of d_st below -2/sqrt(n): strong)", ev1, n1, profile))),
        dict(zip(CLAIM_COLUMNS, (
            "N2", "With eps = 0.015, r_t lies in [0.08, 0.15] for large t in convergent runs",
            "Nijkamp et al., appendix A", "tail mean of r_t in [0.08, 0.15] for every convergent run "
            "(tested only when the study's eps is 0.015)", f"{eps_text}; r_t tail means: {listed}", n2, profile))),
    ]
