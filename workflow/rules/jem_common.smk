# Helpers of workflow/rules/jem.smk (kept apart: Snakemake's linter wants rules and functions
# in different files). JEM, JEM_TABLES, RESULTS and study_resources are defined before this
# file is included.


def jem_res(key):
    """Scheduler hint ``key`` of a job's section (params 'resources: {jem: ..., jem_mnist: ...}')."""

    def get(wildcards):
        res = study_resources(wildcards.jem_set)
        if key == "slurm_extra":
            return "--gres=gpu:1" if res["gpus"] else ""
        return res[key]

    return get


def jem_run_dirs(s):
    return [f"{RESULTS}/{s}/{run}" for run in JEM[s].samplers]


def jem_classifier(wildcards):
    s = wildcards.jem_set
    return [f"{RESULTS}/{s}/classifier.pt"] if "classifier" in JEM[s].fid.metrics else []


def jem_classifier_arg(wildcards, input):
    return f"--classifier {input.classifier}" if input.get("classifier") else ""


def jem_study_config(wildcards):
    return as_json(to_dict(JEM[wildcards.jem_set]))


def jem_set_of_table(wildcards):
    return {v: k for k, v in JEM_TABLES.items()}[wildcards.jem_table]
