#!/usr/bin/env bash
# Fetch, on a machine with PyPI, the wheels of the pinned packages that a GPU machine without
# internet lacks, into .whl/ (git-ignored): segmentation-models-pytorch, pure Python, whose
# own needs (torch, timm, huggingface-hub, ...) its image has. Carry .whl with the run;
# benchmarks/gpu_env.sh installs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
PIN=$(grep -i '^segmentation-models-pytorch==' requirements.txt)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "$PIN"
ls .whl
