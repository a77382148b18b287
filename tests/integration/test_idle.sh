#!/usr/bin/env bash
# test_idle.sh BURSTQD -- --idle-timeout SEC closes connections that sent
# nothing for SEC seconds and are owed nothing, with "ERR idle" first:
#   silent    connected, never sent a byte            -> ERR idle, closed
#   partial   sent half a line, then nothing          -> ERR idle, closed;
#             the half line is dropped (never a message)
#   acked     sent a line, got OK 1, then nothing     -> ERR idle, closed
#   waiting   sent a line while the database is locked for 3 x SEC: it is
#             waiting for its ack, which is not idleness -> kept; gets OK 1
#   active    sends a byte every SEC/6 s              -> never closed
# Without the flag nothing is ever closed for idleness.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

IDLE=3

hold() { # NAME DATA-FILE: one connection that sends DATA, then holds
  bq_spawn /dev/null "$1.log" "&1" timeout $((300 * BQ_SLOW)) \
    python3 "$HERE/sockets.py" hold --port "$BQ_PORT" --conns 1 \
    --data "$2" --ready "$1.ready" --stop stop --out "$1.out" \
    --progress "$1.progress" --timeout $((280 * BQ_SLOW))
  eval "PID_$1=\$BQ_SPAWNED"
}
answered() { [ "$(cat "$1.progress" 2>/dev/null || echo 0)" -ge 1 ]; }

start_daemon --idle-timeout "$IDLE"
: >empty
printf 'partial-line-no-newline' >partial.in
printf 'acked-1\n' >acked.in
hold silent empty
hold partial partial.in
hold acked acked.in
bq_spawn /dev/null active.log "&1" timeout $((300 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" slowloris --port "$BQ_PORT" --conns 1 \
  --interval 0.5 --ready active.ready --stop stop --out active.out \
  --timeout $((280 * BQ_SLOW))
PID_active=$BQ_SPAWNED

for n in silent partial acked; do
  poll $((60 * BQ_SLOW)) answered "$n" || fail "$n: not closed for idleness"
done

# Now the database is locked: a connection that sent a line waits for its
# ack for longer than the idle timeout and must not be closed.
lock_db
printf 'waiting-1\n' >waiting.in
hold waiting waiting.in
sleep $((3 * IDLE))
check_eq "waiting: still open while waiting for its ack" \
  "$(cat waiting.progress 2>/dev/null || echo 0)" 0
unlock_db
touch stop
for n in silent partial acked waiting active; do
  eval "pid=\$PID_$n"
  reap_or_kill "$pid" $((60 * BQ_SLOW)) "client $n"
done

for n in silent partial; do
  check_eq "$n: reply and close" "$(cut -d' ' -f2,3 "$n.out")" "eof ERR_idle"
done
check_eq "acked: reply and close" "$(cut -d' ' -f2 "acked.out")" "eof"
check_grep "acked: its ack came before ERR idle" acked.out '^1 eof OK_1 '
check_eq "waiting: open until the test ended" "$(cut -d' ' -f2 waiting.out)" "open"
check_eq "waiting: its rows" \
  "$(sql "SELECT count(*) FROM messages WHERE payload = CAST('waiting-1' AS BLOB)")" 1
check_eq "active: open throughout, final ack for its lines" \
  "$(sed -n 's/^# rounds [0-9]* held //p' active.out)" 1
check_eq "rows holding the dropped half line" \
  "$(sql "SELECT count(*) FROM messages WHERE instr(payload, CAST('partial-line' AS BLOB)) > 0")" 0

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary idle_closed" "$(summary idle_closed)" 3
check_num "summary partial_dropped" "$(summary partial_dropped)" -ge 1

# Without --idle-timeout a silent connection stays.
start_daemon
rm -f stop
hold quiet empty
sleep $((2 * IDLE))
check_eq "no --idle-timeout: silent connection still open" \
  "$(cat quiet.progress 2>/dev/null || echo 0)" 0
touch stop
reap_or_kill "$PID_quiet" $((60 * BQ_SLOW)) "client quiet"
stop_daemon
check_eq "no --idle-timeout: summary idle_closed" "$(summary idle_closed)" 0
