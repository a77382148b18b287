#!/usr/bin/env bash
# pipeline.sh BUILD_DIR -- `make bench`: burstqd end to end against the raw
# SQLite ceiling of this machine, as a table on stdout and in a Markdown
# file (docs/benchmarks.md for a full run).
#
#   1. raw ceiling: tests/bench/raw_sqlite (same schema, same pragmas,
#      100-byte payloads, transactions of 1000, one thread) at --sync normal
#      and full;
#   2. end to end: committed msgs/s through a fresh burstqd (fresh database)
#      per run, `burstq bench -c C -n N -s 100`, C = 1, 4, 64, at --sync
#      normal and full; every run is checked (--db: every message stored
#      once, in order) and must end with sent == committed;
#   2b. the same load (4 connections, 100-byte messages) into a syslog
#      listener, which writes nothing back: `burstq bench --sink` sends and
#      closes without waiting; the committed rate comes from the database
#      (messages / (last close recorded - first open): the daemon records a
#      connection's close only after committing all it sent), and every run
#      is checked afterwards with `burstq bench --check-only --db`;
#   3. the ratio of (2) to (1): the headline;
#   4. ack latency p50/p99/p99.9 at 10, 25, 50 and 75% of the 4-connection
#      maximum sustained for BENCH_LAT_S seconds (unpaced runs that long,
#      measured here), paced with --rate, at each sync level, against
#      issue 16's goals;
#      beside each, the floor: the same paced run against
#      tests/bench/ack_floor (acks every line at once, stores nothing), run
#      right after it, so the table shows what the machine and the client
#      cost with no daemon work (BENCH_LAT_FLOOR=0 leaves it out); and
#      beside each --sync full row the disk's own floor:
#      tests/bench/flush_floor in the same directory, writes flushed as
#      burstqd's syncer flushes them, at the rate of the run's commits
#      (batches= of the daemon's last log line, over BENCH_LAT_S) and of
#      about the size of one commit's WAL frames (130 bytes a 100-byte
#      message's row, rounded up to 16384-byte pages, plus one page);
#      BENCH_ONLY=latency runs only it (measuring the maximum first) and
#      prints its rows;
#   5. a burst: 10x the sustained rate (4 connections, --sync full) offered
#      for BENCH_BURST_S seconds into a small queue (--queue-capacity 8192
#      --queue-bytes 1M): the daemon's peak RSS (VmHWM), how long the
#      senders were held back, the drain after the last byte, nothing lost.
#   7. TLS (a `--listen ...,tls` listener, certificates from
#      tests/tls/mkcerts.sh, --sync normal): 4-connection committed msgs/s
#      over TLS against plaintext in the same run (a fresh daemon and
#      database for each, both checked), and full handshakes per second
#      (`openssl s_time -new` for BENCH_TLS_S seconds: connections / wall
#      time).  BENCH_TLS=0 leaves it out; BENCH_ONLY=tls runs only it and
#      prints its rows.
#   8. producers (issue 14, --sync normal): 4-connection committed msgs/s
#      with `burstq bench --producers` (HELLO on each connection; the --db
#      check also covers each row's producer and pseq) against plain
#      connections in the same run, a fresh daemon and database for each;
#      goal: within 5% (ratio >= 0.95).  BENCH_PRODUCERS=0 leaves it out;
#      BENCH_ONLY=producers runs only it and prints its rows.
#   9. PostgreSQL (tests/bench/pg_bench.sh): the raw libpq COPY ceiling
#      (tests/bench/raw_pg: one process, the daemon's schema, batches of
#      8192 rows, synchronous_commit on) against burstqd --sync full with 4
#      connections, into one local primary and into a primary with a
#      synchronous standby (private clusters, tests/pg/lib.sh), each run's
#      rows checked in PostgreSQL.  BENCH_PG=0 leaves it out; BENCH_ONLY=pg
#      runs only it and prints its rows.
#  10. retention (issue 17): paced load at BENCH_RET_PCT% (10) of the
#      4-connection maximum --sync normal sustains for BENCH_LAT_S seconds
#      (section 4's, or one unpaced run that long), for BENCH_RET_S (120)
#      seconds, without retention, with --retain-rows BENCH_RET_ROWS
#      (500000) and with --retain-age BENCH_RET_AGE (20s); sqlite3 samples
#      the database every second: most rows stored, the file's size over
#      the last half of the run (max/min - 1), the widest span of
#      received_at stored, the oldest message's largest wall-clock age; ack
#      p99 of each against the run without.  One run each (the figures are
#      run-long); BENCH_RET=0 leaves it out, BENCH_ONLY=retention runs only
#      it and prints its rows.
#  11. message sizes (issue 16): at BENCH_SIZES (1 KB and 16 KB), for each
#      sync level, the raw ceiling (tests/bench/raw_sqlite: the best median
#      of the loops in BENCH_SIZE_RAW, one writer, transactions of 4 MiB of
#      payload, burstqd's checkpointer keeping the WAL bounded) against burstqd with
#      4 connections (`burstq bench -s SIZE`, each run checked), once per
#      page size in BENCH_SIZE_PAGES (the default, 16384, and --page-size
#      65536): msgs/s and MB/s, each row's ratio to the best raw loop with
#      goal >= 0.8.  BENCH_SIZE_BYTES (512 MiB) of payload per run.
#      Then what the page size costs at a trickle: for each sync level and
#      page size, 100-byte messages paced at BENCH_TRICKLE_RATES (2000 and
#      20000 msgs/s, 4 connections) for BENCH_TRICKLE_S (5) seconds: the
#      commits a second and the bytes burstqd wrote a second
#      (write_bytes of /proc/PID/io: pages it dirtied, WAL and database
#      file), against the payload's.  BENCH_TRICKLE_RATES="" leaves that
#      part out.  BENCH_SIZES_ON=0 leaves section 11 out; BENCH_ONLY=sizes
#      runs only it and prints its rows.
# Each figure is the median of BENCH_RUNS runs, with [min..max].
#
# Environment (defaults give the full benchmark, a few minutes on 2 cores):
#   BENCH_N        messages per end-to-end run and raw run  [2000000]
#   BENCH_RUNS     runs per figure                           [3]
#   BENCH_CONNS    connection counts                         ["1 4 64"]
#   BENCH_SYNCS    sync levels                               ["normal full"]
#   BENCH_LAT_S    seconds of paced load per latency run     [10]
#   BENCH_LAT_PCTS percents of the maximum for section 4     ["10 25 50 75"]
#   BENCH_LAT_FLOOR 0: no floor runs in section 4            [1]
#   BENCH_BURST_S  seconds the burst is offered              [1]
#   BENCH_DIR      scratch directory (on the disk under test) [BUILD_DIR/bench-tmp]
#   BENCH_SYSLOG   0: no syslog row (2b)                     [1]
#   BENCH_ONLY     "syslog", "latency", "tls", "producers", "pg",
#                  "retention" or "sizes": only those rows (2b, 4, 7, 8, 9,
#                  10, 11), printed, no file
#   BENCH_SIZES    payload sizes of section 11             ["1024 16384"]
#   BENCH_SIZE_RAW raw loops tried for its ceiling, ';'-separated
#                  raw_sqlite KEY=VALUE words (see raw_sqlite.c)
#   BENCH_SIZE_PAGES burstqd's page sizes in section 11: "default" (no
#                  --page-size) or a --page-size value  ["default 65536"]
#   BENCH_TRICKLE_RATES paced msgs/s of section 11's write cost ["2000 20000"]
#   BENCH_TRICKLE_S seconds per trickle run                  [5]
#   BENCH_PG       0: no PostgreSQL rows (9)                 [1]
#   BENCH_OUT      Markdown output; default docs/benchmarks.md for a full run
#                  (BENCH_N >= 2000000 and BENCH_RUNS >= 3), else
#                  BUILD_DIR/benchmarks.md
# Quick check: BENCH_N=200000 BENCH_RUNS=1 BENCH_LAT_S=2 make bench
# The PostgreSQL rows alone: BENCH_ONLY=pg BENCH_N=200000 BENCH_RUNS=1 \
#   tests/bench/pipeline.sh build-bench
# The syslog row alone: BENCH_ONLY=syslog BENCH_N=200000 BENCH_RUNS=1 \
#   tests/bench/pipeline.sh build-bench
set -euo pipefail

