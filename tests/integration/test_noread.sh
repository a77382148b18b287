#!/usr/bin/env bash
# test_noread.sh BURSTQD -- promise 6: a client that never reads its acks
# (4 KiB receive buffer, 50 MB sent before it reads a byte) costs the
# daemon no growing buffer: every line is committed while the client still
# does not read, the daemon's peak RSS stays small (acks coalesce into one
# pending write), and when the client finally reads, its last line is the
# final "OK n" for every line.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

LINES=$((500000 / BQ_DIV))
WIDTH=99
BOUND_KB=$((40 * 1024))

start_daemon --sync off --queue-bytes 1M
bq_spawn /dev/null noread.log "&1" timeout $((600 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" noread --port "$BQ_PORT" --lines "$LINES" \
  --width "$WIDTH" --ready sent --stop read --out noread.out
NR_PID=$BQ_SPAWNED
sent_or_dead() { [ -e sent ] || ! bq_is_running_child "$NR_PID"; }
poll $((300 * BQ_SLOW)) sent_or_dead && [ -e sent ] ||
  die "the client could not send its lines: $(cat noread.log)"
all_stored() { [ "$(msg_count)" -ge "$LINES" ]; }
poll $((120 * BQ_SLOW)) all_stored ||
  fail "not every line was stored while the client was not reading ($(msg_count) of $LINES)"
hwm=$(vmhwm_kb "$BQ_PID")
note "daemon VmHWM with a client that never read its acks ($((LINES * (WIDTH + 1) / 1048576)) MB sent): ${hwm} kB"
if [ -n "$BQ_SAN" ]; then
  note "skipping the RSS bound under $BQ_SAN (sanitizers inflate RSS)"
else
  check_num "daemon VmHWM (kB) under ${BOUND_KB} kB" "$hwm" -lt "$BOUND_KB"
fi

touch read
reap_or_kill "$NR_PID" $((120 * BQ_SLOW)) "sockets.py noread"
check_eq "the client's last ack, read at the end" \
  "$(sed -n 's/^last_ack //p' noread.out)" "$LINES"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary committed" "$(summary committed)" "$LINES"
check_streams 1 "$LINES" "$WIDTH"
