# Profile selection, params validation and output folders shared by every study.
import json
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("8.0")

PROFILES = ("smoke", "fast", "paper")
PROFILE = str(config.get("profile", "paper"))
if PROFILE not in PROFILES:
    raise ValueError(f"unknown profile {PROFILE!r}: use --config profile=smoke|fast|paper")
if not Path(f"params/{PROFILE}.yaml").exists():
    raise ValueError(f"params/{PROFILE}.yaml does not exist (profile {PROFILE!r} has no studies yet)")


configfile: f"params/{PROFILE}.yaml"


if config.get("profile") != PROFILE:
    raise ValueError(f"params/{PROFILE}.yaml says profile: {config.get('profile')!r}")
validate(config, "../schemas/params.schema.yaml")

# paper results live at the top of reports/; other profiles in their own folder
REPORTS = "reports" if PROFILE == "paper" else f"reports/{PROFILE}"
FIGURES = f"{REPORTS}/figures"
RESULTS = f"results/{PROFILE}"
LOGS = f"logs/{PROFILE}"
ENV = "../../environment.yml"

# every study appends its final targets here; rule all builds them
ALL_TARGETS = []


def study_resources(study, **overrides):
    """Scheduler hints of a study (params 'resources:' section) for a rule's resources."""
    res = {"mem_mb": 2000, "runtime": 60, "gpus": 0}
    res.update(config.get("resources", {}).get(study, {}))
    res.update(overrides)
    return res


def run_slice(study, runs_key, spec_key, label):
    """Only one run's params: the study's shared settings plus that run's own spec."""
    shared = {k: v for k, v in study.items() if k != runs_key}
    return as_json({**shared, "label": label, spec_key: study[runs_key][label]})


def as_json(data):
    """A config slice as one shell-safe JSON argument (quoted with {params.x:q})."""
    return json.dumps(data, separators=(",", ":"))