build=$(realpath "${1:?usage: pipeline.sh BUILD_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
burstqd=$build/burstqd
burstq=$build/burstq
raw=$build/tests/bench/raw_sqlite
ack_floor=$build/tests/bench/ack_floor
flush_floor=$build/tests/bench/flush_floor
for b in "$burstqd" "$burstq" "$raw" "$ack_floor" "$flush_floor"; do
  [ -x "$b" ] || { echo "pipeline.sh: $b is missing: build first" >&2; exit 2; }
done
for t in python3 sqlite3; do
  command -v "$t" >/dev/null || { echo "pipeline.sh: needs $t" >&2; exit 2; }
done

N=${BENCH_N:-2000000}
RUNS=${BENCH_RUNS:-3}
CONNS=${BENCH_CONNS:-1 4 64}
SYNCS=${BENCH_SYNCS:-normal full}
LAT_S=${BENCH_LAT_S:-10}
LAT_PCTS=${BENCH_LAT_PCTS:-10 25 50 75}
LAT_FLOOR=${BENCH_LAT_FLOOR:-1}
SYSLOG=${BENCH_SYSLOG:-1}
ONLY=${BENCH_ONLY:-}
BURST_S=${BENCH_BURST_S:-1}
dir=${BENCH_DIR:-$build/bench-tmp}
if [ -n "${BENCH_OUT:-}" ]; then
  out=$BENCH_OUT
elif [ "$N" -ge 2000000 ] && [ "$RUNS" -ge 3 ]; then
  out=$root/docs/benchmarks.md
else
  out=$build/benchmarks.md
fi

rm -rf "$dir"
mkdir -p "$dir"
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill -KILL "$daemon" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

log() { echo "[bench] $*" >&2; }

# --- helpers ------------------------------------------------------------------

# jq_ FILE EXPR: a value from the JSON object on FILE's last line.
jq_() {
  python3 -c 'import json,sys
o = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
v = eval("o" + sys.argv[2])
print(v if not isinstance(v, bool) else str(v).lower())' "$1" "$2"
}

# stats: numbers on stdin -> "median min max" (median of an even count is
# the lower middle, so it is always a measured value).
stats() {
  awk NF | sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "0 0 0"; exit }
    print a[int((NR + 1) / 2)], a[1], a[NR] }'
}

# fmt_rate "median min max" -> "1234567 [1200000..1300000]"
fmt_rate() {
  awk '{ printf "%.0f [%.0f..%.0f]", $1, $2, $3 }' <<<"$1"
}
fmt_ms() {
  awk '{ printf "%.2f [%.2f..%.2f]", $1, $2, $3 }' <<<"$1"
}
med() { cut -d' ' -f1 <<<"$1"; }
# ratio A B: median of A / median of B; verdict V GOAL: met or NOT met.
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v >= g ? "met" : "NOT met") }'; }
# ratio_row WHAT A B GOAL: the table row "| WHAT (goal >= GOAL) | r, met |".
ratio_row() {
  local r
  r=$(ratio "$2" "$3")
  echo "| $1 (goal >= $4) | $r, $(verdict "$r" "$4") |"
}

# start_daemon ARGS...: a fresh burstqd on a free port with a fresh database.
start_daemon() {
  local i
  rm -f "$dir"/b.db*
  : >"$dir/daemon.log"
  "$burstqd" --listen 127.0.0.1:0 --db "$dir/b.db" "$@" 2>"$dir/daemon.log" &
  daemon=$!
  port=
  for i in $(seq 400); do
    port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\) (acked)$/\1/p' "$dir/daemon.log" || true)
    [ -n "$port" ] && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "pipeline.sh: burstqd did not start ($*):" >&2
    cat "$dir/daemon.log" >&2
    exit 1
  fi
}

stop_daemon() {
  local rc=0
  kill -TERM "$daemon"
  wait "$daemon" || rc=$?
  daemon=
  if [ "$rc" != 0 ]; then
    echo "pipeline.sh: burstqd exited $rc:" >&2
    tail -n 20 "$dir/daemon.log" >&2
    exit 1
  fi
}

# bench OUT ARGS...: burstq bench against the current daemon, its database
# checked; any failure (lost, duplicated, misordered message, error) stops
# the benchmark.
bench() {
  local o=$1 rc=0
  shift
  "$burstq" bench -H "127.0.0.1:$port" --db "$dir/b.db" --json "$@" \
    </dev/null >"$o" 2>"$o.err" || rc=$?
  if [ "$rc" != 0 ] || [ "$(jq_ "$o" '["db"]["ok"]')" != true ] ||
     [ "$(jq_ "$o" '["sent_eq_committed"]')" != true ]; then
    echo "pipeline.sh: burstq bench $* failed (exit $rc):" >&2
    cat "$o" "$o.err" >&2
    tail -n 20 "$dir/daemon.log" >&2
    exit 1
  fi
}

# syslog_run SYNC: one run of 2b; sets SYSLOG_RATE (committed msgs/s).
syslog_run() {
  local sport i closed rid rc=0
  start_daemon --sync "$1" --listen 127.0.0.1:0,syslog
  for i in $(seq 400); do
    sport=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\) (syslog)$/\1/p' "$dir/daemon.log" || true)
    [ -n "$sport" ] && break
    sleep 0.05
  done
  [ -n "$sport" ] || { echo "pipeline.sh: no syslog listener:" >&2; cat "$dir/daemon.log" >&2; exit 1; }
  rid=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
  "$burstq" bench --sink -H "127.0.0.1:$sport" -c 4 -n "$N" -s 100 --run-id "$rid" \
    --json </dev/null >"$dir/syslog.json" 2>"$dir/syslog.err" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "pipeline.sh: burstq bench --sink into the syslog listener failed (exit $rc):" >&2
    cat "$dir/syslog.json" "$dir/syslog.err" >&2
    exit 1
  fi
  # Everything is committed once the 4 closes are recorded (bounded wait).
  for i in $(seq 6000); do
    closed=$(sqlite3 -cmd '.timeout 30000' "$dir/b.db" \
      "SELECT count(*) FROM connections WHERE closed_at IS NOT NULL")
    [ "$closed" -ge 4 ] && break
    sleep 0.1
  done
  SYSLOG_RATE=$(sqlite3 -cmd '.timeout 30000' "$dir/b.db" "
    SELECT printf('%.0f', (SELECT count(*) FROM messages) * 1e6 /
                          (max(closed_at) - min(opened_at)))
    FROM connections")
  stop_daemon
  rc=0
  "$burstq" bench --check-only --run-id "$rid" -c 4 -n "$N" -s 100 \
    --db "$dir/b.db" </dev/null >"$dir/syslog.check" 2>&1 || rc=$?
  if [ "$closed" -lt 4 ] || [ "$rc" != 0 ]; then
    echo "pipeline.sh: syslog run: $closed of 4 connections closed; database check (exit $rc):" >&2
    cat "$dir/syslog.check" >&2
    tail -n 20 "$dir/daemon.log" >&2
    exit 1
  fi
}

