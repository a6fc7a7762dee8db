#!/usr/bin/env bash
# The GPU check: resnet101 A1, A1+L and ACoseg training at both geometries, in fp32 (the
# released code's arithmetic, config/paper.yaml) and bf16 autocast, images/s,
# peak memory and an estimate of the paper grid's wall time on this card.
# Usage: bash benchmarks/gpu_check.sh [extra args for gpu_check.py, e.g. --steps 300]
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
"$PYTHON" benchmarks/gpu_check.py --encoder resnet101 "$@"
