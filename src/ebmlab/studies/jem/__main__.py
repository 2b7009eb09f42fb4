"""``python -m ebmlab.studies.jem``: classifier, reference, train, table, figures, bench (see the package docstring)."""

from ebmlab.studies import base
from ebmlab.studies.jem import __doc__ as DOC
from ebmlab.studies.jem.jobs import JOBS, STUDY

RUN = "ebmlab.studies.jem.run"
COMMANDS = {
    "classifier": base.Command(f"{RUN}:classifier", "train the digit classifier of the substitute metric",
                               job="classifier", passes=("out",),
                               args=((("--out",), dict(required=True, help="weights file to write")),)),
    "reference": base.reference_command(RUN),
    "train": base.scored_job_command(f"{RUN}:train", "train",
                                     "train JEM with one sampler, then measure accuracy and FID"),
    "table": base.Command("ebmlab.studies.jem.claims:table_command",
                          "Table 4.2 (mean and sd over seeds per sampler), with --claims the claims J1-J5 and, "
                          "with --timing, the runs' wall times",
                          passes=("runs", "profile", "csv", "metrics", "claims", "timing"),
                          args=(*base.TABLE_ARGS, base.CLAIMS, base.TIMING)),
    "figures": base.Command("ebmlab.studies.jem.figures:write_figures", "Figs 4.12-4.16 from trained runs",
                            passes=("runs", "out_dir", "prefix", "chain_iterations"), args=(
        base.RUNS, base.OUT_DIR,
        (("--prefix",), dict(default="jem", help="file-name prefix (the section: jem)")),
        (("--chain-iterations",), dict(type=int, nargs="+", default=None,
                                       help="iterations for Figs 4.13/4.14 (default: the runs' "
                                            "figures.chain_iterations)")))),
    "bench": base.Command(f"{RUN}:bench", "seconds per iteration and per 50,000-image epoch on synthetic CIFAR "
                          "shapes", job="bench", passes=("models", "iterations", "warmup", "csv"), args=(
        (("--models",), dict(nargs="+", default=["28x10"], help="WRN sizes DEPTHxWIDTH, e.g. 28x10 28x2")),
        (("--iterations",), dict(type=int, default=5, help="timed iterations per (size, sampler)")),
        (("--warmup",), dict(type=int, default=2, help="untimed iterations first")),
        base.CSV)),
}
main = base.main_for("python -m ebmlab.studies.jem", DOC.split("\n\n")[0], COMMANDS, JOBS, STUDY)

if __name__ == "__main__":
    raise SystemExit(main())