declare -A SYSL
syslog_rows() {
  local s r v vals
  for s in $SYNCS; do
    vals=
    for r in $(seq "$RUNS"); do
      syslog_run "$s"
      v=$SYSLOG_RATE
      log "syslog listener sync=$s conns=4 run $r: $v msgs/s committed (db check ok)"
      vals+="$v"$'\n'
    done
    SYSL[$s]=$(stats <<<"$vals")
  done
}

if [ "$ONLY" = syslog ]; then
  syslog_rows
  echo "| sync | load | msgs/s median [min..max] | ratio to raw |"
  echo "| --- | --- | --- | --- |"
  for s in $SYNCS; do
    echo "| $s | burstqd, 4 connections, syslog listener (no acks) | $(fmt_rate "${SYSL[$s]}") | - |"
  done
  exit 0
fi

# --- 7. TLS (functions; run after 6, or alone with BENCH_ONLY=tls) -----------------------

TLS_S=${BENCH_TLS_S:-5}
declare -A TLSR
# tls_port: the TLS listener's port of the current daemon.
tls_port() {
  sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\).*tls.*$/\1/p' "$dir/daemon.log"
}
tls_rows() {
  local r v plain= tls= hs= tp n t0 t1
  command -v openssl >/dev/null || { echo "pipeline.sh: needs openssl" >&2; exit 2; }
  bash "$here/../tls/mkcerts.sh" "$dir/certs" >/dev/null
  set -- --sync normal --listen 127.0.0.1:0,tls --tls-cert "$dir/certs/server.pem" \
    --tls-key "$dir/certs/server.key"
  for r in $(seq "$RUNS"); do
    start_daemon "$@"
    bench "$dir/plain.json" -c 4 -n "$N" -s 100
    v=$(jq_ "$dir/plain.json" '["commit_msgs_per_s"]')
    log "plaintext sync=normal conns=4 run $r: $v msgs/s committed (db check ok)"
    plain+="$v"$'\n'
    stop_daemon
    start_daemon "$@"
    tp=$(tls_port)
    port=$tp bench "$dir/tls.json" -c 4 -n "$N" -s 100 --tls \
      --tls-ca "$dir/certs/ca.pem"
    v=$(jq_ "$dir/tls.json" '["commit_msgs_per_s"]')
    log "TLS sync=normal conns=4 run $r: $v msgs/s committed (db check ok)"
    tls+="$v"$'\n'
    t0=$(date +%s.%N)
    n=$(openssl s_time -connect "127.0.0.1:$tp" -new -time "$TLS_S" 2>&1 </dev/null |
      sed -n 's/^\([0-9]*\) connections in [0-9.]* real seconds.*/\1/p')
    t1=$(date +%s.%N)
    [ -n "$n" ] && [ "$n" -gt 0 ] || {
      echo "pipeline.sh: openssl s_time made no connection" >&2
      tail -n 20 "$dir/daemon.log" >&2
      exit 1
    }
    v=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    log "TLS handshakes run $r: $n in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s: $v/s"
    hs+="$v"$'\n'
    stop_daemon
  done
  TLSR[plain]=$(stats <<<"$plain")
  TLSR[tls]=$(stats <<<"$tls")
  TLSR[hs]=$(stats <<<"$hs")
}
tls_table() {
  echo "| figure (--sync normal, 100-byte messages, $N per run) | median [min..max] |"
  echo "| --- | --- |"
  echo "| plaintext, 4 connections, committed msgs/s | $(fmt_rate "${TLSR[plain]}") |"
  echo "| TLS, 4 connections, committed msgs/s | $(fmt_rate "${TLSR[tls]}") |"
  ratio_row "TLS / plaintext" "${TLSR[tls]}" "${TLSR[plain]}" 0.7
  echo "| full TLS handshakes per second (\`openssl s_time -new\`, $TLS_S s) | $(fmt_rate "${TLSR[hs]}") |"
}
if [ "${BENCH_ONLY:-}" = tls ]; then
  tls_rows
  tls_table
  exit 0
fi

# --- 8. producers (functions; run after 7, or alone with BENCH_ONLY=producers) -----------

declare -A PRODR
# producer_run NAME ARGS...: run $r of NAME on a fresh daemon (--sync
# normal): one checked 4-connection burstq bench with ARGS; RATE is its
# committed msgs/s.
producer_run() {
  local name=$1
  shift
  start_daemon --sync normal
  bench "$dir/$name.json" -c 4 -n "$N" -s 100 "$@"
  RATE=$(jq_ "$dir/$name.json" '["commit_msgs_per_s"]')
  log "$name sync=normal conns=4 run $r: $RATE msgs/s committed (db check ok)"
  stop_daemon
}
producer_rows() {
  local r plain= prod=
  for r in $(seq "$RUNS"); do
    producer_run plain
    plain+="$RATE"$'\n'
    producer_run producers --producers # the check covers producer and pseq
    prod+="$RATE"$'\n'
  done
  PRODR[plain]=$(stats <<<"$plain")
  PRODR[prod]=$(stats <<<"$prod")
}
producer_table() {
  echo "| figure (--sync normal, 4 connections, 100-byte messages, $N per run) | median [min..max] |"
  echo "| --- | --- |"
  echo "| plain connections, committed msgs/s | $(fmt_rate "${PRODR[plain]}") |"
  echo "| producers (\`burstq bench --producers\`), committed msgs/s | $(fmt_rate "${PRODR[prod]}") |"
  ratio_row "producers / plain" "${PRODR[prod]}" "${PRODR[plain]}" 0.95
}
if [ "${BENCH_ONLY:-}" = producers ]; then
  producer_rows
  producer_table
  exit 0
fi

# --- 9. PostgreSQL (functions; run after 8, or alone with BENCH_ONLY=pg) -----------------

. "$here/pg_bench.sh"
if [ "$ONLY" = pg ]; then
  pg_bench_rows
  pg_bench_table
  pg_bench_goals
  exit 0
fi

# --- 10. retention (functions; after 9, or alone with BENCH_ONLY=retention) --------------

