#!/usr/bin/env bash
# test_memory.sh BURSTQD -- a tiny queue under a blast much larger than it:
# every line is stored, and the daemon's peak RSS stays small, because
# intake pauses instead of buffering (the clients wait in TCP).
#
# The first seconds of the blast run against a write-locked database, so
# nothing drains: a daemon that kept reading past its queue bounds would
# take in the whole stream then.  (Measured: with the bounds lifted,
# --queue-capacity 10000000 --queue-bytes 1G, VmHWM reaches ~160 MB, the
# 100 MB of payload plus ~60 bytes of record header and malloc overhead per
# line.)  With the bounds, the peak is the binary and its libraries, SQLite's
# page cache (2 MB default) and WAL index, one 64 KB read buffer, 64 KB of
# queued records in 2 MiB slabs (the one being carved and up to two kept
# for reuse, slab.h), a partial line per connection, and the stacks and
# malloc arenas of the loop and worker threads: 11-13 MB measured while
# stalled, 19-23 MB at the end (a release build).  The 40 MB bound leaves
# room for allocator and libc differences while catching any buffering of
# even a fifth of the stream.
. "$(dirname "$0")/lib.sh" "$@"

CLIENTS=4
LINES=$((250000 / BQ_DIV))   # 100 bytes a line: 25 MB a client
WIDTH=99
BOUND_KB=$((40 * 1024))

start_daemon --sync off --queue-bytes 64K --queue-capacity 256
lock_db
for ((k = 1; k <= CLIENTS; k++)); do start_client "$k" "$LINES" "$WIDTH"; done
note "sending $((CLIENTS * LINES)) lines, $(( $(cat in.* | wc -c) / 1048576 )) MB"
wait_log 'intake paused' || fail "the daemon never logged 'intake paused'"
wait_log 'commit of [0-9]+ records failed' ||
  fail "no failed commit logged while the database was locked"
sleep 2   # the clients keep pushing against the paused daemon
hwm=$(vmhwm_kb "$BQ_PID")
note "daemon VmHWM while stalled: ${hwm} kB"
check_eq "rows while locked" "$(msg_count)" 0
unlock_db
wait_clients $(seq "$CLIENTS")

hwm=$(vmhwm_kb "$BQ_PID")
note "daemon VmHWM: ${hwm} kB"
if [ -n "$BQ_SAN" ]; then
  note "skipping the RSS bound under $BQ_SAN (sanitizers inflate RSS)"
else
  check_num "daemon VmHWM (kB) under the ${BOUND_KB} kB bound" "$hwm" -lt "$BOUND_KB"
fi

for ((k = 1; k <= CLIENTS; k++)); do
  check_acks "out.$k" "$LINES" "client $k"
done

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_num "summary pauses (the queue did fill)" "$(summary pauses)" -ge 1
check_eq "summary received" "$(summary received)" $((CLIENTS * LINES))
check_eq "summary committed" "$(summary committed)" $((CLIENTS * LINES))
check_streams "$CLIENTS" "$LINES" "$WIDTH"
