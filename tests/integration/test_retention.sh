#!/usr/bin/env bash
# test_retention.sh BURSTQD -- retention (--retain-rows, --retain-age;
# docs/operations.md "Retention"), the short versions of issue 17's runs.
#
# 1. Steady state, --retain-rows: 4 nc clients stream while sqlite3 samples
#    the database.  In every sample the row count is at most the limit
#    plus one batch (--batch-max), the rows are the newest ids without a
#    hole; every client gets every ack; the file stops growing once the
#    limit is reached (its size at the end is within 25% of its size when
#    the count first reached the limit, plus one batch's pages).
# 2. --retain-age A: a client sends a line every 0.1 s for 6 A.  Each pass
#    deletes, before the batch it writes, every message received before
#    its own clock minus A, so in every committed state the stored
#    messages span at most A (max - min of received_at), however late a
#    loaded machine runs the commits.  (The age against the wall clock is
#    A plus the time since the last commit; it is printed, not asserted.)
# 3. kill -9 during heavy deletion: 4 x N rows stored without retention,
#    then a daemon with --retain-rows 4N deletes the oldest of them while
#    3 clients stream N each (so their messages are all among the newest
#    4N ids, and retention must keep every one), and is killed at a random
#    moment.  After recovery: integrity_check is ok, the ids left are one
#    run without a hole ending at the newest, at least min(4N, ids) rows
#    are left, each streaming client's rows are exactly its seqs 1..m for
#    some m >= its last ack, and the producers row is kept.
. "$(dirname "$0")/lib.sh" "$@"

WIDTH=40
BATCH=2048

# sample_rows OUT: until $BQ_T/stop exists, append "count span pages
# page_size" lines (span = max(id) - min(id) + 1) to OUT.
sample_rows() {
  while [ ! -e "$BQ_T/stop" ]; do
    sql "SELECT count(*), coalesce(max(id) - min(id) + 1, 0),
                (SELECT page_count FROM pragma_page_count()),
                (SELECT page_size FROM pragma_page_size())
         FROM messages" | tr '|' ' ' >>"$1" || break
    sleep 0.05
  done
}

# --- 1. --retain-rows ------------------------------------------------------
N=$((60000 / BQ_DIV))
LIMIT=$((20000 / BQ_DIV))
start_daemon --retain-rows "$LIMIT" --batch-max "$BATCH" --sync normal
rm -f "$BQ_T/stop"
sample_rows "$BQ_T/samples" &
SAMPLER=$!
for k in 1 2 3 4; do start_client "$k" "$N" "$WIDTH"; done
wait_clients 1 2 3 4
touch "$BQ_T/stop"
wait "$SAMPLER"
for k in 1 2 3 4; do check_acks "$BQ_T/out.$k" "$N" "client $k"; done
nsamples=$(wc -l <"$BQ_T/samples")
note "$nsamples samples"
check_num "samples" "$nsamples" -ge 2
over=$(awk -v l=$((LIMIT + BATCH)) '$1 > l' "$BQ_T/samples" | head -n 3)
[ -z "$over" ] || fail "more than --retain-rows + one batch stored: $over"
holes=$(awk '$1 != $2' "$BQ_T/samples" | head -n 3)
[ -z "$holes" ] || fail "the stored ids have holes (count span): $holes"
check_eq "rows of the last ids" \
  "$(sql "SELECT count(*) = max(id) - min(id) + 1 AND max(id) = $((4 * N))
          AND count(*) >= $LIMIT FROM messages")" 1
check_eq "payloads distinct" \
  "$(sql 'SELECT count(*) = count(DISTINCT payload) FROM messages')" 1
