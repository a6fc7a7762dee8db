#!/usr/bin/env bash
# Everything a session with a GPU machine runs, as one call of under 9 minutes: the CUDA-only
# tests (graph and fused steps against eager ones, geometry on the GPU), then
# benchmarks/gpu_grid.py in the time left. Fetch the wheels first, where PyPI is reachable:
# bash benchmarks/gpu_wheels.sh, and carry .whl/ to the machine.
# Usage: bash benchmarks/gpu_session.sh [DIR]  (DIR: where to copy the record, BENCHMARKS.md
# and the tests' log, for a machine whose working tree does not come back)
set -uo pipefail
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
COPY_TO=${1:-}
TOTAL_S=${TOTAL_S:-520}
LOG=$(mktemp)
started=$SECONDS
timeout 120 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_training.py \
  tests/test_geometry.py -k cuda 2>&1 | tee "$LOG"
tests_status=${PIPESTATUS[0]}
# The grid's parts stop within its budget; 30 s more before it is killed.
budget=$(( TOTAL_S - (SECONDS - started) - 30 ))
timeout $(( budget + 30 )) "$PYTHON" benchmarks/gpu_grid.py --budget-s "$budget"
grid_status=$?
if [ -n "$COPY_TO" ]; then
  mkdir -p "$COPY_TO"
  cp "$LOG" "$COPY_TO/gpu_tests.log"
  cp BENCHMARKS.md benchmarks/results/gpu_grid.json "$COPY_TO/" 2>/dev/null || true
fi
echo "gpu_session: tests exit $tests_status, grid exit $grid_status"
[ "$tests_status" -eq 0 ] && [ "$grid_status" -eq 0 ]
