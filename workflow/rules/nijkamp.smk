# Nijkamp et al.'s learning diagnostics (practical appendix D) for any image-EBM training run:
# every run folder results/<profile>/<study>/<run>/ whose history.csv logs d_st and r_t gets
#   <FIGURES>/nijkamp/<study>/<run>.png and <REPORTS>/metrics/nijkamp/<study>/<run>.json
# (<run> may contain '/', e.g. table4_1/mnist/langevin). Request the figure to get it; the
# studies below add theirs to the default target. No params section: nothing to cut.


rule nijkamp_diagnostics:
    input:
        f"{RESULTS}/{{nj_study}}/{{nj_run}}/history.csv",
    output:
        figure=f"{FIGURES}/nijkamp/{{nj_study}}/{{nj_run}}.png",
        metrics=f"{REPORTS}/metrics/nijkamp/{{nj_study}}/{{nj_run}}.json",
    wildcard_constraints:
        nj_study="[^/]+",
        nj_run=".+",
    log:
        log_of("nijkamp", "{nj_study}/{nj_run}"),
    localrule: True
    conda:
        ENV
    shell:
        "python -m ebmlab.studies.nijkamp diagnose --history {input} --figure {output.figure} "
        "--metrics {output.metrics} --title '{wildcards.nj_study}/{wildcards.nj_run}' > {log} 2>&1"


# every image training run of the other studies gets its diagnostics figure too
if "table4_1" in config:
    ALL_TARGETS += [f"{FIGURES}/nijkamp/table4_1/{ds}/{run}.png" for ds, run in T41_CELLS]
