# Gagnon & Lajoie: true CD vs NLL on MNIST, made quantitative. Five regimes (nll, true_cd,
# true_cd_kl, nll_du_kl, nll_deform), each trained and evaluated (AIS NLL, mode coverage,
# classifier Frechet distance, stay fraction, Fig 3-5 chains); then figures and the table.
#
#   snakemake cd_vs_nll --cores 2 --config profile=smoke       # the whole study
#   snakemake cd_vs_nll --cores 2 --config profile=fast        # the evidence: 2 CPU cores (a GPU if present)

if "cd_vs_nll" in config:
    from ebmlab.studies.cd_vs_nll.jobs import regime_labels

    CDN_REGIMES = regime_labels(config["cd_vs_nll"])
    CDN_THREADS = config["cd_vs_nll"].get("threads", 1)
    CDN_DIR = f"{RESULTS}/cd_vs_nll"
    CDN_FIGS = [f"{FIGURES}/cd_vs_nll/cd_vs_nll_{name}.png" for name in ("fig3", "fig4", "fig5", "samples")]

    wildcard_constraints:
        cdn_regime="|".join(CDN_REGIMES),

    # one digit classifier for the study; it reads no sampler or regime, so their edits keep it
    rule cd_vs_nll_classifier:
        output:
            f"{CDN_DIR}/classifier.pt",
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
            "python -m ebmlab.studies.cd_vs_nll classifier --config {params.cfg:q} --out {output} > {log} 2>&1"

    rule cd_vs_nll_train:
        output:
            model=f"{CDN_DIR}/{{cdn_regime}}/model.pt",
            history=f"{CDN_DIR}/{{cdn_regime}}/history.csv",
        params:
            cfg=lambda wildcards: job_config("cd_vs_nll", "cd_vs_nll", "train", wildcards.cdn_regime),
            out=lambda wildcards, output: str(Path(output.model).parent),
        log:
            log_of("cd_vs_nll", "{cdn_regime}/train"),
        threads: CDN_THREADS
        resources:
            **job_resources("cd_vs_nll", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll train --config {params.cfg:q} --job {wildcards.cdn_regime} "
            "--out {params.out} > {log} 2>&1"

    rule cd_vs_nll_evaluate:
        input:
            model=rules.cd_vs_nll_train.output.model,
            classifier=rules.cd_vs_nll_classifier.output[0],
        output:
            metrics=f"{CDN_DIR}/{{cdn_regime}}/metrics.json",
            chains=f"{CDN_DIR}/{{cdn_regime}}/chains.npz",
        params:
            cfg=lambda wildcards: job_config("cd_vs_nll", "cd_vs_nll", "evaluate", wildcards.cdn_regime),
            out=lambda wildcards, output: str(Path(output.metrics).parent),
        log:
            log_of("cd_vs_nll", "{cdn_regime}/evaluate"),
        threads: CDN_THREADS
        resources:
            **job_resources("cd_vs_nll", gpu=True),
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll evaluate --config {params.cfg:q} --job {wildcards.cdn_regime} "
            "--out {params.out} --classifier {input.classifier} > {log} 2>&1"

    rule cd_vs_nll_figures:
        input:
            expand(f"{CDN_DIR}/{{r}}/{{f}}", r=CDN_REGIMES, f=("metrics.json", "chains.npz")),
        output:
            CDN_FIGS,
        params:
            runs=[f"{CDN_DIR}/{r}" for r in CDN_REGIMES],
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            log_of("cd_vs_nll", "figures"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll figures --runs {params.runs} --out-dir {params.out} > {log} 2>&1"

    rule cd_vs_nll_table:
        input:
            expand(f"{CDN_DIR}/{{r}}/{{f}}", r=CDN_REGIMES, f=("metrics.json", "history.csv")),
        output:
            csv=f"{REPORTS}/mnist_cd_vs_nll.csv",
            claims=f"{REPORTS}/mnist_cd_vs_nll_claims.csv",
            metrics=f"{REPORTS}/metrics/mnist_cd_vs_nll.json",
        params:
            runs=[f"{CDN_DIR}/{r}" for r in CDN_REGIMES],
            profile=PROFILE,
        log:
            log_of("cd_vs_nll", "table"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.cd_vs_nll table --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --claims {output.claims} --metrics {output.metrics} > {log} 2>&1"

    CDN_TARGETS = [
        *rules.cd_vs_nll_table.output,
        *CDN_FIGS,
        *[f"{FIGURES}/nijkamp/cd_vs_nll/{r}.png" for r in CDN_REGIMES],
    ]

    # the study's named target (`snakemake cd_vs_nll --config profile=fast`): tables, figures, diagnostics
    rule cd_vs_nll:
        input:
            CDN_TARGETS,
        localrule: True

    ALL_TARGETS += CDN_TARGETS
