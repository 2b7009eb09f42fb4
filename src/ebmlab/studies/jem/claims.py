"""Table 4.2: the thesis's accuracy and FID beside the reproduced ones, and its two claims.

The claims (section 4.2.2): the samplers barely differ in accuracy, and pSGLD with a small
lambda learns faster in the first epoch, then diverges. Verdicts use tolerances around the
thesis's values (one run per sampler: no spread for :func:`ebmlab.studies.base.compare`).
"""

from __future__ import annotations

from ebmlab.metrics.fid import column_for
from ebmlab.papers import JEM_ACC, JEM_ACC_EPOCH1, JEM_FID, JEM_LABELS

TABLE_COLUMNS = ["sampler", "accuracy_paper", "fid_paper", "accuracy_reproduced", "fid_reproduced", "epochs",
                 "profile", "verdict", "data", "accuracy_substitute", "classifier_frechet_substitute",
                 "inception_standin_fid", "inception_fid_substitute_data", "verdict_substitute",
                 "acc_epoch1_paper", "acc_epoch1", "status", "diverged_at_epoch", "test_acc_clean",
                 "seconds_per_epoch", "accept_prob_final", "inv_precond_final", "run"]
ACC_TOL = 0.03        # |accuracy - thesis| counted as agreeing
FID_REL_TOL = 0.25    # |FID - thesis| / thesis counted as agreeing
SPREAD_TOL = 0.02     # "samplers barely differ": accuracy within this of the SGLD run


def _kind(m: dict) -> str:
    """Which of the thesis's rows a run is: sgld, psgld (lambda = 1), psgld_small, mala, or other."""
    cfg = m["sampler_config"]
    if m["sampler"] in ("langevin", "sgld"):
        return "sgld"
    if m["sampler"] == "psgld":
        return "psgld" if cfg.get("lam") == 1.0 else "psgld_small"
    return m["sampler"] if m["sampler"] == "mala" else "other"


def claims(metrics: list[dict]) -> dict:
    """The thesis's two claims, measured on these runs (any data set)."""
    by = {_kind(m): m for m in metrics}
    sgld = by.get("sgld")
    out: dict = {}
    if sgld is not None:
        others = [m for k, m in by.items() if k in ("psgld", "mala") and m["status"] == "completed"]
        gaps = {m["run"]: m["test_acc"] - sgld["test_acc"] for m in others}
        out["accuracy_gap_vs_sgld"] = gaps
        out["samplers_barely_differ"] = bool(gaps) and all(abs(g) <= SPREAD_TOL for g in gaps.values())
    small = by.get("psgld_small")
    if small is not None and sgld is not None:
        a, b = small.get("acc_epoch1"), sgld.get("acc_epoch1")
        out["small_lambda_acc_epoch1"] = a
        out["sgld_acc_epoch1"] = b
        out["small_lambda_faster_first_epoch"] = None if a is None or b is None else a > b
        out["small_lambda_diverged"] = small["status"] == "diverged"
        out["small_lambda_diverged_at_epoch"] = small.get("diverged_at_epoch")
    return out


def _claim_verdict(kind: str, m: dict, cl: dict) -> str:
    if kind in ("psgld", "mala"):
        gap = cl.get("accuracy_gap_vs_sgld", {}).get(m["run"])
        if gap is None:
            return "diverged" if m["status"] == "diverged" else "no SGLD run"
        return f"{'consistent' if abs(gap) <= SPREAD_TOL else 'inconsistent'} (accuracy - SGLD = {gap:+.3f})"
    if kind == "psgld_small":
        fast, div = cl.get("small_lambda_faster_first_epoch"), cl.get("small_lambda_diverged")
        ok = bool(fast) and bool(div)
        return (f"{'consistent' if ok else 'inconsistent'} (first-epoch accuracy above SGLD: "
                f"{'n/a' if fast is None else 'yes' if fast else 'no'}; diverged: {'yes' if div else 'no'})")
    return "reference row" if kind == "sgld" else "no paper claim"


def table_rows(metrics: list[dict], profile: str) -> list[dict]:
    order = {k: i for i, k in enumerate(JEM_LABELS)}
    metrics = sorted(metrics, key=lambda m: (order.get(_kind(m), len(order)), m["run"]))
    cl = claims(metrics)
    rows = []
    for m in metrics:
        kind = _kind(m)
        real = m["real_cifar10"]
        done = m["status"] == "completed"
        acc = m["test_acc"]
        row = {c: "" for c in TABLE_COLUMNS}
        row.update({
            "sampler": JEM_LABELS.get(kind, m["run"]), "run": m["run"], "profile": profile, "data": m["data"],
            "accuracy_paper": JEM_ACC.get(kind, ""), "fid_paper": JEM_FID.get(kind, ""),
            "acc_epoch1_paper": JEM_ACC_EPOCH1.get(kind, ""), "acc_epoch1": m.get("acc_epoch1"),
            "epochs": m["epochs"], "status": m["status"], "diverged_at_epoch": m.get("diverged_at_epoch"),
            "test_acc_clean": m["test_acc_clean"], "accept_prob_final": m["accept_prob_final"],
            "inv_precond_final": m["inv_precond_final"],
            "seconds_per_epoch": (None if m["seconds_per_iteration"] is None
                                  else m["seconds_per_iteration"] * m["iterations_per_epoch"]),
        })
        row["accuracy_reproduced" if real else "accuracy_substitute"] = acc
        # stand-in and substitute scores get their own columns; so does a real FID of other images
        fid_column = "fid_reproduced" if real else "inception_fid_substitute_data"
        for metric, value in m["scores"].items():
            if value is not None:
                row[column_for(m["extractors"][metric], fid_column)] = value
        fid_in = row["fid_reproduced"] if row["fid_reproduced"] != "" else None
        verdict = _claim_verdict(kind, m, cl)
        if real:
            if kind in JEM_ACC and done:
                ok = abs(acc - JEM_ACC[kind]) <= ACC_TOL and (
                    fid_in is None or abs(fid_in - JEM_FID[kind]) / JEM_FID[kind] <= FID_REL_TOL)
                row["verdict"] = f"{'consistent' if ok else 'inconsistent'} with the thesis's values; {verdict}"
            else:
                row["verdict"] = verdict if kind != "sgld" or done else "diverged"
            row["verdict_substitute"] = ""
        else:
            row["verdict"] = f"not comparable (data: {m['data']})"
            row["verdict_substitute"] = f"{verdict} [substitute data]"
        if not done:
            row["verdict" if real else "verdict_substitute"] += f"; diverged at epoch {m['diverged_at_epoch']:.2f}"
        rows.append(row)
    return rows


def metrics_summary(metrics: list[dict]) -> dict:
    """The DVC metrics JSON: the claims, measured, and each run's headline numbers."""
    return {"claims": claims(metrics),
            "runs": {m["run"]: {"test_acc": m["test_acc"], "status": m["status"], **m["scores"],
                                "seconds_per_iteration": m["seconds_per_iteration"]} for m in metrics}}
