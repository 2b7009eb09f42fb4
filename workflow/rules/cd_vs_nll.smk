# Gagnon & Lajoie: true CD vs NLL on MNIST, made quantitative. Five regimes (nll, true_cd,
# true_cd_kl, nll_du_kl, nll_deform), each trained and evaluated (AIS NLL, mode coverage,
# classifier Frechet distance, stay fraction, Fig 3-5 chains); then figures and the table.
#
#   snakemake cd_vs_nll --cores 2 --config profile=smoke       # the whole study
#   snakemake cd_vs_nll --cores 2 --config profile=fast        # the evidence: 2 CPU cores (a GPU if present)

if "cd_vs_nll" in config:
    from snakemake.exceptions import WorkflowError

    from ebmlab.cd_vs_nll import CDvsNLLStudy
    from ebmlab.config import from_dict, to_dict
    from ebmlab.errors import ConfigError

    try:
        CDN = from_dict(CDvsNLLStudy, config["cd_vs_nll"], "cd_vs_nll")
    except ConfigError as err:
        raise WorkflowError(f"{PARAMS}: {err}")
    CDN_RES = study_resources("cd_vs_nll")
    CDN_GPU = {"gpus": CDN_RES["gpus"], "slurm_extra": "--gres=gpu:1"} if CDN_RES["gpus"] else {}
    CDN_DIR = f"{RESULTS}/cd_vs_nll"
    CDN_REGIMES = list(CDN.regimes)
    CDN_FIGS = [f"{FIGURES}/cd_vs_nll_{name}.png" for name in ("fig3", "fig4", "fig5", "samples")]

    # one regime's slice of the params (shared settings + its own regime), as a JSON argument
    cdn_run_config = lambda regime: as_json(to_dict(CDN.run(regime)))  # noqa: E731

    wildcard_constraints:
        cdn_regime="|".join(CDN_REGIMES),

    rule cd_vs_nll_classifier:
        output:
            f"{CDN_DIR}/classifier.pt",
        params:
            cfg=cdn_run_config(CDN_REGIMES[0]),
        log:
            f"{LOGS}/cd_vs_nll/classifier.log",
        threads: CDN.threads
        resources:
            mem_mb=CDN_RES["mem_mb"],
            runtime=CDN_RES["runtime"],
            **CDN_GPU,
        conda:
            ENV
        shell:
            "python -m ebmlab.cd_vs_nll classifier --config {params.cfg:q} --out {output} > {log} 2>&1"

    rule cd_vs_nll_train:
        output:
            model=f"{CDN_DIR}/{{cdn_regime}}/model.pt",
            history=f"{CDN_DIR}/{{cdn_regime}}/history.csv",
        params:
            cfg=lambda wildcards: cdn_run_config(wildcards.cdn_regime),
            out=lambda wildcards, output: str(Path(output.model).parent),
        log:
            f"{LOGS}/cd_vs_nll/{{cdn_regime}}/train.log",
        threads: CDN.threads
        resources:
            mem_mb=CDN_RES["mem_mb"],
            runtime=CDN_RES["runtime"],
            **CDN_GPU,
        conda:
            ENV
        shell:
            "python -m ebmlab.cd_vs_nll train --config {params.cfg:q} --out {params.out} > {log} 2>&1"

    rule cd_vs_nll_evaluate:
        input:
            model=rules.cd_vs_nll_train.output.model,
            classifier=rules.cd_vs_nll_classifier.output[0],
        output:
            metrics=f"{CDN_DIR}/{{cdn_regime}}/metrics.json",
            chains=f"{CDN_DIR}/{{cdn_regime}}/chains.npz",
        params:
            cfg=lambda wildcards: cdn_run_config(wildcards.cdn_regime),
            out=lambda wildcards, output: str(Path(output.metrics).parent),
        log:
            f"{LOGS}/cd_vs_nll/{{cdn_regime}}/evaluate.log",
        threads: CDN.threads
        resources:
            mem_mb=CDN_RES["mem_mb"],
            runtime=CDN_RES["runtime"],
            **CDN_GPU,
        conda:
            ENV
        shell:
            "python -m ebmlab.cd_vs_nll evaluate --config {params.cfg:q} --out {params.out} "
            "--classifier {input.classifier} > {log} 2>&1"

    rule cd_vs_nll_figures:
        input:
            expand(f"{CDN_DIR}/{{r}}/{{f}}", r=CDN_REGIMES, f=("metrics.json", "chains.npz")),
        output:
            CDN_FIGS,
        params:
            runs=[f"{CDN_DIR}/{r}" for r in CDN_REGIMES],
            out=lambda wildcards, output: str(Path(output[0]).parent),
        log:
            f"{LOGS}/cd_vs_nll/figures.log",
        conda:
            ENV
        shell:
            "python -m ebmlab.cd_vs_nll figures --runs {params.runs} --out-dir {params.out} > {log} 2>&1"

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
            f"{LOGS}/cd_vs_nll/table.log",
        conda:
            ENV
        shell:
            "python -m ebmlab.cd_vs_nll table --runs {params.runs} --profile {params.profile} "
            "--csv {output.csv} --claims {output.claims} --metrics {output.metrics} > {log} 2>&1"

    CDN_TARGETS = [
        *rules.cd_vs_nll_table.output,
        *CDN_FIGS,
        *[f"{FIGURES}/nijkamp/cd_vs_nll/{r}.png" for r in CDN_REGIMES],
    ]

    rule cd_vs_nll:
        input:
            CDN_TARGETS,
        localrule: True

    ALL_TARGETS += CDN_TARGETS
