"""``python -m ebmlab.studies.gmm``: train, evaluate, table, figures (see the package docstring)."""

from ebmlab.studies import base
from ebmlab.studies.gmm import __doc__ as DOC
from ebmlab.studies.gmm.jobs import JOBS, STUDY

COMMANDS = {
    "train": base.Command("ebmlab.studies.gmm.run:train", "train one energy with one sampler (Algorithm 1)",
                          job="train", passes=("out",), args=(base.OUT,)),
    "evaluate": base.Command("ebmlab.studies.gmm.run:evaluate", "R-hat, samples and energy map of a trained run",
                             job="evaluate", passes=("out",), args=(base.OUT,)),
    "table": base.table_command("ebmlab.studies.gmm.claims", "rhat.json", "run 'evaluate' first",
                                "collect runs into the R-hat table"),
    "figures": base.Command("ebmlab.studies.gmm.figures:write_figures", "Figs 4.1-4.5 from evaluated runs",
                            passes=("runs", "out_dir"), args=(base.RUNS, base.OUT_DIR)),
}
main = base.main_for("python -m ebmlab.studies.gmm", DOC.split("\n\n")[0], COMMANDS, JOBS, STUDY)

if __name__ == "__main__":
    raise SystemExit(main())
