"""Which slice of the true-CD vs NLL study each job reads (torch-free: the rule file uses it)."""

from ebmlab.studies.base import Job, entry, pick

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

EVERY = ("seed", "threads", "device", "data")
CLASSIFIER_KEYS = (*EVERY, "classifier")
TRAIN_KEYS = (*EVERY, "on_diverge", "model", "sampler", "train", "engine", "practical")
EVALUATE_KEYS = (*EVERY, "test_split", "model", "sampler", "engine", "practical", "eval", "ais")


def regime_labels(study):
    return list(study.get("regimes", DEFAULT_REGIMES))


def _regime_slice(keys):
    def cut(study, label):
        return {**pick(study, keys), "label": label, "regime": entry(study, "regimes", label, DEFAULT_REGIMES)}
    return cut


JOBS = {
    # one classifier for the study: it reads no sampler, model or regime
    "classifier": Job("ebmlab.studies.cd_vs_nll.config:ClassifierRun",
                      lambda study, label: pick(study, CLASSIFIER_KEYS)),
    "train": Job("ebmlab.studies.cd_vs_nll.config:TrainRun", _regime_slice(TRAIN_KEYS), regime_labels),
    "evaluate": Job("ebmlab.studies.cd_vs_nll.config:EvalRun", _regime_slice(EVALUATE_KEYS), regime_labels),
}
