# Sourced by the GPU scripts: the interpreter, and the pinned packages a GPU machine's image
# lacks (segmentation-models-pytorch) installed from .whl/ when benchmarks/gpu_wheels.sh
# fetched them there. Run from the repository root.
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if compgen -G ".whl/*.whl" > /dev/null; then
  WHEEL_SITE=$(mktemp -d)
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$WHEEL_SITE" .whl/*.whl
  PYTHONPATH="$WHEEL_SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
