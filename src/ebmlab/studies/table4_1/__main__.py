"""``python -m ebmlab.studies.table4_1``: reference, cell, table, figures (see the package docstring)."""

from ebmlab.studies import base
from ebmlab.studies.table4_1 import __doc__ as DOC
from ebmlab.studies.table4_1.jobs import JOBS, STUDY

RUN = "ebmlab.studies.table4_1.run"
COMMANDS = {
    "reference": base.reference_command(RUN),
    "cell": base.scored_job_command(f"{RUN}:cell", "cell",
                                    "train one (data set, run) cell with Algorithm 7, then score it"),
    "table": base.Command("ebmlab.studies.table4_1.claims:table_command",
                          "Table 4.1 (mean and sd over seeds per row), with --claims the claims T1-T6 and, "
                          "with --timing, the cells' wall times",
                          passes=("runs", "profile", "csv", "metrics", "claims", "timing"),
                          args=(*base.TABLE_ARGS, base.CLAIMS, base.TIMING)),
    "cells": base.Command("ebmlab.studies.table4_1.claims:cells_command",
                          "one row per cell (every seed) and, with --timing, their wall times",
                          passes=("runs", "profile", "csv", "metrics", "timing"), args=(*base.TABLE_ARGS, base.TIMING)),
    "figures": base.Command("ebmlab.studies.table4_1.figures:write_figures",
                            "Figs 4.6-4.11 from the cells of one data set", passes=("runs", "dataset", "out_dir"),
                            args=(base.RUNS, (("--dataset",), dict(required=True, help="the cells' data set")),
                                  base.OUT_DIR)),
    "stepsize": base.Command("ebmlab.studies.table4_1.figures:write_stepsize",
                             "the step-size figure from the sweep's cells", passes=("runs", "dataset", "out"),
                             args=(base.RUNS, (("--dataset",), dict(required=True, help="the cells' data set")),
                                   (("--out",), dict(required=True, help="the figure (PNG)")))),
}
main = base.main_for("python -m ebmlab.studies.table4_1", DOC.split("\n\n")[0], COMMANDS, JOBS, STUDY)

if __name__ == "__main__":
    raise SystemExit(main())
