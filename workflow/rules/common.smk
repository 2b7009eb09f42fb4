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


def job_resources(study, gpu=False):
    """A rule's resources: the study's scheduler hints (params 'resources:' section).

    Only jobs that train or sample (``gpu=True``) ask for the study's GPUs; reference,
    classifier and report jobs run on CPU nodes whatever the profile. ``gpu`` (and ``gpu_model``)
    are the names the SLURM executor plugin turns into ``--gpus=[<model>:]<n>`` (it refuses
    --gres/--gpus in slurm_extra); a local run limits them with ``--resources gpu=<n>``.
    """
    res = {"mem_mb": 2000, "runtime": 60, "gpu": 0}
    res.update(config.get("resources", {}).get(study, {}))
    if not gpu:
        res["gpu"] = 0
    # a model without a count would still make the plugin ask for one GPU
    if not res["gpu"] or not res.get("gpu_model"):
        res.pop("gpu_model", None)
    return res


def log_of(study, name):
    """Where a rule's log goes: logs/<profile>/<study>/<name>.log (``name`` may hold wildcards)."""
    return f"{LOGS}/{study}/{name}.log"


# Run records. Every rule declares its job's record (*.run.yaml) as an output. Snakemake reruns
# a job for a missing output only when a target asks for the file (a deleted intermediate file
# is ignored while the files after it are up to date), so each study's named target, and rule
# all, list the records of every job they build: a missing record reruns its job. Records hold
# a time and a commit, so they stay out of reports/ (compared byte for byte), in results/.


def record_of(folder, name):
    """Where the run record of a table, figure or report job goes (its results are in reports/):
    results/<profile>/<folder>/records/<name>.run.yaml (``name`` may hold wildcards)."""
    return f"{RESULTS}/{folder}/records/{name}.run.yaml"


def record_beside(path):
    """The run record of the job that wrote file ``path`` (a classifier, reference statistics, a
    checkpoint, a scored point): beside it, <stem>.run.yaml."""
    return str(Path(path).with_suffix(".run.yaml"))


def as_json(data):
    """A config slice as one shell-safe JSON argument (quoted with {params.x:q})."""
    return json.dumps(data, separators=(",", ":"))


def job_config(study_name, section, kind, label=None):
    """The JSON slice of params section ``section`` that job ``kind`` of ``study_name`` reads.

    Cut by the study's own Job table (``ebmlab.studies.<name>.jobs``, torch-free), the same
    code a hand run with --params uses.
    """
    import importlib
    jobs = importlib.import_module(f"ebmlab.studies.{study_name}.jobs").JOBS
    return as_json(jobs[kind].slice(config[section], label))



def figure(path, study, caption, paper, subcategory=None):
    """A figure output marked for `snakemake --report`, under the study's category.

    ``caption`` names workflow/report/<study>/<caption>.rst (it cites the paper's figure and
    renders the profile); ``paper`` is the figure it reproduces, a label of the report's table.
    Rule files live in workflow/rules/, which Snakemake resolves the caption path against.
    """
    return report(path, caption=f"../report/{study}/{caption}.rst", category=study, subcategory=subcategory,
                  labels={"figure": Path(path).stem, "paper": paper, "profile": PROFILE})
