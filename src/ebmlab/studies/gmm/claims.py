"""The R-hat table (thesis Table in section 4.1): the thesis's value beside the reproduced one."""

from __future__ import annotations

from ebmlab.papers import GMM_LABELS, GMM_RHAT
from ebmlab.studies.base import ordering_verdicts

TABLE_COLUMNS = ["sampler", "rhat_paper", "rhat_reproduced", "split_rhat_reproduced", "verdict", "profile",
                 "seed", "epochs", "steps", "wall_seconds", "chains", "draws_per_chain"]


def table_rows(metrics: list[dict], profile: str) -> list[dict]:
    """One row per run; the verdict is the ordering rule against the thesis's R-hats."""
    repro = {m["label"]: m["rhat"] for m in metrics}
    verdicts = ordering_verdicts({k: v for k, v in GMM_RHAT.items() if k in repro}, repro)
    return [{
        "sampler": GMM_LABELS.get(m["label"], m["label"]),
        "rhat_paper": GMM_RHAT.get(m["label"], ""),
        "rhat_reproduced": m["rhat"],
        "split_rhat_reproduced": m["split_rhat"],
        "verdict": verdicts.get(m["label"], "no paper value"),
        "profile": profile,
        "seed": m["seed"],
        "epochs": m["epochs"],
        "steps": m["steps"],
        "wall_seconds": m["train_wall_seconds"],
        "chains": m["chains"],
        "draws_per_chain": m["draws_per_chain"],
    } for m in metrics]


def metrics_summary(metrics: list[dict]) -> dict:
    """What DVC tracks: R-hat, split R-hat and training time per run."""
    return {m["label"]: {"rhat": m["rhat"], "split_rhat": m["split_rhat"],
                         "train_wall_seconds": m["train_wall_seconds"]} for m in metrics}
