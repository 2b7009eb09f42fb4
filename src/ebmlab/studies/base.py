"""The skeleton every study shares: job slices, the job loader, the command line, report writers.

A study is a package ``ebmlab.studies.<name>`` with the same few modules:

* ``config``: its dataclasses (the whole study, and one config class per job kind);
* ``jobs``: the :class:`Job` table, which says which slice of the study each job reads. It
  imports nothing heavier than this module, so Snakemake rule files use it at parse time;
* ``run``: the jobs themselves (training, evaluation);
* ``figures`` and ``claims``: the aggregation steps;
* ``__main__``: ``python -m ebmlab.studies.<name> <command> ...`` through :func:`main_for`.

A job is named, never guessed: a command that runs one job takes ``--job <label>`` and either
the whole study (``--params params/smoke.yaml --section gmm``, by hand) or the job's slice
(``--config '<JSON>'``, what a rule passes). The slice is cut by the same :class:`Job` in both
cases, so a hand run and a Snakemake run of one job see the same configuration.

This module imports no torch and no study.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping

from ebmlab.cli import add_config_args, guarded, raw_config
from ebmlab.config import Bound, field
from ebmlab.errors import ConfigError
from ebmlab.io import atomic_write_json, atomic_write_text, read_json, require_folder
from ebmlab.report import csv_text

# ---------------------------------------------------------------------------
# job slices (plain mappings: used by the rule files, which must not import torch)


def pick(study: Mapping, keys: Iterable[str]) -> dict:
    """The study's values for ``keys`` (keys the params file leaves out stay out: defaults apply)."""
    return {k: study[k] for k in keys if k in study}


def without(study: Mapping, keys: Iterable[str]) -> dict:
    """The study less ``keys`` (e.g. its run tables)."""
    drop = set(keys)
    return {k: v for k, v in study.items() if k not in drop}


def entry(study: Mapping, table: str, label: str, defaults: Mapping | None = None) -> Any:
    """``study[table][label]``, or a one-line ConfigError naming the labels there are."""
    runs = study.get(table, defaults or {})
    if label not in runs:
        raise ConfigError(f"unknown job {label!r} in {table} (this study has {', '.join(runs) or 'none'})")
    return runs[label]


def import_path(path: str) -> Any:
    """The object named ``"module:name"``, imported now (config classes and commands are named
    this way so that listing them imports no torch)."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Job:
    """One kind of job: the config class it validates and the slice of the study it reads.

    ``cut(study, label)`` returns the job's slice of a study mapping; ``labels(study)`` the
    job labels the study defines (``[None]`` for a job that runs once per study).
    ``config`` is ``"module:Class"``, imported only when a job is loaded.
    """

    config: str
    cut: Callable[[Mapping, str | None], dict]
    labels: Callable[[Mapping], list] = lambda study: [None]

    def config_class(self) -> type:
        return import_path(self.config)

    def slice(self, study: Mapping, label: str | None) -> dict:
        known = self.labels(study)
        if label is None and known != [None]:
            raise ConfigError(f"--job is required: name one of {', '.join(map(str, known))}")
        return self.cut(study, label)


def load_job(args: argparse.Namespace, job: Job, study_class: str | None = None) -> Any:
    """The validated config of the job named by ``--job``.

    ``--params/--section`` give the whole study: it is validated (``study_class``, with its
    defaults filled in) and cut by ``job``; ``--config`` gives the job's slice as a rule passes it.
    """
    from ebmlab.config import from_dict, to_dict
    raw = raw_config(args)
    label = getattr(args, "job", None)
    if args.params:
        if study_class is not None:
            raw = to_dict(from_dict(import_path(study_class), raw))
        raw = job.slice(raw, label)
    cfg = from_dict(job.config_class(), raw)
    own = getattr(cfg, "job_label", getattr(cfg, "label", None))
    if label is not None and own is not None and own != label:
        raise ConfigError(f"--job {label!r} does not match the configuration's label {own!r}")
    args.loaded_job = cfg   # what the command's run record holds as its config (--record)
    return cfg


def job_of(study: Any, job: Job, label: str | None = None) -> Any:
    """Job ``label``'s validated config, cut from a validated whole-study object (tests, notebooks)."""
    from ebmlab.config import from_dict, to_dict
    return from_dict(job.config_class(), job.slice(to_dict(study), label))


