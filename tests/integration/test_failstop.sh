#!/usr/bin/env bash
# test_failstop.sh BURSTQD -- an error that no retry can fix stops the
# daemon (status 1) instead of wedging every connection or skipping the
# batch: here another program inserts the connections row the daemon is
# about to use, so the next connection's OPEN breaks the primary key.
# Everything acknowledged before is stored; the refused batch left no
# trace and was never acknowledged; a restarted daemon carries on.
. "$(dirname "$0")/lib.sh" "$@"

start_daemon
printf 'one\ntwo\n' | send out.1
check_acks out.1 2 "client before the sabotage"

# Connection ids come from the daemon; take the next one behind its back.
next=$(( $(sql 'SELECT max(id) FROM connections') + 1 ))
sql "INSERT INTO connections(id, peer, opened_at) VALUES ($next, 'intruder', 0)" >/dev/null
printf 'three\n' | send out.2

wait_daemon_exit $((60 * BQ_SLOW))
check_eq "exit status after an error a retry cannot fix" "$BQ_RC" 1
check_grep "the log says why and that nothing unwritten was acked" "$BQ_LOG" \
  'cannot be retried: .*UNIQUE constraint failed: connections\.id.*none of them was acknowledged'
check_eq "no ack for the batch that could not be written" "$(cat out.2)" ""
check_eq "rows acknowledged before are stored" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM messages")" "one,two"
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok

# Restarted, the daemon reads the new max id and works again.
start_daemon
printf 'four\n' | send out.3
check_acks out.3 1 "client after the restart"
stop_daemon
check_eq "exit status after the restart" "$BQ_RC" 0
check_eq "the new connection id skips the intruder's" \
  "$(sql "SELECT conn_id FROM messages WHERE payload = CAST('four' AS BLOB)")" \
  $((next + 1))
