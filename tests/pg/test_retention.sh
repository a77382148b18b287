#!/usr/bin/env bash
# test_retention.sh BURSTQD -- retention on PostgreSQL (--retain-rows,
# --retain-age, --retain-size; docs/operations.md "Retention",
# docs/scale-out.md "Retention").
#
# 1. --retain-rows L, one daemon: a producer's HELLO and an old client
#    first, then 4 clients stream while psql samples the table.  In every
#    sample the row count is at most L plus one batch; at the end exactly
#    L rows, the newest ids, and every client's rows are one run of seqs
#    ending at its last line (nothing acked among the newest L ids
#    missing); the producers row survives; the old client's connection
#    row is gone, and every message still has its connection; the
#    daemon's metrics and `burstq stats` count the deleted rows.
# 2. --retain-age A: a client sends a line every 0.1 s for 8 s.  In every
#    committed state the stored messages span at most A (each pass, in the
#    batch's transaction after its rows, deletes what was received before
#    its clock minus A); the oldest's age against the wall clock is
#    printed.
# 3. --retain-size S: five rounds of the same amount of data (each more
#    than S), a plain VACUUM after each: the live-data estimate is within
#    S (rows x payload bytes at most S), and the tables' files stop
#    growing: after round 5 within 15% of their size after round 2.
# 4. Two daemons on one database, --retain-rows L both: while a psql
#    session holds the retention lock, both keep acking and neither
#    deletes (the count exceeds L); once it is released, they bring the
#    whole table back to L; both stream at once: the excess over L is
#    what the other daemon commits while one pass deletes, which depends
#    on timing (docs/operations.md), so the samples are printed, and
#    asserted only not to accumulate: every sample below L plus half of
#    what the clients stream (without deletion it would reach all of it);
#    the end exactly the newest L ids; each
#    client's rows one run ending at its last line; the deleted counts of
#    the two daemons add up to the rows gone.
# 5. kill -9 during heavy deletion: 4N rows and a producer stored without
#    retention, then --retain-rows 4N while 3 clients stream N each (all
#    their messages are among the newest 4N ids: retention must keep every
#    one); killed at a random moment.  Then: each client's rows are
#    exactly seqs 1..m with m >= its last ack, rows left >= min(4N, ids),
#    the producers row kept, and a restarted daemon (with retention) takes
#    over and acks.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/../integration/metrics_lib.sh"
. "$here/lib.sh"
pg_need
need_client

pg_start "$BQ_T/pg"
BQ_DB=$(pg_url "$BQ_T/pg" burstq)
psqlq() { pg_psql "$BQ_T/pg" burstq "$@"; }
WIDTH=40
BATCH=1024

# sample_rows OUT: until $BQ_T/stop exists, append "count span" lines
# (span = max(id) - min(id) + 1) to OUT.
sample_rows() {
  while [ ! -e "$BQ_T/stop" ]; do
    psqlq "SELECT count(*), coalesce(max(id) - min(id) + 1, 0) FROM messages" |
      tr '|' ' ' >>"$1" || break
    sleep 0.05
  done
}