def sampler_study(shared: type, spec_type: Any, default_samplers: Callable[[], dict], default_label: str, *,
                  module: str, names: tuple[str, str], where: str = "", seeded: bool = False) -> tuple[type, type]:
    """The two classes of a sampler-comparison study, from the settings its runs share.

    Returns ``(Study, Run)``: ``Study`` is ``shared`` plus ``samplers`` (run label -> sampler
    spec, not empty), what a params section holds; ``Run`` is ``shared`` plus ``label`` and its
    own ``sampler``, what one job reads. ``shared.__post_init__`` checks run for both.
    ``spec_type`` is the sampler registry's annotation (passed in: this module imports no torch).
    ``seeded``: the study also has ``seeds`` and ``seeded_runs`` (the runs trained with every
    seed; the others get the first), and a run's job label is ``<label>/seed<seed>``
    (:func:`seed_label`; ``shared`` must have ``seed``).
    """
    from ebmlab.config import check

    parent = getattr(shared, "__post_init__", None)

    def study_post_init(self):
        if parent is not None:
            parent(self)
        check(len(self.samplers) > 0, f"{where}samplers must name at least one run")
        if seeded:
            check_seeds(self.seeds, self.seeded_runs, self.samplers, where=where)

    seed_fields = [
        ("seeds", list[int] | None, field(None, doc="seeds of the seeded runs (weights, chains, data order); "
                                                    "null = [seed]")),
        ("seeded_runs", list[str] | None, field(None, doc="runs trained with every seed; the others get the "
                                                          "first; null = every run"))] if seeded else []
    study = dataclasses.make_dataclass(names[0], [
        ("samplers", dict[str, spec_type],
         field(default_factory=default_samplers, doc="run label -> sampler spec")), *seed_fields],
        bases=(shared,), namespace={"__post_init__": study_post_init,
                                    "__doc__": "The whole study: shared settings plus one sampler per run label."})
    run_ns = {"__doc__": "One run's slice (what its jobs read): shared settings and its own sampler."}
    if seeded:
        run_ns["job_label"] = property(lambda self: seed_label(self.label, self.seed),
                                       doc="the job label (--job) and results folder: <label>/seed<seed>")
    run = dataclasses.make_dataclass(names[1], [
        ("label", str, field(default_label, doc="run label, e.g. mala")),
        ("sampler", spec_type, field(default_factory=lambda: default_samplers()[default_label]))],
        bases=(shared,), namespace=run_ns)
    for cls in (study, run):
        cls.__module__ = module
    return study, run


#: where a job runs (``auto``: cuda when available)
Device = Literal["auto", "cpu", "cuda"]


def threads_field(default: int = 1) -> Any:
    """The ``threads`` setting every job has: torch CPU threads per job."""
    return field(default, bound=Bound(lo=1), doc="torch CPU threads per job")


def device_field(default: str = "auto") -> Any:
    """The ``device`` setting every job has."""
    return field(default, doc="auto = cuda when available")


def on_diverge_field(record: str) -> Any:
    """What a diverging image run does: ``record`` (what ``record`` says; its checkpoint is kept) or ``fail``."""
    return field("record", doc=f"record: {record}; fail: the job fails (exit 3)")


@dataclasses.dataclass
class JobHost:
    """Where a job runs."""

    threads: int = threads_field()
    device: Device = device_field()


# ---------------------------------------------------------------------------
# the command line


