# Helpers of workflow/rules/jem.smk (kept apart: Snakemake's linter wants rules and functions
# in different files). JEM_SETS and JEM_TABLES are defined before this file is included; job
# slices come from ebmlab.studies.jem.jobs (torch-free), through common.smk's job_config.


def jem_resources(gpu):
    """job_resources of the rule's section (the {jem_set} wildcard: jem)."""

    def get(key):
        return lambda wildcards: job_resources(wildcards.jem_set, gpu=gpu).get(key, "")

    # every key some set may have (gpu_model only where one is named; "" is no model)
    keys = sorted({key for s in JEM_SETS for key in job_resources(s, gpu=gpu)})
    return {key: get(key) for key in keys}


def jem_runs(s):
    return JEM_JOBS["train"].labels(JEM_SETS[s])


def jem_run_dirs(s):
    return [f"{RESULTS}/{s}/{run}" for run in jem_runs(s)]


def jem_classifier(wildcards):
    s = wildcards.jem_set
    return [f"{RESULTS}/{s}/classifier.pt"] if jem_needs_classifier(JEM_SETS[s]) else []


def jem_classifier_arg(wildcards, input):
    return f"--classifier {input.classifier}" if input.get("classifier") else ""


def jem_set_of_table(wildcards):
    return {v: k for k, v in JEM_TABLES.items()}[wildcards.jem_table]


def jem_figures_of(s):
    return [f"{FIGURES}/jem/{s}_{name}.png" for name in JEM_FIGS]


def jem_targets_of(s):
    """A section's table, claims and figures, and the run record of every job they need (a
    missing record reruns its job): classifier, reference, each run's training, table, figures."""
    records = [f"{d}/train.run.yaml" for d in jem_run_dirs(s)] + [f"{RESULTS}/{s}/ref/jem.run.yaml"]
    if jem_needs_classifier(JEM_SETS[s]):
        records.append(f"{RESULTS}/{s}/classifier.run.yaml")
    return [f"{REPORTS}/{JEM_TABLES[s]}.csv", f"{REPORTS}/{JEM_TABLES[s]}_claims.csv", *jem_figures_of(s),
            *records, record_of("jem", JEM_TABLES[s]), record_of(s, "figures")]
