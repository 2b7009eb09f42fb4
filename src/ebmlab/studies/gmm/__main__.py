"""``python -m ebmlab.studies.gmm``: train, evaluate, table, figures (see the package docstring)."""

from pathlib import Path

from ebmlab.studies import base
from ebmlab.studies.gmm import __doc__ as DOC
from ebmlab.studies.gmm.jobs import JOBS, STUDY

COMMANDS = {
    "train": base.Command("ebmlab.studies.gmm.run:train", "train one energy with one sampler (Algorithm 1)",
                          job="train", passes=("out",), args=(base.OUT,)),
    "evaluate": base.Command("ebmlab.studies.gmm.run:evaluate", "R-hat, samples and energy map of a trained run",
                             job="evaluate", passes=("out",), args=(base.OUT,)),
    "compare": base.Command("ebmlab.studies.gmm.run:compare",
                            "every sampler on one fixed energy (true or shared), one chain seed",
                            job="compare", passes=("out", "shared_model"),
                            args=(base.OUT, (("--shared-model",), dict(type=Path, help="the shared energy's model.pt "
                                                                                       "(energy 'shared')")))),
    "samplers": base.Command(lambda args: base.import_path("ebmlab.studies.gmm.claims:samplers_table")(args),
                             "the fixed-energy sampler comparison (gmm_samplers.csv) from the compare jobs",
                             args=((("--compare",), dict(nargs="+", required=True, help="compare job folders")),
                                   base.PROFILE, base.CSV)),
    "table": base.Command(lambda args: base.import_path("ebmlab.studies.gmm.claims:table")(args),
                          "the R-hat table, the claims, the metrics and the timings",
                          args=(base.RUNS, (("--compare",), dict(nargs="+", required=True, help="compare job folders")),
                                base.PROFILE, base.CSV,
                                (("--claims",), dict(required=True, help="the claims table (CSV)")),
                                base.METRICS, base.TIMING)),
    "figures": base.Command("ebmlab.studies.gmm.figures:write_figures", "Figs 4.1-4.5 from evaluated runs",
                            passes=("runs", "out_dir"), args=(base.RUNS, base.OUT_DIR)),
    "rhat-figure": base.Command("ebmlab.studies.gmm.figures:rhat_figure",
                                "R-hat with 95% intervals per sampler, in the three settings",
                                passes=("runs", "compare", "png"),
                                args=(base.RUNS, (("--compare",), dict(nargs="+", required=True,
                                                                      help="compare job folders")),
                                      (("--png",), dict(required=True, help="the figure (PNG)")))),
}
main = base.main_for("python -m ebmlab.studies.gmm", DOC.split("\n\n")[0], COMMANDS, JOBS, STUDY)

if __name__ == "__main__":
    raise SystemExit(main())
