"""``python -m ebmlab.studies.nijkamp diagnose``: one run's learning diagnostics (see the package docstring)."""

from ebmlab.studies import base
from ebmlab.studies.nijkamp import __doc__ as DOC


def _diagnose(args):
    from ebmlab.studies.nijkamp.run import diagnose
    s = diagnose(args.history, args.figure, args.metrics, args.title, args.burn_in, args.max_lag)
    print(f"{args.history}: oscillation {s['label']}")


COMMANDS = {
    "diagnose": base.Command(_diagnose, "figure and metrics JSON of one run's history.csv", args=(
        (("--history",), dict(required=True, help="a run's history.csv (columns d_st and r_t) or a trainer "
                                                   "checkpoint (.pt) holding its history")),
        (("--figure",), dict(help="PNG to write")),
        (("--metrics",), dict(help="JSON to write (label, acf, cross-correlation)")),
        (("--title",), dict(default="")),
        (("--burn-in",), dict(type=float, default=0.5, help="fraction of iterations left out of the label")),
        (("--max-lag",), dict(type=int, default=20)),
    )),
}


def _summary(args):
    from ebmlab.studies.nijkamp.run import summary
    table = summary(args.metrics, args.runs, args.study, args.profile, args.csv, args.claims, args.figure, args.eps)
    print(f"{args.study}: {len(table)} runs diagnosed")


COMMANDS["summary"] = base.Command(_summary, "one study's diagnosed runs: table, claims N1-N2, summary figure", args=(
    (("--metrics",), dict(nargs="+", required=True, help="the runs' diagnose metrics JSON files")),
    (("--runs",), dict(nargs="+", required=True, help="the runs' names, in the same order")),
    (("--study",), dict(required=True, help="the study's name, written into every row")),
    base.PROFILE, base.CSV, base.CLAIMS,
    (("--figure",), dict(help="summary PNG to write")),
    (("--eps",), dict(type=float, help="the runs' training chain noise std (N2 is tested at eps = 0.015)")),
), reads=("metrics",))   # --runs are the runs' names


def _pool(args):
    from ebmlab.studies.nijkamp.run import pool
    for c in pool(args.tables, args.profile, args.claims):
        print(f"{c['claim']}: {c['verdict']}")


COMMANDS["pool"] = base.Command(_pool, "the claims N1-N2 over several studies' tables", args=(
    (("--tables",), dict(nargs="+", required=True, help="nijkamp_<study>.csv files (summary)")),
    base.PROFILE, (("--claims",), dict(required=True, help="the claims table (CSV)")),
))
main = base.main_for("python -m ebmlab.studies.nijkamp", DOC.split("\n\n")[0], COMMANDS)

if __name__ == "__main__":
    raise SystemExit(main())
