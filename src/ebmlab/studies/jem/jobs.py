"""Which slice of a JEM study (params section ``jem`` or ``jem_mnist``) each job reads.

Torch-free: the rule file uses it. The classifier and reference jobs see no samplers, model
or training recipe, so editing those does not re-run them.
"""

from ebmlab.studies.base import (
    Job, entry, parse_seed_label, pick, require_seed, run_seed_labels, seeded_runs, seeds_of, without,
)

STUDY = "ebmlab.studies.jem.config:JEMStudy"
_CONFIG = "ebmlab.studies.jem.config:"

#: the figures of one section, written as <section>_<name>.png (the rule file declares them)
FIGURES = ("accuracy", "acceptance_mala", "acceptance_sgld", "acceptance_trend", "inv_precond", "samples")


def run_slice(study, label):
    """A train job (``--job <run>/seed<k>``): every shared setting with ``seed`` = k, the run's
    label and its own sampler."""
    run, seed = parse_seed_label(label)
    out = {**without(study, ["samplers", "seeds", "seeded_runs"]), "label": run,
           "sampler": entry(study, "samplers", run)}
    require_seed(run, seed, seeds_of(study, run, seeded_runs(study)))
    out["seed"] = seed
    return out


run_labels = run_seed_labels


def classifier_slice(study, label=None):
    return pick(study, ["seed", "threads", "device", "data"])


def reference_slice(study, label=None):
    out = pick(study, ["threads", "device", "data"])
    if "fid" in study:   # the scores' kinds and reference set, not how many samples they score
        out["fid"] = pick(study["fid"], ["metrics", "reference_split", "reference_n"])
    return out


def bench_slice(study, label=None):
    return pick(study, ["seed", "threads", "device", "train", "samplers"])


JOBS = {
    "classifier": Job(_CONFIG + "JEMClassifier", classifier_slice),
    "reference": Job(_CONFIG + "JEMReference", reference_slice),
    "train": Job(_CONFIG + "JEMRun", run_slice, run_labels),
    "bench": Job(_CONFIG + "JEMBench", bench_slice),
}


def needs_classifier(study):
    """Whether a section's scores need the digit classifier (a classifier job before the reference)."""
    return "classifier" in study.get("fid", {}).get("metrics", [])
