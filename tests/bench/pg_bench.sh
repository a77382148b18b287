# pg_bench.sh -- make bench's PostgreSQL rows (issue 15), sourced by
# tests/bench/pipeline.sh after its helpers (log, stats, fmt_rate, ratio,
# verdict, start_daemon, stop_daemon, jq_; $N, $RUNS, $dir, $build).
#
# For each topology, on private clusters made by tests/pg/lib.sh in
# $dir/pg (initdb, a free loopback port, fsync on, stopped by PID):
#   primary   one local primary;
#   sync      the same with a synchronous standby (pg_basebackup -R,
#             synchronous_standby_names set, synchronous_commit on), so
#             every COMMIT waits for the standby's flush;
# RUNS times, alternately (so that a change in the machine's load hits
# both alike), with messages emptied (TRUNCATE) before each run:
#   - the ceiling: tests/bench/raw_pg (one process, one connection, the
#     daemon's own schema, binary COPY of 8192 rows = burstqd's batch per
#     transaction, synchronous_commit on), N rows of 100 bytes;
#   - burstqd --sync full --db postgresql://... (synchronous_commit on),
#     `burstq bench -c 4 -n N -s 100`: committed msgs/s; then the rows are
#     checked in PostgreSQL (N rows, each payload once, its seq the one it
#     carries, each connection's seqs exactly 1..count).
# pg_bench_rows fills PGB[TOPOLOGY,raw] and PGB[TOPOLOGY,bq] ("median min
# max"); pg_bench_table prints the Markdown table and the goal (>= 0.8 of
# the ceiling).  BENCH_PG=0 leaves it out of make bench; BENCH_ONLY=pg runs
# only it.

raw_pg=$build/tests/bench/raw_pg
PG_BATCH=8192   # burstqd's --batch-max default: rows per transaction
PG_TOPOLOGIES=${BENCH_PG_TOPOLOGIES:-primary sync}
declare -A PGB

# A failure in lib.sh stops the benchmark.
fail() { echo "pipeline.sh: $*" >&2; exit 1; }
. "$here/../pg/lib.sh"

# pg_bench_check URL: the rows of the last burstq bench run (payload
# "bq:RUN:CONN:SEQ:..."): N rows, distinct payloads, the seq in each
# payload is the row's, and each connection's seqs are exactly 1..count.
pg_bench_check() {
  local got
  got=$(pg_psql "$pgb_p" burstq "
    SELECT count(*) || ' ' || count(DISTINCT payload) || ' ' ||
      count(*) FILTER (WHERE split_part(convert_from(payload, 'UTF8'), ':', 4)
                             <> seq::text) || ' ' ||
      (SELECT count(*) FROM (SELECT conn_id FROM messages GROUP BY conn_id
         HAVING min(seq) <> 1 OR max(seq) <> count(*)) x)
    FROM messages")
  [ "$got" = "$N $N 0 0" ] || {
    echo "pipeline.sh: PostgreSQL rows after burstq bench: got '$got' (rows," \
      "distinct, wrong seq, bad connections), expected '$N $N 0 0'" >&2
    tail -n 20 "$dir/daemon.log" >&2
    exit 1
  }
}

pg_bench_empty() {
  pg_psql "$pgb_p" burstq "TRUNCATE messages, connections" "CHECKPOINT" >/dev/null
}

pg_bench_rows() {
  local t r v url raw bq
  [ -x "$raw_pg" ] || { echo "pipeline.sh: $raw_pg is missing: build first" >&2; exit 2; }
  pg_need
  for t in $PG_TOPOLOGIES; do
    rm -rf "$dir/pg"
    pgb_p=$dir/pg/primary
    pg_start "$pgb_p" >&2
    [ "$t" = primary ] || pg_standby "$pgb_p" "$dir/pg/standby" >&2
    url=$(pg_url "$pgb_p" burstq)
    # The schema, by burstqd itself.
    start_daemon --db "$url" --node bench --sync full
    stop_daemon
    raw= bq=
    for r in $(seq "$RUNS"); do
      pg_bench_empty
      v=$("$raw_pg" "$url" "$N" "$PG_BATCH" on | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')
      [ -n "$v" ] || { echo "pipeline.sh: raw_pg failed" >&2; exit 1; }
      log "raw libpq COPY ($t) run $r: $v rows/s"
      raw+="$v"$'\n'
      pg_bench_empty
      start_daemon --db "$url" --node bench --sync full
      "$burstq" bench -H "127.0.0.1:$port" --json -c 4 -n "$N" -s 100 \
        </dev/null >"$dir/pg.json" 2>"$dir/pg.json.err" ||
        { cat "$dir/pg.json" "$dir/pg.json.err" >&2; exit 1; }
      stop_daemon
      [ "$(jq_ "$dir/pg.json" '["sent_eq_committed"]')" = true ] ||
        { echo "pipeline.sh: burstq bench: sent != committed" >&2; exit 1; }
      pg_bench_check
      v=$(jq_ "$dir/pg.json" '["commit_msgs_per_s"]')
      log "burstqd into PostgreSQL ($t) conns=4 run $r: $v msgs/s committed (rows checked)"
      bq+="$v"$'\n'
    done
    PGB[$t,raw]=$(stats <<<"$raw")
    PGB[$t,bq]=$(stats <<<"$bq")
    pg_stop_all
  done
  rm -rf "$dir/pg"
}

pg_bench_table() {
  local t name r
  echo "| topology | load | msgs/s median [min..max] | ratio to raw |"
  echo "| --- | --- | --- | --- |"
  for t in $PG_TOPOLOGIES; do
    [ -n "${PGB[$t,raw]:-}" ] || continue
    name="one local primary"
    [ "$t" = primary ] || name="primary + synchronous standby"
    echo "| $name | raw libpq ceiling (1 process, binary COPY of $PG_BATCH rows per transaction) | $(fmt_rate "${PGB[$t,raw]}") | 1.00 |"
    echo "| $name | burstqd --sync full, 4 connections | $(fmt_rate "${PGB[$t,bq]}") | $(ratio "${PGB[$t,bq]}" "${PGB[$t,raw]}") |"
  done
}

# pg_bench_goals: the goal lines (issue 15: >= 0.8 of the ceiling).
pg_bench_goals() {
  local t r
  for t in $PG_TOPOLOGIES; do
    [ -n "${PGB[$t,raw]:-}" ] || continue
    r=$(ratio "${PGB[$t,bq]}" "${PGB[$t,raw]}")
    echo "- PostgreSQL ($t), 4 connections >= 0.8 of the raw libpq ceiling (issue 15): $r, $(verdict "$r" 0.8)"
  done
}
