#!/usr/bin/env bash
# test_emfile.sh BURSTQD -- promise 6: running out of file descriptors does
# not spin the CPU, and the daemon recovers when descriptors free up.  The
# daemon runs under a hard "ulimit -n 64"; 200 connections are opened and
# held, so accept() fails with EMFILE while more are pending.  A loop that
# kept retrying the ready listener would burn a whole core; the daemon's
# CPU time over 3 s of the held flood is bounded at a generous third of
# that.  (libuv handles EMFILE itself: it closes its reserve descriptor,
# accepts and closes the pending connections, and reopens it, without
# reporting an error to the daemon; those clients see the connection
# closed.)  The daemon warns at start that the limit is below
# --max-connections.  Then the connections go, and a new client is served.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

NOFILE=64
HOLD=200
WINDOW=3
HZ=$(getconf CLK_TCK)

# Run the daemon under the low limit (soft and hard: it raises its soft
# limit to the hard one at start).
cat >limited.sh <<SH
#!/bin/sh
ulimit -n $NOFILE || exit 1
exec "$BQ_BIN" "\$@"
SH
chmod +x limited.sh
REAL_BIN=$BQ_BIN
BQ_BIN=$BQ_T/limited.sh
start_daemon
BQ_BIN=$REAL_BIN
check_eq "the daemon's open-file limit" \
  "$(sed -n 's/^Max open files *\([0-9]*\) .*/\1/p' "/proc/$BQ_PID/limits")" "$NOFILE"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$BQ_PID/stat"; }

bq_spawn /dev/null hold.log "&1" timeout $((300 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" hold --port "$BQ_PORT" --conns "$HOLD" \
  --ready held --stop stop.held --out held.out --timeout $((280 * BQ_SLOW))
HOLD_PID=$BQ_SPAWNED
poll $((60 * BQ_SLOW)) test -e held || die "holders did not connect: $(cat hold.log)"
check_grep "the daemon warns about the open-file limit at start" "$BQ_LOG" \
  'exceeds the open-file limit 64'
# Let the daemon answer every held connection (accept it, or close it at
# EMFILE) before measuring: then the listener's backlog (ss's Recv-Q for a
# listening socket) is empty.
need_prog ss iproute2
backlog() { ss -Htln "sport = :$BQ_PORT" | awk '{ print $2; exit }'; }
backlog_empty() { [ "$(backlog)" = 0 ]; }
poll $((60 * BQ_SLOW)) backlog_empty ||
  fail "the daemon left connections in its backlog: $(backlog)"
t0=$(cpu_ticks)
sleep "$WINDOW"
t1=$(cpu_ticks)
used_ms=$(((t1 - t0) * 1000 / HZ))
note "daemon CPU time over ${WINDOW} s at EMFILE with $HOLD connections held: ${used_ms} ms"
check_num "daemon CPU time (ms) over ${WINDOW} s at EMFILE" "$used_ms" -lt $((WINDOW * 1000 / 3))
check_eq "daemon still running" \
  "$(bq_is_running_child "$BQ_PID" && echo yes || echo no)" yes

touch stop.held
reap_or_kill "$HOLD_PID" $((60 * BQ_SLOW)) "holders"
open_n=$(awk '$2 == "open"' held.out | wc -l)
note "held connections: $open_n served and open, $((HOLD - open_n)) closed by the daemon at EMFILE"
check_num "connections served while at the limit" "$open_n" -ge 1
check_num "connections closed at EMFILE" "$open_n" -lt "$HOLD"

poll $((60 * BQ_SLOW)) served after-emfile ||
  fail "no client served after descriptors freed up: $(cat served.out)"
check_eq "rows" "$(sql "SELECT count(*) FROM messages WHERE payload = CAST('after-emfile' AS BLOB)")" 1

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_num "summary connections (those served at the limit, and the last)" \
  "$(summary connections)" -ge $((open_n + 1))
check_num "accept-failure log lines (rate-limited)" \
  "$(grep -c 'accept failed' "$BQ_LOG")" -le 10
