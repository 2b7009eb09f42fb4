#!/usr/bin/env bash
# STANLEY fast profile (docs/stanley.md): FID curves of the five samplers on the real MNIST digits
# (classifier substitute metric) and MNIST inpainting -> reports/fast/stanley_*. On a GPU machine
# several curves share the GPU; on 2 CPU cores the same command takes about 15 minutes.
# Usage: bash workflow/scripts/stanley_gpu.sh [jobs at a time, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=${1:-5}
python3 -m snakemake stanley --cores "$jobs" --resources gpus="$jobs" --keep-going --config profile=fast
