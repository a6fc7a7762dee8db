#!/usr/bin/env bash
# Do the comparisons' intervals hold when the training is run again? The demo's A1 and A1+L
# trained with six seeds, and A1+L − A1 compared on seeds {0, 1, 2} and on {3, 4, 5}:
#   bash benchmarks/seed_halves.sh [REVISION]     (default: HEAD; under 45 min on 2 cores)
# The revision is cloned into a fresh folder, its environment installed, and its demo config
# changed to seeds 0–5 of A1 and A1+L (no ACoseg, no ablation); the workflow then trains and
# evaluates those 24 runs, and benchmarks/seed_halves.py prints both intervals of each half
# (into benchmarks/results/seed_halves.json). The clone is left in place with its results.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
revision=${1:-HEAD}
commit=$(git -C "$repo" rev-parse --short "$revision")
clone=$(mktemp -d "${TMPDIR:-/tmp}/weaklesion-seed-halves.XXXXXX")/$commit
git clone --quiet "$repo" "$clone"
git -C "$clone" checkout --quiet "$commit"
cd "$clone"
make .venv/.installed >install.log 2>&1
.venv/bin/python - <<'PY'
from pathlib import Path

import yaml

path = Path("config/config.yaml")
config = yaml.safe_load(path.read_text())
config.update(models=["A1", "A1+L"], seeds=list(range(6)))
config["datasets"]["demo"].pop("ablations", None)
path.write_text(yaml.safe_dump(config, sort_keys=False))
PY
targets=()
for protocol in paper corrected; do
  for model in A1 A1+L; do
    for seed in 0 1 2 3 4 5; do
      targets+=("results/demo/$protocol/$model/seed$seed/metrics.parquet")
    done
  done
done
.venv/bin/snakemake "${targets[@]}" --cores all --resources gpu=1 >workflow.log 2>&1
.venv/bin/python "$repo/benchmarks/seed_halves.py" results \
  --out "$repo/benchmarks/results/seed_halves.json" --revision "$commit"
echo "clone, results and logs in $clone" >&2
