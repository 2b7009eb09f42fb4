"""``python -m ebmlab.studies.cd_vs_nll``: regimes, classifier, train, evaluate, figures, table (see the package
docstring)."""


from ebmlab.studies import base
from ebmlab.studies.cd_vs_nll import __doc__ as DOC
from ebmlab.studies.cd_vs_nll.jobs import JOBS, STUDY

#: the whole study (``regimes`` checks all of it), without --job
WHOLE_STUDY = (
    (("--params",), dict(help="profile file, e.g. params/smoke.yaml")),
    (("--section",), dict(help="section of --params to use, e.g. cd_vs_nll")),
    (("--config",), dict(help="the whole study as an inline YAML/JSON mapping")),
    (("--set",), dict(action="append", default=[], metavar="KEY=VALUE", help="override one value (repeatable)")),
)
CLASSIFIER = (("--classifier",), dict(help="digit classifier weights (features and labels)"))
RUN = "ebmlab.studies.cd_vs_nll.run"


def _regimes(args):
    from ebmlab.cli import raw_config
    from ebmlab.config import from_dict
    from ebmlab.studies.cd_vs_nll.config import CDvsNLLStudy
    from ebmlab.studies.cd_vs_nll.run import check_study
    print("\n".join(check_study(from_dict(CDvsNLLStudy, raw_config(args)))))

def _table(args):
    from ebmlab.studies.cd_vs_nll.claims import TABLE_COLUMNS, claims, metrics_summary, table_rows
    from ebmlab.studies.cd_vs_nll.figures import read_runs
    runs = read_runs(args.runs)
    rows = table_rows(runs, args.profile)
    claim_rows = claims([m for _, m in runs], args.profile)
    base.write_table(args.csv, rows, TABLE_COLUMNS, args.metrics, metrics_summary(rows, claim_rows))
    base.write_claims(args.claims, claim_rows)


COMMANDS = {
    "regimes": base.Command(_regimes, "validate the whole study and list its regimes (for scripts)",
                            args=WHOLE_STUDY),
    "classifier": base.Command(f"{RUN}:classifier", "train the digit classifier on the training split",
                               job="classifier",
                               passes=("out",),
                               args=((("--out",), dict(required=True, help="the classifier's weights file")),)),
    "train": base.Command(f"{RUN}:train", "train one regime (Algorithm 7 with the regime's settings)", job="train",
                          passes=("out",),
                          args=(base.OUT,)),
    "evaluate": base.Command(f"{RUN}:evaluate", "AIS NLL, coverage, Frechet distance, stay fraction, figure chains",
                             job="evaluate", passes=("out", "classifier"), args=(base.OUT, CLASSIFIER)),
    "figures": base.Command("ebmlab.studies.cd_vs_nll.figures:write_figures",
                            "Figs 3-5 analogues, samples and class histograms",
                            passes=("runs", "out_dir"),
                            args=(base.RUNS, base.OUT_DIR)),
    "table": base.Command(_table, "regime x metric table and one verdict per claim",
                          args=(*base.TABLE_ARGS, (("--claims",), dict(required=True, help="the claims table (CSV)")))),
}
main = base.main_for("python -m ebmlab.studies.cd_vs_nll", DOC.split("\n\n")[0], COMMANDS, JOBS, STUDY)

if __name__ == "__main__":
    raise SystemExit(main())
