#!/usr/bin/env bash
# The time of `make run` (the demo workflow) on clean clones, one revision after the other on
# this machine:
#   bash benchmarks/time_make_run.sh [REVISION ...]     (default: HEAD)
# Each revision is cloned into a fresh folder; its environment is installed first (`make
# .venv/.installed`, not timed), then `make run` is timed: the workflow alone, from the
# demo's generated data to the HTML report. Run it on an otherwise idle machine. Results go to
# benchmarks/results/make_run.json (added to the runs recorded there) and
# are printed; each clone is left in place, its results/ for comparing the revisions' tables.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
revisions=("${@:-HEAD}")
work=$(mktemp -d "${TMPDIR:-/tmp}/weaklesion-make-run.XXXXXX")
out="$repo/benchmarks/results/make_run.json"
for revision in "${revisions[@]}"; do
  commit=$(git -C "$repo" rev-parse --short "$revision")
  clone="$work/$commit"
  git clone --quiet "$repo" "$clone"
  git -C "$clone" checkout --quiet "$commit"
  log="$work/$commit.log"
  echo "installing, then timing make run at $commit ($revision) in $clone" >&2
  (cd "$clone" && make .venv/.installed) >"$log" 2>&1
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  status=0
  start=$(date +%s.%N)
  (cd "$clone" && make run) >>"$log" 2>&1 || status=$?
  seconds=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
  runs=$(find "$clone/results" -name model.pt | wc -l)
  python3 - "$out" "$revision" "$commit" "$status" "$seconds" "$runs" "$load_before" \
    "${revisions[*]}" <<'EOF'
import json, platform, subprocess, sys
from datetime import datetime, timezone
from pathlib import Path

out, revision, commit, status, seconds, runs, load, revisions = sys.argv[1:]
path = Path(out)
cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
           if line.startswith("model name"))
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
record = json.loads(path.read_text()) if path.exists() else {"runs": []}
record.update(machine=f"{cpu}, {cores} cores",
              command=f"bash benchmarks/time_make_run.sh {revisions}")
record["runs"].append({"revision": revision, "commit": commit, "exit_status": int(status),
                       "seconds": float(seconds), "trained_models": int(runs),
                       "load_before": load, "python": platform.python_version(),
                       "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
path.write_text(json.dumps(record, indent=2) + "\n")
print(f"{commit}: make run {seconds} s, {runs} trained models, exit status {status}",
      file=sys.stderr)
EOF
done
cat "$out"
echo "clones and logs in $work" >&2
