"""``python -m ebmlab.studies.stanley``: the rings, curve and inpainting jobs and their reports."""

from pathlib import Path

from ebmlab.errors import ConfigError
from ebmlab.studies import base
from ebmlab.studies.stanley import __doc__ as DOC
from ebmlab.studies.stanley.jobs import JOBS, STUDY




def _rings_figure(args):
    from ebmlab.studies.stanley import claims
    from ebmlab.studies.stanley.figures import read_rings_runs, rings_distance_figure, rings_figure
    runs = read_rings_runs(args.runs)
    metrics = [r["metrics"] for r in runs]
    seeded = base.read_runs(args.seeded or [], "metrics.json", "run 'rings' first")
    summary = {"runs": claims.rings_summary(metrics), "seeded": claims.rings_summary(seeded)}
    base.write_table(args.csv, claims.rings_rows(metrics, args.profile), claims.RINGS_COLUMNS, args.metrics, summary)
    base.write_timing(args.timing, claims.rings_timing(metrics + seeded), args.profile)
    if args.seeds_csv:
        base.write_table(args.seeds_csv, claims.seed_rows(seeded, args.profile), claims.SEED_COLUMNS)
    if args.claims:
        of = lambda name: [m for m in seeded if m["sampler"] == name]  # noqa: E731
        base.write_claims(args.claims, claims.rings_claims(of("stanley"), of("langevin"), args.profile))
    rings_figure(runs, Path(args.figure))
    rings_distance_figure(runs, Path(args.distance_figure))


def _rings_grid(args):
    from ebmlab.io import atomic_write_json
    from ebmlab.studies.stanley.claims import GRID_COLUMNS, best_cells, grid_rows
    metrics = base.read_runs(args.runs, "metrics.json", "run 'rings' first")
    rows = grid_rows(metrics, args.profile)
    base.write_table(args.csv, rows, GRID_COLUMNS)
    atomic_write_json(args.best, best_cells(rows, metrics))


def _classifier(args):
    import torch

    from ebmlab.cli import resolve_device
    from ebmlab.metrics.classifier import train_classifier
    job = base.load_job(args, JOBS["classifier"], STUDY)
    torch.set_num_threads(job.threads)
    m = train_classifier(job.data, args.out, device=resolve_device(job.device), seed=job.seed, config=job.classifier)
    print(f"{args.out}: hold-out accuracy {m['holdout_accuracy']:.4f} on {m['n_holdout']} images")




def _segment(args):
    from ebmlab.studies.stanley.run import segment
    job = base.load_job(args, JOBS["segment"], STUDY)
    segment(job, int(args.until), Path(args.previous) if args.previous else None, Path(args.out))


def _fid(args):
    from ebmlab.studies.stanley.run import fid_point
    fid_point(base.load_job(args, JOBS["fid"], STUDY), args.checkpoint, args.ref_dir, args.classifier, args.out,
              args.samples)


def _curves(args):
    from ebmlab.io import read_json
    from ebmlab.studies.stanley.claims import CURVE_COLUMNS, curve_rows, curve_timing, curves_summary
    from ebmlab.studies.stanley.figures import curve_figures
    points = [read_json(p, "run its 'fid' job first") for p in args.points]
    rows = curve_rows(points, args.profile)
    base.write_table(args.csv, rows, CURVE_COLUMNS, args.metrics, curves_summary(rows))
    base.write_timing(args.timing, curve_timing(points), args.profile)
    curve_figures(rows, Path(args.out_dir), args.profile)


def _grid_curves(args):
    from ebmlab.io import read_json
    from ebmlab.studies.stanley.claims import (CURVE_COLUMNS, IMAGE_GRID_COLUMNS, curve_rows, curve_timing,
                                               image_grid_rows)
    from ebmlab.studies.stanley.figures import curve_figures
    points = [read_json(p, "run its 'fid' job first") for p in args.points]
    rows = curve_rows(points, args.profile)
    base.write_table(args.curves_csv, rows, CURVE_COLUMNS)
    base.write_table(args.csv, image_grid_rows(rows, points, args.profile), IMAGE_GRID_COLUMNS)
    base.write_timing(args.timing, curve_timing(points), args.profile)
    curve_figures(rows, Path(args.out_dir), args.profile, prefix="stanley_grid_")


