# lock_lib.sh -- the write-lock scenario shared by test_lock.sh and
# test_lock_long.sh (promise 4), sourced after lib.sh.

# lock_scenario LINES QUEUE_BYTES HOLD_S: another process holds the
# database's write lock for HOLD_S seconds (from when it was taken) while 4
# clients each send LINES lines into a queue of 1000 records / QUEUE_BYTES.
# Asserts that nothing is lost: intake pauses (the queue fills, TCP holds
# the senders, no connection is dropped), the daemon logs its retries,
# nothing is acknowledged while nothing can be committed, and once the lock
# goes intake resumes, every line is stored exactly once and in order, and
# every client gets its final ack.  HOLD_S is a minimum, never asserted
# against.
lock_scenario() {
  local lines=$1 qbytes=$2 hold_s=$3 clients=4 width=50 k t0 held
  start_daemon --queue-capacity 1000 --queue-bytes "$qbytes"
  lock_db
  t0=$(date +%s)
  for ((k = 1; k <= clients; k++)); do start_client "$k" "$lines" "$width"; done

  wait_log 'intake paused' || fail "intake never paused while the database was locked"
  wait_log 'commit of [0-9]+ records failed: .*locked.*; retrying' ||
    fail "no retry warning in the log while the database was locked"
  # Hold the lock for hold_s seconds in all, checking on the way that the
  # daemon is still there.
  while [ $(($(date +%s) - t0)) -lt "$hold_s" ]; do
    sleep 1
    bq_is_running_child "$BQ_PID" || die "the daemon died while the database was locked"
  done
  held=$(($(date +%s) - t0))
  note "lock held for ${held} s"
  check_eq "rows while locked" "$(msg_count)" 0
  for ((k = 1; k <= clients; k++)); do
    check_eq "client $k: still connected while locked" \
      "$(bq_is_running_child "${CLIENT_PID[$k]}" && echo yes || echo no)" yes
    check_eq "client $k: no ack while nothing could be committed" \
      "$(wc -c <"out.$k")" 0
  done
  unlock_db

  wait_clients $(seq "$clients")
  for ((k = 1; k <= clients; k++)); do
    check_acks "out.$k" "$lines" "client $k"
  done
  check_streams "$clients" "$lines" "$width"
  check_grep "intake resumed after the lock" "$BQ_LOG" 'intake resumed after [0-9]+ ms'
  check_grep "the log says the database is writable again" "$BQ_LOG" \
    'database writable again: batch of [0-9]+ records committed after [0-9]+ failed attempts'

  stop_daemon
  check_eq "exit status" "$BQ_RC" 0
  check_eq "rows" "$(msg_count)" $((clients * lines))
  check_eq "summary received" "$(summary received)" $((clients * lines))
  check_eq "summary committed" "$(summary committed)" $((clients * lines))
  check_eq "summary conn_errors (no connection dropped)" "$(summary conn_errors)" 0
  check_num "summary db_retries" "$(summary db_retries)" -ge 1
  check_num "summary pauses" "$(summary pauses)" -ge 1
  check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
}
