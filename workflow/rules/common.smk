# Profile selection, params validation and output folders shared by every study.
import json
from pathlib import Path

import jsonschema
import yaml
from jsonschema.exceptions import best_match
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("8.0")

PROFILES = ("smoke", "fast", "paper")
PROFILE = str(config.get("profile", "paper"))
PARAMS = f"params/{PROFILE}.yaml"
if PROFILE not in PROFILES:
    raise WorkflowError(f"unknown profile {PROFILE!r}: use --config profile=smoke|fast|paper")
if not Path(PARAMS).exists():
    raise WorkflowError(f"{PARAMS} does not exist (profile {PROFILE!r} has no studies yet)")
try:
    yaml.safe_load(Path(PARAMS).read_text())
except yaml.YAMLError as err:
    mark = getattr(err, "problem_mark", None)
    where = f" line {mark.line + 1}" if mark else ""
    raise WorkflowError(f"malformed YAML in {PARAMS}{where}: {getattr(err, 'problem', err)}")


configfile: PARAMS


def validate_params(cfg, schema_file):
    """Stop at parse time, before any job, with one line naming the bad key."""
    schema = yaml.safe_load(Path(schema_file).read_text())
    err = best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(cfg))
    if err is None:
        return
    where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    message = err.message
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        message = f"unknown key {', '.join(map(repr, extra))}"
    raise WorkflowError(f"{PARAMS}: {where}: {message}")


validate_params(config, Path(workflow.basedir) / "workflow/schemas/params.schema.yaml")
if config.get("profile") != PROFILE:
    raise WorkflowError(f"{PARAMS} says profile: {config.get('profile')!r}")

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
