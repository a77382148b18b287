#!/usr/bin/env bash
# test_drain.sh BURSTQD -- SIGTERM while the queue is full and commits are
# stalled on a locked database loses nothing: once the lock goes, the drain
# writes every message the daemon had read, each connection gets a final ack
# equal to its rows, and the daemon exits 0.
. "$(dirname "$0")/lib.sh" "$@"

CLIENTS=6
FIRST=10                     # acked before the lock; 6 * 11 records < 100
LINES=$((5000 / BQ_DIV))     # sent after the lock is taken
WIDTH=60

start_daemon --queue-capacity 100 --queue-bytes 16K --batch-max 50

# Phase 1: every client sends a few lines and is acked; the queue never
# fills.  Phase 2: the database is locked, the clients blast, the queue
# fills.
stall_full_queue "$CLIENTS" "$FIRST" "$LINES" "$WIDTH"
locked_rows=$(msg_count)
check_eq "rows while locked (only phase 1)" "$locked_rows" $((CLIENTS * FIRST))

kill -TERM "$BQ_PID"
wait_log 'SIGTERM: stopping intake' ||
  fail "the daemon did not log 'SIGTERM: stopping intake'"
check_eq "daemon still draining while the database is locked" \
  "$(bq_is_running_child "$BQ_PID" && echo running || echo exited)" running
unlock_db

wait_daemon_exit $((120 * BQ_SLOW))
check_eq "exit status after SIGTERM" "$BQ_RC" 0
for ((k = 1; k <= CLIENTS; k++)); do
  # The daemon stopped reading them: nc may end with an error once the
  # daemon closes; only its output matters.
  reap_or_kill "${CLIENT_PID[$k]}" $((60 * BQ_SLOW)) "client $k (nc)"
done

rows=$(msg_count)
note "rows after the drain: $rows of $((CLIENTS * (FIRST + LINES))) sent"
check_num "rows after the drain > rows before SIGTERM" "$rows" -gt "$locked_rows"
check_eq "summary received == rows" "$(summary received)" "$rows"
check_eq "summary committed == rows" "$(summary committed)" "$rows"
check_num "summary pauses" "$(summary pauses)" -ge 1
check_num "summary db_retries" "$(summary db_retries)" -ge 1
check_no_grep "no 'not committed' error" "$BQ_LOG" 'were not committed'

stream_stats "$WIDTH"
check_stream_shape
check_eq "connections with rows" "$S_CONNS" "$CLIENTS"
for ((k = 1; k <= CLIENTS; k++)); do
  r=$(rows_of_client "$k")
  a=$(last_ack "out.$k")
  check_num "client $k: highest ack <= its rows" "$a" -le "$r"
  # docs/protocol.md: on SIGTERM every message already read is committed
  # and the connection gets its final OK n before it is closed.
  check_eq "client $k: final ack == its rows" "$a" "$r"
  bad=$(grep -Ev '^OK (0|[1-9][0-9]*)$' "out.$k" | head -n1)
  check_eq "client $k: only OK lines" "$bad" ""
done
check_eq "connections without closed_at" \
  "$(sql 'SELECT count(*) FROM connections WHERE closed_at IS NULL')" 0
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
