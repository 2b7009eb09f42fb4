"""``python -m ebmlab.studies.nijkamp diagnose``: one run's learning diagnostics (see the package docstring)."""

from ebmlab.studies import base
from ebmlab.studies.nijkamp import __doc__ as DOC


def _diagnose(args):
    from ebmlab.studies.nijkamp.run import diagnose
    s = diagnose(args.history, args.figure, args.metrics, args.title, args.burn_in, args.max_lag)
    print(f"{args.history}: oscillation {s['label']}")


COMMANDS = {
    "diagnose": base.Command(_diagnose, "figure and metrics JSON of one run's history.csv", args=(
        (("--history",), dict(required=True, help="a run's history.csv (columns d_st and r_t)")),
        (("--figure",), dict(help="PNG to write")),
        (("--metrics",), dict(help="JSON to write (label, acf, cross-correlation)")),
        (("--title",), dict(default="")),
        (("--burn-in",), dict(type=float, default=0.5, help="fraction of iterations left out of the label")),
        (("--max-lag",), dict(type=int, default=20)),
    )),
}
main = base.main_for("python -m ebmlab.studies.nijkamp", DOC.split("\n\n")[0], COMMANDS)

if __name__ == "__main__":
    raise SystemExit(main())
