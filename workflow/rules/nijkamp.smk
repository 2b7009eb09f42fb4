# Nijkamp et al.'s learning diagnostics (practical appendix D) for every image-EBM training run
# of the other studies (this file is included after them and reads their run lists):
#   per run results/<profile>/<study>/<run>/ (history.csv logging d_st and r_t):
#     <FIGURES>/nijkamp/<study>/<run>.png and <REPORTS>/metrics/nijkamp/<study>/<run>.json, the job's
#     run record results/<profile>/nijkamp/<study>/<run>.run.yaml
#     (<run> may be nested, e.g. mnist/langevin/seed0; STANLEY's curves are read from their
#     final checkpoint, which holds the trainer's history)
#   per study: <REPORTS>/nijkamp_<study>.csv, nijkamp_<study>_claims.csv (N1-N2) and
#     <FIGURES>/nijkamp/<study>/summary.png (record <study>/summary.run.yaml); over all studies:
#     <REPORTS>/nijkamp_claims.csv (record results/<profile>/nijkamp/pool.run.yaml)
#
#   snakemake nijkamp --cores 2 --config profile=fast    # every study's diagnostics
# No params section: nothing to cut.

# study -> its image runs (folders below RESULTS/<study>/); JEM's from its jobs module
NJ_RUNS = {}
NJ_EPS = {}
if "table4_1" in config:
    NJ_RUNS["table4_1"] = [f"{ds}/{run}" for ds, run in T41_CELLS]
for _s in JEM_SETS:
    NJ_RUNS[_s] = list(JEM_JOBS["train"].labels(JEM_SETS[_s]))
if "cd_vs_nll" in config:
    NJ_RUNS["cd_vs_nll"] = list(CDN_RUNS)
    NJ_EPS["cd_vs_nll"] = cdn_jobs.train_noise_std(CDN_STUDY)
NJ_STANLEY = []
if "stanley" in config and config["stanley"].get("images") is not None:
    NJ_STANLEY = [f"{ds}/{s}" for ds in STN_DATASETS for s in stn_jobs.samplers_of(IMG, ds)]
    NJ_RUNS["stanley"] = NJ_STANLEY

NJ_SUMMARIES = [
    out
    for study in NJ_RUNS
    for out in (f"{REPORTS}/nijkamp_{study}.csv", f"{REPORTS}/nijkamp_{study}_claims.csv",
                f"{FIGURES}/nijkamp/{study}/summary.png")
]
# the run record of every diagnose and summary job (a missing one reruns its job)
NJ_SUMMARIES += [f"{RESULTS}/nijkamp/{study}/{run}.run.yaml" for study in NJ_RUNS for run in [*NJ_RUNS[study], "summary"]]

# a STANLEY curve logs its history in its checkpoints, not in a history.csv
ruleorder: nijkamp_diagnostics_checkpoint > nijkamp_diagnostics


rule nijkamp_diagnostics:
    input:
        f"{RESULTS}/{{nj_study}}/{{nj_run}}/history.csv",
    output:
        figure=figure(f"{FIGURES}/nijkamp/{{nj_study}}/{{nj_run}}.png", "nijkamp", "diagnostics",
                      "Nijkamp appendix Figs 1-2 (layout)", "{nj_study}"),
        metrics=f"{REPORTS}/metrics/nijkamp/{{nj_study}}/{{nj_run}}.json",
        record=f"{RESULTS}/nijkamp/{{nj_study}}/{{nj_run}}.run.yaml",
    wildcard_constraints:
        nj_study="[^/]+",
        nj_run="(?!summary$).+",   # <study>/summary.png is the study's summary figure
    log:
        log_of("nijkamp", "{nj_study}/{nj_run}"),
    localrule: True
    conda:
        ENV
    shell:
        "python -m ebmlab.studies.nijkamp diagnose --history {input} --figure {output.figure} "
        "--metrics {output.metrics} --title '{wildcards.nj_study}/{wildcards.nj_run}' --record {output.record} "
        "> {log} 2>&1"


if NJ_STANLEY:

    rule nijkamp_diagnostics_checkpoint:
        input:
            lambda wildcards: stn_final(*wildcards.nj_run.split("/")),
        output:
            figure=figure(f"{FIGURES}/nijkamp/stanley/{{nj_run}}.png", "nijkamp", "diagnostics",
                          "Nijkamp appendix Figs 1-2 (layout)", "stanley"),
            metrics=f"{REPORTS}/metrics/nijkamp/stanley/{{nj_run}}.json",
            record=f"{RESULTS}/nijkamp/stanley/{{nj_run}}.run.yaml",
        wildcard_constraints:
            nj_run="|".join(NJ_STANLEY),
        log:
            log_of("nijkamp", "stanley/{nj_run}"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.nijkamp diagnose --history {input} --figure {output.figure} "
            "--metrics {output.metrics} --title 'stanley/{wildcards.nj_run}' --record {output.record} > {log} 2>&1"


if NJ_RUNS:

    rule nijkamp_summary:
        input:
            lambda wildcards: [f"{REPORTS}/metrics/nijkamp/{wildcards.nj_sum}/{run}.json"
                               for run in NJ_RUNS[wildcards.nj_sum]],
        output:
            csv=f"{REPORTS}/nijkamp_{{nj_sum}}.csv",
            claims=f"{REPORTS}/nijkamp_{{nj_sum}}_claims.csv",
            figure=figure(f"{FIGURES}/nijkamp/{{nj_sum}}/summary.png", "nijkamp", "summary",
                          "- (summarises Figs 1-2)", "{nj_sum}"),
            record=f"{RESULTS}/nijkamp/{{nj_sum}}/summary.run.yaml",
        wildcard_constraints:
            nj_sum="|".join(NJ_RUNS),
        params:
            runs=lambda wildcards: NJ_RUNS[wildcards.nj_sum],
            profile=PROFILE,
            eps=lambda wildcards: f"--eps {NJ_EPS[wildcards.nj_sum]}" if wildcards.nj_sum in NJ_EPS else "",
        log:
            log_of("nijkamp", "summary_{nj_sum}"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.nijkamp summary --metrics {input} --runs {params.runs} "
            "--study {wildcards.nj_sum} --profile {params.profile} --csv {output.csv} --claims {output.claims} "
            "--figure {output.figure} {params.eps} --record {output.record} > {log} 2>&1"


    # the claims over every study's runs
    rule nijkamp_pool:
        input:
            [f"{REPORTS}/nijkamp_{study}.csv" for study in NJ_RUNS],
        output:
            claims=f"{REPORTS}/nijkamp_claims.csv",
            record=f"{RESULTS}/nijkamp/pool.run.yaml",
        params:
            profile=PROFILE,
        log:
            log_of("nijkamp", "pool"),
        localrule: True
        conda:
            ENV
        shell:
            "python -m ebmlab.studies.nijkamp pool --tables {input} --profile {params.profile} "
            "--claims {output.claims} --record {output.record} > {log} 2>&1"

    NJ_SUMMARIES += [rules.nijkamp_pool.output.claims, rules.nijkamp_pool.output.record]


# every study's diagnostics (`snakemake nijkamp --config profile=fast`)
rule nijkamp:
    input:
        NJ_SUMMARIES,
    localrule: True


ALL_TARGETS += NJ_SUMMARIES
