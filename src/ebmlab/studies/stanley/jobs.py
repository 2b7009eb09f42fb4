"""Which slice of the STANLEY study each job reads (torch-free: the rule file uses it).

The study mapping is the whole ``stanley:`` section (``rings`` and ``images``). Job labels
(``--job``):

* ``rings``: a rings run: a sampler label (``stanley``, trained on its own at the full
  iterations), a grid cell (``stanley_th0.01_eps0.01``: the sampler with those settings, at
  ``grid_iterations``) or a grid cell with a seed (``stanley_th0.01_eps0.01/seed1``: the full
  iterations with that seed; the workflow runs the best cell of each grid sampler so);
* ``classifier``, ``reference``: the data-set label, e.g. ``mnist``;
* ``segment``, ``fid``: one curve of Figs 4-5 as ``<dataset>/<sampler>``, e.g. ``mnist/langevin``;
* ``inpaint``: none (one job per study).

A slice holds only what its job reads: the reference and classifier jobs see no sampler,
model or training settings; training segments do not see the scoring settings (``fid``,
the data set's ``metrics``), so editing how points are scored re-runs no training.
"""

import itertools

from ebmlab.studies.base import ConfigError, Job, entry, parse_seed_label, pick, require_seed, seed_label, seeds, without

STUDY = "ebmlab.studies.stanley.config:StanleyStudy"
_CONFIG = "ebmlab.studies.stanley.config"

# defaults the slices need before validation; config.py takes its defaults from here
METRICS = ("inception",)
ITERATIONS = 100000
EVAL_EVERY = 5000
INPAINT_DATASET = "celeba"
INPAINT_SAMPLERS = ("stanley", "langevin")

_IMAGE_TABLES = ["datasets", "samplers", "inpainting", "grid", "grid_dataset", "grid_iterations"]
#: the rings study's tables and run lists (a run reads its own entry of them, never the whole)
_RINGS_TABLES = ["samplers", "grid", "grid_iterations", "run_iterations", "seeds", "runs", "gamma_from"]

#: the run whose implied temperature MH and HMC take under ``temperature: matched``
BASELINE = "langevin"
#: samplers whose ``temperature`` the study's convention sets
TEMPERED = ("rwmh", "hmc")
#: short names of grid settings in cell labels (the paper's eps for the noise scale)
GRID_NAMES = {"noise_std": "eps", "step_size": "step"}


def part(study, name):
    """``study[name]`` (rings or images); null means this profile leaves the experiment out."""
    value = study.get(name)
    if value is None:
        raise ConfigError(f"stanley.{name} is null: not in this profile")
    return value


# ---------------------------------------------------------------------------
# the rings toy


def grid_cells(table):
    """Cell label -> (sampler label, settings) of a study's ``grid`` (the product of its value lists)."""
    out = {}
    for base, axes in (table.get("grid") or {}).items():
        keys = list(axes)
        for values in itertools.product(*(axes[k] for k in keys)):
            out[base + "".join(f"_{GRID_NAMES.get(k, k)}{v:g}" for k, v in zip(keys, values))] = \
                (base, dict(zip(keys, values)))
    return out


def rings_runs(study):
    """The sampler labels trained on their own at the full iterations (``runs``; null = every one)."""
    rings = part(study, "rings")
    chosen = rings.get("runs")
    return list(rings.get("samplers", {})) if chosen is None else list(chosen)


def grid_labels(study):
    return list(grid_cells(part(study, "rings")))


def seeded_labels(study, cell):
    """A grid cell's runs at the full iterations, one per seed."""
    return [seed_label(cell, k) for k in seeds(part(study, "rings"))]


def rings_labels(study):
    return rings_runs(study) + grid_labels(study) + [s for c in grid_labels(study) for s in seeded_labels(study, c)]


def convention_applies(table, spec):
    """Does the temperature convention change this sampler? ``matched`` changes MH and HMC
    only, ``one`` every sampler; a curve it leaves alone does not carry it, so its training
    (slice and checkpoint identity) is the same as before the convention existed."""
    return table.get("temperature", "matched") != "matched" or spec.get("name") in TEMPERED


def _with_temperature(table, specs, extra, where):
    """What the study's temperature convention needs beside the samplers: MH and HMC under
    ``matched`` read the baseline's spec (so editing it re-runs them, and only them)."""
    if any(s.get("name") in TEMPERED for s in specs) and table.get("temperature", "matched") == "matched":
        if BASELINE not in table.get("samplers", {}):
            raise ConfigError(f"stanley.{where}: temperature 'matched' needs a {BASELINE!r} sampler (the baseline)")
        extra["baseline"] = {BASELINE: table["samplers"][BASELINE]}
    return extra


