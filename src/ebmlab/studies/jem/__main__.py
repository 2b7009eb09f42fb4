"""``python -m ebmlab.studies.jem``: classifier, reference, train, table, figures, bench (see the package docstring)."""

from pathlib import Path

from ebmlab.studies import base
from ebmlab.studies.jem import __doc__ as DOC
from ebmlab.studies.jem.jobs import JOBS, STUDY

REF_DIR = (("--ref-dir",), dict(required=True, help="cache folder of reference statistics"))
CLASSIFIER = (("--classifier",), dict(help="digit-classifier weights (metric 'classifier')"))


def _classifier(args):
    from ebmlab.studies.jem.run import classifier
    classifier(base.load_job(args, JOBS["classifier"], STUDY), args.out)


def _reference(args):
    from ebmlab.studies.jem.run import reference
    reference(base.load_job(args, JOBS["reference"], STUDY), args.ref_dir, args.classifier)


def _train(args):
    from ebmlab.studies.jem.run import train
    train(base.load_job(args, JOBS["train"], STUDY), Path(args.out), args.ref_dir, args.classifier)


def _table(args):
    from ebmlab.studies.jem.claims import TABLE_COLUMNS, metrics_summary, table_rows
    metrics = base.read_runs(args.runs, "metrics.json", "run the 'train' step first")
    base.write_table(args.csv, table_rows(metrics, args.profile), TABLE_COLUMNS, args.metrics,
                     metrics_summary(metrics))


def _figures(args):
    from ebmlab.studies.jem.figures import write_figures
    write_figures([Path(d) for d in args.runs], Path(args.out_dir), args.prefix, args.chain_iterations)


def _bench(args):
    from ebmlab.studies.jem.run import bench
    bench(base.load_job(args, JOBS["bench"], STUDY), args.models, args.iterations, args.warmup, args.csv)


COMMANDS = {
    "classifier": base.Command(_classifier, "train the digit classifier of the substitute metric", job=True,
                               args=((("--out",), dict(required=True, help="weights file to write")),)),
    "reference": base.Command(_reference, "reference feature statistics of the data set (cached)", job=True,
                              args=(REF_DIR, CLASSIFIER)),
    "train": base.Command(_train, "train JEM with one sampler, then measure accuracy and FID", job=True,
                          args=(base.OUT, REF_DIR, CLASSIFIER)),
    "table": base.Command(_table, "collect runs into Table 4.2", args=base.TABLE_ARGS),
    "figures": base.Command(_figures, "Figs 4.12-4.16 from trained runs", args=(
        base.RUNS, base.OUT_DIR,
        (("--prefix",), dict(default="jem", help="file-name prefix: the section, jem or jem_mnist")),
        (("--chain-iterations",), dict(type=int, nargs="+", default=None,
                                       help="iterations for Figs 4.13/4.14 (default: the runs' "
                                            "figures.chain_iterations)")))),
    "bench": base.Command(_bench, "seconds per iteration and per 50,000-image epoch on synthetic CIFAR shapes",
                          job=True, args=(
        (("--models",), dict(nargs="+", default=["28x10"], help="WRN sizes DEPTHxWIDTH, e.g. 28x10 28x2")),
        (("--iterations",), dict(type=int, default=5, help="timed iterations per (size, sampler)")),
        (("--warmup",), dict(type=int, default=2, help="untimed iterations first")),
        base.CSV)),
}
main = base.main_for("python -m ebmlab.studies.jem", DOC.split("\n\n")[0], COMMANDS)

if __name__ == "__main__":
    raise SystemExit(main())