@dataclass(frozen=True)
class Command:
    """One subcommand: what it calls, its help, and its arguments.

    ``func`` is ``"module:function"`` (imported only when the command runs, so ``--help`` and
    bad input cost no torch import) or a callable taking the parsed arguments. With ``job``
    (a kind in the study's JOBS) the command runs one job: it gets the configuration arguments
    and ``--job``, and the function is called with the job's validated config first. ``passes``
    names the parsed arguments passed after it, in order. ``args``: extra ``(flags, argparse
    keywords)`` pairs, e.g. :data:`RUNS`, :data:`OUT`. ``reads``: the parsed arguments that name
    the files and folders the command reads (its run record's ``inputs``); None: those of its
    arguments in :data:`INPUT_ARGS`.
    """

    func: str | Callable[[argparse.Namespace], None]
    help: str
    job: str | bool | None = None
    passes: tuple[str, ...] = ()
    args: tuple = ()
    reads: tuple[str, ...] | None = None

    def inputs(self, args: argparse.Namespace) -> list[str]:
        """The files and folders this command read, as the command line named them."""
        names = self.reads if self.reads is not None else [n for n in vars(args) if n in INPUT_ARGS]
        values = [getattr(args, n, None) for n in names]
        return [str(v) for value in values for v in (value if isinstance(value, list) else [value]) if v is not None]


#: arguments that name what a command reads, unless its Command says otherwise (``reads``)
INPUT_ARGS = frozenset({"runs", "compare", "seeded", "points", "tables", "history", "checkpoint", "previous",
                        "ref_dir", "classifier", "shared_model"})
#: every subcommand takes it: the rules give each table, figure, reference and scoring job its record
RECORD = (("--record",), dict(type=Path, help="write this command's run record here (YAML: the command, its "
                                              "arguments and inputs, config, seed, versions, commit)"))


