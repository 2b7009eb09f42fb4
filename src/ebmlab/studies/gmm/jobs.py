"""Which slice of the GMM study each job reads (torch-free: the rule file uses it)."""

from ebmlab.studies.base import Job, entry, without

STUDY = "ebmlab.studies.gmm.config:GMMStudy"


def run_slice(study, label):
    """A run: every shared setting, its label and its own sampler."""
    return {**without(study, ["samplers"]), "label": label, "sampler": entry(study, "samplers", label)}


def run_labels(study):
    return list(study.get("samplers", {}))


RUN = Job("ebmlab.studies.gmm.config:GMMRun", run_slice, run_labels)
JOBS = {"train": RUN, "evaluate": RUN}
