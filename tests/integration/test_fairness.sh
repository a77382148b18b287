#!/usr/bin/env bash
# test_fairness.sh BURSTQD -- a full queue does not starve anyone: 200
# connections stream as fast as they can into a queue of 100 records, so
# intake pauses after nearly every read.  Every connection must still get
# its lines read, committed and acknowledged (each sees an "OK n"), because
# a resume restarts the connections that waited longest first.  (Before
# that, a fixed resume order read the same few connections again and again
# and left the rest unread indefinitely.)  Then SIGTERM drains all of it.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

CONNS=200
WIDTH=40

start_daemon --queue-capacity 100 --queue-bytes 64K --batch-max 100
bq_spawn /dev/null sockets.log "&1" timeout $((300 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" stream --port "$BQ_PORT" --conns "$CONNS" \
  --width "$WIDTH" --out conns.out --ready ready --timeout $((280 * BQ_SLOW))
SOCK_PID=$BQ_SPAWNED
if wait_ready ready "$SOCK_PID"; then
  note "ok: all $CONNS streaming connections were acknowledged"
else
  fail "not every streaming connection was acknowledged: some are starved"
fi
stop_daemon
check_eq "exit status" "$BQ_RC" 0
reap_or_kill "$SOCK_PID" $((120 * BQ_SLOW)) "sockets.py stream"
check_num "summary pauses (the queue kept filling)" "$(summary pauses)" -ge 10
check_eq "connections without rows" "$(sql "SELECT count(*) FROM connections
  WHERE id NOT IN (SELECT DISTINCT conn_id FROM messages)")" 0
sort -n conns.out >acks.txt
sql "SELECT substr(CAST(payload AS TEXT), 2, instr(CAST(payload AS TEXT), '-') - 2),
            count(*) FROM messages GROUP BY 1" | tr '|' ' ' | sort -n >rows.txt
check_eq "connections whose last OK n != their rows" \
  "$(join rows.txt acks.txt | awk '$2 != $3' | wc -l)" 0