def rings_slice(study, label):
    """A rings run: every shared rings setting, its label, its own sampler and reading of gamma.

    A grid cell is its sampler with the cell's settings, at ``grid_iterations``; a seeded cell
    the same sampler with that seed, and a run of ``runs`` its own sampler, both at
    ``run_iterations`` (null: the full iterations)."""
    rings = part(study, "rings")
    cells = grid_cells(rings)
    extra = {}
    if label in cells:
        base, settings = cells[label]
        if rings.get("grid_iterations") is not None:
            extra["iterations"] = rings["grid_iterations"]
    elif label is not None and "/" in label:
        cell, seed = parse_seed_label(label)
        if cell not in cells:
            raise ConfigError(f"unknown grid cell {cell!r} (cells: {', '.join(cells) or 'none'})")
        require_seed(label, seed, seeds(rings))
        base, settings = cells[cell]
        extra["seed"] = seed
    else:
        base, settings = label, {}
    if label not in cells and rings.get("run_iterations") is not None:
        extra["iterations"] = rings["run_iterations"]
    spec = {**entry(rings, "samplers", base), **settings}
    gamma_from = (rings.get("gamma_from") or {}).get(base)
    if gamma_from is not None:
        extra["gamma_from"] = gamma_from
    return {**without(rings, _RINGS_TABLES), "label": label, "sampler": spec,
            **_with_temperature(rings, [spec], extra, "rings")}


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


def grid_curves(images):
    """The grid's curves, as (data set, cell) pairs: every cell on ``grid_dataset``."""
    return [(images["grid_dataset"], cell) for cell in grid_cells(images)] if images.get("grid") else []


def is_grid_curve(images, dataset, sampler):
    return (dataset, sampler) in grid_curves(images)


def points(images, dataset, sampler=None):
    """The curve's checkpoint iterations (one training segment and one scoring job each);
    a grid curve stops at ``grid_iterations``."""
    every = eval_every(images, dataset)
    last = datasets_of(images)[dataset].get("iterations", ITERATIONS)
    if sampler is not None and is_grid_curve(images, dataset, sampler) and images.get("grid_iterations"):
        last = images["grid_iterations"]
    return list(range(every, last + 1, every))


def curve_label(dataset, sampler):
    return f"{dataset}/{sampler}"


def dataset_labels(study):
    return list(datasets_of(part(study, "images")))


def curve_labels(study):
    images = part(study, "images")
    return [curve_label(ds, s) for ds in datasets_of(images) for s in samplers_of(images, ds)] + \
        [curve_label(ds, c) for ds, c in grid_curves(images)]


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
    curves = samplers_of(images, dataset) + [c for ds, c in grid_curves(images) if ds == dataset]
    if sampler not in curves:
        raise ConfigError(f"unknown sampler {sampler!r} for {dataset} (curves: {', '.join(curves)})")
    drop = _IMAGE_TABLES if scoring else _IMAGE_TABLES + ["fid"]
    if is_grid_curve(images, dataset, sampler):
        base, settings = grid_cells(images)[sampler]
        spec = {**entry(images, "samplers", base), **settings}
        e = dict(e)
        if "th" in settings:   # the cell's own th, not the data set's
            e["th"] = None
        if images.get("grid_iterations") is not None:
            e["iterations"] = images["grid_iterations"]
    else:
        spec = entry(images, "samplers", sampler)
    if not convention_applies(images, spec):
        drop = drop + ["temperature"]
    return {**without(images, drop), "dataset": dataset, "entry": e, "curve": sampler, "sampler": spec,
            **_with_temperature(images, [spec], {}, "images")}


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
    specs = {s: entry(images, "samplers", s) for s in chosen}
    return {**without(images, _IMAGE_TABLES + ["fid"]), "dataset": dataset,
            "entry": _curve_entry(images, dataset, scoring=False), "samplers": specs, "inpainting": ip,
            **_with_temperature(images, list(specs.values()), {}, "images")}


CURVE = Job(f"{_CONFIG}:CurveJob", curve_slice, curve_labels)
JOBS = {
    "rings": Job(f"{_CONFIG}:RingsRun", rings_slice, rings_labels),
    "classifier": Job("ebmlab.metrics.classifier:ClassifierJob", classifier_slice, dataset_labels),
    "reference": Job(f"{_CONFIG}:ReferenceJob", reference_slice, dataset_labels),
    "segment": Job(f"{_CONFIG}:CurveJob", segment_slice, curve_labels),
    "fid": CURVE,
    "inpaint": Job(f"{_CONFIG}:InpaintJob", inpaint_slice),
}
