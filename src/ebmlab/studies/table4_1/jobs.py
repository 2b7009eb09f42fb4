"""Which slice of the Table 4.1 study each job reads (torch-free: the rule file uses it).

Three job kinds, labelled as their outputs are:

* ``classifier`` (``--job <dataset>``, data sets scored with the 'classifier' metric): the
  digit classifier of :mod:`ebmlab.metrics.classifier`: the data set's images, ``fid.classifier``,
  seed, device, threads;
* ``reference`` (``--job <dataset>``): the data set's images and metrics, ``fid.reference_split``
  and ``fid.reference_n``, device, threads; no samplers, no training settings;
* ``cell`` (``--job <dataset>/<run>/seed<k>``, e.g. ``mnist/langevin/seed1``): the shared
  settings with ``seed`` = k, the data set's entry, the run's own sampler (and, for a switch,
  the one it switches to); not the other runs. The runs in ``seeded_runs`` (default: the table's
  rows) get every seed in ``seeds``; the others, and the step-size sweep's cells
  (``step_<run>_h<h>_<fixed|matched>``), the first one only.
"""

import math

from ebmlab.studies.base import ConfigError, Job, entry, pick, require_seed, seeds, without
from ebmlab.studies.base import seeds_of as base_seeds_of

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


def seeded_runs(study) -> list[str]:
    study = _filled(study)
    return list(study.get("seeded_runs") or study["table_samplers"])


def _h(h: float) -> str:
    return f"{h:g}"


def sweep(study) -> dict[str, tuple[str, float, str]]:
    """The step-size sweep's cells: run name -> (sampler label, h, 'fixed' | 'matched')."""
    sw = study.get("step_sweep")
    if sw is None:
        return {}
    runs_ = sw.get("runs", ["mala_exact", "langevin"])
    hs = sw.get("step_sizes", [100.0, 1.0, 0.01])
    noises = sw.get("noises", ["fixed", "matched"])
    return {f"step_{r}_h{_h(h)}_{n}": (r, float(h), n) for r in runs_ for n in noises for h in hs}


def sweep_of(study, ds) -> list[str]:
    """The sweep's run names on data set ``ds`` (figure data sets only)."""
    return list(sweep(study)) if ds in figure_datasets(study) else []


def seeds_of(study, run) -> list[int]:
    return base_seeds_of(study, run, seeded_runs(study))


def cells(study) -> list[tuple[str, str, int]]:
    """Every (data set, run, seed) cell of the study: the rows, then the sweep."""
    return [(ds, run, s) for ds in datasets(study) for run in runs_of(study, ds) for s in seeds_of(study, run)] + \
        [(ds, run, seeds(study)[0]) for ds in datasets(study) for run in sweep_of(study, ds)]


def cell_folder(ds: str, run: str, seed: int) -> str:
    """A cell's job label and results folder below the study's: ``<dataset>/<run>/seed<k>``."""
    return f"{ds}/{run}/seed{seed}"


#: samplers with an MH test (Langevin: the one track_acceptance computes)
TESTED = ("langevin", "mala", "tempered_mala")


def _sweep_slice(study, out, name):
    run, h, noise = sweep(study)[name]
    sw = study["step_sweep"] or {}
    spec = entry(study, "samplers", run)
    # every sweep move is judged by the exact test (Langevin's only computed), so acceptance is comparable
    out["sampler"] = {**spec, "step_size": h, **({"test": "exact"} if spec.get("name") in TESTED else {})}
    if noise == "matched":  # the Langevin relation sigma^2 = 2h: exact MALA tests at T = 1
        out.update(noise=math.sqrt(2 * h), noise_is="std")
    out["train"] = {**(study.get("train") or {}), "max_iterations": sw.get("iterations", 100),
                    "buffer_size": sw.get("buffer_size", 2000)}
    out["fid"] = {**(out.get("fid") or {}), "n_samples": sw.get("n_samples", 2000), "curve_every": None}
    return out


def cell_slice(study, label):
    """A cell: the shared settings (its own seed), its data set's entry and its run's sampler(s)."""
    study = _filled(study)
    ds, run, seed = (label or "").split("/") + [""] * (2 - (label or "").count("/"))
    if not (seed.startswith("seed") and seed[4:].isdigit()):
        raise ConfigError(f"a cell's job label is <dataset>/<run>/seed<k>, got {label!r}")
    seed = int(seed[4:])
    e = _entry(study, ds)
    known = runs_of(study, ds) + sweep_of(study, ds)
    if run not in known:
        raise ConfigError(f"unknown run {run!r} for {ds} (runs: {', '.join(known)})")
    allowed = seeds_of(study, run) if run in runs_of(study, ds) else seeds(study)[:1]
    require_seed(f"{ds}/{run}", seed, allowed)
    out = pick(study, COMMON)
    out["seed"] = seed
    # the Fig 4.6 curve is drawn for figure data sets only, from the first seed
    if ds not in study["figure_datasets"] or seed != seeds(study)[0]:
        out["fid"] = {**(study.get("fid") or {}), "curve_every": None}
    out.update(dataset=ds, entry=without(e, ["runs"]), run=run)
    if run in sweep(study):
        return _sweep_slice(study, out, run)
    if run in study["switches"]:
        sw = study["switches"][run] or {}
        out["sampler"] = entry(study, "samplers", sw.get("first", "langevin"))
        out["switch"] = {"sampler": entry(study, "samplers", sw.get("then", "mala")), **pick(sw, ["after"])}
    else:
        out["sampler"] = entry(study, "samplers", run)
    return out


def cell_labels(study):
    return [cell_folder(*c) for c in cells(study)]


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
