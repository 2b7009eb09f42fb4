"""The studies: one package each, on the shared skeleton in :mod:`ebmlab.studies.base`.

``SECTIONS`` maps each params-file section to its study's config class ("module:Class",
imported lazily so that listing the studies imports no torch). No study imports another.
"""

SECTIONS = {
    "gmm": "ebmlab.studies.gmm.config:GMMStudy",
    "table4_1": "ebmlab.studies.table4_1.config:Table41Study",
    "jem": "ebmlab.studies.jem.config:JEMStudy",
    "cd_vs_nll": "ebmlab.studies.cd_vs_nll.config:CDvsNLLStudy",
    "stanley": "ebmlab.studies.stanley.config:StanleyStudy",
}

#: every study package (nijkamp has no params section: it reads other studies' histories)
STUDIES = ("gmm", "table4_1", "jem", "cd_vs_nll", "stanley", "nijkamp")