def _plain(value: Any) -> Any:
    """An argument value as YAML-safe data (paths as strings)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def write_command_record(path: str | Path, prog: str, cmd: Command, args: argparse.Namespace, argv: list[str],
                         seconds: float) -> None:
    """The run record of one finished subcommand (``--record``): its command and command line,
    its arguments and the inputs it read, the job's resolved config and seed (none for a table
    or figure), versions and commit (:func:`ebmlab.records.write_record`)."""
    from ebmlab.config import to_dict
    from ebmlab.records import write_record
    job = getattr(args, "loaded_job", None)
    configuration = {"params", "section", "config", "set"}   # the resolved job config stands for them
    skip = {"cmd", "command", "record", "loaded_job", *(configuration if job is not None else ())}
    module = prog.removeprefix("python -m ")
    write_record(path, command=f"{module} {args.cmd}", config=None if job is None else to_dict(job),
                 seed=getattr(job, "seed", None), argv=[*prog.split(), *argv],
                 extra={"arguments": {k: _plain(v) for k, v in vars(args).items() if k not in skip},
                        "inputs": cmd.inputs(args), "wall_seconds": round(seconds, 3)})


OUT = (("--out",), dict(required=True, type=Path, help="the job's folder"))
OUT_DIR = (("--out-dir",), dict(required=True, type=Path, help="folder the figures go to"))
RUNS = (("--runs",), dict(nargs="+", required=True, help="evaluated job folders"))
PROFILE = (("--profile",), dict(required=True, help="profile name written into every row"))
CSV = (("--csv",), dict(required=True, help="the table (CSV)"))
METRICS = (("--metrics",), dict(help="DVC metrics JSON"))
CLAIMS = (("--claims",), dict(help="the claims table (CSV)"))
TIMING = (("--timing",), dict(help="the wall-time table (CSV), for a study that keeps one apart from its results"))
TABLE_ARGS = (RUNS, PROFILE, CSV, METRICS)
REF_DIR = (("--ref-dir",), dict(required=True, help="cache folder of reference statistics"))
CLASSIFIER = (("--classifier",), dict(help="digit-classifier weights (metric 'classifier')"))


def table_command(claims: str, name: str, hint: str, help: str) -> Command:
    """The ``table`` subcommand of a study whose ``claims`` module has ``table_rows(metrics, profile)``,
    ``TABLE_COLUMNS`` and ``metrics_summary(metrics)``: reads ``name`` from every run folder."""

    def run(args: argparse.Namespace) -> None:
        mod = importlib.import_module(claims)
        metrics = read_runs(args.runs, name, hint)
        if getattr(args, "timing", None) and not hasattr(mod, "timing_rows"):
            raise ConfigError(f"--timing: {claims} keeps no timing table")
        write_table(args.csv, mod.table_rows(metrics, args.profile), mod.TABLE_COLUMNS, args.metrics,
                    mod.metrics_summary(metrics))
        if getattr(args, "timing", None):   # wall times apart: the results table is the same on a rerun
            atomic_write_text(args.timing, csv_text(mod.timing_rows(args.runs, args.profile), mod.TIMING_COLUMNS))

    return Command(run, help, args=(*TABLE_ARGS, TIMING))


def reference_command(run_module: str) -> Command:
    """The ``reference`` subcommand of an image study whose ``run_module`` has
    ``reference(job, ref_dir, classifier)``: feature statistics of one data split, cached."""
    return Command(f"{run_module}:reference", "reference feature statistics of one data set (cached)",
                   job="reference", passes=("ref_dir", "classifier"), args=(REF_DIR, CLASSIFIER),
                   reads=("classifier",))   # --ref-dir is what it writes


def scored_job_command(func: str, job: str, help: str) -> Command:
    """A subcommand that trains one image job into ``--out`` and scores its samples against the
    cached reference statistics: ``func(job_config, out, ref_dir, classifier)``."""
    return Command(func, help, job=job, passes=("out", "ref_dir", "classifier"),
                   args=(OUT, REF_DIR, CLASSIFIER))


def build_parser(prog: str, description: str, commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, cmd in commands.items():
        s = sub.add_parser(name, help=cmd.help)
        if cmd.job:
            add_config_args(s)
            s.add_argument("--job", help="the job's label (required when the study defines several)")
        for flags, kwargs in cmd.args:
            s.add_argument(*flags, **kwargs)
        s.add_argument(*RECORD[0], **RECORD[1])
        s.set_defaults(command=cmd)
    return p


def main_for(prog: str, description: str, commands: Mapping[str, Command], jobs: Mapping[str, Job] | None = None,
             study: str | None = None) -> Callable[[list[str] | None], int]:
    """A study's ``main(argv)``: parse, load the named job (``jobs``, whole-study class ``study``),
    dispatch, write the run record ``--record`` names once the command has finished, and turn
    expected failures into one line and an exit status."""

    @guarded
    def main(argv: list[str] | None = None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser(prog, description, commands).parse_args(argv)
        cmd: Command = args.command
        for spec, name in ((OUT, "out"), (OUT_DIR, "out_dir")):   # a folder at a file: one line, no compute
            if spec in cmd.args:
                require_folder(getattr(args, name), spec[0][0])
        t0 = time.perf_counter()
        if callable(cmd.func):
            cmd.func(args)
        else:
            head = [load_job(args, jobs[cmd.job], study)] if cmd.job else []
            import_path(cmd.func)(*head, *(getattr(args, a) for a in cmd.passes))
        if args.record:
            write_command_record(args.record, prog, cmd, args, argv, time.perf_counter() - t0)
        return 0

    return main


# ---------------------------------------------------------------------------
# reading jobs' outputs and writing reports


def read_runs(run_dirs: Iterable[str | Path], name: str, hint: str) -> list[dict]:
    """The JSON file ``name`` of each job folder, in the order given (a missing one: DataError)."""
    return [read_json(Path(d) / name, hint) for d in run_dirs]


def _number(v: str):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def read_history(path: str | Path) -> list[dict]:
    """A job's history.csv as rows of numbers (non-numeric cells stay strings)."""
    import csv
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