# check_client_run K N WHAT: client K's rows, if retention left any, are
# one run of seqs ending at N (its last line), with its lines as payloads.
check_client_run() {
  local row top cnt low bad
  row=$(psqlq "SELECT coalesce(max(seq), 0), count(*), coalesce(min(seq), 1),
                      count(*) FILTER (WHERE convert_from(payload, 'UTF8')
                        NOT LIKE 'c$1-' || seq || '-%')
               FROM messages WHERE convert_from(payload, 'UTF8') LIKE 'c$1-%'")
  IFS='|' read -r top cnt low bad <<<"$row"
  [ "$cnt" = 0 ] && return
  check_eq "$3: client $1's newest seq" "$top" "$2"
  check_eq "$3: client $1's rows are one run" "$((top - low + 1))" "$cnt"
  check_eq "$3: client $1's payloads match their seqs" "$bad" 0
}

deleted_metric() {
  scrape "$BQ_T/m.txt" >/dev/null
  metric "$BQ_T/m.txt" burstq_retention_deleted_rows_total
}

# --- 1. --retain-rows, one daemon ------------------------------------------
N=$((40000 / BQ_DIV))
LIMIT=$((15000 / BQ_DIV))
start_daemon --retain-rows "$LIMIT" --batch-max "$BATCH" --sync normal \
  --metrics 127.0.0.1:0
BQ_MPORT=$(metrics_port)
check_eq "HELLO" "$(printf 'HELLO keeper\nkept-1\n' | nc -N 127.0.0.1 "$BQ_PORT")" \
  "RESUME 0
OK 1"
printf 'old-1\nold-2\n' | nc -N 127.0.0.1 "$BQ_PORT" >old.out
check_reply "old client" old.out "OK 2"
old_conn=$(psqlq "SELECT conn_id FROM messages WHERE payload = 'old-1'")
rm -f "$BQ_T/stop"
sample_rows "$BQ_T/samples" &
SAMPLER=$!
for k in 1 2 3 4; do start_client "$k" "$N" "$WIDTH"; done
wait_clients 1 2 3 4
touch "$BQ_T/stop"
wait "$SAMPLER"
for k in 1 2 3 4; do check_acks "$BQ_T/out.$k" "$N" "client $k"; done
check_num "samples" "$(wc -l <"$BQ_T/samples")" -ge 2
over=$(awk -v l=$((LIMIT + BATCH)) '$1 > l' "$BQ_T/samples" | head -n 3)
[ -z "$over" ] || fail "more than --retain-rows + one batch stored: $over"
check_eq "rows: count, span, newest id" \
  "$(psqlq "SELECT count(*), max(id) - min(id) + 1, max(id) FROM messages")" \
  "$LIMIT|$LIMIT|$((4 * N + 3))"
for k in 1 2 3 4; do check_client_run "$k" "$N" "rows"; done
check_eq "producers row kept" \
  "$(psqlq "SELECT name, committed FROM producers")" "keeper|1"
check_eq "old connection deleted" \
  "$(psqlq "SELECT count(*) FROM connections WHERE id = $old_conn")" 0
check_eq "every message has its connection" \
  "$(psqlq "SELECT count(*) FROM messages m WHERE NOT EXISTS
              (SELECT 1 FROM connections c WHERE c.id = m.conn_id)")" 0
gone=$(psqlq "SELECT min(id) - 1 FROM messages")
check_eq "burstq_retention_deleted_rows_total" "$(deleted_metric)" "$gone"
timeout $((60 * BQ_SLOW)) "$BQ_CLIENT" stats -H "127.0.0.1:$BQ_MPORT" >stats.txt
check_grep "burstq stats: retention line" stats.txt \
  "^retention +deleted $(echo "$gone" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta') messages"
stop_daemon

# --- 2. --retain-age -------------------------------------------------------
AGE=2
psqlq "TRUNCATE messages, syslog_headers, connections RESTART IDENTITY"
start_daemon --retain-age "${AGE}s"
bq_spawn /dev/null "$BQ_T/out.age" "$BQ_T/err.age" \
  timeout $((240 * BQ_SLOW)) bash -c '
    for ((i = 1; i <= $1; i++)); do echo "age-$i"; sleep 0.1; done |
      nc -N 127.0.0.1 "$2"' _ 80 "$BQ_PORT"
AGE_PID=$BQ_SPAWNED
: >"$BQ_T/ages"
while bq_is_running_child "$AGE_PID"; do
  psqlq "SELECT max(received_at) - min(received_at),
                (extract(epoch FROM clock_timestamp()) * 1e6)::bigint
                  - min(received_at) FROM messages" | tr '|' ' ' >>"$BQ_T/ages"
  sleep 0.2
done
reap_or_kill "$AGE_PID" 60 "age client"
check_acks "$BQ_T/out.age" 80 "age client"
check_num "age samples" "$(grep -c . "$BQ_T/ages")" -ge 5
wide=$(awk -v a=$((AGE * 1000000)) '$1 != "" && $1 > a' "$BQ_T/ages" | head -n 3)
[ -z "$wide" ] || fail "stored messages span more than --retain-age: $wide"
note "largest wall-clock age of the oldest message: $(awk 'BEGIN { m = 0 }
  $2 > m { m = $2 } END { printf "%.2f s", m / 1e6 }' "$BQ_T/ages") (limit ${AGE} s)"
check_num "messages kept" "$(psqlq "SELECT count(*) FROM messages")" -ge 1
check_eq "the newest line kept" \
  "$(psqlq "SELECT convert_from(payload, 'UTF8') FROM messages ORDER BY id DESC LIMIT 1")" \
  age-80
stop_daemon

# --- 3. --retain-size ------------------------------------------------------
SW=400
SIZE=$((4 * 1024 * 1024))
SN=$((3 * SIZE / SW / 2))  # each round: 1.5 x SIZE of payload
tables_bytes() {
  psqlq "SELECT pg_total_relation_size('messages')
                + pg_total_relation_size('syslog_headers')"
}
psqlq "TRUNCATE messages, syslog_headers, connections RESTART IDENTITY"
start_daemon --retain-size "$SIZE" --batch-max "$BATCH" --sync normal
for r in 1 2 3 4 5; do
  start_client "s$r" "$SN" "$SW"
  wait_clients "s$r"
  check_acks "$BQ_T/out.s$r" "$SN" "size round $r"
  psqlq "VACUUM messages, syslog_headers, connections"
  b=$(tables_bytes)
  row=$(psqlq "SELECT count(*), coalesce(sum(octet_length(payload)), 0) FROM messages")
  IFS='|' read -r cnt pay <<<"$row"
  note "round $r: $cnt rows, $pay payload bytes, files $b bytes"
  check_num "round $r: payload bytes within --retain-size" "$pay" -le "$SIZE"
  check_num "round $r: not deleting far too much" "$pay" -ge $((SIZE / 2))
  [ "$r" = 2 ] && size2=$b
done
check_num "files after round 5 (round 2: $size2)" "$b" -le $((size2 * 115 / 100))
check_client_run "s5" "$SN" "size"
stop_daemon

# --- 4. two daemons --------------------------------------------------------
N=$((20000 / BQ_DIV))
LIMIT=$((10000 / BQ_DIV))
psqlq "TRUNCATE messages, syslog_headers, connections RESTART IDENTITY"
start_daemon --retain-rows "$LIMIT" --batch-max "$BATCH" --node a \
  --metrics 127.0.0.1:0
PA=$BQ_PID PORTA=$BQ_PORT MA=$(metrics_port)
start_daemon --retain-rows "$LIMIT" --batch-max "$BATCH" --node b \
  --metrics 127.0.0.1:0
PB=$BQ_PID PORTB=$BQ_PORT MB=$(metrics_port)
# A session holds the retention lock: both ack, neither deletes.
rm -f "$BQ_T/unlock"
bq_spawn /dev/null "$BQ_T/lock.out" "$BQ_T/lock.err" bash -c '
  { echo "SELECT pg_advisory_lock(25201, -1);"; echo "\\echo locked";
    while [ ! -e "$1" ]; do sleep 0.05; done; } |
  "$2" -X -q -A -t -h 127.0.0.1 -p "$3" -U postgres -d burstq' _ \
  "$BQ_T/unlock" "$PG_BINDIR/psql" "$(pg_port "$BQ_T/pg")"
LOCKER=$BQ_SPAWNED
locked() { grep -q locked "$BQ_T/lock.out"; }
poll $((30 * BQ_SLOW)) locked || die "psql did not take the retention lock"
BQ_PORT=$PORTA; start_client la "$LIMIT" "$WIDTH"
BQ_PORT=$PORTB; start_client lb "$LIMIT" "$WIDTH"
wait_clients la lb
check_acks "$BQ_T/out.la" "$LIMIT" "locked: daemon a"
check_acks "$BQ_T/out.lb" "$LIMIT" "locked: daemon b"
check_eq "locked: nothing deleted" \
  "$(psqlq "SELECT count(*) FROM messages")" $((2 * LIMIT))
touch "$BQ_T/unlock"
reap_or_kill "$LOCKER" 30 "lock holder"
rows_at_most() { [ "$(psqlq "SELECT count(*) FROM messages")" -le "$1" ]; }
poll $((30 * BQ_SLOW)) rows_at_most "$LIMIT" ||
  fail "idle passes did not bring the rows down to $LIMIT after the lock"
# Both stream at once.
rm -f "$BQ_T/stop" "$BQ_T/samples2"
sample_rows "$BQ_T/samples2" &
SAMPLER=$!
BQ_PORT=$PORTA; start_client 5 "$N" "$WIDTH"; start_client 6 "$N" "$WIDTH"
BQ_PORT=$PORTB; start_client 7 "$N" "$WIDTH"; start_client 8 "$N" "$WIDTH"
wait_clients 5 6 7 8
touch "$BQ_T/stop"
wait "$SAMPLER"
for k in 5 6 7 8; do check_acks "$BQ_T/out.$k" "$N" "two daemons: client $k"; done
over=$(awk -v l=$((LIMIT + 4 * N / 2)) '$1 > l { print NR ": " $0 }' "$BQ_T/samples2" | head -n 3)
note "two daemons: samples (count span): $(awk '{ printf "%s/%s ", $1, $2 }' "$BQ_T/samples2")"
[ -z "$over" ] || fail "two daemons: the excess accumulates (over --retain-rows + half the stream): $over"
poll $((30 * BQ_SLOW)) rows_at_most "$LIMIT" ||
  fail "two daemons: the rows did not come down to $LIMIT"
check_eq "two daemons: count, span, newest id" \
  "$(psqlq "SELECT count(*), max(id) - min(id) + 1, max(id) FROM messages")" \
  "$LIMIT|$LIMIT|$((2 * LIMIT + 4 * N))"
for k in 5 6 7 8; do check_client_run "$k" "$N" "two daemons"; done
da=$(BQ_MPORT=$MA deleted_metric) db=$(BQ_MPORT=$MB deleted_metric)
note "deleted by a: $da, by b: $db"
check_eq "two daemons: deleted counts add up to the rows gone" \
  "$((da + db))" $((2 * LIMIT + 4 * N - $(psqlq "SELECT count(*) FROM messages")))
for p in "$PA" "$PB"; do
  kill -TERM "$p"
  reap_or_kill "$p" $((60 * BQ_SLOW)) "daemon $p"
  check_eq "daemon $p: exit status" "$BQ_RC" 0
done

# --- 5. kill -9 during heavy deletion --------------------------------------
N=$((30000 / BQ_DIV))
KEEP=$((4 * N))
psqlq "TRUNCATE messages, syslog_headers, connections, producers RESTART IDENTITY"
start_daemon --sync normal
for k in 1 2 3 4; do start_client "p$k" "$N" "$WIDTH"; done
wait_clients p1 p2 p3 p4
printf 'HELLO keeper\nkept-1\n' | nc -N 127.0.0.1 "$BQ_PORT" >/dev/null
stop_daemon
check_num "rows before" "$(psqlq "SELECT count(*) FROM messages")" -eq $((4 * N + 1))
start_daemon --retain-rows "$KEEP" --batch-max 512 --sync normal
for k in 11 12 13; do start_client "$k" "$N" "$WIDTH"; done
for k in 11 12 13; do wait_acked "$k" 1; done
sleep "0.$((RANDOM % 4))"
note "deleted before the kill: $(psqlq "SELECT min(id) - 1 FROM messages")"
kill -9 "$BQ_PID"
reap "$BQ_PID" 30 || die "the killed daemon did not go"
bq_forget_pid "$BQ_PID"
for k in 11 12 13; do reap_or_kill "${CLIENT_PID[$k]}" 60 "client $k"; done
ids=$(psqlq "SELECT max(id) FROM messages")
check_num "rows left" "$(psqlq "SELECT count(*) FROM messages")" -ge \
  $((ids < KEEP ? ids : KEEP))
for k in 11 12 13; do
  ack=$(last_ack "$BQ_T/out.$k")
  row=$(psqlq "SELECT coalesce(max(seq), 0), count(*), coalesce(min(seq), 1)
               FROM messages WHERE convert_from(payload, 'UTF8') LIKE 'c$k-%'")
  IFS='|' read -r top cnt low <<<"$row"
  check_num "client $k: highest stored seq (acked $ack)" "$top" -ge "$ack"
  check_eq "client $k: its rows are seqs 1..$top" "$low $cnt" "1 $top"
done
check_eq "producers kept" "$(psqlq "SELECT name, committed FROM producers")" \
  "keeper|1"
start_daemon --retain-rows "$KEEP" --sync normal
check_eq "after restart" "$(printf 'x\n' | nc -N 127.0.0.1 "$BQ_PORT")" "OK 1"
stop_daemon


