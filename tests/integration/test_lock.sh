#!/usr/bin/env bash
# test_lock.sh BURSTQD -- another process holds the database's write lock
# for a few seconds while clients send: nothing is acked while nothing can
# be committed, the daemon logs its retries, and once the lock goes every
# line is stored and every client gets its final ack.
. "$(dirname "$0")/lib.sh" "$@"

CLIENTS=4
LINES=$((5000 / BQ_DIV))
WIDTH=50

start_daemon --queue-capacity 1000 --queue-bytes 256K
lock_db
for ((k = 1; k <= CLIENTS; k++)); do start_client "$k" "$LINES" "$WIDTH"; done

wait_log 'commit of [0-9]+ records failed: .*locked.*; retrying' ||
  fail "no retry warning in the log while the database was locked"
sleep 3   # keep the lock a while longer: several retries, a full queue
check_eq "rows while locked" "$(msg_count)" 0
for ((k = 1; k <= CLIENTS; k++)); do
  check_eq "client $k: no ack while nothing could be committed" \
    "$(wc -c <"out.$k")" 0
done
unlock_db

wait_clients $(seq "$CLIENTS")
for ((k = 1; k <= CLIENTS; k++)); do
  check_acks "out.$k" "$LINES" "client $k"
done
check_streams "$CLIENTS" "$LINES" "$WIDTH"
check_grep "the log says the database is writable again" "$BQ_LOG" \
  'database writable again: batch of [0-9]+ records committed after [0-9]+ failed attempts'

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "rows" "$(msg_count)" $((CLIENTS * LINES))
check_eq "summary received" "$(summary received)" $((CLIENTS * LINES))
check_eq "summary committed" "$(summary committed)" $((CLIENTS * LINES))
check_num "summary db_retries" "$(summary db_retries)" -ge 1
check_num "summary pauses" "$(summary pauses)" -ge 1
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
