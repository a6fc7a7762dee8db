#!/usr/bin/env bash
# The prepared GPU benchmark of the paper grid (benchmarks/gpu_grid.py): step rates per model
# x geometry x precision - eager, CUDA graphs, ACoseg's fused pairs, torch.compile - with
# validation batch sizes, peak memory, validation curves against eager steps, several
# trainings sharing one GPU, and the grid's projected wall time on 1-8 GPUs. Its parts stop
# within --budget-s (450 s); the whole fits in 8 minutes of one GPU. Writes
# benchmarks/results/gpu_grid.json and the "GPU grid" section of BENCHMARKS.md.
# Usage: bash benchmarks/gpu_grid.sh [extra args for gpu_grid.py]
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
timeout 480 "$PYTHON" benchmarks/gpu_grid.py "$@"