class RunFolder:
    """An image-training job's folder for the figure steps: metrics.json, history.csv, chains.json.

    A missing file is a one-line DataError saying which step to run (``hint``).
    """

    def __init__(self, folder: str | Path, hint: str = "run the training step first"):
        from ebmlab.io import require_file
        folder = Path(folder)
        self.folder = folder
        self.metrics = read_json(folder / "metrics.json", hint)
        self.history = read_history(require_file(folder / "history.csv", hint))
        chains = folder / "chains.json"
        self.chains = read_json(chains, hint) if chains.exists() else None
        self.label = self.metrics.get("run", self.metrics.get("label"))

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(iterations, values) of history column ``key`` where it was recorded."""
        pts = [(r["iteration"], r[key]) for r in self.history if isinstance(r.get(key), float)]
        return [p[0] for p in pts], [p[1] for p in pts]


def write_table(csv_path: str | Path, rows: list[Mapping], columns: list[str],
                metrics_path: str | Path | None = None, metrics: Any = None) -> None:
    """The study's table (CSV) and, when asked, its DVC metrics JSON."""
    atomic_write_text(csv_path, csv_text(rows, columns))
    if metrics_path:
        atomic_write_json(metrics_path, metrics)


#: an image study's wall times, apart from its results (issue 18, item 6: a rerun changes them and
#: leaves every results table and metrics JSON byte-identical); one row per job, from its metrics
TIMING_COLUMNS = ["job", "profile", "seconds_per_iteration", "train_wall_seconds"]


def timing_rows(jobs: Iterable[tuple[str, Mapping]], profile: str) -> list[dict]:
    """One row per ``(job label, metrics)``: its mean seconds per training iteration (first
    iteration excluded) and its training wall time, as the job measured them."""
    return [{"job": job, "profile": profile, "seconds_per_iteration": m.get("seconds_per_iteration"),
             "train_wall_seconds": m.get("train_wall_seconds")} for job, m in jobs]


def write_timing(csv_path: str | Path | None, jobs: Iterable[tuple[str, Mapping]], profile: str) -> None:
    """The timing table (CSV) of :func:`timing_rows`, when a path is given (``--timing``)."""
    if csv_path:
        atomic_write_text(csv_path, csv_text(timing_rows(jobs, profile), TIMING_COLUMNS))


#: every claims table has these columns: the paper's sentence and where it is, the test run on
#: the evidence, the evidence itself (values with their spread), the verdict, the profile
CLAIM_COLUMNS = ["claim", "paper_claim", "source", "test", "evidence", "verdict", "profile"]
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "missing")


def write_claims(csv_path: str | Path, claims: list[Mapping], columns: list[str] = CLAIM_COLUMNS) -> None:
    for c in claims:
        if c.get("verdict") not in VERDICTS:
            raise ValueError(f"claim {c.get('claim')}: verdict {c.get('verdict')!r} is not one of {VERDICTS}")
    atomic_write_text(csv_path, csv_text(claims, columns))


# ---------------------------------------------------------------------------
# the ordering rule


def compare(a: tuple[float, float] | None, b: tuple[float, float] | None, direction: str,
            z: float = 2.0) -> str:
    """Verdict for the claim 'a < b' (``direction`` 'less') or 'a > b' ('greater').

    ``a`` and ``b`` are (value, spread) pairs, the spread a standard error (over seeds or a
    bootstrap). The claim is ``reproduced`` only when the gap exceeds ``z`` times the combined
    spread, ``not reproduced`` when the opposite gap does, else ``inconclusive``; a missing or
    non-finite value is ``missing``.
    """
    if a is None or b is None or not all(map(math.isfinite, (a[0], b[0]))):
        return "missing"
    if not (math.isfinite(a[1]) and math.isfinite(b[1])):
        return "inconclusive"
    diff = a[0] - b[0] if direction == "greater" else b[0] - a[0]
    se = math.hypot(a[1], b[1])
    if diff > z * se:
        return "reproduced"
    if diff < -z * se:
        return "not reproduced"
    return "inconclusive"


# ---------------------------------------------------------------------------
# values over seeds: (mean, sd) pairs, and the ordering rule on them

#: the ordering rule's z for values over seeds: the gap must exceed the combined sd
Z_SEEDS = 1.0


def mean_sd(values: Iterable[float | None]) -> tuple[float, float] | None:
    """(mean, sd over seeds, ddof 1) of the finite values; sd is nan for one value; None for none."""
    v = [x for x in values if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]
    if not v:
        return None
    return statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else math.nan


def fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def ms(x: tuple[float, float] | str | None) -> str:
    """'mean +- sd' (one seed: the value alone; 'n/a' when absent; 'diverged' as it is)."""
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return fmt(x[0]) if math.isnan(x[1]) else f"{fmt(x[0])} +- {fmt(x[1])}"


def borrow(a, b):
    """Give a one-seed value (sd nan) the other side's sd: the same tolerance on both sides."""
    if a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return a, b
    if math.isnan(a[1]) and not math.isnan(b[1]):
        a = (a[0], b[1])
    if math.isnan(b[1]) and not math.isnan(a[1]):
        b = (b[0], a[1])
    return a, b


def ordered(a, b, direction: str, z: float = Z_SEEDS) -> str:
    """:func:`compare` on (mean, sd over seeds) pairs; a side that is the string 'diverged'
    (every seed diverged) counts as the worse one, whichever the direction of 'worse' is:
    ``direction`` 'less' means smaller is better."""
    if a == "diverged" or b == "diverged":
        if a == b:
            return "inconclusive"
        worse_b = b == "diverged"
        return "reproduced" if worse_b == (direction == "less") else "not reproduced"
    return compare(*borrow(a, b), direction, z=z)


def combine(verdicts: Iterable[str]) -> str:
    """All parts reproduced: reproduced; any missing: missing; any not reproduced: not; else inconclusive."""
    v = list(verdicts)
    if all(x == "reproduced" for x in v):
        return "reproduced"
    for x in ("missing", "not reproduced"):
        if x in v:
            return x
    return "inconclusive"


def check_verdict(cond: bool | None) -> str:
    """A yes/no check as a verdict (None: missing)."""
    return "missing" if cond is None else ("reproduced" if cond else "not reproduced")


# ---------------------------------------------------------------------------
# seeds of a study (torch-free: the rule files use them)


def seeds(study: Mapping) -> list[int]:
    """A study's ``seeds`` (null or absent: ``[seed]``); the first one is every unseeded run's."""
    return list(study.get("seeds") or [study.get("seed", 0)])


def seeds_of(study: Mapping, run: str, seeded: Iterable[str]) -> list[int]:
    """Every seed for a run in ``seeded``, the first for the others."""
    return seeds(study) if run in set(seeded) else seeds(study)[:1]


def require_seed(name: str, seed: int, allowed: Iterable[int]) -> None:
    """A job's seed must be one of its run's seeds: else one ConfigError line."""
    allowed = list(allowed)
    if seed not in allowed:
        raise ConfigError(f"{name}: seed {seed} is not one of its seeds ({', '.join(map(str, allowed))})")


def check_seeds(seeds: list[int] | None, seeded: list[str] | None, names: Iterable[str], kind: str = "run",
                where: str = "") -> None:
    """A study's ``seeds`` are distinct and its ``seeded_runs`` name its own runs (``kind``: the
    word for them in the message, e.g. 'regime')."""
    from ebmlab.config import check
    names = list(names)
    check(seeds is None or (len(seeds) > 0 and len(set(seeds)) == len(seeds)),
          f"{where}seeds must list distinct seeds, got {seeds}")
    for label in seeded or []:
        check(label in names, f"{where}seeded_runs: unknown {kind} {label!r} ({kind}s: {', '.join(names)})")


def noise_std(value: float, noise_is: str) -> float:
    """The chain noise's standard deviation for a setting read as a ``std`` or a ``variance``."""
    return float(value) if noise_is == "std" else math.sqrt(value)


def seeded_runs(study: Mapping) -> list[str]:
    """A sampler study's runs trained with every seed (``seeded_runs``; null or absent: every run)."""
    return list(study.get("seeded_runs") or study.get("samplers", {}))


def run_seed_labels(study: Mapping) -> list[str]:
    """``<run>/seed<k>`` for every run of a seeded sampler study and each of its seeds."""
    return [seed_label(run, s) for run in study.get("samplers", {}) for s in seeds_of(study, run, seeded_runs(study))]


