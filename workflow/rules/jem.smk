# Thesis section 4.2.2: JEM (WRN classifier-energy) trained with SGLD, pSGLD (lambda = 1 and a
# small lambda) and MALA (the thesis's test and the exact one); Table 4.2 (accuracy, score, time)
# with the claims J1-J5, and Figs 4.12-4.16. One job per (run, seed): results/<p>/jem/<run>/seed<k>.
# Section `jem` -> reports/.../table4_2.csv, table4_2_claims.csv and figures/jem/jem_*.png (CIFAR-10
# in the paper profile, the labelled digits of data/embedded in the fast one).
#
#   snakemake reports/table4_2.csv --cores all --config profile=paper
#   snakemake reports/fast/table4_2.csv --cores 2 --config profile=fast
#   snakemake jem --cores 2 --config profile=fast       # the table, its claims and its figures

JEM_TABLES = {"jem": "table4_2"}
JEM_SETS = {s: config[s] for s in JEM_TABLES if s in config}

if JEM_SETS:
    from ebmlab.studies.jem.jobs import FIGURES as JEM_FIGS
    from ebmlab.studies.jem.jobs import JOBS as JEM_JOBS
    from ebmlab.studies.jem.jobs import needs_classifier as jem_needs_classifier

    include: "jem_common.smk"

    # report labels: the thesis figure of each (captions in workflow/report/jem/)
    JEM_PAPER = {"accuracy": "thesis Fig 4.12", "acceptance_mala": "thesis Fig 4.13",
                 "acceptance_sgld": "thesis Fig 4.14", "acceptance_trend": "thesis Fig 4.15",
                 "inv_precond": "thesis Fig 4.16", "samples": "thesis Table 4.2 (samples)"}

    for _s in JEM_SETS:
        if not jem_runs(_s):
            raise WorkflowError(f"{PARAMS}: {_s}.samplers must name at least one run")

    wildcard_constraints:
        jem_set="|".join(JEM_SETS),
        jem_run="|".join(sorted({r for s in JEM_SETS for r in jem_runs(s)})),
        jem_table="|".join(JEM_TABLES[s] for s in JEM_SETS),

    # the classifier and reference jobs run on the section's `device` (cuda in the paper
    # profile), so they ask for its GPUs like the training jobs
    rule jem_classifier:
        output:
            weights=f"{RESULTS}/{{jem_set}}/classifier.pt",
            record=f"{RESULTS}/{{jem_set}}/classifier.run.yaml",
        params:
            cfg=lambda wildcards: job_config("jem", wildcards.jem_set, "classifier"),
        log:
            log_of("jem", "{jem_set}/classifier"),
        threads: 1
        resources:
            **jem_resources(gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.jem classifier --config {params.cfg:q} --out {output.weights} > {log} 2>&1"

    rule jem_reference:
        input:
            classifier=jem_classifier,
        output:
            summary=f"{RESULTS}/{{jem_set}}/ref/jem.json",
            record=f"{RESULTS}/{{jem_set}}/ref/jem.run.yaml",
        params:
            cfg=lambda wildcards: job_config("jem", wildcards.jem_set, "reference"),
            ref=lambda wildcards, output: str(Path(output[0]).parent),
            classifier=jem_classifier_arg,
        log:
            log_of("jem", "{jem_set}/reference"),
        threads: 1
        resources:
            **jem_resources(gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.jem reference --config {params.cfg:q} --ref-dir {params.ref} "
            "{params.classifier} --record {output.record} > {log} 2>&1"

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
            record=f"{RESULTS}/{{jem_set}}/{{jem_run}}/train.run.yaml",
        params:
            cfg=lambda wildcards: job_config("jem", wildcards.jem_set, "train", wildcards.jem_run),
            out=lambda wildcards, output: str(Path(output.metrics).parent),
            ref=lambda wildcards, input: str(Path(input.ref).parent),
            classifier=jem_classifier_arg,
        log:
            log_of("jem", "{jem_set}/{jem_run}/train"),
        threads: 1
        resources:
            **jem_resources(gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.jem train --config {params.cfg:q} --job {wildcards.jem_run} "
            "--out {params.out} --ref-dir {params.ref} {params.classifier} > {log} 2>&1"

    rule jem_table:
        input:
            lambda wildcards: [f"{d}/{f}" for d in jem_run_dirs(jem_set_of_table(wildcards))
                               for f in ("metrics.json", "history.csv")],
        output:
            csv=f"{REPORTS}/{{jem_table}}.csv",
            claims=f"{REPORTS}/{{jem_table}}_claims.csv",
            metrics=f"{REPORTS}/metrics/{{jem_table}}.json",
            # wall times apart: a rerun rewrites the other three byte for byte (J4's evidence aside)
            timing=f"{REPORTS}/{{jem_table}}_timing.csv",
            # under results/<p>/jem (output paths cannot follow the section from {jem_table}; jem is the one section)
            record=record_of("jem", "{jem_table}"),
        params:
            runs=lambda wildcards: jem_run_dirs(jem_set_of_table(wildcards)),
            profile=PROFILE,
        log:
            log_of("jem", "{jem_table}"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.jem table --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --metrics {output.metrics} --claims {output.claims} --timing {output.timing} "
            "--record {output.record} > {log} 2>&1"

    rule jem_figures:
        input:
            lambda wildcards: [f"{d}/{f}" for d in jem_run_dirs(wildcards.jem_set)
                               for f in ("metrics.json", "history.csv", "chains.json", "samples.png")],
        output:
            [figure(f"{FIGURES}/jem/{{jem_set}}_{name}.png", "jem", name, JEM_PAPER[name], "{jem_set}")
             for name in JEM_FIGS],
            record=record_of("{jem_set}", "figures"),
        params:
            runs=lambda wildcards: jem_run_dirs(wildcards.jem_set),
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            log_of("jem", "{jem_set}/figures"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.jem figures --runs {params.runs} --out-dir {params.out} "
            "--prefix {wildcards.jem_set} --record {output.record} > {log} 2>&1"

    # one named target per section (`snakemake jem --config profile=fast`): its tables and figures
    for _s in JEM_SETS:
        rule:
            name:
                _s
            input:
                jem_targets_of(_s),
            localrule: True

        ALL_TARGETS += jem_targets_of(_s)
