#!/usr/bin/env bash
# The time of `make test` on clean clones, one revision after the other on this machine:
#   bash benchmarks/time_test_suite.sh [REVISION ...]     (default: HEAD)
# Each revision is cloned into a fresh folder and run the way CI runs it (`.ci/run`, which
# installs .venv and calls `make test`); what is compared is pytest's own time of the tests,
# printed on its last line, not the install. Run it on an otherwise idle machine: a second
# load on 2 cores shows up in the figures. SLURM's and Chromium's Debian packages are
# installed by the first run that needs them: run once before timing, so that every run
# times the same work. Results go to benchmarks/results/test_suite.json and are printed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
revisions=("${@:-HEAD}")
work=$(mktemp -d "${TMPDIR:-/tmp}/weaklesion-test-suite.XXXXXX")
out="$repo/benchmarks/results/test_suite.json"
records=()
for revision in "${revisions[@]}"; do
  commit=$(git -C "$repo" rev-parse --short "$revision")
  clone="$work/$commit"
  git clone --quiet "$repo" "$clone"
  git -C "$clone" checkout --quiet "$commit"
  log="$work/$commit.log"
  echo "timing make test at $commit ($revision) in $clone" >&2
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  status=0
  (cd "$clone" && bash .ci/run) >"$log" 2>&1 || status=$?
  # pytest's summary line: "... in 1038.71s (0:17:18) ..."
  seconds=$(grep -oE ' in [0-9.]+s' "$log" | tail -1 | grep -oE '[0-9.]+' || echo null)
  summary=$(grep -E '(passed|failed)' "$log" | tail -1 | tr -d '=' | sed 's/^ *//; s/ *$//')
  records+=("{\"revision\": \"$revision\", \"commit\": \"$commit\", \"exit_status\": $status, \
\"tests_seconds\": $seconds, \"summary\": \"$summary\", \"load_before\": \"$load_before\", \
\"date\": \"$(date -u +%FT%TZ)\"}")
  echo "$commit: $summary (exit status $status)" >&2
done
{
  echo "{\"machine\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),\
 $(nproc) cores\", \"runs\": ["
  (IFS=,; echo "${records[*]}")
  echo "]}"
} | python3 -m json.tool >"$out"
cat "$out"
echo "logs in $work" >&2
