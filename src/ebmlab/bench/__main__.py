"""Command line of the benchmarks; see ebmlab/bench/__init__.py."""

from __future__ import annotations

import argparse
import sys

from ebmlab.bench.common import Report
from ebmlab.cli import guarded


def build_parser() -> argparse.ArgumentParser:
    from ebmlab.bench import gmm as gmm_bench
    p = argparse.ArgumentParser(prog="python -m ebmlab.bench", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gmm", help="GMM study: gradient evaluations per second per sampler (CPU)")
    gmm_bench.add_arguments(g)
    g.add_argument("--out", help="also write the report to this file")
    return p


@guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Report()
    if args.cmd == "gmm":
        from ebmlab.bench import gmm as gmm_bench
        ok = gmm_bench.main(args, out)
    if args.out:
        out.write(args.out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
