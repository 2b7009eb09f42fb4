#!/usr/bin/env bash
# One GPU session that produces every committed fast-profile result (reports/fast/) and the
# engine benchmark (reports/bench/), on a single GPU machine, within a fixed time box:
#
#   1. the issue-7 benchmark alone on the idle GPU (python -m ebmlab.bench all);
#   2. side by side, each under its own time limit:
#        snakemake table4_1_mnist --config profile=fast   (Table 4.1, MNIST column, 10k real digits)
#        bash workflow/scripts/cd_vs_nll.sh fast          (Gagnon & Lajoie on the 10k digits)
#        bash workflow/scripts/jem_gpu_check.sh           (JEM epoch times + MNIST substitute)
#        bash workflow/scripts/stanley_gpu.sh             (rings toy + MNIST FID-curve stand-in)
#   3. pack reports/ and logs into $OUT (when set) as a few archives.
#
# Usage: bash workflow/scripts/gpu_session.sh [total seconds, default 470]
# Environment: EBMLAB_PY (python with torch, default python3). Python packages the GPU image
# lacks (snakemake, pytorch-fid, elasticdeform) are installed from ./.whl when that folder exists.
set -uo pipefail
cd "$(dirname "$0")/../.."
TOTAL=${1:-470}
t0=$SECONDS
left() { echo $(( TOTAL - (SECONDS - t0) )); }
stamp() { echo "[$((SECONDS - t0)) s] $*"; }
mkdir -p logs/gpu_session reports/fast reports/bench

if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
        > logs/gpu_session/pip.log 2>&1
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site \
        .whl/elasticdeform-*.tar.gz >> logs/gpu_session/pip.log 2>&1
fi
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
# rules call `python`; the GPU image only has python3 (a wrapper keeps its virtualenv)
mkdir -p /tmp/bin && printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" > /tmp/bin/python
chmod +x /tmp/bin/python && export PATH=/tmp/bin:$PATH
python -c "import torch, elasticdeform, snakemake, pytorch_fid; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

stamp "1. engine benchmark (alone on the GPU)"
timeout -s KILL 150 python -m ebmlab.bench all --device cuda --compile --time-budget 75 --iterations 6 \
    --fid-images 5000 --out-dir reports/bench > logs/gpu_session/bench.log 2>&1
echo "bench rc=$?"; tail -n 25 logs/gpu_session/bench.log

limit=$(( $(left) - 45 ))
stamp "2. studies side by side, $limit s each at most"
timeout -s KILL "$limit" python3 -m snakemake table4_1_mnist --cores 8 --resources gpus=6 --keep-going \
    --config profile=fast > logs/gpu_session/table4_1.log 2>&1 &
p1=$!
JOBS=3 timeout -s KILL "$limit" bash workflow/scripts/cd_vs_nll.sh fast > logs/gpu_session/cd_vs_nll.log 2>&1 &
p2=$!
OUT= timeout -s KILL "$limit" bash workflow/scripts/jem_gpu_check.sh > logs/gpu_session/jem.log 2>&1 &
p3=$!
p4=
if [ -f workflow/scripts/stanley_gpu.sh ]; then
    timeout -s KILL "$limit" bash workflow/scripts/stanley_gpu.sh > logs/gpu_session/stanley.log 2>&1 &
    p4=$!
fi
for p in $p1 $p2 $p3 $p4; do wait "$p"; echo "pid $p rc=$?"; done
pkill -9 -f "ebmlab\." 2>/dev/null || true
stamp "3. results"
for f in reports/fast/*.csv; do echo "== $f"; cat "$f"; done
if [ -n "${OUT:-}" ]; then
    tar -czf "$OUT/reports.tgz" reports/fast reports/bench
    tar -czf "$OUT/logs.tgz" logs --exclude='*.pt'
    find results/fast -name '*.csv' -o -name '*.json' -o -name '*.yaml' | tar -czf "$OUT/results_small.tgz" -T -
    ls -la "$OUT"
fi
stamp "done"
