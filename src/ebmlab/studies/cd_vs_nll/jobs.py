"""Which slice of the true-CD vs NLL study each job reads (torch-free: the rule file uses it).

A regime's train and evaluate jobs are labelled ``<regime>/seed<k>`` (also their results
folder): the regimes in ``seeded_runs`` (default: the ones that decide a claim, nll and
true_cd) get every seed in ``seeds``, the others the first one. The classifier is trained
once, with the first seed.
"""

from ebmlab.studies.base import (Job, entry, noise_std, parse_seed_label, pick, require_seed, seed_label, seeds,
                                 seeds_of)

STUDY = "ebmlab.studies.cd_vs_nll.config:CDvsNLLStudy"

REGIMES = ("nll", "true_cd", "true_cd_kl", "nll_du_kl", "nll_deform")
#: the regimes of a study whose params leave ``regimes`` out (plain mappings: config.Regime's fields)
DEFAULT_REGIMES = {
    "nll": {"init": "nll", "reinit_prob": 0.05},
    "true_cd": {"init": "true_cd", "reinit_prob": 0.1},
    "true_cd_kl": {"init": "true_cd", "reinit_prob": 0.1, "aux": [{"name": "kl_cd"}]},
    "nll_du_kl": {"init": "nll", "reinit_prob": 0.05, "aux": [{"name": "kl"}]},
    "nll_deform": {"init": "nll", "reinit_prob": 0.05, "augment": {"name": "elastic"}},
}
#: the regimes whose numbers decide most claims (C1-C3, C5): seeded unless ``seeded_runs`` says otherwise
DEFAULT_SEEDED = ("nll", "true_cd")

EVERY = ("seed", "threads", "device", "data")
CLASSIFIER_KEYS = (*EVERY, "classifier")
CHAINS = ("model", "sampler", "noise_is", "engine", "practical")
TRAIN_KEYS = (*EVERY, "on_diverge", *CHAINS, "train")
EVALUATE_KEYS = (*EVERY, "test_split", *CHAINS, "eval", "ais")


def regime_labels(study):
    """The study's regimes (the keys of ``regimes``)."""
    return list(study.get("regimes") or DEFAULT_REGIMES)


def seeded_regimes(study):
    """``seeded_runs``, or the default seeded regimes the study has."""
    named = study.get("seeded_runs")
    return list(named) if named is not None else [r for r in DEFAULT_SEEDED if r in regime_labels(study)]


def regime_seeds(study, regime):
    return seeds_of(study, regime, seeded_regimes(study))


def run_labels(study):
    """Every ``<regime>/seed<k>`` job of the study, regimes in the study's order."""
    return [seed_label(r, s) for r in regime_labels(study) for s in regime_seeds(study, r)]


def train_noise_std(study) -> float:
    """The training chains' noise std (``sampler.noise_std`` read per ``noise_is``), from raw params."""
    return noise_std((study.get("sampler") or {}).get("noise_std", 0.005), study.get("noise_is", "std"))


def classifier_slice(study, label=None):
    return {**pick(study, CLASSIFIER_KEYS), "seed": seeds(study)[0]}


def _regime_slice(keys):
    def cut(study, label):
        regime, seed = parse_seed_label(label)
        spec = entry(study, "regimes", regime, DEFAULT_REGIMES)
        require_seed(regime, seed, regime_seeds(study, regime))
        return {**pick(study, keys), "seed": seed, "label": regime, "regime": spec}
    return cut


JOBS = {
    # one classifier for the study: it reads no sampler, model or regime
    "classifier": Job("ebmlab.studies.cd_vs_nll.config:ClassifierRun", classifier_slice),
    "train": Job("ebmlab.studies.cd_vs_nll.config:TrainRun", _regime_slice(TRAIN_KEYS), run_labels),
    "evaluate": Job("ebmlab.studies.cd_vs_nll.config:EvalRun", _regime_slice(EVALUATE_KEYS), run_labels),
}
