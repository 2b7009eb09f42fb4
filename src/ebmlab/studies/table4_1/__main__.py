"""``python -m ebmlab.studies.table4_1``: reference, cell, table, figures (see the package docstring)."""

from ebmlab.studies import base
from ebmlab.studies.table4_1 import __doc__ as DOC
from ebmlab.studies.table4_1.jobs import JOBS, STUDY

RUN = "ebmlab.studies.table4_1.run"
COMMANDS = {
    "reference": base.reference_command(RUN),
    "cell": base.scored_job_command(f"{RUN}:cell", "cell",
                                    "train one (data set, run) cell with Algorithm 7, then score it"),
    "table": base.table_command("ebmlab.studies.table4_1.claims", "metrics.json", "run the 'cell' step first",
                                "collect cells into Table 4.1"),
    "figures": base.Command("ebmlab.studies.table4_1.figures:write_figures",
                            "Figs 4.6-4.11 from the cells of one data set", passes=("runs", "dataset", "out_dir"),
                            args=(base.RUNS, (("--dataset",), dict(required=True, help="the cells' data set")),
                                  base.OUT_DIR)),
}
main = base.main_for("python -m ebmlab.studies.table4_1", DOC.split("\n\n")[0], COMMANDS, JOBS, STUDY)

if __name__ == "__main__":
    raise SystemExit(main())
