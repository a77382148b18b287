#!/usr/bin/env bash
# run.sh BUILD-DIR SECONDS -- run each libFuzzer target (built with
# -DBQ_FUZZ=ON in BUILD-DIR) for SECONDS, starting from the seed corpus in
# tests/fuzz/corpus/NAME.  New interesting inputs go to
# BUILD-DIR/fuzz-corpus/NAME; to keep the ones that add coverage, run
#   BUILD-DIR/tests/fuzz/fuzz_NAME -merge=1 tests/fuzz/corpus/NAME \
#     BUILD-DIR/fuzz-corpus/NAME
# (that is where the files named by a SHA-1 in the seed corpus come from);
# a failing input is saved as BUILD-DIR/fuzz-artifacts/NAME-crash-...:
# fix the bug, then add the input to tests/fuzz/corpus/NAME so that the
# replay test (fuzz.replay.NAME in make test) keeps it fixed.
# Prints the executions of each target and their total; exits 1 on a
# failure.
set -euo pipefail
build=$1
secs=$2
src=$(cd "$(dirname "$0")" && pwd)
total=0
for name in frame config addr proto syslog tls; do
  bin=$build/tests/fuzz/fuzz_$name
  work=$build/fuzz-corpus/$name
  log=$build/fuzz-$name.log
  mkdir -p "$work" "$build/fuzz-artifacts"
  echo "== fuzz_$name for $secs s (log: $log)"
  if ! "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$build/fuzz-artifacts/$name-" \
      "$work" "$src/corpus/$name" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz_$name FAILED; the input is in $build/fuzz-artifacts/" >&2
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n1 || true)
  echo "fuzz_$name: ${execs:-0} executions, $cov, $(ls "$work" | wc -l) corpus files"
  total=$((total + ${execs:-0}))
done
echo "fuzz: $total executions in total, no failure"
