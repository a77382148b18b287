#!/usr/bin/env bash
# test_sdnotify.sh BURSTQD -- systemd's notification protocol without
# systemd: NOTIFY_SOCKET names a unix datagram socket this test listens on
# (python3).  burstqd must send READY=1 once listening, then periodic
# STATUS= lines, then STOPPING=1 when the drain begins, in that order; with
# WATCHDOG_USEC set it also sends WATCHDOG=1 repeatedly.  A build without
# libsystemd says so in its log and the test is skipped (exit 0, noted).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

command -v python3 >/dev/null || die "python3 is needed (apt-get install python3)"
SOCK=$BQ_T/notify.sock
bq_spawn /dev/null listen.log listen.err python3 "$HERE/notify_listen.py" "$SOCK" "$BQ_T/notify.txt"
poll $((30 * BQ_SLOW)) test -e "$BQ_T/notify.txt.ready" || die "listener did not start: $(cat listen.err)"

export NOTIFY_SOCKET=$SOCK
export WATCHDOG_USEC=400000   # a ping every 200 ms
start_daemon --log-level debug # debug: "end of input", below
unset NOTIFY_SOCKET WATCHDOG_USEC
if grep -q 'built without libsystemd' "$BQ_LOG"; then
  note "SKIP: this burstqd was built without libsystemd (-DBQ_SYSTEMD=OFF)"
  stop_daemon
  exit 0
fi

has_ready() { grep -q '^READY=1' notify.txt; }
poll $((30 * BQ_SLOW)) has_ready || fail "no READY=1"
check_grep "READY=1 says where it listens" notify.txt \
  "^READY=1\\|STATUS=accepting on 127\\.0\\.0\\.1:$BQ_PORT\$"
printf 'a\nb\nc\n' | send acks.txt
check_eq "client acked" "$(tail -n1 acks.txt)" "OK 3"

# A periodic STATUS= (every 5 s) with rates.
has_status() { grep -q '^STATUS=.* msg/s in, .* msg/s committed; ' notify.txt; }
poll $((30 * BQ_SLOW)) has_status || fail "no periodic STATUS= line"
check_grep "STATUS= reports the database" notify.txt '^STATUS=.*; database ok$'
many_pings() { [ "$(grep -c '^WATCHDOG=1$' notify.txt)" -ge 3 ]; }
poll $((30 * BQ_SLOW)) many_pings || fail "fewer than 3 WATCHDOG=1"
check_grep "the watchdog interval is logged" "$BQ_LOG" 'systemd watchdog: pinging every 200 ms'

# A drain held up by a locked database reports its progress.
lock_db
start_client 1 3 10
wait_log 'commit of [0-9]+ records failed' || fail "no failed commit while locked"
# Lines not yet read when SIGTERM comes are not acknowledged
# (docs/protocol.md): signal once the daemon has read all three (the
# first connection, above, logged the same line).
all_read() { [ "$(grep -c 'end of input after 3 messages' "$BQ_LOG")" -ge 2 ]; }
poll $((60 * BQ_SLOW)) all_read || fail "client 1's lines were not all read"
kill -TERM "$BQ_PID"
has_stopping() { grep -q '^STOPPING=1' notify.txt; }
poll $((10 * BQ_SLOW)) has_stopping || fail "no STOPPING=1"
check_grep "STOPPING=1 says what is left" notify.txt '^STOPPING=1\|STATUS=draining: writing 3 queued messages$'
has_progress() { grep -q '^STATUS=draining: 3 messages left to write, 0 msg/s committed; database not writable: busy' notify.txt; }
poll $((30 * BQ_SLOW)) has_progress || fail "no STATUS= progress during the drain"
unlock_db
wait_daemon_exit $((120 * BQ_SLOW))
check_eq "exit status" "$BQ_RC" 0
wait_clients 1
check_acks out.1 3 "client 1"

# Order: READY=1 first of all; a periodic STATUS= after it; STOPPING=1
# after that; after STOPPING=1 only watchdog pings and drain progress.
first_line() { grep -n -m1 -E "$1" notify.txt | cut -d: -f1; }
r=$(first_line '^READY=1')
s=$(first_line '^STATUS=.* msg/s in')
p=$(first_line '^STOPPING=1')
note "READY at line $r, first periodic STATUS at $s, STOPPING at $p of $(wc -l <notify.txt)"
check_eq "READY=1 is the first message" "$r" 1
check_num "STATUS= after READY=1" "${s:-0}" -gt "${r:-0}"
check_num "STOPPING=1 after STATUS=" "${p:-0}" -gt "${s:-0}"
check_eq "after STOPPING=1, only watchdog pings and drain progress" \
  "$(tail -n +$((${p:-1} + 1)) notify.txt |
     grep -Evc '^(WATCHDOG=1|STATUS=draining: [0-9]+ messages left to write, .*)$')" 0