RET_S=${BENCH_RET_S:-120}
RET_PCT=${BENCH_RET_PCT:-10}
RET_ROWS=${BENCH_RET_ROWS:-500000}
RET_AGE=${BENCH_RET_AGE:-20s}
declare -A RETR LATMAX # LATMAX: section 4's maxima, which section 10 reuses
# ret_sample OUT: once a second until $dir/ret.stop exists: "t rows
# file_bytes span_us age_us".  Every figure is a lookup by id, never a
# scan: a scan of a large table each second takes a core and holds a read
# snapshot that stops checkpoints, and the ack tail would show the sampler
# (docs/operations.md, "Retention").  rows is max(id) - min(id) + 1 (ids
# are contiguous: a row gets max(id) + 1, and retention deletes the oldest
# range; ret_run checks it against count(*) after the run); span and age
# use the received_at of the newest and the oldest row by id.
ret_sample() {
  local t0
  t0=$(date +%s)
  while [ ! -e "$dir/ret.stop" ]; do
    sqlite3 -cmd '.timeout 30000' "$dir/b.db" "
      WITH o AS (SELECT id, received_at FROM messages ORDER BY id LIMIT 1),
           n AS (SELECT id, received_at FROM messages ORDER BY id DESC LIMIT 1)
      SELECT $(($(date +%s) - t0)),
             coalesce((SELECT id FROM n) - (SELECT id FROM o) + 1, 0),
             (SELECT page_count FROM pragma_page_count()) *
               (SELECT page_size FROM pragma_page_size()),
             coalesce((SELECT received_at FROM n) - (SELECT received_at FROM o), 0),
             coalesce(CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
                      - (SELECT received_at FROM o), 0)
      " 2>/dev/null | tr '|' ' ' >>"$1" || true
    sleep 1
  done
}
# ret_run NAME RATE ARGS...: one paced run; RETR[NAME,p99] and the samples'
# figures.
ret_run() {
  local name=$1 rate=$2 spl=$dir/ret.$1.samples
  shift 2
  start_daemon --sync normal "$@"
  rm -f "$dir/ret.stop"
  : >"$spl"
  ret_sample "$spl" &
  local sampler=$!
  "$burstq" bench -H "127.0.0.1:$port" -c 4 -s 100 --rate "$rate" \
    --duration "$RET_S" --json </dev/null >"$dir/ret.json" 2>"$dir/ret.err" || {
    echo "pipeline.sh: retention run $name failed:" >&2
    cat "$dir/ret.json" "$dir/ret.err" >&2
    exit 1
  }
  touch "$dir/ret.stop"
  wait "$sampler"
  [ "$(jq_ "$dir/ret.json" '["sent_eq_committed"]')" = true ] || {
    echo "pipeline.sh: retention run $name: sent != committed" >&2; exit 1; }
  stop_daemon
  local exact
  exact=$(sqlite3 "$dir/b.db" "SELECT count(*) = coalesce(max(id) - min(id) + 1, 0) FROM messages")
  [ "$exact" = 1 ] || {
    echo "pipeline.sh: retention run $name: ids are not contiguous, the samples' row counts are wrong" >&2; exit 1; }
  RETR[$name,p99]=$(jq_ "$dir/ret.json" '["latency_ms"]["p99"]')
  RETR[$name,rows]=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$spl")
  RETR[$name,plateau]=$(awk -v h=$((RET_S / 2)) '$1 >= h {
      if (mn == "" || $3 < mn) mn = $3; if ($3 > mx) mx = $3 }
    END { if (mn > 0) printf "%.1f%% (%.1f..%.1f MiB)", (mx / mn - 1) * 100, mn / 1048576, mx / 1048576; else print "-" }' "$spl")
  RETR[$name,span]=$(awk 'BEGIN { m = 0 } $4 > m { m = $4 } END { printf "%.2f", m / 1e6 }' "$spl")
  RETR[$name,age]=$(awk 'BEGIN { m = 0 } $5 > m { m = $5 } END { printf "%.2f", m / 1e6 }' "$spl")
  log "retention $name at $rate msgs/s for $RET_S s: p99 ${RETR[$name,p99]} ms, rows <= ${RETR[$name,rows]}, file last half ${RETR[$name,plateau]}, span <= ${RETR[$name,span]} s, age <= ${RETR[$name,age]} s"
}
# ret_rows: the three runs, paced at RET_PCT% of the maximum --sync normal
# sustains: section 4's when it ran (LATMAX), else one unpaced 4-connection
# run of BENCH_LAT_S seconds (section 4 says why not a short burst).
ret_rows() {
  local max rate
  if [ -n "${LATMAX[normal]:-}" ]; then
    max=${LATMAX[normal]}
  else
    start_daemon --sync normal
    bench "$dir/retmax.json" -c 4 --duration "$LAT_S" -s 100
    stop_daemon
    max=$(jq_ "$dir/retmax.json" '["commit_msgs_per_s"]')
  fi
  rate=$(awk -v m="$max" -v p="$RET_PCT" 'BEGIN { printf "%.0f", m * p / 100 }')
  RETR[max]=$max
  RETR[rate]=$rate
  log "retention: maximum $max msgs/s, pacing at $rate ($RET_PCT%)"
  ret_run none "$rate"
  ret_run rows "$rate" --retain-rows "$RET_ROWS"
  ret_run age "$rate" --retain-age "$RET_AGE"
}
ret_table() {
  local n
  echo "| retention, --sync normal, 4 connections, 100-byte messages at ${RETR[rate]} msgs/s ($RET_PCT% of ${RETR[max]}) for $RET_S s | ack p99 ms (x none) | most rows | file, last half: spread | stored span s | oldest age s |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for n in none rows age; do
    echo "| $(case $n in none) echo "no retention" ;; rows) echo "--retain-rows $RET_ROWS" ;; age) echo "--retain-age $RET_AGE" ;; esac) | ${RETR[$n,p99]} ($(awk -v a="${RETR[$n,p99]}" -v b="${RETR[none,p99]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')) | ${RETR[$n,rows]} | ${RETR[$n,plateau]} | ${RETR[$n,span]} | ${RETR[$n,age]} |"
  done
}
if [ "${BENCH_ONLY:-}" = retention ]; then
  ret_rows
  ret_table
  exit 0
fi

# --- 4. latency at 10/25/50/75% of the maximum (functions; BENCH_ONLY=latency) ------------

# lat_goal PCT: the issue-16 goal at PCT% as "p99 p99.9" in ms ("-" for none).
lat_goal() {
  case $1 in
    10) echo "2 5" ;;
    50) echo "5 10" ;;
    75) echo "20 -" ;;
    *) echo "- -" ;;
  esac
}
# lat_verdict VALUE GOAL: "" without a goal, else " (<= GOAL: met|NOT met)".
lat_verdict() {
  [ "$2" = - ] && return 0
  awk -v v="$1" -v g="$2" 'BEGIN { printf " (goal <= %s: %s)", g, (v <= g ? "met" : "NOT met") }'
}
# floor_run OUT ARGS...: burstq bench ARGS (no --db) against a fresh
# ack_floor; OUT gets its JSON report.
floor_run() {
  local o=$1 fpid fport= i rc=0
  shift
  "$ack_floor" 0 2>"$dir/floor.log" &
  fpid=$!
  for i in $(seq 100); do
    fport=$(sed -n 's/^ack_floor: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$dir/floor.log")
    [ -n "$fport" ] && break
    sleep 0.05
  done
  [ -n "$fport" ] || { echo "pipeline.sh: ack_floor did not start" >&2; cat "$dir/floor.log" >&2; exit 1; }
  "$burstq" bench -H "127.0.0.1:$fport" --json "$@" </dev/null >"$o" 2>"$o.err" || rc=$?
  kill -TERM "$fpid" 2>/dev/null || true
  wait "$fpid" || log "ack_floor exited $? (after the run: the figures stand)"
  [ "$rc" = 0 ] || { echo "pipeline.sh: burstq bench against ack_floor exited $rc" >&2; cat "$o.err" "$dir/floor.log" >&2; exit 1; }
}
# lat_rows: for each sync level, the 4-connection maximum the daemon
# sustains for BENCH_LAT_S seconds (the median of BENCH_RUNS unpaced runs
# that long), then BENCH_RUNS paced runs of BENCH_LAT_S seconds at each of
# BENCH_LAT_PCTS percent of it, each followed by the same run against
# ack_floor (unless BENCH_LAT_FLOOR=0).  Not section 2's rate: its runs of
# BENCH_N messages last about a second, and the WAL absorbs that much
# before the checkpoints have to keep up, so a load at 75% of it can be
# more than the daemon sustains over a paced run (docs/architecture.md,
# "The maximum a load is a percentage of").
lat_rows() {
  local s pct rate n r v50 v99 v999 f99 f999 d99 d999 max vals b fbytes
  for s in $SYNCS; do
    vals=
    for r in $(seq "$RUNS"); do
      start_daemon --sync "$s"
      bench "$dir/latmax.json" -c "$lat_conns" --duration "$LAT_S" -s 100
      stop_daemon
      vals+="$(jq_ "$dir/latmax.json" '["commit_msgs_per_s"]')"$'\n'
      log "latency sync=$s: unpaced $LAT_S s run $r: $(jq_ "$dir/latmax.json" '["commit_msgs_per_s"]') msgs/s"
    done
    max=$(med "$(stats <<<"$vals")")
    LATMAX[$s]=$max
    log "latency sync=$s: maximum $max msgs/s sustained for $LAT_S s ($lat_conns connections)"
    for pct in $LAT_PCTS; do
      rate=$(awk -v m="$max" -v p="$pct" 'BEGIN { printf "%.0f", m * p / 100 }')
      n=$((rate * LAT_S))
      v50= v99= v999= f99= f999= d99= d999=
      for r in $(seq "$RUNS"); do
        start_daemon --sync "$s"
        bench "$dir/lat.json" -c "$lat_conns" -n "$n" -s 100 --rate "$rate"
        stop_daemon
        v50+="$(jq_ "$dir/lat.json" '["latency_ms"]["p50"]')"$'\n'
        v99+="$(jq_ "$dir/lat.json" '["latency_ms"]["p99"]')"$'\n'
        v999+="$(jq_ "$dir/lat.json" '["latency_ms"]["p999"]')"$'\n'
        log "latency sync=$s $pct% rate=$rate run $r: p50 $(jq_ "$dir/lat.json" '["latency_ms"]["p50"]') p99 $(jq_ "$dir/lat.json" '["latency_ms"]["p99"]') p99.9 $(jq_ "$dir/lat.json" '["latency_ms"]["p999"]') ms"
        b=$(sed -n 's/.* stopped: .* batches=\([0-9]*\) .*/\1/p' "$dir/daemon.log")
        if [ "$LAT_FLOOR" = 1 ] && [ "$s" = full ] && [ "${b:-0}" -gt 0 ]; then
          fbytes=$(((n / b * 130 + 16383) / 16384 * 16384 + 16384))
          "$flush_floor" "$dir" $((b / LAT_S)) "$LAT_S" "$fbytes" >"$dir/flush.json"
          d99+="$(jq_ "$dir/flush.json" '["p99"]')"$'\n'
          d999+="$(jq_ "$dir/flush.json" '["p999"]')"$'\n'
          log "latency disk flush floor $pct%: $((b / LAT_S)) flushes/s of $fbytes bytes run $r: p50 $(jq_ "$dir/flush.json" '["p50"]') p99 $(jq_ "$dir/flush.json" '["p99"]') p99.9 $(jq_ "$dir/flush.json" '["p999"]') ms"
        fi
        if [ "$LAT_FLOOR" = 1 ]; then
          floor_run "$dir/floor.json" -c "$lat_conns" -n "$n" -s 100 --rate "$rate"
          f99+="$(jq_ "$dir/floor.json" '["latency_ms"]["p99"]')"$'\n'
          f999+="$(jq_ "$dir/floor.json" '["latency_ms"]["p999"]')"$'\n'
          log "latency floor $pct% rate=$rate run $r: p99 $(jq_ "$dir/floor.json" '["latency_ms"]["p99"]') p99.9 $(jq_ "$dir/floor.json" '["latency_ms"]["p999"]') ms"
        fi
      done
      LATRATE[$s,$pct]=$rate
      LAT50[$s,$pct]=$(stats <<<"$v50")
      LAT99[$s,$pct]=$(stats <<<"$v99")
      LAT999[$s,$pct]=$(stats <<<"$v999")
      if [ "$LAT_FLOOR" = 1 ]; then
        FLOOR99[$s,$pct]=$(stats <<<"$f99")
        FLOOR999[$s,$pct]=$(stats <<<"$f999")
        if [ -n "$d99" ]; then
          DISK99[$s,$pct]=$(stats <<<"$d99")
          DISK999[$s,$pct]=$(stats <<<"$d999")
        fi
      fi
    done
  done
}
lat_table() {
  local s pct g fl= fh= dl
  if [ "$LAT_FLOOR" = 1 ]; then
    fl=" floor p99 / p99.9 ms | disk flush floor p99 / p99.9 ms |"
    fh=" --- | --- |"
  fi
  echo "| sync | load (4-connection max msgs/s) | rate msgs/s | p50 ms | p99 ms | p99.9 ms |$fl"
  echo "| --- | --- | --- | --- | --- | --- |$fh"
  for s in $SYNCS; do
    for pct in $LAT_PCTS; do
      g=$(lat_goal "$pct")
      if [ "$LAT_FLOOR" = 1 ]; then
        dl="n/a"
        [ -n "${DISK99[$s,$pct]:-}" ] && dl="$(fmt_ms "${DISK99[$s,$pct]}") / $(fmt_ms "${DISK999[$s,$pct]}")"
        fl=" $(fmt_ms "${FLOOR99[$s,$pct]}") / $(fmt_ms "${FLOOR999[$s,$pct]}") | $dl |"
      fi
      echo "| $s | $pct% (of ${LATMAX[$s]}) | ${LATRATE[$s,$pct]} | $(fmt_ms "${LAT50[$s,$pct]}") | $(fmt_ms "${LAT99[$s,$pct]}")$(lat_verdict "$(med "${LAT99[$s,$pct]}")" "${g% *}") | $(fmt_ms "${LAT999[$s,$pct]}")$(lat_verdict "$(med "${LAT999[$s,$pct]}")" "${g#* }") |$fl"
    done
  done
}
lat_conns=4
case " $CONNS " in *" 4 "*) ;; *) lat_conns=${CONNS%% *} ;; esac
declare -A LATRATE LAT50 LAT99 LAT999 FLOOR99 FLOOR999 DISK99 DISK999 E2E
if [ "${BENCH_ONLY:-}" = latency ]; then
  lat_rows
  lat_table
  exit 0