def _samples_figure(args):
    from ebmlab.studies.stanley.figures import samples_figure
    by_dataset: dict[str, dict[str, str]] = {}
    for text in args.samples:
        curve, png = _pair(text, "--samples")
        if curve.count("/") != 1:
            raise ConfigError(f"--samples takes <dataset>/<sampler>=PNG, got {text!r}")
        ds, label = curve.split("/")
        by_dataset.setdefault(ds, {})[label] = png
    for ds, grids in by_dataset.items():
        samples_figure(grids, Path(args.out_dir) / f"stanley_samples_{ds}.png", f"{ds}, final samples "
                                                                                 f"({args.profile} profile)")


def _pair(text: str, flag: str = "--checkpoint") -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"{flag} takes label=path, got {text!r}")
    k, v = text.split("=", 1)
    return k, v


def _inpaint(args):
    from ebmlab.studies.stanley.run import inpainting
    job = base.load_job(args, JOBS["inpaint"], STUDY)
    inpainting(job, dict(_pair(s) for s in args.checkpoint), args.figure, args.csv, args.profile)


REF_DIR, CLASSIFIER = base.REF_DIR, base.CLASSIFIER
COMMANDS = {
    "rings": base.Command("ebmlab.studies.stanley.run:rings_run",
                          "train one sampler on the rings toy (Fig 1 snapshots, distance curve)", job="rings",
                          passes=("out",), args=(base.OUT,)),
    "rings-figure": base.Command(_rings_figure, "Fig 1 and the distance-to-truth curve from rings runs", args=(
        base.RUNS, base.PROFILE, (("--figure",), dict(required=True, help="Fig 1 (PNG)")),
        (("--distance-figure",), dict(required=True, help="the distance curve (PNG)")), base.CSV, base.METRICS,
        (("--seeded",), dict(nargs="*", help="the best settings' seeded runs (distance table, claims)")),
        (("--seeds-csv",), dict(help="the best settings per seed and mean +- sd (CSV)")), base.CLAIMS,
        base.TIMING)),
    "rings-grid": base.Command(_rings_grid, "the rings grid, ranked, and the best cell of each sampler", args=(
        base.RUNS, base.PROFILE, base.CSV, (("--best",), dict(required=True, help="best cells (JSON)")))),
    "classifier": base.Command(_classifier, "train the digit classifier of one data set (metric 'classifier')",
                               job=True, args=((("--out",), dict(required=True, help="weights file (.pt)")),)),
    "reference": base.reference_command("ebmlab.studies.stanley.run"),
    "segment": base.Command(_segment, "train one curve up to its next checkpoint", job=True, args=(
        (("--until",), dict(required=True, type=int, help="iteration this segment ends at")),
        (("--previous",), dict(help="the previous segment's checkpoint (none for the first)")),
        (("--out",), dict(required=True, help="checkpoint file to write")))),
    "fid": base.Command(_fid, "score one checkpoint of a curve", job=True, args=(
        REF_DIR, CLASSIFIER, (("--checkpoint",), dict(required=True)),
        (("--out",), dict(required=True, help="point JSON")),
        (("--samples",), dict(help="also write a grid of 64 scored samples (PNG)")))),
    "curves": base.Command(_curves, "collect scored points into the curves table and figures", args=(
        (("--points",), dict(nargs="+", required=True, help="scored points (JSON)")), base.PROFILE, base.CSV,
        (("--out-dir",), dict(required=True, help="figure folder (stanley_fid_<dataset>.png)")), base.METRICS,
        base.TIMING)),
    "grid-curves": base.Command(_grid_curves, "an image grid: its cells ranked, their curves and figure", args=(
        (("--points",), dict(nargs="+", required=True, help="the grid curves' scored points (JSON)")),
        base.PROFILE, base.CSV, (("--curves-csv",), dict(required=True, help="every point of the grid (CSV)")),
        base.OUT_DIR, base.TIMING)),
    "samples-figure": base.Command(_samples_figure, "Figs 2-3: each curve's final samples side by side", args=(
        (("--samples",), dict(nargs="+", required=True, metavar="DATASET/SAMPLER=PNG",
                              help="each curve's final sample grid")), base.PROFILE, base.OUT_DIR),
        reads=("samples",)),
    "inpaint": base.Command(_inpaint, "Fig 6: inpainting with the final checkpoints", job=True, args=(
        (("--checkpoint",), dict(action="append", default=[], metavar="LABEL=PATH", required=True)),
        (("--figure",), dict(required=True)), base.CSV, base.PROFILE)),
}
main = base.main_for("python -m ebmlab.studies.stanley", DOC.split("\n\n")[0], COMMANDS, JOBS, STUDY)

if __name__ == "__main__":
    raise SystemExit(main())
