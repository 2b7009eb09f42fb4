# Thesis section 4.1: a small MLP energy trained on a 4-Gaussian mixture with
# GD, SGLD, MALA and pSGLD; R-hat of ten chains per sampler (Figs 4.1-4.5), one job per
# (run, seed): results/<p>/gmm/<run>/seed<k>. Beside it the fixed-energy comparison (every
# sampler and HMC on the true energy and on one shared trained energy, one job per energy and
# chain seed: results/<p>/gmm/compare/<energy>/seed<k>) -> gmm_samplers.csv. docs/gmm.md.

if "gmm" in config:
    from ebmlab.studies.gmm.jobs import JOBS as GMM_JOBS
    from ebmlab.studies.gmm.jobs import shared_run as gmm_shared_run
    from ebmlab.studies.gmm.jobs import figure_labels as gmm_figure_labels

    GMM_RUNS = list(config["gmm"]["samplers"])
    GMM_LABELS = GMM_JOBS["train"].labels(config["gmm"])
    GMM_COMPARE = GMM_JOBS["compare"].labels(config["gmm"])
    GMM_THREADS = config["gmm"].get("threads", 1)
    # the thesis figure of each sampler's run (report labels; captions in workflow/report/gmm/)
    GMM_FIG = {"gd": "thesis Fig 4.2", "sgld": "thesis Fig 4.3", "mala": "thesis Fig 4.4", "psgld": "thesis Fig 4.5"}
    GMM_SUB = "Figs 4.1-4.5: 4-Gaussian mixture"
    # every training, evaluation and comparison job's run record (the table's timing reads them)
    GMM_RECORDS = ([f"{RESULTS}/gmm/{label}/{job}.run.yaml" for label in GMM_LABELS for job in ("train", "evaluate")]
                   + [f"{RESULTS}/gmm/compare/{c}/compare.run.yaml" for c in GMM_COMPARE])

    wildcard_constraints:
        gmm_run="|".join(GMM_LABELS),
        gmm_compare="|".join(GMM_COMPARE),

    rule gmm_train:
        output:
            model=f"{RESULTS}/gmm/{{gmm_run}}/model.pt",
            history=f"{RESULTS}/gmm/{{gmm_run}}/history.csv",
            record=f"{RESULTS}/gmm/{{gmm_run}}/train.run.yaml",
        params:
            cfg=lambda wildcards: job_config("gmm", "gmm", "train", wildcards.gmm_run),
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            log_of("gmm", "{gmm_run}/train"),
        threads: GMM_THREADS
        resources:
            **job_resources("gmm", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.gmm train --config {params.cfg:q} --job {wildcards.gmm_run} "
            "--out {params.out} > {log} 2>&1"

    rule gmm_evaluate:
        input:
            model=rules.gmm_train.output.model,
        output:
            metrics=f"{RESULTS}/gmm/{{gmm_run}}/rhat.json",
            samples=f"{RESULTS}/gmm/{{gmm_run}}/samples.npz",
            record=f"{RESULTS}/gmm/{{gmm_run}}/evaluate.run.yaml",
        params:
            cfg=lambda wildcards: job_config("gmm", "gmm", "evaluate", wildcards.gmm_run),
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            log_of("gmm", "{gmm_run}/evaluate"),
        threads: GMM_THREADS
        resources:
            **job_resources("gmm", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.gmm evaluate --config {params.cfg:q} --job {wildcards.gmm_run} "
            "--out {params.out} > {log} 2>&1"

    # the sampler apart from the model: every sampler (and HMC) on one fixed energy
    rule gmm_compare:
        input:
            shared=lambda wildcards: ([f"{RESULTS}/gmm/{gmm_shared_run(config['gmm'])}/model.pt"]
                                      if wildcards.gmm_compare.startswith("shared/") else []),
        output:
            compare=f"{RESULTS}/gmm/compare/{{gmm_compare}}/compare.json",
            record=f"{RESULTS}/gmm/compare/{{gmm_compare}}/compare.run.yaml",
        params:
            cfg=lambda wildcards: job_config("gmm", "gmm", "compare", wildcards.gmm_compare),
            out=lambda wildcards, output: str(Path(output[0]).parent),
            shared=lambda wildcards, input: f"--shared-model {input.shared[0]}" if input.shared else "",
        log:
            log_of("gmm", "compare/{gmm_compare}"),
        threads: GMM_THREADS
        resources:
            **job_resources("gmm", gpu=True),   # it samples, as train and evaluate do
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.gmm compare --config {params.cfg:q} --job {wildcards.gmm_compare} "
            "--out {params.out} {params.shared} > {log} 2>&1"

    # the fixed-energy comparison needs only the compare jobs (and the shared energy's training)
    rule gmm_samplers:
        input:
            compare=expand(f"{RESULTS}/gmm/compare/{{c}}/compare.json", c=GMM_COMPARE),
        output:
            csv=f"{REPORTS}/gmm_samplers.csv",
            record=record_of("gmm", "samplers"),
        params:
            compare=lambda wildcards, input: [str(Path(p).parent) for p in input.compare],
            profile=PROFILE,
        log:
            log_of("gmm", "samplers"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.gmm samplers --compare {params.compare} --profile {params.profile} "
            "--csv {output.csv} --record {output.record} > {log} 2>&1"

    rule gmm_table:
        input:
            runs=expand(f"{RESULTS}/gmm/{{gmm_run}}/rhat.json", gmm_run=GMM_LABELS),
            compare=expand(f"{RESULTS}/gmm/compare/{{c}}/compare.json", c=GMM_COMPARE),
            records=GMM_RECORDS,
        output:
            csv=f"{REPORTS}/gmm_rhat.csv",
            claims=f"{REPORTS}/gmm_claims.csv",
            metrics=f"{REPORTS}/metrics/gmm_rhat.json",
            timing=f"{REPORTS}/gmm_timing.csv",
            record=record_of("gmm", "table"),
        params:
            runs=lambda wildcards, input: [str(Path(p).parent) for p in input.runs],
            compare=lambda wildcards, input: [str(Path(p).parent) for p in input.compare],
            profile=PROFILE,
        log:
            log_of("gmm", "table"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.gmm table --runs {params.runs} --compare {params.compare} "
            "--profile {params.profile} --csv {output.csv} "
            "--claims {output.claims} --metrics {output.metrics} --timing {output.timing} "
            "--record {output.record} > {log} 2>&1"

    rule gmm_figures:
        input:
            # the thesis's scatter and trace figures: each run's first seed
            [f"{RESULTS}/gmm/{label}/samples.npz" for label in gmm_figure_labels(config["gmm"])],
        output:
            data=figure(f"{FIGURES}/gmm/gmm_data.png", "gmm", "gmm_data", "thesis Fig 4.1", GMM_SUB),
            runs=[figure(f"{FIGURES}/gmm/gmm_{r}.png", "gmm", f"gmm_{r}", GMM_FIG.get(r, "-"), GMM_SUB)
                  for r in GMM_RUNS],
            record=record_of("gmm", "figures"),
        params:
            runs=lambda wildcards, input: [str(Path(p).parent) for p in input],
            out=lambda wildcards, output: str(Path(output.data).parent),
        log:
            log_of("gmm", "figures"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.gmm figures --runs {params.runs} --out-dir {params.out} "
            "--record {output.record} > {log} 2>&1"

    rule gmm_rhat_figure:
        input:
            runs=rules.gmm_table.input.runs,
            compare=rules.gmm_table.input.compare,
        output:
            png=figure(f"{FIGURES}/gmm/gmm_rhat_intervals.png", "gmm", "gmm_rhat_intervals",
                       "thesis section 4.1 R-hat table", GMM_SUB),
            record=record_of("gmm", "rhat_figure"),
        params:
            runs=lambda wildcards, input: [str(Path(p).parent) for p in input.runs],
            compare=lambda wildcards, input: [str(Path(p).parent) for p in input.compare],
        log:
            log_of("gmm", "rhat_figure"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.gmm rhat-figure --runs {params.runs} --compare {params.compare} "
            "--png {output.png} --record {output.record} > {log} 2>&1"

    # the table, the figures and every job's run record (a missing one reruns its job)
    GMM_TARGETS = [
        rules.gmm_table.output.csv,
        rules.gmm_samplers.output.csv,
        rules.gmm_rhat_figure.output.png,
        rules.gmm_figures.output.data,
        *rules.gmm_figures.output.runs,
        *GMM_RECORDS,
        *(r.output.record for r in (rules.gmm_table, rules.gmm_samplers, rules.gmm_rhat_figure, rules.gmm_figures)),
    ]
    ALL_TARGETS += GMM_TARGETS

    # one named target for the study (`snakemake gmm --config profile=fast`): its table and figures
    rule gmm:
        input:
            GMM_TARGETS,
        localrule: True