fi

# --- 11. message sizes (functions; after 10, or alone with BENCH_ONLY=sizes) ------------

SIZES=${BENCH_SIZES:-1024 16384}
SIZE_BYTES=${BENCH_SIZE_BYTES:-536870912}
# The raw loops tried at each size; the ceiling is the best median of them
# (docs/architecture.md, "Message sizes", has the whole matrix).  Each
# also does what burstqd's store does at that sync level (size_cfg), which
# makes the raw loop faster too: at normal the WAL's writeback hint, at
# full the flush beside the next transaction.
SIZE_RAW=${BENCH_SIZE_RAW:-rows=1 page_size=16384 ckpt=bg;rows=32 page_size=16384 ckpt=bg;rows=1 page_size=65536 ckpt=bg;rows=32 page_size=65536 ckpt=bg}
SIZE_PAGES=${BENCH_SIZE_PAGES:-default 65536}
declare -A SZR
# size_n SIZE: messages per run at SIZE (SIZE_BYTES of payload, a multiple
# of 1024 so that every raw loop takes it).
size_n() { echo $(((SIZE_BYTES / $1 + 1023) / 1024 * 1024)); }
# size_batch SIZE: the raw loop's rows per transaction: 4 MiB of payload
# (the best of 1 to 64 MiB measured at 1 KB and 16 KB), a multiple of 32.
size_batch() { local b=$((4194304 / $1 / 32 * 32)); echo $((b < 32 ? 32 : b)); }
# size_cfg SYNC CFG: the raw loop's KEY=VALUE words for CFG at SYNC, as
# burstqd's store writes at that level: normal with writeback=1
# (store_sqlite.c), full with overlap=1 (pool.c's syncer).
size_cfg() {
  case $1 in
    normal) echo "$2 writeback=1" ;;
    full) echo "$2 overlap=1" ;;
    *) echo "$2" ;;
  esac
}
# start_paged SYNC PG: start_daemon at SYNC with BENCH_SIZE_PAGES entry PG.
start_paged() {
  if [ "$2" = default ]; then
    start_daemon --sync "$1"
  else
    start_daemon --sync "$1" --page-size "$2"
  fi
}
# size_rows: section 11.  Each round runs every raw loop once and burstqd
# once per page size, one after another, so that a change in the
# machine's load (it is often shared) falls on all of them alike.
size_rows() {
  local s z r v n i cfg best pg
  local -a cfgs vals
  local -A e2e
  IFS=';' read -ra cfgs <<<"$SIZE_RAW"
  for s in $SYNCS; do
    for z in $SIZES; do
      n=$(size_n "$z")
      vals=()
      e2e=()
      for r in $(seq "$RUNS"); do
        for i in "${!cfgs[@]}"; do
          cfg=$(size_cfg "$s" "${cfgs[$i]}")
          rm -f "$dir"/raw.db*
          # shellcheck disable=SC2086 # cfg is KEY=VALUE words
          v=$("$raw" "$dir/raw.db" "$n" "$(size_batch "$z")" "$s" "$z" $cfg |
            sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')
          [ -n "$v" ] || { echo "pipeline.sh: raw_sqlite $z $cfg failed" >&2; exit 1; }
          log "sizes raw sync=$s size=$z ($cfg) run $r: $v rows/s"
          vals[$i]+="$v"$'\n'
        done
        rm -f "$dir"/raw.db*
        for pg in $SIZE_PAGES; do
          start_paged "$s" "$pg"
          bench "$dir/size.json" -c 4 -n "$n" -s "$z"
          stop_daemon
          v=$(jq_ "$dir/size.json" '["commit_msgs_per_s"]')
          log "sizes burstqd sync=$s size=$z pages=$pg conns=4 run $r: $v msgs/s committed (db check ok)"
          e2e[$pg]+="$v"$'\n'
        done
      done
      best=
      for i in "${!cfgs[@]}"; do
        v=$(stats <<<"${vals[$i]}")
        if [ -z "$best" ] || [ "$(med "$v")" -gt "$(med "$best")" ]; then
          best=$v
          SZR[$s,$z,cfg]=$(size_cfg "$s" "${cfgs[$i]}")
        fi
      done
      SZR[$s,$z,raw]=$best
      for pg in $SIZE_PAGES; do
        SZR[$s,$z,e2e,$pg]=$(stats <<<"${e2e[$pg]}")
      done
    done
  done
}
# fmt_mb "median min max" SIZE -> "123 [120..130]" MB/s (payload, 10^6)
fmt_mb() {
  awk -v z="$2" '{ printf "%.0f [%.0f..%.0f]", $1 * z / 1e6, $2 * z / 1e6, $3 * z / 1e6 }' <<<"$1"
}
# size_page_name PG: the page-size column's words for a BENCH_SIZE_PAGES entry.
size_page_name() {
  if [ "$1" = default ]; then echo "default"; else echo "--page-size $1"; fi
}
size_table() {
  local s z r pg
  echo "| sync | size | raw ceiling msgs/s | MB/s | burstqd pages | burstqd, 4 connections, msgs/s | MB/s | ratio (goal >= 0.8) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for s in $SYNCS; do
    for z in $SIZES; do
      for pg in $SIZE_PAGES; do
        r=$(ratio "${SZR[$s,$z,e2e,$pg]}" "${SZR[$s,$z,raw]}")
        echo "| $s | $z B | $(fmt_rate "${SZR[$s,$z,raw]}") | $(fmt_mb "${SZR[$s,$z,raw]}" "$z") | $(size_page_name "$pg") | $(fmt_rate "${SZR[$s,$z,e2e,$pg]}") | $(fmt_mb "${SZR[$s,$z,e2e,$pg]}" "$z") | $r, $(verdict "$r" 0.8) |"
      done
    done
  done
  echo
  echo "Raw ceilings (best of: ${SIZE_RAW//;/; }; at normal each with writeback=1, at full with overlap=1):"
  for s in $SYNCS; do
    for z in $SIZES; do
      echo "- $s, $z B: \`raw_sqlite DB $(size_n "$z") $(size_batch "$z") $s $z ${SZR[$s,$z,cfg]}\`"
    done
  done
}
TRICKLE_RATES=${BENCH_TRICKLE_RATES-2000 20000}
TRICKLE_S=${BENCH_TRICKLE_S:-5}
declare -A TRK
# write_bytes PID: the bytes PID has dirtied for writing so far.
write_bytes() { awk '/^write_bytes:/ { print $2 }' "/proc/$1/io"; }
# trickle_rows: section 11's write cost.  Each round runs burstqd once per
# page size at each rate, one after another.
trickle_rows() {
  local s rate r pg w0 w1 b
  local -A wr cm
  for s in $SYNCS; do
    for rate in $TRICKLE_RATES; do
      wr=()
      cm=()
      for r in $(seq "$RUNS"); do
        for pg in $SIZE_PAGES; do
          start_paged "$s" "$pg"
          w0=$(write_bytes "$daemon")
          bench "$dir/trickle.json" -c 4 -n "$((rate * TRICKLE_S))" -s 100 --rate "$rate"
          w1=$(write_bytes "$daemon")
          stop_daemon
          b=$(sed -n 's/.* stopped: .* batches=\([0-9]*\) .*/\1/p' "$dir/daemon.log")
          [ -n "$b" ] || { echo "pipeline.sh: no batches= in the stop line" >&2; exit 1; }
          log "trickle sync=$s rate=$rate pages=$pg run $r: $(((w1 - w0) / TRICKLE_S)) bytes/s written, $((b / TRICKLE_S)) commits/s"
          wr[$pg]+="$(((w1 - w0) / TRICKLE_S))"$'\n'
          cm[$pg]+="$((b / TRICKLE_S))"$'\n'
        done
      done
      for pg in $SIZE_PAGES; do
        TRK[$s,$rate,$pg,w]=$(stats <<<"${wr[$pg]}")
        TRK[$s,$rate,$pg,c]=$(stats <<<"${cm[$pg]}")
      done
    done
  done
}
trickle_table() {
  local s rate pg
  [ -n "$TRICKLE_RATES" ] || return 0
  echo "What each page size writes at a trickle: 100-byte messages paced at the"
  echo "offered rate, 4 connections, $TRICKLE_S s per run; commits a second from the"
  echo "daemon's \`batches=\`, and the bytes it wrote a second (\`write_bytes\` of"
  echo "/proc/PID/io: pages dirtied for writing, WAL and database file, 10^6)."
  echo
  echo "| sync | offered msgs/s (payload MB/s) | burstqd pages | commits/s | written MB/s | written / payload |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for s in $SYNCS; do
    for rate in $TRICKLE_RATES; do
      for pg in $SIZE_PAGES; do
        echo "| $s | $rate ($(awk -v r="$rate" 'BEGIN { printf "%.1f", r * 100 / 1e6 }')) | $(size_page_name "$pg") | $(fmt_rate "${TRK[$s,$rate,$pg,c]}") | $(fmt_mb "${TRK[$s,$rate,$pg,w]}" 1) | $(awk -v w="$(med "${TRK[$s,$rate,$pg,w]}")" -v r="$rate" 'BEGIN { printf "%.0fx", w / (r * 100) }') |"
      done
    done
  done
}
if [ "${BENCH_ONLY:-}" = sizes ]; then
  size_rows
  [ -z "$TRICKLE_RATES" ] || trickle_rows
  size_table
  echo
  trickle_table
  exit 0
fi

# --- 1. raw ceiling ---------------------------------------------------------------

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RAW
for s in $SYNCS; do
  vals=
  for r in $(seq "$RUNS"); do
    rm -f "$dir"/raw.db*
    v=$("$raw" "$dir/raw.db" "$N" 1000 "$s" | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')
    log "raw sqlite sync=$s run $r: $v rows/s"
    vals+="$v"$'\n'
  done
  rm -f "$dir"/raw.db*
  RAW[$s]=$(stats <<<"$vals")
done

# --- 2. end to end ------------------------------------------------------------------

for s in $SYNCS; do
  for c in $CONNS; do
    vals=
    for r in $(seq "$RUNS"); do
      start_daemon --sync "$s"
      bench "$dir/e2e.json" -c "$c" -n "$N" -s 100
      stop_daemon
      v=$(jq_ "$dir/e2e.json" '["commit_msgs_per_s"]')
      log "end to end sync=$s conns=$c run $r: $v msgs/s committed (db check ok)"
      vals+="$v"$'\n'
    done
    E2E[$s,$c]=$(stats <<<"$vals")
  done
done

# --- 2b. the same load into a syslog listener ----------------------------------------------

[ "$SYSLOG" = 0 ] || syslog_rows

# --- 4. latency (the functions above) --------------------------------------------------------

lat_rows

# --- 5. burst into a small queue ------------------------------------------------------------

bs=full
case " $SYNCS " in *" full "*) ;; *) bs=${SYNCS%% *} ;; esac
sustained=$(med "${E2E[$bs,$lat_conns]}")
brate=$(awk -v m="$sustained" 'BEGIN { printf "%.0f", m * 10 }')
bn=$(awk -v m="$sustained" -v t="$BURST_S" 'BEGIN { printf "%.0f", m * 10 * t }')
rss= held= drain= tot=
for r in $(seq "$RUNS"); do
  start_daemon --sync "$bs" --queue-capacity 8192 --queue-bytes 1M
  bench "$dir/burst.json" -c "$lat_conns" -n "$bn" -s 100 --rate "$brate"
  hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$daemon/status")
  stop_daemon
  send_s=$(jq_ "$dir/burst.json" '["send_s"]')
  commit_s=$(jq_ "$dir/burst.json" '["commit_s"]')
  rss+="$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"$'\n'
  held+="$(awk -v a="$send_s" -v b="$BURST_S" 'BEGIN { printf "%.2f", a - b }')"$'\n'
  drain+="$(awk -v a="$send_s" -v b="$commit_s" 'BEGIN { printf "%.1f", (b - a) * 1000 }')"$'\n'
  tot+="$commit_s"$'\n'
  log "burst run $r: $bn msgs offered at $brate msgs/s: peak RSS $((hwm / 1024)) MB, all sent after ${send_s}s, committed after ${commit_s}s, db check ok"
