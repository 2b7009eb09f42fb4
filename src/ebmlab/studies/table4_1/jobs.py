"""Which slice of the Table 4.1 study each job reads (torch-free: the rule file uses it).

Three job kinds, labelled as their outputs are:

* ``classifier`` (``--job <dataset>``, data sets scored with the 'classifier' metric): the
  digit classifier of :mod:`ebmlab.metrics.classifier`: the data set's images, ``fid.classifier``,
  seed, device, threads;
* ``reference`` (``--job <dataset>``): the data set's images and metrics, ``fid.reference_split``
  and ``fid.reference_n``, device, threads; no samplers, no training settings;
* ``cell`` (``--job <dataset>/<run>``): the shared settings, the data set's entry, the run's
  own sampler (and, for a switch, the one it switches to); not the other runs.
"""

from ebmlab.studies.base import ConfigError, Job, entry, pick, without

STUDY = "ebmlab.studies.table4_1.config:Table41Study"

#: the defaults of the keys that decide which jobs exist, as plain data (the rule files read raw
#: params); they are Table41Study's defaults (tests/test_table4_1.py checks that they agree)
DEFAULTS = {
    "datasets": {name: {"data": {"name": name}} for name in ("cifar10", "svhn", "mnist", "cats")},
    "samplers": {
        "langevin": {"name": "langevin", "step_size": 100.0, "track_acceptance": True},
        "mala": {"name": "mala", "step_size": 100.0},
        "tempered_mala": {"name": "tempered_mala", "step_size": 100.0},
        "psgld": {"name": "psgld", "step_size": 100.0, "alpha": 0.9, "lam": 1.0, "precondition_noise": False},
    },
    "switches": {},
    "table_samplers": ["langevin", "mala", "tempered_mala", "psgld"],
    "figure_datasets": ["cifar10"],
}

#: Table41Common's keys: what every cell shares
COMMON = ("seed", "threads", "device", "noise", "noise_is", "clamp_chains", "on_diverge", "train", "fid", "engine")


def _filled(study):
    """The study with DEFAULTS where it leaves a job-deciding key out (or null)."""
    return {**study, **{k: v for k, v in DEFAULTS.items() if study.get(k) is None}}


def datasets(study) -> list[str]:
    return list(_filled(study)["datasets"])


def figure_datasets(study) -> list[str]:
    return list(_filled(study)["figure_datasets"])


def _entry(study, ds) -> dict:
    return entry(study, "datasets", ds) or {}


def metrics_of(study, ds) -> list[str]:
    """The scores data set ``ds`` is given (the 'classifier' metric needs a classifier job)."""
    return list(_entry(_filled(study), ds).get("metrics", ["inception"]))


def runs(study) -> list[str]:
    study = _filled(study)
    return list(study["samplers"]) + list(study["switches"])


def runs_of(study, ds) -> list[str]:
    """The data set's rows (table_samplers unless it names its own), plus every other run on
    the figure data sets."""
    study = _filled(study)
    rows = _entry(study, ds).get("runs")
    rows = list(study["table_samplers"] if rows is None else rows)
    if ds in study["figure_datasets"]:
        rows += [r for r in runs(study) if r not in rows]
    return rows


def cells(study) -> list[tuple[str, str]]:
    """Every (data set, run) cell of the study."""
    return [(ds, run) for ds in datasets(study) for run in runs_of(study, ds)]


def cell_slice(study, label):
    """A cell: the shared settings, its data set's entry and its run's sampler(s)."""
    study = _filled(study)
    ds, sep, run = (label or "").partition("/")
    if not sep:
        raise ConfigError(f"a cell's job label is <dataset>/<run>, got {label!r}")
    e = _entry(study, ds)
    if run not in runs_of(study, ds):
        raise ConfigError(f"unknown run {run!r} for {ds} (runs: {', '.join(runs_of(study, ds))})")
    out = pick(study, COMMON)
    if ds not in study["figure_datasets"]:  # the Fig 4.6 curve is drawn for figure data sets only
        out["fid"] = {**(study.get("fid") or {}), "curve_every": None}
    out.update(dataset=ds, entry=without(e, ["runs"]), run=run)
    if run in study["switches"]:
        sw = study["switches"][run] or {}
        out["sampler"] = entry(study, "samplers", sw.get("first", "langevin"))
        out["switch"] = {"sampler": entry(study, "samplers", sw.get("then", "mala")), **pick(sw, ["after"])}
    else:
        out["sampler"] = entry(study, "samplers", run)
    return out


def cell_labels(study):
    return [f"{ds}/{run}" for ds, run in cells(study)]


def reference_slice(study, ds):
    """Reference statistics: the data set's images and metrics, the reference split; nothing else."""
    study = _filled(study)
    return {"dataset": ds, **pick(study, ["threads", "device"]),
            "entry": pick(_entry(study, ds), ["data", "metrics"]),
            "fid": pick(study.get("fid") or {}, ["reference_split", "reference_n"])}


def classifier_slice(study, ds):
    """The digit classifier of one data set (ebmlab.metrics.classifier's ClassifierJob)."""
    study = _filled(study)
    return {**pick(_entry(study, ds), ["data"]), **pick(study.get("fid") or {}, ["classifier"]),
            **pick(study, ["seed", "device", "threads"])}


def classifier_labels(study):
    return [ds for ds in datasets(study) if "classifier" in metrics_of(study, ds)]


JOBS = {
    "classifier": Job("ebmlab.metrics.classifier:ClassifierJob", classifier_slice, classifier_labels),
    "reference": Job("ebmlab.studies.table4_1.config:Table41Reference", reference_slice, datasets),
    "cell": Job("ebmlab.studies.table4_1.config:Table41Cell", cell_slice, cell_labels),
}
