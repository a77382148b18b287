#!/usr/bin/env bash
# test_drain_many.sh BURSTQD -- promise 2 at scale: SIGTERM with 1000
# connections streaming and the queue full (the database is write-locked
# by another process, so nothing drains until after the signal).  Every
# message the daemon had read is committed, every connection's last "OK n"
# equals its rows in the database (nothing read and left unacked, nothing
# acked and missing), every connection is closed in order (EOF, no reset),
# and the daemon exits 0.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

CONNS=$((1000 / BQ_DIV))
WIDTH=40
CAP=4000

start_daemon --queue-capacity "$CAP" --queue-bytes 1M --batch-max 500 \
  --max-connections $((CONNS + 100))

bq_spawn /dev/null sockets.log "&1" timeout $((300 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" stream --port "$BQ_PORT" --conns "$CONNS" \
  --width "$WIDTH" --out conns.out --ready ready --gate gate \
  --timeout $((280 * BQ_SLOW))
SOCK_PID=$BQ_SPAWNED
wait_ready ready "$SOCK_PID" ||
  die "not every connection was acked at least once: $(cat sockets.log)"
note "$CONNS connections open, each acked for its first line"
bq_log_has 'intake paused' && die "setup: the queue filled before the lock was taken"

# Stall the writer, then let every connection stream: the queue fills (the
# first pause, so its log line is not rate-limited away) while all of them
# keep sending.
lock_db
touch gate
wait_log 'intake paused' || fail "the daemon never logged 'intake paused'"
wait_log 'commit of [0-9]+ records failed' ||
  fail "no failed commit logged while the database was locked"
locked_rows=$(msg_count)

kill -TERM "$BQ_PID"
wait_log 'SIGTERM: stopping intake' ||
  fail "the daemon did not log 'SIGTERM: stopping intake'"
queued=$(sed -n 's/.*SIGTERM: stopping intake; writing \([0-9]*\) messages still queued.*/\1/p' "$BQ_LOG")
note "messages queued at SIGTERM: $queued (capacity $CAP)"
check_num "the queue was full at SIGTERM (messages queued)" "${queued:-0}" -ge "$CAP"
check_eq "daemon still draining while the database is locked" \
  "$(bq_is_running_child "$BQ_PID" && echo running || echo exited)" running
unlock_db

wait_daemon_exit $((120 * BQ_SLOW))
check_eq "exit status after SIGTERM" "$BQ_RC" 0
reap_or_kill "$SOCK_PID" $((120 * BQ_SLOW)) "sockets.py stream"
[ -s conns.out ] || die "sockets.py wrote no results: $(cat sockets.log)"

rows=$(msg_count)
note "rows: $rows ($locked_rows before SIGTERM)"
check_num "rows after the drain > rows before SIGTERM" "$rows" -gt "$locked_rows"
check_eq "summary received == rows" "$(summary received)" "$rows"
check_eq "summary committed == rows" "$(summary committed)" "$rows"
check_eq "summary connections" "$(summary connections)" "$CONNS"
check_num "summary pauses" "$(summary pauses)" -ge 1
check_no_grep "no 'not committed' error" "$BQ_LOG" 'were not committed'

stream_stats "$WIDTH"
check_stream_shape
check_eq "connections with rows" "$S_CONNS" "$CONNS"

# Per connection: its last OK n (seen by the client) against its rows.
sql "SELECT substr(CAST(payload AS TEXT), 2,
                   instr(CAST(payload AS TEXT), '-') - 2), count(*)
     FROM messages GROUP BY 1" | tr '|' ' ' | sort -n >rows.txt
sort -n conns.out >acks.txt
check_eq "connections reported by the client" "$(wc -l <acks.txt)" "$CONNS"
mismatch=$(join rows.txt acks.txt |
  awk '$2 != $3 { n++; if (n <= 5) printf "conn %s: rows %s last ack %s; ", $1, $2, $3 } END { print n + 0 }')
check_eq "connections whose last OK n != their rows" "${mismatch##*; }" 0
[ "${mismatch##*; }" = 0 ] || note "first mismatches: ${mismatch%; *}"
check_eq "connections without rows (or without a client report)" \
  "$(join -v1 -v2 rows.txt acks.txt | wc -l)" 0
check_eq "connections not ended by an orderly close (EOF)" \
  "$(awk '$4 != "eof"' acks.txt | wc -l)" 0
check_eq "connections without closed_at" \
  "$(sql 'SELECT count(*) FROM connections WHERE closed_at IS NULL')" 0
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
