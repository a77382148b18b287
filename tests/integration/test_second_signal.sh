#!/usr/bin/env bash
# test_second_signal.sh BURSTQD -- a second SIGTERM while the drain is stuck
# (database write-locked) exits at once with status 1 and says how many
# messages were not written; the database is left consistent (no torn or
# partial rows), every acked message is in it, and a restarted daemon
# carries on with it.
. "$(dirname "$0")/lib.sh" "$@"

CLIENTS=3
FIRST=20                    # acked before the lock
LINES=$((3000 / BQ_DIV))    # sent after it
WIDTH=40

start_daemon --queue-capacity 100 --queue-bytes 16K --batch-max 50
stall_full_queue "$CLIENTS" "$FIRST" "$LINES" "$WIDTH"

kill -TERM "$BQ_PID"
wait_log 'SIGTERM: stopping intake' ||
  fail "the daemon did not log 'SIGTERM: stopping intake'"
check_eq "daemon still draining (database locked)" \
  "$(bq_is_running_child "$BQ_PID" && echo running || echo exited)" running
kill -TERM "$BQ_PID"
wait_daemon_exit $((60 * BQ_SLOW))
check_eq "exit status after a second SIGTERM" "$BQ_RC" 1
check_grep "the log tells how many messages were not written" "$BQ_LOG" \
  'second signal \(SIGTERM\) during the drain: exiting now; [0-9]+ received messages were not written'
lost=$(sed -n 's/.*exiting now; \([0-9][0-9]*\) received messages were not written.*/\1/p' \
  "$BQ_LOG" | tail -n1)
check_num "messages reported not written" "${lost:-x}" -ge 1
check_num "messages reported not written <= lines sent after the lock" \
  "${lost:-x}" -le $((CLIENTS * LINES))

unlock_db
for ((k = 1; k <= CLIENTS; k++)); do
  reap_or_kill "${CLIENT_PID[$k]}" $((60 * BQ_SLOW)) "client $k (nc)"
done

check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
check_eq "rows: only what was committed before the lock" "$(msg_count)" \
  $((CLIENTS * FIRST))
stream_stats "$WIDTH"
check_stream_shape
for ((k = 1; k <= CLIENTS; k++)); do
  a=$(last_ack "out.$k")
  r=$(rows_of_client "$k")
  check_num "client $k: every acked message is stored (ack <= rows)" "$a" -le "$r"
  check_eq "client $k: acked before the lock, nothing after" "$a" "$FIRST"
done

# The daemon starts again on the database it left behind and carries on.
start_daemon
printf 'after-restart\n' >in.after
bq_spawn in.after out.after err.after timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
reap_or_kill "$BQ_SPAWNED" $((60 * BQ_SLOW)) "nc after restart"
check_eq "reply after restart" "$(tail -n1 out.after)" "OK 1"
stop_daemon
check_eq "exit status after restart" "$BQ_RC" 0
check_eq "rows after restart" "$(msg_count)" $((CLIENTS * FIRST + 1))
check_eq "new connection id is above every old one" \
  "$(sql "SELECT conn_id > (SELECT max(conn_id) FROM messages WHERE payload != CAST('after-restart' AS BLOB))
          FROM messages WHERE payload = CAST('after-restart' AS BLOB)")" 1
check_eq "database integrity after restart" "$(sql 'PRAGMA integrity_check')" ok
