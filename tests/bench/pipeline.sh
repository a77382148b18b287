#!/usr/bin/env bash
# pipeline.sh BUILD_DIR -- end-to-end committed msgs/s through burstqd for
# 1, 2 and 4 workers at --sync normal and full, beside the raw SQLite insert
# rate measured in the same run (tests/bench/raw_sqlite.c).
#
# Load: CONNS parallel `nc -N` connections, each sending its share of MSGS
# 100-byte lines; the clock stops when every nc has received its final
# "OK n" (so every message is committed).  Each figure is the median of RUNS
# runs, with min..max.  Environment: MSGS (2000000), CONNS (4), RUNS (3),
# WORKERS ("1 2 4"), SYNCS ("normal full").
set -euo pipefail
build=${1:?usage: pipeline.sh BUILD_DIR}
burstqd=$build/burstqd
raw=$build/tests/bench/raw_sqlite
MSGS=${MSGS:-2000000}
CONNS=${CONNS:-4}
RUNS=${RUNS:-3}
WORKERS=${WORKERS:-1 2 4}
SYNCS=${SYNCS:-normal full}

tmp=$(mktemp -d)
daemon=
cleanup() {
  [ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

per=$((MSGS / CONNS))
awk -v n="$per" 'BEGIN { pad = sprintf("%88s", ""); gsub(/ /, "x", pad);
  for (i = 1; i <= n; i++) printf "m%09d-%s\n", i, pad }' > "$tmp/lines"

now_ns() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
minmax() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%d..%d", lo, hi }'; }

run_raw() { # sync -> rows/s
  rm -f "$tmp"/raw.db*
  "$raw" "$tmp/raw.db" "$MSGS" 1000 "$1" | sed 's/.*rows_per_s=//'
}

run_daemon() { # workers sync -> msgs/s
  local w=$1 s=$2 port t0 t1 rows pids=()
  rm -f "$tmp"/b.db* "$tmp/log"
  "$burstqd" --listen 127.0.0.1:0 --db "$tmp/b.db" --workers "$w" --sync "$s" \
    2> "$tmp/log" &
  daemon=$!
  for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$tmp/log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "burstqd did not start" >&2; cat "$tmp/log" >&2; exit 1; }
  t0=$(now_ns)
  for i in $(seq "$CONNS"); do
    nc -N 127.0.0.1 "$port" < "$tmp/lines" > "$tmp/out$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(now_ns)
  kill -TERM "$daemon"
  wait "$daemon"
  daemon=
  rows=$(sqlite3 "$tmp/b.db" 'SELECT count(*) FROM messages')
  if [ "$rows" != "$((per * CONNS))" ]; then
    echo "lost messages: $rows rows of $((per * CONNS))" >&2
    exit 1
  fi
  echo $((rows * 1000000000 / (t1 - t0)))
}

echo "# burstqd pipeline benchmark"
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "sqlite $(sqlite3 --version | cut -d' ' -f1), libuv $(pkg-config --modversion libuv 2>/dev/null || echo ?)"
echo "load: $MSGS messages of 100 bytes over $CONNS nc connections; median of $RUNS runs (min..max)"
echo
printf '| %-8s | %-10s | %-12s | %-24s | %-6s |\n' sync workers "msgs/s" "runs (min..max)" ratio
printf '|%s|%s|%s|%s|%s|\n' ---------- ------------ -------------- -------------------------- --------
for s in $SYNCS; do
  rawrates=$(for _ in $(seq "$RUNS"); do run_raw "$s"; done)
  rawmed=$(echo "$rawrates" | median)
  printf '| %-8s | %-10s | %-12s | %-24s | %-6s |\n' "$s" "raw SQLite" "$rawmed" "$(echo "$rawrates" | minmax)" 1.00
  for w in $WORKERS; do
    rates=$(for _ in $(seq "$RUNS"); do run_daemon "$w" "$s"; done)
    med=$(echo "$rates" | median)
    printf '| %-8s | %-10s | %-12s | %-24s | %-6s |\n' "$s" "$w" "$med" \
      "$(echo "$rates" | minmax)" "$(awk -v a="$med" -v b="$rawmed" 'BEGIN { printf "%.2f", a / b }')"
  done
done
