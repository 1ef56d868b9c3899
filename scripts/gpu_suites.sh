#!/usr/bin/env bash
# One GPU sitting of the experiment suites (docs/reproducing.md "The suites"): runs the named
# suites in turn on `--device cuda` with N points at once, continuing the committed sweep
# (--import docs/results/SUITE/results.json) and earlier sittings' run folders, and copies
# each suite's results.json, results.md and plots to RESULTS_DIR/SUITE after every point.
#
#   scripts/gpu_suites.sh RESULTS_DIR MINUTES SUITE...
#
# MINUTES bounds the sitting: no point starts after it (running points finish). Environment:
# BUILD_DIR (default build-gpu, as scripts/gpu_check.sh builds it), JOBS (default 4).
# Copy RESULTS_DIR/SUITE/* to docs/results/SUITE/ and commit to carry the sweep on.
set -u
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: scripts/gpu_suites.sh RESULTS_DIR MINUTES SUITE..." >&2; exit 2; }
results="$1" minutes="$2"
shift 2
R="${BUILD_DIR:-build-gpu}/apps/roast-train"
[ -x "$R" ] || { echo "gpu_suites: no $R; build first (scripts/gpu_check.sh LOG build)" >&2; exit 2; }
deadline=$(( $(date +%s) + ${minutes%.*} * 60 ))
for suite in "$@"; do
  left=$(( (deadline - $(date +%s)) / 60 ))
  [ "$left" -ge 1 ] || { echo "gpu_suites: the sitting's $minutes minutes are spent; $suite not started"; continue; }
  import=()
  [ -f "docs/results/$suite/results.json" ] && import=(--import "docs/results/$suite/results.json")
  out="runs/reproduce/$suite"
  mkdir -p "$results/$suite"
  echo "=== $suite: $left minutes left, $(date +%T)"
  ( while sleep 15; do cp "$out"/results.* "$out"/*.svg "$results/$suite/" 2>/dev/null; done ) &
  copier=$!
  "$R" reproduce "$suite" --device cuda --jobs "${JOBS:-4}" --budget-minutes "$left" "${import[@]}" 2>&1 |
    grep -v "^== \[" | tail -40
  kill "$copier" 2>/dev/null
  cp "$out"/results.* "$out"/*.svg "$results/$suite/" 2>/dev/null
done
