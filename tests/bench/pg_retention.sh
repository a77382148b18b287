#!/usr/bin/env bash
# pg_retention.sh [BUILD_DIR] -- retention on PostgreSQL, measured (a
# benchmark, not a test; docs/operations.md "Retention", "On PostgreSQL").
#
# One private cluster (tests/pg/lib.sh: fsync on, loopback, autovacuum as
# PostgreSQL ships it), a fresh database per run.  Each run: burstqd
# --sync normal --db postgresql://... with ARGS, `burstq bench -c 4 -s 100
# --rate RATE --duration S`, psql sampling once a second the row count,
# the files (pg_total_relation_size of messages and syslog_headers) and
# the oldest message's age.  Runs: none (no retention), rows
# (--retain-rows ROWS), size (--retain-size SIZE), back to back, so their
# ratios hold on a loaded machine.  Prints a Markdown table: ack p99 (and
# its ratio to none), the most rows seen, the files over the last half of
# the run (max/min - 1, and their range), the largest file size.
#
# Environment: BENCH_RET_S (120), BENCH_RET_RATE (5000 msgs/s),
# BENCH_RET_ROWS (200000), BENCH_RET_SIZE (32M).
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
burstqd=$build/burstqd
burstq=$build/burstq
S=${BENCH_RET_S:-120}
RATE=${BENCH_RET_RATE:-5000}
ROWS=${BENCH_RET_ROWS:-200000}
SIZE=${BENCH_RET_SIZE:-32M}
dir=$(mktemp -d /tmp/bq-pgret.XXXXXX) || exit 1
. "$here/../pg/lib.sh"
pg_on_exit "rm -rf '$dir'"
pg_start "$dir/pg" >/dev/null 2>&1 || exit 1
declare -A R

# sample DB OUT: once a second until $dir/stop exists: "t rows bytes age_s".
sample() {
  local t0=$SECONDS
  while [ ! -e "$dir/stop" ]; do
    echo "$((SECONDS - t0)) $(pg_psql "$dir/pg" "$1" "SELECT count(*),
      pg_total_relation_size('messages') + pg_total_relation_size('syslog_headers'),
      coalesce(round(extract(epoch FROM clock_timestamp()) - min(received_at) / 1e6, 2), 0)
      FROM messages" | tr '|' ' ')" >>"$2"
    sleep 1
  done
}

run() { # NAME ARGS...
  local name=$1 db=r_$1 log=$dir/$1.log spl=$dir/$1.samples port pid sp i
  shift
  pg_psql "$dir/pg" postgres "CREATE DATABASE $db" >/dev/null
  : >"$log"
  "$burstqd" --listen 127.0.0.1:0 --db "$(pg_url "$dir/pg" "$db")" \
    --sync normal "$@" >"$log" 2>&1 &
  pid=$!
  for ((i = 0; i < 600; i++)); do
    port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\) (acked)$/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$log" >&2; exit 1; }
  rm -f "$dir/stop"
  : >"$spl"
  sample "$db" "$spl" &
  sp=$!
  "$burstq" bench -H "127.0.0.1:$port" -c 4 -s 100 --rate "$RATE" \
    --duration "$S" --json </dev/null >"$dir/$name.json" 2>"$dir/$name.err" ||
    { cat "$dir/$name.err" >&2; exit 1; }
  touch "$dir/stop"
  wait "$sp"
  kill -TERM "$pid"
  wait "$pid"
  R[$name,p99]=$(python3 -c 'import json, sys
d = json.loads(sys.stdin.read().strip().splitlines()[-1])
print(d["latency_ms"]["p99"], "ok" if d["sent_eq_committed"] else "LOST")' <"$dir/$name.json")
  R[$name,rows]=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$spl")
  R[$name,files]=$(awk -v h=$((S / 2)) '$1 >= h {
      if (mn == "" || $3 < mn) mn = $3; if ($3 > mx) mx = $3 }
    END { if (mn > 0) printf "%.1f%% (%.1f..%.1f MiB)", (mx / mn - 1) * 100, mn / 1048576, mx / 1048576; else print "-" }' "$spl")
  R[$name,max]=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { printf "%.1f MiB", m / 1048576 }' "$spl")
  echo "pg_retention.sh: $name done: p99 ${R[$name,p99]}, rows <= ${R[$name,rows]}, files ${R[$name,files]}" >&2
}

run none
run rows --retain-rows "$ROWS"
run size --retain-size "$SIZE"
echo "| PostgreSQL, --sync normal, 4 connections, 100-byte messages at $RATE msgs/s for $S s | ack p99 ms (x none) | most rows | files, last half: spread | largest files |"
echo "| --- | --- | --- | --- | --- |"
for n in none rows size; do
  p=${R[$n,p99]% *}
  echo "| $(case $n in none) echo "no retention" ;; rows) echo "--retain-rows $ROWS" ;; size) echo "--retain-size $SIZE" ;; esac) | $p ($(awk -v a="$p" -v b="${R[none,p99]% *}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'); ${R[$n,p99]#* }) | ${R[$n,rows]} | ${R[$n,files]} | ${R[$n,max]} |"
done
