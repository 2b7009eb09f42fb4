"""Command line of the benchmarks; see ebmlab/bench/__init__.py.

    python -m ebmlab.bench gmm                       # CPU: the GMM study's samplers
    python -m ebmlab.bench sampling [--smoke]        # image chain: naive vs engine options
    python -m ebmlab.bench train_step [--smoke]      # image training iteration
    python -m ebmlab.bench fid [--smoke]             # Inception feature throughput, cached reference
    python -m ebmlab.bench all --out-dir reports/bench   # the three, to <out-dir>/<device>.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ebmlab.bench.common import Report
from ebmlab.cli import guarded


def build_parser() -> argparse.ArgumentParser:
    from ebmlab.bench import gmm as gmm_bench
    from ebmlab.bench import image as image_bench
    p = argparse.ArgumentParser(prog="python -m ebmlab.bench", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gmm", help="GMM study: gradient evaluations per second per sampler (CPU)")
    gmm_bench.add_arguments(g)
    g.add_argument("--out", help="also write the report to this file")
    for name, helptext in (("sampling", "image chain: naive eager fp32 loop vs the engine options"),
                           ("train_step", "image training iteration: naive vs engine"),
                           ("fid", "Inception feature extraction throughput and cached reference statistics")):
        s = sub.add_parser(name, help=helptext)
        image_bench.add_arguments(s, name)
        s.add_argument("--out", help="also write the report to this file")
    a = sub.add_parser("all", help="sampling, train_step and fid, written to <out-dir>/<device>.txt")
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
    else:
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
