"""``python -m ebmlab.studies.gmm``: train, evaluate, table, figures (see the package docstring)."""

from pathlib import Path

from ebmlab.studies import base
from ebmlab.studies.gmm import __doc__ as DOC
from ebmlab.studies.gmm.jobs import JOBS, STUDY


def _train(args):
    from ebmlab.studies.gmm.run import train
    train(base.load_job(args, JOBS["train"], STUDY), Path(args.out))


def _evaluate(args):
    from ebmlab.studies.gmm.run import evaluate
    evaluate(base.load_job(args, JOBS["evaluate"], STUDY), Path(args.out))


def _table(args):
    from ebmlab.studies.gmm.claims import TABLE_COLUMNS, metrics_summary, table_rows
    metrics = base.read_runs(args.runs, "rhat.json", "run 'evaluate' first")
    base.write_table(args.csv, table_rows(metrics, args.profile), TABLE_COLUMNS, args.metrics,
                     metrics_summary(metrics))


def _figures(args):
    from ebmlab.studies.gmm.figures import write_figures
    write_figures(args.runs, args.out_dir)


COMMANDS = {
    "train": base.Command(_train, "train one energy with one sampler (Algorithm 1)", job=True, args=(base.OUT,)),
    "evaluate": base.Command(_evaluate, "R-hat, samples and energy map of a trained run", job=True,
                             args=(base.OUT,)),
    "table": base.Command(_table, "collect runs into the R-hat table", args=base.TABLE_ARGS),
    "figures": base.Command(_figures, "Figs 4.1-4.5 from evaluated runs", args=(base.RUNS, base.OUT_DIR)),
}
main = base.main_for("python -m ebmlab.studies.gmm", DOC.split("\n\n")[0], COMMANDS)

if __name__ == "__main__":
    raise SystemExit(main())
