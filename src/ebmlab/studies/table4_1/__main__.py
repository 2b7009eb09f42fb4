"""``python -m ebmlab.studies.table4_1``: reference, cell, table, figures (see the package docstring)."""

from pathlib import Path

from ebmlab.studies import base
from ebmlab.studies.table4_1 import __doc__ as DOC
from ebmlab.studies.table4_1.jobs import JOBS, STUDY

REF_DIR = (("--ref-dir",), dict(required=True, help="cache folder of reference statistics"))
CLASSIFIER = (("--classifier",), dict(help="digit-classifier weights (metric 'classifier')"))


def _reference(args):
    from ebmlab.studies.table4_1.run import reference
    reference(base.load_job(args, JOBS["reference"], STUDY), args.ref_dir, args.classifier)


def _cell(args):
    from ebmlab.studies.table4_1.run import cell
    cell(base.load_job(args, JOBS["cell"], STUDY), Path(args.out), args.ref_dir, args.classifier)


def _table(args):
    from ebmlab.studies.table4_1.claims import TABLE_COLUMNS, metrics_summary, table_rows
    metrics = base.read_runs(args.runs, "metrics.json", "run the 'cell' step first")
    base.write_table(args.csv, table_rows(metrics, args.profile), TABLE_COLUMNS, args.metrics,
                     metrics_summary(metrics))


def _figures(args):
    from ebmlab.studies.table4_1.figures import write_figures
    write_figures(args.runs, args.dataset, args.out_dir)


COMMANDS = {
    "reference": base.Command(_reference, "reference feature statistics of one data set (cached)", job=True,
                              args=(REF_DIR, CLASSIFIER)),
    "cell": base.Command(_cell, "train one (data set, run) cell with Algorithm 7, then score it", job=True,
                         args=(base.OUT, REF_DIR, CLASSIFIER)),
    "table": base.Command(_table, "collect cells into Table 4.1", args=base.TABLE_ARGS),
    "figures": base.Command(_figures, "Figs 4.6-4.11 from the cells of one data set",
                            args=(base.RUNS, (("--dataset",), dict(required=True, help="the cells' data set")),
                                  base.OUT_DIR)),
}
main = base.main_for("python -m ebmlab.studies.table4_1", DOC.split("\n\n")[0], COMMANDS)

if __name__ == "__main__":
    raise SystemExit(main())
