# Thesis section 4.2.1: IGEBM trained with Algorithm 7 and four samplers on four data sets;
# Table 4.1 (FID) and Figs 4.6-4.11. One GPU job per (data set, run) cell.
#
#   snakemake reports/table4_1.csv --cores all --config profile=paper      # the whole table
#   snakemake reports/fast/table4_1.csv --cores 2 --config profile=fast    # the MNIST column, 3 seeds
#   snakemake table4_1_mnist --cores 2 --config profile=fast               # ... and its figures
# A cell's folder is <data set>/<run>/seed<k> (jobs.py says which runs get which seeds).

if "table4_1" in config:
    from snakemake.exceptions import WorkflowError

    from ebmlab.studies.table4_1 import jobs as t41_jobs

    T41_STUDY = config["table4_1"]
    try:
        # [(data set, run/seed<k>)]; nijkamp.smk reads it too
        T41_CELLS = [(ds, f"{run}/seed{s}") for ds, run, s in t41_jobs.cells(T41_STUDY)]
    except t41_jobs.ConfigError as err:
        raise WorkflowError(f"{PARAMS}: table4_1: {err}")
    T41_SEED0 = t41_jobs.seeds(T41_STUDY)[0]
    T41_DATASETS = t41_jobs.datasets(T41_STUDY)
    T41_FIG_DATASETS = t41_jobs.figure_datasets(T41_STUDY)
    T41_THREADS = T41_STUDY.get("threads", 1)
    T41_DIR = f"{RESULTS}/table4_1"
    T41_FIG_DIR = f"{FIGURES}/table4_1"
    # per data set: its run folders and, for the 'classifier' metric, the classifier it needs
    T41_RUNS = {ds: [f"{T41_DIR}/{t41_jobs.cell_folder(ds, run, s)}" for run in t41_jobs.runs_of(T41_STUDY, ds)
                     for s in t41_jobs.seeds_of(T41_STUDY, run)] for ds in T41_DATASETS}
    # the figures read the first seed of every row; the step-size figure the sweep's cells
    T41_FIG_RUNS = {ds: [f"{T41_DIR}/{t41_jobs.cell_folder(ds, run, T41_SEED0)}"
                         for run in t41_jobs.runs_of(T41_STUDY, ds)] for ds in T41_DATASETS}
    T41_SWEEP_RUNS = {ds: [f"{T41_DIR}/{t41_jobs.cell_folder(ds, run, T41_SEED0)}"
                           for run in t41_jobs.sweep_of(T41_STUDY, ds)] for ds in T41_DATASETS}
    T41_ALL_RUNS = [d for ds in T41_DATASETS for d in T41_RUNS[ds]]
    T41_CLASSIFIER = {ds: [f"{T41_DIR}/classifier/{ds}.pt"] if "classifier" in t41_jobs.metrics_of(T41_STUDY, ds)
                      else [] for ds in T41_DATASETS}
    T41_FIGS = ("fig4_6", "fig4_7", "fig4_8", "fig4_9", "fig4_10", "fig4_11", "table4_1_samples")
    # report labels: the thesis figure of each (captions in workflow/report/table4_1/)
    T41_PAPER = {name: f"thesis Fig {name[3:].replace('_', '.')}" for name in T41_FIGS if name.startswith("fig")}
    T41_PAPER.update(table4_1_samples="thesis Table 4.1 (samples)", table4_1_stepsize="- (beyond the thesis)")

    wildcard_constraints:
        t41_ds="|".join(T41_DATASETS),
        t41_run="|".join(t41_jobs.runs(T41_STUDY) + list(t41_jobs.sweep(T41_STUDY))).replace(".", r"\."),
        t41_seed=r"\d+",
        t41_fig_ds="|".join(T41_FIG_DATASETS) or "^$",

    # classifier and reference jobs get the study's GPU too: they run on the study's `device`
    # (cuda in the paper profile), and Inception features of a whole split are GPU work
    rule table4_1_classifier:
        output:
            weights=f"{T41_DIR}/classifier/{{t41_ds}}.pt",
            record=f"{T41_DIR}/classifier/{{t41_ds}}.run.yaml",
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
            "python -m ebmlab.metrics.classifier train --config {params.cfg:q} --out {output.weights} > {log} 2>&1"

    rule table4_1_reference:
        input:
            classifier=lambda wildcards: T41_CLASSIFIER[wildcards.t41_ds],
        output:
            summary=f"{T41_DIR}/ref/{{t41_ds}}.json",
            record=f"{T41_DIR}/ref/{{t41_ds}}.run.yaml",
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
            "--ref-dir {params.ref} {params.classifier} --record {output.record} > {log} 2>&1"

    rule table4_1_cell:
        input:
            ref=rules.table4_1_reference.output[0],
            classifier=lambda wildcards: T41_CLASSIFIER[wildcards.t41_ds],
        output:
            metrics=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/seed{{t41_seed}}/metrics.json",
            history=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/seed{{t41_seed}}/history.csv",
            chains=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/seed{{t41_seed}}/chains.json",
            samples=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/seed{{t41_seed}}/samples.png",
            model=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/seed{{t41_seed}}/model.pt",
            record=f"{T41_DIR}/{{t41_ds}}/{{t41_run}}/seed{{t41_seed}}/cell.run.yaml",
        params:
            cfg=lambda wildcards: job_config("table4_1", "table4_1", "cell",
                                             f"{wildcards.t41_ds}/{wildcards.t41_run}/seed{wildcards.t41_seed}"),
            out=lambda wildcards, output: str(Path(output.metrics).parent),
            ref=lambda wildcards, input: str(Path(input.ref).parent),
            classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
        log:
            log_of("table4_1", "{t41_ds}/{t41_run}/seed{t41_seed}"),
        threads: T41_THREADS
        resources:
            **job_resources("table4_1", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 cell --config {params.cfg:q} "
            "--job {wildcards.t41_ds}/{wildcards.t41_run}/seed{wildcards.t41_seed} --out {params.out} "
            "--ref-dir {params.ref} "
            "{params.classifier} > {log} 2>&1"

    # the table (mean and sd over seeds per row) and the claims T1-T6; the cells' history is read.
    # Wall times apart (table4_1_timing.csv, one row per cell): a rerun rewrites the rest byte for byte
    rule table4_1_table:
        input:
            [f"{d}/{f}" for d in T41_ALL_RUNS for f in ("metrics.json", "history.csv")],
        output:
            csv=f"{REPORTS}/table4_1.csv",
            metrics=f"{REPORTS}/metrics/table4_1.json",
            claims=f"{REPORTS}/table4_1_claims.csv",
            timing=f"{REPORTS}/table4_1_timing.csv",
            record=record_of("table4_1", "table"),
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
            "--csv {output.csv} --metrics {output.metrics} --claims {output.claims} --timing {output.timing} "
            "--record {output.record} > {log} 2>&1"

    # one row per cell (every seed, and the step-size sweep) of one data set; their wall times apart
    rule table4_1_column:
        input:
            lambda wildcards: [f"{d}/metrics.json" for d in T41_RUNS[wildcards.t41_ds] + T41_SWEEP_RUNS[wildcards.t41_ds]],
        output:
            csv=f"{REPORTS}/table4_1_{{t41_ds}}.csv",
            metrics=f"{REPORTS}/metrics/table4_1_{{t41_ds}}.json",
            timing=f"{REPORTS}/table4_1_{{t41_ds}}_timing.csv",
            record=record_of("table4_1", "column_{t41_ds}"),
        params:
            runs=lambda wildcards: T41_RUNS[wildcards.t41_ds] + T41_SWEEP_RUNS[wildcards.t41_ds],
            profile=PROFILE,
        log:
            log_of("table4_1", "column_{t41_ds}"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 cells --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --metrics {output.metrics} --timing {output.timing} --record {output.record} > {log} 2>&1"

    rule table4_1_figures:
        input:
            lambda wildcards: [f"{d}/{f}" for d in T41_FIG_RUNS[wildcards.t41_fig_ds]
                               for f in ("metrics.json", "history.csv", "chains.json", "samples.png")],
        output:
            [figure(f"{T41_FIG_DIR}/{name}_{{t41_fig_ds}}.png", "table4_1", name, T41_PAPER[name], "{t41_fig_ds}")
             for name in T41_FIGS],
            record=record_of("table4_1", "figures_{t41_fig_ds}"),
        params:
            runs=lambda wildcards: T41_FIG_RUNS[wildcards.t41_fig_ds],
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            log_of("table4_1", "figures_{t41_fig_ds}"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 figures --runs {params.runs} --dataset {wildcards.t41_fig_ds} "
            "--out-dir {params.out} --record {output.record} > {log} 2>&1"

    # beyond the thesis: final acceptance and score against h, fixed and matched noise
    rule table4_1_stepsize:
        input:
            lambda wildcards: [f"{d}/metrics.json" for d in T41_SWEEP_RUNS[wildcards.t41_fig_ds]],
        output:
            png=figure(f"{T41_FIG_DIR}/table4_1_stepsize_{{t41_fig_ds}}.png", "table4_1", "table4_1_stepsize",
                       T41_PAPER["table4_1_stepsize"], "{t41_fig_ds}"),
            record=record_of("table4_1", "stepsize_{t41_fig_ds}"),
        params:
            runs=lambda wildcards: T41_SWEEP_RUNS[wildcards.t41_fig_ds],
        log:
            log_of("table4_1", "stepsize_{t41_fig_ds}"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.table4_1 stepsize --runs {params.runs} --dataset {wildcards.t41_fig_ds} "
            "--out {output.png} --record {output.record} > {log} 2>&1"

    # a figure data set's figures: Figs 4.6-4.11, the sample grids and, with a sweep, the step-size figure
    T41_FIGURE_FILES = {ds: [f"{T41_FIG_DIR}/{name}_{ds}.png" for name in T41_FIGS]
                        + ([f"{T41_FIG_DIR}/table4_1_stepsize_{ds}.png"] if T41_SWEEP_RUNS[ds] else [])
                        if ds in T41_FIG_DATASETS else [] for ds in T41_DATASETS}

    # the run records of the jobs the targets build (a missing one reruns its job): the table's
    # (its cells, references and classifiers), then per data set its sweep cells', column's and figures'
    T41_RECORDS = ([f"{d}/cell.run.yaml" for d in T41_ALL_RUNS]
                   + [record_beside(f"{T41_DIR}/ref/{ds}.json") for ds in T41_DATASETS]
                   + [record_beside(p) for ds in T41_DATASETS for p in T41_CLASSIFIER[ds]]
                   + [rules.table4_1_table.output.record])
    T41_FIGURE_RECORDS = {ds: [f"{d}/cell.run.yaml" for d in T41_SWEEP_RUNS[ds]]
                          + ([record_of("table4_1", f"figures_{ds}")] if ds in T41_FIG_DATASETS else [])
                          + ([record_of("table4_1", f"stepsize_{ds}")] if ds in T41_FIG_DATASETS and T41_SWEEP_RUNS[ds]
                             else []) for ds in T41_DATASETS}

    # one named target per data set: the table, its column's cells and its figures, if any
    for _ds in T41_DATASETS:
        rule:
            name:
                f"table4_1_{_ds}"
            input:
                rules.table4_1_table.output.csv,
                f"{REPORTS}/table4_1_{_ds}.csv",
                T41_FIGURE_FILES[_ds],
                T41_RECORDS,
                record_of("table4_1", f"column_{_ds}"),
                T41_FIGURE_RECORDS[_ds],
            localrule: True

    T41_TARGETS = [
        rules.table4_1_table.output.csv,
        *[f for ds in T41_FIG_DATASETS for f in T41_FIGURE_FILES[ds]],
        *T41_RECORDS,
        *[r for ds in T41_FIG_DATASETS for r in T41_FIGURE_RECORDS[ds]],
    ]
    ALL_TARGETS += T41_TARGETS

    # one named target for the study: the table, the figures of figure_datasets, every record
    # (what the DVC stages run, since they declare the figure folder)
    rule table4_1:
        input:
            T41_TARGETS,
        localrule: True
