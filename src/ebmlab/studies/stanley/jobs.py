"""Which slice of the STANLEY study each job reads (torch-free: the rule file uses it).

The study mapping is the whole ``stanley:`` section (``rings`` and ``images``). Job labels
(``--job``):

* ``rings``: the rings run's sampler label, e.g. ``stanley``;
* ``classifier``, ``reference``: the data-set label, e.g. ``mnist``;
* ``segment``, ``fid``: one curve of Figs 4-5 as ``<dataset>/<sampler>``, e.g. ``mnist/langevin``;
* ``inpaint``: none (one job per study).

A slice holds only what its job reads: the reference and classifier jobs see no sampler,
model or training settings; training segments do not see the scoring settings (``fid``,
the data set's ``metrics``), so editing how points are scored re-runs no training.
"""

from ebmlab.studies.base import ConfigError, Job, entry, pick, without

STUDY = "ebmlab.studies.stanley.config:StanleyStudy"
_CONFIG = "ebmlab.studies.stanley.config"

# defaults the slices need before validation; config.py takes its defaults from here
METRICS = ("inception",)
ITERATIONS = 100000
EVAL_EVERY = 5000
INPAINT_DATASET = "celeba"
INPAINT_SAMPLERS = ("stanley", "langevin")

_IMAGE_TABLES = ["datasets", "samplers", "inpainting"]


def part(study, name):
    """``study[name]`` (rings or images); null means this profile leaves the experiment out."""
    value = study.get(name)
    if value is None:
        raise ConfigError(f"stanley.{name} is null: not in this profile")
    return value


# ---------------------------------------------------------------------------
# the rings toy


def rings_labels(study):
    return list(part(study, "rings").get("samplers", {}))


def rings_slice(study, label):
    """A rings run: every shared rings setting, its label and its own sampler."""
    rings = part(study, "rings")
    return {**without(rings, ["samplers"]), "label": label, "sampler": entry(rings, "samplers", label)}


# ---------------------------------------------------------------------------
# the image curves and inpainting


def datasets_of(images):
    return images.get("datasets", {})


def samplers_of(images, dataset):
    """The curves drawn on ``dataset`` (its own list, or every sampler of the study)."""
    chosen = datasets_of(images)[dataset].get("samplers")
    return list(images.get("samplers", {})) if chosen is None else list(chosen)


def metrics_of(images, dataset):
    return list(datasets_of(images)[dataset].get("metrics", METRICS))


def eval_every(images, dataset):
    return datasets_of(images)[dataset].get("eval_every", EVAL_EVERY)


def points(images, dataset):
    """The curve's checkpoint iterations (one training segment and one scoring job each)."""
    every = eval_every(images, dataset)
    return list(range(every, datasets_of(images)[dataset].get("iterations", ITERATIONS) + 1, every))


def curve_label(dataset, sampler):
    return f"{dataset}/{sampler}"


def dataset_labels(study):
    return list(datasets_of(part(study, "images")))


def curve_labels(study):
    images = part(study, "images")
    return [curve_label(ds, s) for ds in datasets_of(images) for s in samplers_of(images, ds)]


def _dataset(images, dataset):
    if dataset not in datasets_of(images):
        raise ConfigError(f"unknown data set {dataset!r} (this study has {', '.join(datasets_of(images))})")
    return datasets_of(images)[dataset]


def _curve_entry(images, dataset, scoring):
    # a data set's own curve list is the rule file's business, not a curve's
    drop = ["samplers"] if scoring else ["samplers", "metrics"]
    return without(_dataset(images, dataset), drop)


def curve_slice(study, label, scoring=True):
    """One curve: the shared image settings, its data set and its sampler.

    ``scoring`` False (training segments) leaves out ``fid`` and the data set's ``metrics``;
    the checkpoint identity excludes both, so segment and fid jobs still agree on it.
    """
    images = part(study, "images")
    if label is None or label.count("/") != 1:
        raise ConfigError(f"--job takes <dataset>/<sampler> for a curve, got {label!r}")
    dataset, sampler = label.split("/")
    e = _curve_entry(images, dataset, scoring)
    curves = samplers_of(images, dataset)
    if sampler not in curves:
        raise ConfigError(f"unknown sampler {sampler!r} for {dataset} (curves: {', '.join(curves)})")
    drop = _IMAGE_TABLES if scoring else _IMAGE_TABLES + ["fid"]
    return {**without(images, drop), "dataset": dataset, "entry": e, "curve": sampler,
            "sampler": entry(images, "samplers", sampler)}


def segment_slice(study, label):
    return curve_slice(study, label, scoring=False)


def reference_slice(study, label):
    """A data set's reference statistics: its data, its metrics and the reference split only."""
    images = part(study, "images")
    e = _dataset(images, label)
    return {**pick(images, ["threads", "device"]), "dataset": label, **pick(e, ["data", "metrics"]),
            "fid": pick(images.get("fid", {}), ["reference_split", "reference_n"])}


def classifier_slice(study, label):
    """The digit classifier of a data set (metric 'classifier'): its data and fid.classifier."""
    images = part(study, "images")
    e = _dataset(images, label)
    fid = images.get("fid", {})
    return {**pick(images, ["seed", "device", "threads"]), **pick(e, ["data"]), **pick(fid, ["classifier"])}


def inpaint_slice(study, label=None):
    """Fig 6: the shared image settings, the inpainting data set and its chosen curves' samplers."""
    images = part(study, "images")
    if "inpainting" in images and images["inpainting"] is None:
        raise ConfigError("stanley.images.inpainting is null: no inpainting in this profile")
    ip = images.get("inpainting", {})
    dataset = ip.get("dataset", INPAINT_DATASET)
    if dataset not in datasets_of(images):
        raise ConfigError(f"inpainting.dataset: unknown data set {dataset!r} "
                          f"(datasets: {', '.join(datasets_of(images))})")
    curves = samplers_of(images, dataset)
    chosen = list(ip.get("samplers", INPAINT_SAMPLERS))
    for s in chosen:
        if s not in curves:
            raise ConfigError(f"inpainting.samplers: no {s!r} curve on {dataset} (curves: {', '.join(curves)})")
    return {**without(images, _IMAGE_TABLES + ["fid"]), "dataset": dataset,
            "entry": _curve_entry(images, dataset, scoring=False),
            "samplers": {s: entry(images, "samplers", s) for s in chosen}, "inpainting": ip}


CURVE = Job(f"{_CONFIG}:CurveJob", curve_slice, curve_labels)
JOBS = {
    "rings": Job(f"{_CONFIG}:RingsRun", rings_slice, rings_labels),
    "classifier": Job("ebmlab.metrics.classifier:ClassifierJob", classifier_slice, dataset_labels),
    "reference": Job(f"{_CONFIG}:ReferenceJob", reference_slice, dataset_labels),
    "segment": Job(f"{_CONFIG}:CurveJob", segment_slice, curve_labels),
    "fid": CURVE,
    "inpaint": Job(f"{_CONFIG}:InpaintJob", inpaint_slice),
}
