"""The R-hat table (thesis Table in section 4.1): the thesis's value beside the reproduced one."""

from __future__ import annotations

from ebmlab.papers import GMM_LABELS, GMM_RHAT
from ebmlab.studies.base import ordering_verdicts

TABLE_COLUMNS = ["sampler", "rhat_paper", "rhat_reproduced", "split_rhat_reproduced", "verdict", "profile",
                 "seed", "epochs", "steps", "chains", "draws_per_chain"]
#: the wall times, in their own table (a rerun changes them; the results table stays byte-identical)
TIMING_COLUMNS = ["sampler", "profile", "train_wall_seconds", "eval_wall_seconds"]


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
        "chains": m["chains"],
        "draws_per_chain": m["draws_per_chain"],
    } for m in metrics]


def metrics_summary(metrics: list[dict]) -> dict:
    """What DVC tracks: R-hat and split R-hat per run (wall times: :func:`timing_rows`)."""
    return {m["label"]: {"rhat": m["rhat"], "split_rhat": m["split_rhat"]} for m in metrics}


def timing_rows(run_dirs: list, profile: str) -> list[dict]:
    """Training and evaluation wall time per run, from the runs' records (train/evaluate.run.yaml)."""
    from pathlib import Path

    import yaml
    from ebmlab.io import read_json, require_file

    def wall(path):
        return yaml.safe_load(require_file(path, "run 'train' and 'evaluate' first").read_text()).get("wall_seconds")

    rows = []
    for d in map(Path, run_dirs):
        label = read_json(d / "rhat.json", "run 'evaluate' first")["label"]
        rows.append({"sampler": GMM_LABELS.get(label, label), "profile": profile,
                     "train_wall_seconds": wall(d / "train.run.yaml"),
                     "eval_wall_seconds": wall(d / "evaluate.run.yaml")})
    return rows