stop_daemon
# the plateau: pages when the limit was first reached, pages at the end
first=$(awk -v l="$LIMIT" '$1 >= l { print $3 * $4; exit }' "$BQ_T/samples")
end=$(sql "SELECT (SELECT page_count FROM pragma_page_count()) *
                  (SELECT page_size FROM pragma_page_size())")
note "file at the limit: ${first:-none} bytes; at the end: $end bytes"
if [ -n "$first" ]; then
  check_num "file size at the end" "$end" -le \
    $((first * 5 / 4 + BATCH * (WIDTH + 16)))
else
  fail "no sample saw the limit reached"
fi

# --- 2. --retain-age -------------------------------------------------------
AGE=2
rm -f "$BQ_DB" "$BQ_DB-wal" "$BQ_DB-shm"
start_daemon --retain-age "${AGE}s"
bq_spawn /dev/null "$BQ_T/out.age" "$BQ_T/err.age" \
  timeout $((240 * BQ_SLOW)) bash -c '
    for ((i = 1; i <= $1; i++)); do echo "age-$i"; sleep 0.1; done |
      nc -N 127.0.0.1 "$2"' _ $((AGE * 60)) "$BQ_PORT"
AGE_PID=$BQ_SPAWNED
: >"$BQ_T/ages"
while bq_is_running_child "$AGE_PID"; do
  sql "SELECT max(received_at) - min(received_at),
              CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
                - min(received_at)
       FROM messages" | tr '|' ' ' >>"$BQ_T/ages"
  sleep 0.2
done
reap_or_kill "$AGE_PID" 60 "age client"
check_acks "$BQ_T/out.age" $((AGE * 60)) "age client"
check_num "age samples" "$(grep -c . "$BQ_T/ages")" -ge 5
wide=$(awk -v a=$((AGE * 1000000)) '$1 != "" && $1 > a' "$BQ_T/ages" | head -n 3)
[ -z "$wide" ] || fail "stored messages span more than --retain-age: $wide"
note "largest wall-clock age of the oldest message: $(awk 'BEGIN { m = 0 }
  $2 > m { m = $2 } END { printf "%.2f s", m / 1e6 }' "$BQ_T/ages") (limit ${AGE} s)"
check_num "messages kept" "$(msg_count)" -ge 1
stop_daemon

# --- 3. kill -9 during heavy deletion --------------------------------------
N=$((50000 / BQ_DIV))
KEEP=$((4 * N))
rm -f "$BQ_DB" "$BQ_DB-wal" "$BQ_DB-shm"
start_daemon --sync normal
for k in 1 2 3 4; do start_client "$k" "$N" "$WIDTH"; done
wait_clients 1 2 3 4
printf 'HELLO keeper\nkept-1\n' | nc -N 127.0.0.1 "$BQ_PORT" >/dev/null
stop_daemon
check_num "rows before" "$(msg_count)" -eq $((4 * N + 1))
start_daemon --retain-rows "$KEEP" --batch-max 512 --sync normal
for k in 5 6 7; do start_client "$k" "$N" "$WIDTH"; done
wait_acked 5 1
sleep "0.$((RANDOM % 4))"
kill -9 "$BQ_PID"
reap "$BQ_PID" 30 || die "the killed daemon did not go"
bq_forget_pid "$BQ_PID"
for k in 5 6 7; do reap_or_kill "${CLIENT_PID[$k]}" 60 "client $k"; done
check_eq "integrity_check" "$(sql 'PRAGMA integrity_check')" ok
check_eq "one run of ids" \
  "$(sql 'SELECT count(*) = max(id) - min(id) + 1 FROM messages')" 1
ids=$(sql 'SELECT max(id) FROM messages')
check_num "rows left" "$(msg_count)" -ge $((ids < KEEP ? ids : KEEP))
note "rows left after the kill: $(msg_count) (of $(sql 'SELECT max(id) FROM messages') ids)"
for k in 5 6 7; do
  ack=$(last_ack "$BQ_T/out.$k")
  row=$(sql "SELECT coalesce(max(seq), 0), count(*), coalesce(min(seq), 1)
             FROM messages WHERE CAST(payload AS TEXT) LIKE 'c$k-%'")
  IFS='|' read -r top cnt low <<<"$row"
  check_num "client $k: highest stored seq (acked $ack)" "$top" -ge "$ack"
  check_eq "client $k: its rows are seqs 1..$top" "$low $cnt" "1 $top"
done
check_eq "producers kept" "$(sql 'SELECT name, committed FROM producers')" \
  "keeper|1"
# the next daemon (no retention) takes over the file as it is
start_daemon --sync normal
check_eq "after restart" "$(printf 'x\n' | nc -N 127.0.0.1 "$BQ_PORT")" "OK 1"
stop_daemon

# --- 4. databases made by earlier releases --------------------------------
rows_are() { [ "$(msg_count)" = "$1" ]; }
# The v1-v3 fixtures (3 messages, 2 closed connections each) are migrated
# and retained in place: with --retain-rows 2 each batch's pass leaves the
# newest 2 ids before it inserts, and an idle pass (within about a second)
# the newest 2 overall; the old connections, left without messages, go;
# ids continue from the old ones.
for v in 1 2 3; do
  rm -f "$BQ_DB" "$BQ_DB-wal" "$BQ_DB-shm"
  cp "$(dirname "$0")/data/schema-v$v-burstqd-0.1.0.sqlite3" "$BQ_DB" ||
    die "no v$v fixture"
  start_daemon --retain-rows 2
  check_eq "v$v: first send" "$(printf 'new-1\n' | nc -N 127.0.0.1 "$BQ_PORT")" "OK 1"
  check_eq "v$v: second send" "$(printf 'new-2\nnew-3\n' | nc -N 127.0.0.1 "$BQ_PORT" | tail -n 1)" "OK 2"
  check_num "v$v: rows after the second batch" "$(msg_count)" -le 4
  poll $((60 * BQ_SLOW)) rows_are 2 ||
    fail "v$v: no idle pass cut the rows to 2 ($(msg_count))"
  stop_daemon
  check_eq "v$v: integrity_check" "$(sql 'PRAGMA integrity_check')" ok
  check_eq "v$v: schema version" "$(sql 'PRAGMA user_version')" 5
  check_eq "v$v: rows kept" \
    "$(sql "SELECT group_concat(id || ':' || CAST(payload AS TEXT), ' ')
            FROM (SELECT id, payload FROM messages ORDER BY id)")" \
    "5:new-2 6:new-3"
  check_eq "v$v: connections kept" \
    "$(sql 'SELECT count(*) FROM connections WHERE id <= 2')" 0
done
