#!/usr/bin/env bash
# JEM GPU check (thesis 4.2.2; docs/jem.md), plain python (no snakemake), about 5-6 minutes on one H100:
#  (a) seconds per iteration and per 50,000-image epoch of every sampler of params section `jem`,
#      at WRN-28-10 and WRN-28-2, on CIFAR-shaped synthetic data -> reports/fast/jem_epoch_time.csv
#  (b) the `jem_mnist` section: JEM with every sampler on the real MNIST digits (a labelled
#      substitute), the four runs in parallel -> reports/fast/table4_2_mnist.csv,
#      reports/fast/metrics/table4_2_mnist.json, reports/fast/figures/jem_mnist_*.png
#      (run folders and logs under results/fast/jem_mnist/ and logs/fast/jem_mnist/)
# Usage: bash workflow/scripts/jem_gpu_check.sh [params file, default params/fast.yaml]
# Optional: JEM_BENCH_MODELS="28x10 28x2" (sizes timed in (a)); JEM_MNIST_SET="train.epochs=4 ..."
# (overrides for the four runs of (b), e.g. to shorten them on a busy GPU).
set -euo pipefail
cd "$(dirname "$0")/../.."
PARAMS=${1:-params/fast.yaml}
REP=reports/fast
RES=results/fast/jem_mnist
LOG=logs/fast/jem_mnist
mkdir -p "$LOG" "$REP/figures" "$REP/metrics"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
JEM="python -m ebmlab.jem"
start=$SECONDS
stamp() { echo "[$((SECONDS - start)) s] $*"; }
# on the lent GPU machine only what lands under $OUT comes back: copy reports and logs there, always
collect() { if [ -n "${OUT:-}" ]; then mkdir -p "$OUT/reports" "$OUT/logs"; cp -r "$REP" "$OUT/reports/"; cp -r "$LOG" "$OUT/logs/"; fi; }
trap collect EXIT

stamp "(a) time per epoch"
$JEM bench --params "$PARAMS" --section jem --models ${JEM_BENCH_MODELS:-28x10 28x2} --iterations 4 --warmup 2 \
    --csv "$REP/jem_epoch_time.csv" 2>&1 | tee "$LOG/bench.log"

stamp "(b) digit classifier and reference statistics of the substitute metric"
$JEM classifier --params "$PARAMS" --section jem_mnist --out "$RES/classifier.pt" > "$LOG/classifier.log" 2>&1
$JEM reference --params "$PARAMS" --section jem_mnist --ref-dir "$RES/ref" --classifier "$RES/classifier.pt" \
    > "$LOG/reference.log" 2>&1

runs=$(python -c "
import sys, yaml
print(' '.join(yaml.safe_load(open(sys.argv[1]))['jem_mnist']['samplers']))" "$PARAMS")
stamp "(b) training $runs in parallel"
sets=()
for kv in ${JEM_MNIST_SET:-}; do sets+=(--set "$kv"); done
pids=()
for run in $runs; do
    $JEM train --params "$PARAMS" --section jem_mnist --run "$run" --out "$RES/$run" --ref-dir "$RES/ref" \
        --classifier "$RES/classifier.pt" "${sets[@]}" > "$LOG/$run.log" 2>&1 &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
if [ "$failed" = 1 ]; then
    stamp "a training run failed; its log:"; tail -n 5 "$LOG"/*.log; exit 1
fi

stamp "(b) table and figures"
dirs=$(for run in $runs; do printf '%s ' "$RES/$run"; done)
$JEM table --runs $dirs --profile fast --csv "$REP/table4_2_mnist.csv" --metrics "$REP/metrics/table4_2_mnist.json"
$JEM figures --runs $dirs --out-dir "$REP/figures" --prefix jem_mnist
cat "$REP/table4_2_mnist.csv" "$REP/metrics/table4_2_mnist.json"
stamp "done"
