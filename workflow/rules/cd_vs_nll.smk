# Gagnon & Lajoie: true CD vs NLL on MNIST, made quantitative. Five regimes (nll, true_cd,
# true_cd_kl, nll_du_kl, nll_deform), each trained and evaluated (AIS NLL, mode coverage,
# classifier Frechet distance, stay fraction, Fig 3-5 chains); then figures, the table and the
# claims (means and sds over seeds). A run's folder and job label is <regime>/seed<k>: the
# regimes in seeded_runs (default nll, true_cd) get every seed, the others the first.
#
#   snakemake cd_vs_nll --cores 2 --config profile=smoke       # the whole study
#   snakemake reports/fast/mnist_cd_vs_nll_claims.csv --cores 2 --config profile=fast   # the evidence,
#       with the figures and the Nijkamp diagnostics of every run (nijkamp.smk)

if "cd_vs_nll" in config:
    from ebmlab.studies.cd_vs_nll import jobs as cdn_jobs

    CDN_STUDY = config["cd_vs_nll"]
    CDN_REGIMES = cdn_jobs.regime_labels(CDN_STUDY)
    CDN_RUNS = cdn_jobs.run_labels(CDN_STUDY)   # <regime>/seed<k>; nijkamp.smk reads it too
    CDN_SEED0 = cdn_jobs.seeds(CDN_STUDY)[0]
    CDN_THREADS = CDN_STUDY.get("threads", 1)
    CDN_DIR = f"{RESULTS}/cd_vs_nll"
    CDN_RUN_DIRS = [f"{CDN_DIR}/{run}" for run in CDN_RUNS]
    # the figures show every regime's first seed
    CDN_FIG_DIRS = [f"{CDN_DIR}/{cdn_jobs.seed_label(r, CDN_SEED0)}" for r in CDN_REGIMES]
    CDN_FIGS = [f"{FIGURES}/cd_vs_nll/cd_vs_nll_{name}.png" for name in ("fig3", "fig4", "fig5", "samples")]
    # report labels: Gagnon & Lajoie's figure of each (captions in workflow/report/cd_vs_nll/)
    CDN_PAPER = {"fig3": "Gagnon & Lajoie Fig 3", "fig4": "Gagnon & Lajoie Fig 4", "fig5": "Gagnon & Lajoie Fig 5",
                 "samples": "- (quantifies section 6)"}

    wildcard_constraints:
        cdn_regime="|".join(CDN_REGIMES),
        cdn_seed=r"\d+",

    # one digit classifier for the study; it reads no sampler or regime, so their edits keep it
    rule cd_vs_nll_classifier:
        output:
            weights=f"{CDN_DIR}/classifier.pt",
            record=f"{CDN_DIR}/classifier.run.yaml",
        params:
            cfg=job_config("cd_vs_nll", "cd_vs_nll", "classifier"),
        log:
            log_of("cd_vs_nll", "classifier"),
        threads: CDN_THREADS
        resources:
            **job_resources("cd_vs_nll", gpu=False),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll classifier --config {params.cfg:q} --out {output.weights} > {log} 2>&1"

    rule cd_vs_nll_train:
        output:
            model=f"{CDN_DIR}/{{cdn_regime}}/seed{{cdn_seed}}/model.pt",
            history=f"{CDN_DIR}/{{cdn_regime}}/seed{{cdn_seed}}/history.csv",
            record=f"{CDN_DIR}/{{cdn_regime}}/seed{{cdn_seed}}/train.run.yaml",
        params:
            cfg=lambda wildcards: job_config("cd_vs_nll", "cd_vs_nll", "train",
                                             f"{wildcards.cdn_regime}/seed{wildcards.cdn_seed}"),
            out=lambda wildcards, output: str(Path(output.model).parent),
        log:
            log_of("cd_vs_nll", "{cdn_regime}/seed{cdn_seed}/train"),
        threads: CDN_THREADS
        resources:
            **job_resources("cd_vs_nll", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll train --config {params.cfg:q} "
            "--job {wildcards.cdn_regime}/seed{wildcards.cdn_seed} --out {params.out} > {log} 2>&1"

    rule cd_vs_nll_evaluate:
        input:
            model=rules.cd_vs_nll_train.output.model,
            classifier=rules.cd_vs_nll_classifier.output.weights,
        output:
            metrics=f"{CDN_DIR}/{{cdn_regime}}/seed{{cdn_seed}}/metrics.json",
            chains=f"{CDN_DIR}/{{cdn_regime}}/seed{{cdn_seed}}/chains.npz",
            record=f"{CDN_DIR}/{{cdn_regime}}/seed{{cdn_seed}}/evaluate.run.yaml",
        params:
            cfg=lambda wildcards: job_config("cd_vs_nll", "cd_vs_nll", "evaluate",
                                             f"{wildcards.cdn_regime}/seed{wildcards.cdn_seed}"),
            out=lambda wildcards, output: str(Path(output.metrics).parent),
        log:
            log_of("cd_vs_nll", "{cdn_regime}/seed{cdn_seed}/evaluate"),
        threads: CDN_THREADS
        resources:
            **job_resources("cd_vs_nll", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll evaluate --config {params.cfg:q} "
            "--job {wildcards.cdn_regime}/seed{wildcards.cdn_seed} --out {params.out} "
            "--classifier {input.classifier} > {log} 2>&1"

    rule cd_vs_nll_figures:
        input:
            [f"{d}/{f}" for d in CDN_FIG_DIRS for f in ("metrics.json", "chains.npz")],
        output:
            [figure(f, "cd_vs_nll", Path(f).stem, CDN_PAPER[Path(f).stem.rsplit("_", 1)[1]], "Figs 3-5 analogues")
             for f in CDN_FIGS],
            record=record_of("cd_vs_nll", "figures"),
        params:
            runs=CDN_FIG_DIRS,
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            log_of("cd_vs_nll", "figures"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll figures --runs {params.runs} --out-dir {params.out} "
            "--record {output.record} > {log} 2>&1"

    # the claims target builds the whole evidence: figures and the runs' Nijkamp diagnostics are
    # inputs here although the table does not read them
    rule cd_vs_nll_table:
        input:
            runs=[f"{d}/{f}" for d in CDN_RUN_DIRS for f in ("metrics.json", "history.csv")],
            figures=CDN_FIGS,
            nijkamp=[f"{REPORTS}/nijkamp_cd_vs_nll.csv", f"{REPORTS}/nijkamp_cd_vs_nll_claims.csv",
                     f"{FIGURES}/nijkamp/cd_vs_nll/summary.png"],
        output:
            csv=f"{REPORTS}/mnist_cd_vs_nll.csv",
            claims=f"{REPORTS}/mnist_cd_vs_nll_claims.csv",
            metrics=f"{REPORTS}/metrics/mnist_cd_vs_nll.json",
            record=record_of("cd_vs_nll", "table"),
        params:
            runs=CDN_RUN_DIRS,
            profile=PROFILE,
        log:
            log_of("cd_vs_nll", "table"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll table --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --claims {output.claims} --metrics {output.metrics} --record {output.record} "
            "> {log} 2>&1"

    # ... and the run record of every job they need (a missing one reruns its job), the runs'
    # Nijkamp diagnostics (nijkamp.smk) included
    CDN_RECORDS = ([rules.cd_vs_nll_classifier.output.record]
                   + [f"{d}/{job}.run.yaml" for d in CDN_RUN_DIRS for job in ("train", "evaluate")]
                   + [rules.cd_vs_nll_figures.output.record, rules.cd_vs_nll_table.output.record]
                   + [f"{RESULTS}/nijkamp/cd_vs_nll/{run}.run.yaml" for run in [*CDN_RUNS, "summary"]])
    CDN_TARGETS = [rules.cd_vs_nll_table.output.csv, rules.cd_vs_nll_table.output.claims,
                   rules.cd_vs_nll_table.output.metrics, *CDN_FIGS, *CDN_RECORDS]

    # the study's named target (`snakemake cd_vs_nll --config profile=fast`): tables, figures, diagnostics
    rule cd_vs_nll:
        input:
            CDN_TARGETS,
        localrule: True

    ALL_TARGETS += CDN_TARGETS
