"""Command line of the benchmarks; see ebmlab/bench/__init__.py.

    python -m ebmlab.bench gmm                       # CPU: the GMM study's samplers
    python -m ebmlab.bench sampling [--smoke]        # IGEBM chain: naive vs engine options
    python -m ebmlab.bench train_step [--smoke]      # IGEBM training iteration
    python -m ebmlab.bench fid [--smoke]             # Inception feature throughput, cached reference
    python -m ebmlab.bench all --out-dir reports/bench   # the three, to <out-dir>/<device>.txt

    # a study's own model (table4_1 = cnn, jem = wrn, cd_vs_nll = gagnon, stanley = convnet)
    python -m ebmlab.bench sampling   --params params/fast.yaml --study table4_1
    python -m ebmlab.bench train_step --params params/fast.yaml --model wrn
    python -m ebmlab.bench model      --params params/fast.yaml --model gagnon --out FILE   # both
    python -m ebmlab.bench all-models --params params/fast.yaml --out-dir reports/bench
        # -> reports/bench/cpu-cnn.txt, cpu-wrn.txt, cpu-gagnon.txt, cpu-convnet.txt
        #    (on CUDA <gpu-name>-<model>.txt; with --smoke <...>_smoke.txt)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ebmlab.bench.common import Report
from ebmlab.cli import guarded
from ebmlab.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    from ebmlab.bench import gmm as gmm_bench
    from ebmlab.bench import image as image_bench
    from ebmlab.bench import study as study_bench
    p = argparse.ArgumentParser(prog="python -m ebmlab.bench", description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gmm", help="GMM study: gradient evaluations per second per sampler (CPU)")
    gmm_bench.add_arguments(g)
    g.add_argument("--out", help="also write the report to this file")
    for name, helptext in (("sampling", "image chain: naive eager fp32 loop vs the engine options "
                                        "(IGEBM, or a study's model with --study/--model)"),
                           ("train_step", "image training iteration: naive vs engine "
                                          "(IGEBM, or a study's trainer with --study/--model)"),
                           ("fid", "Inception feature extraction throughput and cached reference statistics")):
        s = sub.add_parser(name, help=helptext, description=helptext)
        image_bench.add_arguments(s, name)
        if name != "fid":
            study_bench.add_study_arguments(s)
        s.add_argument("--out", help="also write the report to this file")
    m = sub.add_parser("model", help="sampling and train_step of one study's model, in one report",
                       description="sampling and train_step of one study's model, in one report "
                                   "(what all-models runs for each model, in a fresh process)")
    study_bench.add_common_arguments(m)
    grp = m.add_mutually_exclusive_group(required=True)
    grp.add_argument("--study", choices=list(study_bench.STUDY_MODELS))
    grp.add_argument("--model", choices=list(study_bench.MODEL_STUDIES))
    m.add_argument("--out", help="also write the report to this file")
    am = sub.add_parser("all-models", help="'model' for the four studies' models, each in a fresh process, "
                                           "to <out-dir>/<device>-<model>.txt",
                        description="'model' for table4_1 (cnn), jem (wrn), cd_vs_nll (gagnon) and stanley "
                                    "(convnet), each in a fresh process (untouched allocator, the section's "
                                    "thread count), one report per model: <out-dir>/cpu-<model>.txt on CPU, "
                                    "<gpu-name>-<model>.txt on CUDA (<...>_smoke.txt with --smoke)")
    study_bench.add_common_arguments(am)
    am.add_argument("--models", nargs="+", choices=list(study_bench.MODEL_STUDIES), default=None,
                    help="only these models (default: all four)")
    am.add_argument("--out-dir", default="reports/bench", help="folder of the reports (default reports/bench)")
    a = sub.add_parser("all", help="IGEBM sampling, train_step and fid, written to <out-dir>/<device>.txt")
    image_bench.add_arguments(a, "all")
    a.add_argument("--out-dir", default="reports/bench", help="folder of the report (default reports/bench)")
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Report()
    if args.cmd == "gmm":
        from ebmlab.bench import gmm as gmm_bench
        ok = gmm_bench.main(args, out)
    elif args.cmd in ("model", "all-models") or (args.cmd in ("sampling", "train_step")
                                                 and (args.study or args.model)):
        from ebmlab.bench import study as study_bench
        if args.cmd == "all-models":
            ok = study_bench.bench_all_models(args, out)
            args.out = None
        else:
            ok = study_bench.bench_model(args, out, sampling=args.cmd != "train_step",
                                         train=args.cmd != "sampling")
    else:
        if getattr(args, "params", None) or getattr(args, "options", None):
            raise ConfigError("--params and --options need --study or --model (or use all-models)")
        if args.seed is None:
            args.seed = 0
        from ebmlab.bench import image as image_bench
        if args.cmd == "all":
            from ebmlab.bench.common import device_name, sanitise
            dev = image_bench.resolve_device(args.device)
            args.out = str(Path(args.out_dir) / f"{sanitise(device_name(dev))}{'_smoke' if args.smoke else ''}.txt")
        run = {"sampling": image_bench.bench_sampling, "train_step": image_bench.bench_train_step,
               "fid": image_bench.bench_fid, "all": image_bench.bench_all}[args.cmd]
        ok = run(args, out)
    if args.out:
        out.write(args.out)
        print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
