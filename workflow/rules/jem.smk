# Thesis section 4.2.2: JEM (WRN classifier-energy) trained with SGLD, pSGLD (lambda = 1 and a
# small lambda) and MALA; Table 4.2 (accuracy, FID) and Figs 4.12-4.16. One job per run.
# Section `jem` -> reports/.../table4_2.csv and figures/jem_*.png; section `jem_mnist` (the
# labelled MNIST substitute of the fast profile) -> table4_2_mnist.csv and figures/jem_mnist_*.png.
#
#   snakemake reports/table4_2.csv --cores all --config profile=paper
#   snakemake reports/fast/table4_2_mnist.csv --cores 2 --config profile=fast
#   snakemake jem_mnist --cores 2 --config profile=fast       # that table and its figures

JEM_TABLES = {"jem": "table4_2", "jem_mnist": "table4_2_mnist"}
JEM_SETS = {s: config[s] for s in JEM_TABLES if s in config}

if JEM_SETS:
    from snakemake.exceptions import WorkflowError

    from ebmlab.config import from_dict, to_dict

    from ebmlab.errors import ConfigError
    from ebmlab.jem import JEMStudy
    from ebmlab.jem_figures import FIGURES as JEM_FIGS

    try:
        JEM = {s: from_dict(JEMStudy, cfg, s) for s, cfg in JEM_SETS.items()}
    except ConfigError as err:
        raise WorkflowError(f"{PARAMS}: {err}")

    include: "jem_common.smk"

    wildcard_constraints:
        jem_set="|".join(JEM),
        jem_run="|".join(sorted({r for study in JEM.values() for r in study.samplers})),
        jem_table="|".join(JEM_TABLES[s] for s in JEM),

    rule jem_classifier:
        output:
            f"{RESULTS}/{{jem_set}}/classifier.pt",
        params:
            cfg=jem_study_config,
        log:
            f"{LOGS}/{{jem_set}}/classifier.log",
        threads: 1
        resources:
            mem_mb=jem_res("mem_mb"),
            runtime=jem_res("runtime"),
            gpus=jem_res("gpus"),
            slurm_extra=jem_res("slurm_extra"),
        conda:
            ENV
        shell:
            "python -m ebmlab.jem classifier --config {params.cfg:q} --out {output} > {log} 2>&1"

    rule jem_reference:
        input:
            classifier=jem_classifier,
        output:
            f"{RESULTS}/{{jem_set}}/ref/jem.json",
        params:
            cfg=jem_study_config,
            ref=lambda wildcards, output: str(Path(output[0]).parent),
            classifier=jem_classifier_arg,
        log:
            f"{LOGS}/{{jem_set}}/reference.log",
        threads: 1
        resources:
            mem_mb=jem_res("mem_mb"),
            runtime=jem_res("runtime"),
            gpus=jem_res("gpus"),
            slurm_extra=jem_res("slurm_extra"),
        conda:
            ENV
        shell:
            "python -m ebmlab.jem reference --config {params.cfg:q} --ref-dir {params.ref} "
            "{params.classifier} > {log} 2>&1"

    rule jem_train:
        input:
            ref=rules.jem_reference.output[0],
            classifier=jem_classifier,
        output:
            metrics=f"{RESULTS}/{{jem_set}}/{{jem_run}}/metrics.json",
            history=f"{RESULTS}/{{jem_set}}/{{jem_run}}/history.csv",
            chains=f"{RESULTS}/{{jem_set}}/{{jem_run}}/chains.json",
            samples=f"{RESULTS}/{{jem_set}}/{{jem_run}}/samples.png",
            model=f"{RESULTS}/{{jem_set}}/{{jem_run}}/model.pt",
        params:
            cfg=lambda wildcards: as_json(to_dict(JEM[wildcards.jem_set].run(wildcards.jem_run))),
            out=lambda wildcards, output: str(Path(output.metrics).parent),
            ref=lambda wildcards, input: str(Path(input.ref).parent),
            classifier=jem_classifier_arg,
        log:
            f"{LOGS}/{{jem_set}}/{{jem_run}}/train.log",
        threads: 1
        resources:
            mem_mb=jem_res("mem_mb"),
            runtime=jem_res("runtime"),
            gpus=jem_res("gpus"),
            slurm_extra=jem_res("slurm_extra"),
        conda:
            ENV
        shell:
            "python -m ebmlab.jem train --config {params.cfg:q} --out {params.out} --ref-dir {params.ref} "
            "{params.classifier} > {log} 2>&1"

    rule jem_table:
        input:
            lambda wildcards: [f"{d}/metrics.json" for d in jem_run_dirs(jem_set_of_table(wildcards))],
        output:
            csv=f"{REPORTS}/{{jem_table}}.csv",
            metrics=f"{REPORTS}/metrics/{{jem_table}}.json",
        params:
            runs=lambda wildcards: jem_run_dirs(jem_set_of_table(wildcards)),
            profile=PROFILE,
        log:
            f"{LOGS}/jem/{{jem_table}}.log",
        conda:
            ENV
        shell:
            "python -m ebmlab.jem table --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --metrics {output.metrics} > {log} 2>&1"

    rule jem_figures:
        input:
            lambda wildcards: [f"{d}/{f}" for d in jem_run_dirs(wildcards.jem_set)
                               for f in ("metrics.json", "history.csv", "chains.json", "samples.png")],
        output:
            [f"{FIGURES}/{{jem_set}}_{name}.png" for name in JEM_FIGS],
        params:
            runs=lambda wildcards: jem_run_dirs(wildcards.jem_set),
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            f"{LOGS}/{{jem_set}}/figures.log",
        conda:
            ENV
        shell:
            "python -m ebmlab.jem figures --runs {params.runs} --out-dir {params.out} "
            "--prefix {wildcards.jem_set} > {log} 2>&1"

    # one named target per section (`snakemake jem_mnist --config profile=fast`): its table and figures
    for _s in JEM:
        rule:
            name:
                _s
            input:
                f"{REPORTS}/{JEM_TABLES[_s]}.csv",
                [f"{FIGURES}/{_s}_{n}.png" for n in JEM_FIGS],
            localrule: True

        ALL_TARGETS += [f"{REPORTS}/{JEM_TABLES[_s]}.csv", *[f"{FIGURES}/{_s}_{n}.png" for n in JEM_FIGS]]