done
RSS=$(stats <<<"$rss")
HELD=$(stats <<<"$held")
DRAIN=$(stats <<<"$drain")
TOT=$(stats <<<"$tot")

# --- 6. the load generator alone: burstq bench into nc -l >/dev/null -------------------

sink=
for r in $(seq "$RUNS"); do
  sp=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  nc -l 127.0.0.1 "$sp" >/dev/null &
  ncpid=$!
  for i in $(seq 200); do
    awk -v p="$(printf ':%04X' "$sp")" '$2 ~ p"$" && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp && break
    sleep 0.05
  done
  "$burstq" bench -H "127.0.0.1:$sp" --sink -c 1 -n "$N" -s 100 --json </dev/null >"$dir/sink.json"
  wait "$ncpid" || true
  v=$(jq_ "$dir/sink.json" '["send_msgs_per_s"]')
  log "client alone into nc -l: $v msgs/s sent"
  sink+="$v"$'\n'
done
SINK=$(stats <<<"$sink")

# --- 7. TLS ------------------------------------------------------------------------------

[ "${BENCH_TLS:-1}" = 0 ] || tls_rows

# --- 8. producers -------------------------------------------------------------------------

[ "${BENCH_PRODUCERS:-1}" = 0 ] || producer_rows

# --- 9. PostgreSQL -----------------------------------------------------------------------

