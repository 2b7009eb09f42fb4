# ebmlab: every table and figure of the reproduced papers, one DAG.
#
#   snakemake reports/gmm_rhat.csv --cores all                  # paper profile (the default)
#   snakemake --cores 2 --config profile=smoke                  # every smoke target -> reports/smoke/
#   snakemake --cores 2 --config profile=fast                   # the evidence, 2 CPU cores -> reports/fast/
#
# The profile switch picks params/<profile>.yaml; common.smk validates it against
# workflow/schemas/params.schema.yaml, sets the output folders and holds the rule defaults
# (job_config, job_resources, log_of). Each study's rules live in workflow/rules/<study>.smk
# and add their final targets to ALL_TARGETS.


# the front page of `snakemake --report` (each figure's caption lives in workflow/report/<study>/)
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/gmm.smk"
include: "workflow/rules/table4_1.smk"
include: "workflow/rules/jem.smk"
include: "workflow/rules/cd_vs_nll.smk"
include: "workflow/rules/stanley.smk"
# last: it reads the other studies' run lists
include: "workflow/rules/nijkamp.smk"


rule all:
    input:
        ALL_TARGETS,
    default_target: True
    localrule: True
