#!/usr/bin/env bash
# test_lock_long.sh BURSTQD -- promise 4: another process holds the
# database's write lock for 10 s while clients send.  Nothing is lost:
# intake pauses (the queue fills, TCP holds the senders, no connection is
# dropped), nothing is acknowledged while nothing can be committed, and once
# the lock goes intake resumes, every line is stored exactly once and in
# order, and every client gets its final ack.
. "$(dirname "$0")/lib.sh" "$@"

CLIENTS=4
LINES=$((20000 / BQ_DIV))
WIDTH=50
LOCK_S=10

start_daemon --queue-capacity 1000 --queue-bytes 128K
lock_db
t0=$(date +%s)
for ((k = 1; k <= CLIENTS; k++)); do start_client "$k" "$LINES" "$WIDTH"; done

wait_log 'intake paused' || fail "intake never paused while the database was locked"
wait_log 'commit of [0-9]+ records failed: .*locked.*; retrying' ||
  fail "no retry warning in the log while the database was locked"
# Hold the lock for LOCK_S seconds in all, checking on the way that the
# daemon and every client are still there and nothing was acked.
while [ $(($(date +%s) - t0)) -lt "$LOCK_S" ]; do
  sleep 1
  bq_is_running_child "$BQ_PID" || die "the daemon died while the database was locked"
done
held=$(($(date +%s) - t0))
note "lock held for ${held} s"
check_num "lock held (s)" "$held" -ge "$LOCK_S"
check_eq "rows while locked" "$(msg_count)" 0
for ((k = 1; k <= CLIENTS; k++)); do
  check_eq "client $k: still connected while locked" \
    "$(bq_is_running_child "${CLIENT_PID[$k]}" && echo yes || echo no)" yes
  check_eq "client $k: no ack while nothing could be committed" \
    "$(wc -c <"out.$k")" 0
done
unlock_db

wait_clients $(seq "$CLIENTS")
for ((k = 1; k <= CLIENTS; k++)); do
  check_acks "out.$k" "$LINES" "client $k"
done
check_streams "$CLIENTS" "$LINES" "$WIDTH"
check_grep "intake resumed after the lock" "$BQ_LOG" 'intake resumed after [0-9]+ ms'
check_grep "the log says the database is writable again" "$BQ_LOG" \
  'database writable again: batch of [0-9]+ records committed after [0-9]+ failed attempts'

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary received" "$(summary received)" $((CLIENTS * LINES))
check_eq "summary committed" "$(summary committed)" $((CLIENTS * LINES))
check_eq "summary conn_errors (no connection dropped)" "$(summary conn_errors)" 0
check_num "summary db_retries" "$(summary db_retries)" -ge 1
check_num "summary pauses" "$(summary pauses)" -ge 1
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