[ "${BENCH_PG:-1}" = 0 ] || pg_bench_rows

# --- 10. retention ----------------------------------------------------------------------

[ "${BENCH_RET:-1}" = 0 ] || ret_rows

# --- 11. message sizes -------------------------------------------------------------------

if [ "${BENCH_SIZES_ON:-1}" != 0 ]; then
  size_rows
  [ -z "$TRICKLE_RATES" ] || trickle_rows
fi

# --- report ------------------------------------------------------------------------------


cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
report() {
  local pg
  echo "# burstq benchmarks"
  echo
  echo "Produced by \`make bench\` (tests/bench/pipeline.sh); each figure is the"
  echo "median of $RUNS run(s) with [min..max]. Every end-to-end run used a fresh"
  echo "daemon and database and was checked afterwards (\`burstq bench --db\`:"
  echo "every message stored exactly once, in order per connection)."
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) cores, $cpu, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), load average before the run: $LOAD0"
  echo "- versions: burstq $("$burstq" --version | cut -d' ' -f2) ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')), SQLite $(sqlite3 --version | cut -d' ' -f1) (CLI; the library is the same Debian package), libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?'), $(cc --version | head -n1)"
  echo "- build: Release (build-bench); scratch files in $(df --output=source,fstype "$dir" | tail -n1 | awk '{ print $1 " (" $2 ")" }')"
  echo "- command: \`${BENCH_CMD:-make bench}\` with BENCH_N=$N BENCH_RUNS=$RUNS BENCH_CONNS=\"$CONNS\" BENCH_SYNCS=\"$SYNCS\" BENCH_LAT_S=$LAT_S BENCH_BURST_S=$BURST_S"
  echo
  if awk -v l="${LOAD0%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    echo "**The machine was busy when this ran** (load average ${LOAD0%% *} on $(nproc) cores):"
    echo "the figures are noisy and low; re-run \`make bench\` on an idle machine."
    echo
  fi
  echo "## Throughput: committed messages per second (100-byte messages, $N per run)"
  echo
  echo "The raw ceiling is the issue's: one row per INSERT statement, transactions"
  echo "of 1000. burstqd writes transactions of up to --batch-max rows with 32-row"
  echo "INSERT statements, so it can exceed that ceiling (a ratio above 1)."
  echo "The syslog rows are the same load into a \`--listen ...,syslog\` listener, which"
  echo "sends no acks: \`burstq bench --sink\` sends and closes, and the rate is the"
  echo "database's (messages / (last close recorded - first open)), each run checked."
  echo
  echo "| sync | load | msgs/s median [min..max] | ratio to raw |"
  echo "| --- | --- | --- | --- |"
  for s in $SYNCS; do
    echo "| $s | raw SQLite ceiling (1 thread, batches of 1000) | $(fmt_rate "${RAW[$s]}") | 1.00 |"
    for c in $CONNS; do
      echo "| $s | burstqd, $c connection$([ "$c" = 1 ] || echo s) | $(fmt_rate "${E2E[$s,$c]}") | $(ratio "${E2E[$s,$c]}" "${RAW[$s]}") |"
    done
    if [ -n "${SYSL[$s]:-}" ]; then
      echo "| $s | burstqd, 4 connections, syslog listener (no acks) | $(fmt_rate "${SYSL[$s]}") | $(ratio "${SYSL[$s]}" "${RAW[$s]}") |"
    fi
  done
  echo
  echo "## Ack latency at ${LAT_PCTS// /, } percent of the maximum ($lat_conns connections, paced with --rate, $LAT_S s per run)"
  echo
  echo "The maximum is, at each sync level, the median of $RUNS unpaced $lat_conns-connection"
  echo "runs of $LAT_S s (as long as the paced runs): the rate the daemon sustains that long."
  echo "Section 2's runs are shorter, and their rate includes what the WAL absorbs before"
  echo "checkpoints must keep up."
  echo "Goals (issue 16): p99 <= 2 ms and p99.9 <= 5 ms at 10%; p99 <= 5 ms and"
  echo "p99.9 <= 10 ms at 50%; p99 <= 20 ms at 75%."
  if [ "$LAT_FLOOR" = 1 ]; then
    echo "The floor is the same paced run against tests/bench/ack_floor, which acks"
    echo "every line at once and stores nothing, right after each burstqd run: what"
    echo "the client, loopback TCP and the scheduler cost at that rate on this machine."
  fi
  echo
  lat_table
  echo
  echo "## Burst: 10x the sustained rate into a small queue"
  echo
  echo "$bn messages offered at $brate msgs/s (10x the $lat_conns-connection rate at --sync $bs) for $BURST_S s,"
  echo "to burstqd --sync $bs --queue-capacity 8192 --queue-bytes 1M. When the queue is full the"
  echo "daemon stops reading and TCP holds the senders back, so memory stays bounded and"
  echo "the backlog waits in the senders instead of the daemon."
  echo
  echo "| figure | median [min..max] |"
  echo "| --- | --- |"
  echo "| daemon peak RSS (VmHWM), MB | $(fmt_ms "$RSS") |"
  echo "| senders held back past the burst window, s | $(fmt_ms "$HELD") |"
  echo "| drain after the last byte was sent, ms | $(fmt_ms "$DRAIN") |"
  echo "| everything committed after, s | $(fmt_ms "$TOT") |"
  echo "| lost, duplicated or misordered messages | 0 in every run (checked) |"
  echo
  echo "## The load generator alone"
  echo
  echo "\`burstq bench --sink -c 1 -n $N -s 100\` into \`nc -l >/dev/null\` (one connection,"
  echo "no daemon): $(fmt_rate "$SINK") msgs/s sent. The client is not what limits the"
  echo "figures above (nc, reading, is the slower side here)."
  echo
  if [ -n "${TLSR[tls]:-}" ]; then
    echo "## TLS"
    echo
    echo "A \`--listen ...,tls\` listener (EC P-256 certificate from tests/tls/mkcerts.sh,"
    echo "OpenSSL's defaults: TLS 1.3) against the plaintext listener, each run on a fresh"
    echo "daemon and database and checked; handshakes are \`openssl s_time -new\` (a full"
    echo "handshake per connection, client and daemon on the same machine)."
    echo
    tls_table
    echo
  fi
  if [ -n "${PRODR[prod]:-}" ]; then
    echo "## Producers (exactly once)"
    echo
    echo "\`burstq bench --producers\`: each connection starts with \`HELLO bench-RUN-CONN 1\`"
    echo "and its messages are stored with their producer and pseq (the producer's"
    echo "position committed in the same transaction), against plain connections; each"
    echo "run on a fresh daemon and database, and checked (with producer and pseq)."
    echo
    producer_table
    echo
  fi
  if [ -n "${PGB[*]:-}" ]; then
    echo "## PostgreSQL"
    echo
    echo "\`--db postgresql://...\` into private clusters (tests/pg/lib.sh: fsync on, loopback)"
    echo "against the raw libpq ceiling of the same run: one process, the daemon's own"
    echo "schema, binary COPY of $PG_BATCH rows (burstqd's batch) per transaction, COMMIT"
    echo "waited for, synchronous_commit on (what --sync full sets). With the synchronous"
    echo "standby every COMMIT, and so every ack, waits for the standby's flush. 100-byte"
    echo "messages, $N per run; every burstqd run's rows were checked in PostgreSQL."
    echo
    pg_bench_table
    echo
  fi
  if [ -n "${SZR[${SYNCS%% *},${SIZES%% *},raw]:-}" ]; then
    echo "## Message sizes"
    echo
    echo "1 KB and 16 KB messages (\`burstq bench -c 4 -s SIZE\`, $(awk -v b="$SIZE_BYTES" 'BEGIN { printf "%.0f", b / 1048576 }') MiB of payload per run),"
    echo "each run on a fresh daemon and database and checked, against the best sustained"
    echo "single-writer loop of tests/bench/raw_sqlite at the same size and sync level"
    echo "(transactions of 4 MiB of payload, the WAL bounded by burstqd's own checkpointer,"
    echo "so checkpoints are included). MB/s counts payload bytes (10^6)."
    echo
    size_table
    echo
    if [ -n "$TRICKLE_RATES" ]; then
      trickle_table
      echo
    fi
  fi
  if [ -n "${RETR[rate]:-}" ]; then
    echo "## Retention"
    echo
    echo "Paced load with and without \`--retain-*\` (docs/operations.md, \"Retention\");"
    echo "the database sampled with sqlite3 once a second, by id lookups (no scans). Goals (issue 17): rows never"
    echo "above the limit by more than one batch, the file within 10% over the last"
    echo "half, ack p99 within 1.5x of no retention, the stored span within the age."
    echo
    ret_table
    echo
  fi
  echo "## Goals (issue 3)"
  echo
  if [ -n "${E2E[normal,4]:-}" ] && [ -n "${RAW[normal]:-}" ]; then
    r=$(ratio "${E2E[normal,4]}" "${RAW[normal]}")
    echo "- 4 connections at --sync normal >= 0.8 of raw: $r, $(verdict "$r" 0.8)"
  fi
  if [ -n "${E2E[full,4]:-}" ] && [ -n "${RAW[full]:-}" ]; then
    r=$(ratio "${E2E[full,4]}" "${RAW[full]}")
    echo "- 4 connections at --sync full >= 0.7 of raw: $r, $(verdict "$r" 0.7)"
  fi
  [ -z "${PGB[*]:-}" ] || pg_bench_goals
  for s in $SYNCS; do
    if [ -n "${E2E[$s,64]:-}" ] && [ -n "${E2E[$s,4]:-}" ]; then
      r=$(ratio "${E2E[$s,64]}" "${E2E[$s,4]}")
      echo "- 64 connections within 10% of 4 at --sync $s: $r of it, $(verdict "$r" 0.9)"
    fi
  done
  for s in $SYNCS; do
    for z in $SIZES; do
      for pg in $SIZE_PAGES; do
        if [ -n "${SZR[$s,$z,e2e,$pg]:-}" ]; then
          r=$(ratio "${SZR[$s,$z,e2e,$pg]}" "${SZR[$s,$z,raw]}")
          echo "- $z-byte messages at --sync $s, pages $(size_page_name "$pg") >= 0.8 of the best raw loop (issue 16): $r, $(verdict "$r" 0.8)"
        fi
      done
    done
  done
}

report | tee "$out.tmp"
mv "$out.tmp" "$out"
log "written to $out"
