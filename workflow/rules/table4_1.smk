# Thesis section 4.2.1: IGEBM trained with Algorithm 7 and four samplers on four data sets;
# Table 4.1 (FID) and Figs 4.6-4.11. One GPU job per (data set, run) cell.
#
#   snakemake reports/table4_1.csv --cores all --config profile=paper      # the whole table
#   snakemake table4_1_mnist --cores 2 --config profile=fast               # the MNIST column + its figures

if "table4_1" in config:
    from snakemake.exceptions import WorkflowError

    from ebmlab.config import from_dict, to_dict

    from ebmlab.errors import ConfigError
    from ebmlab.table4_1 import Table41Study

    try:
        T41 = from_dict(Table41Study, config["table4_1"], "table4_1")
    except ConfigError as err:
        raise WorkflowError(f"{PARAMS}: {err}")
    T41_RES = study_resources("table4_1")
    T41_GPU = {"gpus": T41_RES["gpus"], "slurm_extra": "--gres=gpu:1"} if T41_RES["gpus"] else {}
    T41_DIR = f"{RESULTS}/table4_1"
    T41_CELLS = T41.cells()
    # per data set: its run folders and, for the 'classifier' metric, the classifier it needs
    T41_RUNS = {ds: [f"{T41_DIR}/{ds}/{run}" for run in T41.runs_of(ds)] for ds in T41.datasets}
    T41_ALL_RUNS = [d for ds in T41.datasets for d in T41_RUNS[ds]]
    T41_CLASSIFIER = {ds: [f"{T41_DIR}/classifier/{ds}.pt"] if "classifier" in e.metrics else []
                      for ds, e in T41.datasets.items()}
    T41_FIGS = ("fig4_6", "fig4_7", "fig4_8", "fig4_9", "fig4_10", "fig4_11", "table4_1_samples")

    wildcard_constraints:
        t41_ds="|".join(T41.datasets),
        t41_run="|".join(T41.runs()),
        t41_fig_ds="|".join(T41.figure_datasets) or "^$",

    rule table4_1_classifier:
        output:
            f"{T41_DIR}/classifier/{{t41_ds}}.pt",
        params:
            cfg=lambda wildcards: as_json({"data": to_dict(T41.datasets[wildcards.t41_ds].data),
                                           "classifier": to_dict(T41.fid.classifier), "seed": T41.seed,
                                           "device": T41.device, "threads": T41.threads}),
        log:
            f"{LOGS}/table4_1/classifier_{{t41_ds}}.log",
        threads: T41.threads
        resources:
            mem_mb=T41_RES["mem_mb"],
            runtime=T41_RES["runtime"],
            **T41_GPU,
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
            cfg=lambda wildcards: as_json(T41.cell_slice(wildcards.t41_ds)),
            ref=lambda wildcards, output: str(Path(output[0]).parent),
            classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
        log:
            f"{LOGS}/table4_1/ref_{{t41_ds}}.log",
        threads: T41.threads
        resources:
            mem_mb=T41_RES["mem_mb"],
            runtime=T41_RES["runtime"],
            **T41_GPU,
        conda:
            ENV
        shell:
            "python -m ebmlab.table4_1 reference --config {params.cfg:q} --dataset {wildcards.t41_ds} "
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
            cfg=lambda wildcards: as_json(T41.cell_slice(wildcards.t41_ds, wildcards.t41_run)),
            out=lambda wildcards, output: str(Path(output.metrics).parent),
            ref=lambda wildcards, input: str(Path(input.ref).parent),
            classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
        log:
            f"{LOGS}/table4_1/{{t41_ds}}/{{t41_run}}.log",
        threads: T41.threads
        resources:
            mem_mb=T41_RES["mem_mb"],
            runtime=T41_RES["runtime"],
            **T41_GPU,
        conda:
            ENV
        shell:
            "python -m ebmlab.table4_1 cell --config {params.cfg:q} --out {params.out} "
            "--ref-dir {params.ref} {params.classifier} > {log} 2>&1"

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
            f"{LOGS}/table4_1/table.log",
        conda:
            ENV
        shell:
            "python -m ebmlab.table4_1 table --runs {params.runs} --profile {params.profile} "
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
            f"{LOGS}/table4_1/column_{{t41_ds}}.log",
        conda:
            ENV
        shell:
            "python -m ebmlab.table4_1 table --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --metrics {output.metrics} > {log} 2>&1"

    rule table4_1_figures:
        input:
            lambda wildcards: [f"{d}/{f}" for d in T41_RUNS[wildcards.t41_fig_ds]
                               for f in ("metrics.json", "history.csv", "chains.json", "samples.png")],
        output:
            [f"{FIGURES}/{name}_{{t41_fig_ds}}.png" for name in T41_FIGS],
        params:
            runs=lambda wildcards: T41_RUNS[wildcards.t41_fig_ds],
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            f"{LOGS}/table4_1/figures_{{t41_fig_ds}}.log",
        conda:
            ENV
        shell:
            "python -m ebmlab.table4_1 figures --runs {params.runs} --dataset {wildcards.t41_fig_ds} "
            "--out-dir {params.out} > {log} 2>&1"

    # one named target per data set: its column of the table (and its figures, if any)
    for _ds in T41.datasets:
        rule:
            name:
                f"table4_1_{_ds}"
            input:
                f"{REPORTS}/table4_1_{_ds}.csv",
                [f"{FIGURES}/{name}_{_ds}.png" for name in T41_FIGS] if _ds in T41.figure_datasets else [],
            localrule: True

    ALL_TARGETS += [
        rules.table4_1_table.output.csv,
        *[f"{FIGURES}/{name}_{ds}.png" for ds in T41.figure_datasets for name in T41_FIGS],
    ]
