# Thesis section 4.2.1: IGEBM trained with Algorithm 7 and four samplers on four data sets;
# Table 4.1 (FID) and Figs 4.6-4.11. One GPU job per (data set, run) cell.
#
#   snakemake reports/table4_1.csv --cores all --config profile=paper      # the whole table
#   snakemake table4_1_mnist --cores 2 --config profile=fast               # the MNIST column + its figures

if "table4_1" in config:
    from snakemake.exceptions import WorkflowError

    from ebmlab.studies.table4_1 import jobs as t41_jobs

    T41_STUDY = config["table4_1"]
    try:
        T41_CELLS = t41_jobs.cells(T41_STUDY)  # [(data set, run)]; nijkamp.smk reads it too
    except t41_jobs.ConfigError as err:
        raise WorkflowError(f"{PARAMS}: table4_1: {err}")
    T41_DATASETS = t41_jobs.datasets(T41_STUDY)
    T41_FIG_DATASETS = t41_jobs.figure_datasets(T41_STUDY)
    T41_THREADS = T41_STUDY.get("threads", 1)
    T41_DIR = f"{RESULTS}/table4_1"
    T41_FIG_DIR = f"{FIGURES}/table4_1"
    # per data set: its run folders and, for the 'classifier' metric, the classifier it needs
    T41_RUNS = {ds: [f"{T41_DIR}/{ds}/{run}" for run in t41_jobs.runs_of(T41_STUDY, ds)] for ds in T41_DATASETS}
    T41_ALL_RUNS = [d for ds in T41_DATASETS for d in T41_RUNS[ds]]
    T41_CLASSIFIER = {ds: [f"{T41_DIR}/classifier/{ds}.pt"] if "classifier" in t41_jobs.metrics_of(T41_STUDY, ds)
                      else [] for ds in T41_DATASETS}
    T41_FIGS = ("fig4_6", "fig4_7", "fig4_8", "fig4_9", "fig4_10", "fig4_11", "table4_1_samples")
    # the slurm profile asks for a GPU with --gres (the study's `gpus` alone does not reach SLURM)

    wildcard_constraints:
        t41_ds="|".join(T41_DATASETS),
        t41_run="|".join(t41_jobs.runs(T41_STUDY)),
        t41_fig_ds="|".join(T41_FIG_DATASETS) or "^$",

    # classifier and reference jobs get the study's GPU too: they run on the study's `device`
    # (cuda in the paper profile), and Inception features of a whole split are GPU work
    rule table4_1_classifier:
        output:
            f"{T41_DIR}/classifier/{{t41_ds}}.pt",
        params:
            cfg=lambda wildcards: job_config("table4_1", "table4_1", "classifier", wildcards.t41_ds),
        log:
            log_of("table4_1", "classifier_{t41_ds}"),
        threads: T41_THREADS
        resources:
            **job_resources("table4_1", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.metrics.classifier train --config {params.cfg:q} --out {output} > {log} 2>&1"

    rule table4_1_reference:
        input:
            classifier=lambda wildcards: T41_CLASSIFIER[wildcards.t41_ds],
        output:
            f"{T41_DIR}/ref/{{t41_ds}}.json",
        params:
            cfg=lambda wildcards: job_config("table4_1", "table4_1", "reference", wildcards.t41_ds),
            ref=lambda wildcards, output: str(Path(output[0]).parent),
            classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
        log:
            log_of("table4_1", "ref_{t41_ds}"),
        threads: T41_THREADS
        resources:
            **job_resources("table4_1", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 reference --config {params.cfg:q} --job {wildcards.t41_ds} "
            "--ref-dir {params.ref} {params.classifier} > {log} 2>&1"

    rule table4_1_cell:
        input:
            ref=rules.table4_1_reference.output[0],
            classifier=lambda wildcards: T41_CLASSIFIER[wildcards.t41_ds],
        output:
            metrics=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/metrics.json",
            history=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/history.csv",
            chains=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/chains.json",
            samples=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/samples.png",
            model=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/model.pt",
        params:
            cfg=lambda wildcards: job_config("table4_1", "table4_1", "cell",
                                             f"{wildcards.t41_ds}/{wildcards.t41_run}"),
            out=lambda wildcards, output: str(Path(output.metrics).parent),
            ref=lambda wildcards, input: str(Path(input.ref).parent),
            classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
        log:
            log_of("table4_1", "{t41_ds}/{t41_run}"),
        threads: T41_THREADS
        resources:
            **job_resources("table4_1", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 cell --config {params.cfg:q} "
            "--job {wildcards.t41_ds}/{wildcards.t41_run} --out {params.out} --ref-dir {params.ref} "
            "{params.classifier} > {log} 2>&1"

    rule table4_1_table:
        input:
            [f"{d}/metrics.json" for d in T41_ALL_RUNS],
        output:
            csv=f"{REPORTS}/table4_1.csv",
            metrics=f"{REPORTS}/metrics/table4_1.json",
        params:
            runs=T41_ALL_RUNS,
            profile=PROFILE,
        log:
            log_of("table4_1", "table"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 table --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --metrics {output.metrics} > {log} 2>&1"

    rule table4_1_column:
        input:
            lambda wildcards: [f"{d}/metrics.json" for d in T41_RUNS[wildcards.t41_ds]],
        output:
            csv=f"{REPORTS}/table4_1_{{t41_ds}}.csv",
            metrics=f"{REPORTS}/metrics/table4_1_{{t41_ds}}.json",
        params:
            runs=lambda wildcards: T41_RUNS[wildcards.t41_ds],
            profile=PROFILE,
        log:
            log_of("table4_1", "column_{t41_ds}"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 table --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --metrics {output.metrics} > {log} 2>&1"

    rule table4_1_figures:
        input:
            lambda wildcards: [f"{d}/{f}" for d in T41_RUNS[wildcards.t41_fig_ds]
                               for f in ("metrics.json", "history.csv", "chains.json", "samples.png")],
        output:
            [f"{T41_FIG_DIR}/{name}_{{t41_fig_ds}}.png" for name in T41_FIGS],
        params:
            runs=lambda wildcards: T41_RUNS[wildcards.t41_fig_ds],
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            log_of("table4_1", "figures_{t41_fig_ds}"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 figures --runs {params.runs} --dataset {wildcards.t41_fig_ds} "
            "--out-dir {params.out} > {log} 2>&1"

    # one named target per data set: its column of the table (and its figures, if any)
    for _ds in T41_DATASETS:
        rule:
            name:
                f"table4_1_{_ds}"
            input:
                f"{REPORTS}/table4_1_{_ds}.csv",
                [f"{T41_FIG_DIR}/{name}_{_ds}.png" for name in T41_FIGS] if _ds in T41_FIG_DATASETS else [],
            localrule: True

    ALL_TARGETS += [
        rules.table4_1_table.output.csv,
        *[f"{T41_FIG_DIR}/{name}_{ds}.png" for ds in T41_FIG_DATASETS for name in T41_FIGS],
    ]
