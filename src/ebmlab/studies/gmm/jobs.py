"""Which slice of the GMM study each job reads (torch-free: the rule file uses it).

A train job sees only what shapes its energy (data, model, recipe, its sampler, its seed), so
editing how runs are evaluated or compared never retrains them; an evaluate job sees the run's
whole slice; a compare job (the fixed-energy comparison, one per energy and seed) sees every
sampler, the comparison's settings and what the shared energy's run was trained with.
"""

from ebmlab.studies.base import (
    Job, entry, parse_seed_label, pick, run_and_seed, run_seed_labels, seed_label, seeds, without,
)

STUDY = "ebmlab.studies.gmm.config:GMMStudy"
_CONFIG = "ebmlab.studies.gmm.config:"

#: the settings that shape a trained energy (the train job's slice and its checkpoint hash)
TRAIN_KEYS = ["seed", "threads", "engine", "matmul_dtype", "chunk", "data", "model", "train"]
#: the energies of the fixed-energy comparison
ENERGIES = ("true", "shared")


def train_slice(study, label):
    """``--job <run>/seed<k>``: what shapes the energy, with ``seed`` = k."""
    run, seed = run_and_seed(study, label)
    return {**pick(study, TRAIN_KEYS), "seed": seed, "label": run, "sampler": entry(study, "samplers", run)}


def evaluate_slice(study, label):
    """``--job <run>/seed<k>``: every shared setting (R-hat, test NLL, figures), with ``seed`` = k."""
    run, seed = run_and_seed(study, label)
    return {**without(study, ["samplers", "seeds", "seeded_runs", "compare"]), "seed": seed, "label": run,
            "sampler": entry(study, "samplers", run)}


run_labels = run_seed_labels
#: the chain seeds of the fixed-energy comparison when the params leave them out
COMPARE_SEEDS = list(range(10))


def figure_labels(study):
    """The runs the thesis's scatter and trace figures show: each run's first seed."""
    return [seed_label(run, seeds(study)[0]) for run in study.get("samplers", {})]


def compare_labels(study):
    """``<energy>/seed<k>``: each energy of the fixed-energy comparison with each of its seeds."""
    c = study.get("compare", {})
    return [seed_label(e, s) for e in ENERGIES for s in c.get("seeds", COMPARE_SEEDS)]


def shared_run(study):
    """The train job label whose energy the 'shared' comparison samples: ``<energy_run>/seed<first>``."""
    return seed_label(study.get("compare", {}).get("energy_run", "sgld"), seeds(study)[0])


def compare_slice(study, label):
    """``--job <energy>/seed<k>``: every sampler, the comparison's settings and the data."""
    energy, seed = parse_seed_label(label)
    if label not in compare_labels(study):
        from ebmlab.errors import ConfigError
        raise ConfigError(f"unknown compare job {label!r} (energies: {', '.join(ENERGIES)}; "
                          f"seeds: the compare section's seeds)")
    return {**pick(study, ["threads", "data", "model", "train", "rhat", "samplers", "compare"]),
            "energy": energy, "compare_seed": seed, "seed": seeds(study)[0]}


JOBS = {
    "train": Job(_CONFIG + "GMMRun", train_slice, run_labels),
    "evaluate": Job(_CONFIG + "GMMRun", evaluate_slice, run_labels),
    "compare": Job(_CONFIG + "GMMCompare", compare_slice, compare_labels),
}
