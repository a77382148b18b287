#!/usr/bin/env bash
# test_slowloris.sh BURSTQD -- promise 6: 1000 slowloris connections (each
# trickles one byte a second and never finishes a line quickly) do not stop
# a normal client: it sends 100,000 lines and gets every one committed and
# acknowledged while all the slow connections stay open.  Then each slow
# connection finishes its line and half-closes: its bytes, sent one per
# read, are stored as exactly the lines it sent.  (Completion, not speed,
# is asserted: timing belongs in benchmarks.)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

SLOW=$((1000 / BQ_DIV))
LINES=$((100000 / BQ_DIV))
WIDTH=60

start_daemon
bq_spawn /dev/null slow.log "&1" timeout $((600 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" slowloris --port "$BQ_PORT" --conns "$SLOW" \
  --interval 1 --progress slow.rounds --ready slow.ready --stop slow.stop --out slow.out \
  --timeout $((500 * BQ_SLOW))
SLOW_PID=$BQ_SPAWNED
wait_ready slow.ready "$SLOW_PID" ||
  die "the slowloris clients did not start: $(cat slow.log)"
note "$SLOW slowloris connections trickling a byte a second"

# The normal client sends half its lines, then (after the slow connections
# have trickled for 8 s, so every one has completed a line) the rest.
start_gated_client 1 $((LINES / 2)) $((LINES / 2)) "$WIDTH" gate
rounds_at_least() { [ "$(cat slow.rounds 2>/dev/null || echo 0)" -ge "$1" ]; }
poll $((120 * BQ_SLOW)) rounds_at_least 8 ||
  fail "the slowloris clients did not get through 8 rounds"
wait_acked 1 $((LINES / 2))
touch gate
wait_clients 1
check_acks out.1 "$LINES" "normal client (during the slowloris)"
check_eq "slowloris client still running" \
  "$(bq_is_running_child "$SLOW_PID" && echo yes || echo no)" yes

touch slow.stop
reap_or_kill "$SLOW_PID" $((300 * BQ_SLOW)) "sockets.py slowloris"
read -r _ _ rounds _ held < <(head -n1 slow.out)
note "slowloris: $held of $SLOW connections held open for $rounds one-byte rounds"
check_eq "slowloris connections held open throughout" "$held" "$SLOW"
check_num "slowloris rounds" "$rounds" -ge 8

# Each slow connection: its final ack equals the lines it sent, and its
# rows are exactly "sK-1" .. "sK-LINES".
tail -n +2 slow.out | awk '$2 != $3 || $2 < 1' >slow.bad
check_eq "slow connections whose final ack != their lines" "$(wc -l <slow.bad)" 0
want=$(tail -n +2 slow.out | awk '{ s += $2 } END { print s + 0 }')
check_eq "slowloris rows" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) GLOB 's[0-9]*-[0-9]*'")" "$want"
check_eq "slowloris rows not of the form sK-SEQ with SEQ = seq" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) GLOB 's[0-9]*'
          AND CAST(payload AS TEXT) NOT GLOB ('s*-' || seq)")" 0
check_eq "normal client's rows" "$(rows_of_client 1)" "$LINES"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary connections" "$(summary connections)" $((SLOW + 1))
check_eq "summary received == rows" "$(summary received)" "$(msg_count)"
check_eq "summary committed == rows" "$(summary committed)" "$(msg_count)"