def run_and_seed(study: Mapping, label: str | None) -> tuple[str, int]:
    """(run, seed) of a seeded sampler study's job label; a bad label or seed is one ConfigError line."""
    run, seed = parse_seed_label(label)
    require_seed(run, seed, seeds_of(study, run, seeded_runs(study)))
    return run, seed


def seed_label(run: str, seed: int) -> str:
    return f"{run}/seed{seed}"


def parse_seed_label(label: str | None) -> tuple[str, int]:
    """``<run>/seed<k>`` -> (run, k); anything else is one ConfigError line."""
    run, _, seed = (label or "").rpartition("/")
    if not run or not (seed.startswith("seed") and seed[4:].isdigit()):
        raise ConfigError(f"a seeded job's label is <run>/seed<k>, got {label!r}")
    return run, int(seed[4:])


#: two values within this factor of each other are a tie: the same tolerance on the paper's side
#: (values without a spread) and on the reproduced one (mean and sd over seeds)
TIE_RATIO = 1.25


def _log_value(v):
    """(log mean, sd of the log) of a positive value or (mean, sd) pair (delta method); None if unusable."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = (float(v), 0.0)
    if not isinstance(v, tuple) or not (math.isfinite(v[0]) and v[0] > 0):
        return None
    return math.log(v[0]), v[1] / v[0]


def relation(a, b, tie_ratio: float = TIE_RATIO, z: float = Z_SEEDS) -> str:
    """The order of two positive values on a ratio scale: '>', '<', '~' (a tie) or '?'.

    ``a``/``b``: a number (a paper's value: no spread), a (mean, sd over seeds) pair, or the
    string 'diverged' (every seed diverged: larger than any value, the worst of a
    smaller-is-better metric). With d = ln(a / b), s its spread (the seeds' sds combined, a
    one-seed side borrowing the other's) and tol = ln(tie_ratio): '>' when d > tol and d > z s,
    '<' likewise, '~' when |d| + z s <= tol, else '?' (inconclusive). Without spread this is
    'ordered beyond the tolerance, or a tie'; a pair inside its spread is never ordered.
    """
    if a == "diverged" or b == "diverged":
        return "?" if a == b else (">" if a == "diverged" else "<")
    a, b = borrow(a, b) if isinstance(a, tuple) and isinstance(b, tuple) else (a, b)
    la, lb = _log_value(a), _log_value(b)
    if la is None or lb is None:
        return "?"
    d, s, tol = la[0] - lb[0], math.hypot(la[1], lb[1]), math.log(tie_ratio)
    if not math.isfinite(s):
        return "?"
    if abs(d) > tol and abs(d) > z * s:
        return ">" if d > 0 else "<"
    return "~" if abs(d) + z * s <= tol else "?"


def pair_verdict(paper_relation: str, reproduced_relation: str) -> str:
    """Does the reproduced order of a pair agree with the paper's? '?' on either side is inconclusive."""
    if "?" in (paper_relation, reproduced_relation):
        return "inconclusive"
    return "reproduced" if paper_relation == reproduced_relation else "not reproduced"


def ordering_verdicts(paper: Mapping[str, float], reproduced: Mapping[str, Any],
                      tie_ratio: float = TIE_RATIO) -> dict[str, str]:
    """Per row of a one-metric table: do its orders against every other row agree with the paper's?

    ``reproduced``: (mean, sd) pairs or 'diverged', compared by :func:`relation` with the same
    tolerance as the paper's values. A row is ``reproduced`` when every pair involving it is,
    ``not reproduced`` when any is not, else ``inconclusive``; a row without a reproduced
    value is ``missing``.
    """
    out = {}
    keys = [k for k in paper if reproduced.get(k) is not None]
    for k in paper:
        if reproduced.get(k) is None:
            out[k] = "missing"
            continue
        out[k] = combine(pair_verdict(relation(paper[k], paper[j], tie_ratio), relation(reproduced[k], reproduced[j],
                                                                                         tie_ratio))
                         for j in keys if j != k) if len(keys) > 1 else "inconclusive"
    return out
