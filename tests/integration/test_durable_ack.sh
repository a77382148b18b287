#!/usr/bin/env bash
# test_durable_ack.sh BURSTQD -- at --sync full (the default) an "OK n" is
# written only after the WAL frames holding message n have been flushed
# (docs/protocol.md: an ack means stored; store.h, sync: at --sync full the
# flush runs on the pool's syncer thread, beside the next commit).
#
# The daemon runs under strace, which records, in one order over all its
# threads, every write to the WAL (pwrite64), every flush of it (fdatasync
# or fsync) and every write to a socket.  A client sends one line at a time
# and waits for its OK, so the WAL writes before "OK i" are message i's
# commit.  For every OK the trace must hold a flush of the WAL that began
# after the last WAL write before the OK and ended before the OK was
# written.  The same check against --sync normal, which never flushes
# before an ack, must find every OK unflushed: that shows the check can
# fail.
. "$(dirname "$0")/lib.sh" "$@"

need_prog strace strace
N=20

# trace_daemon NAME ARGS...: start a daemon with ARGS, attach strace to all
# its threads (written to NAME.trace), send N lines one at a time, stop.
trace_daemon() {
  local name=$1
  shift
  start_daemon "$@"
  strace_attach "$name" pwrite64,fdatasync,fsync,write,writev,sendmsg,sendto
  python3 - "$BQ_PORT" "$N" >"$name.client" 2>&1 <<'EOF' ||
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=120)
buf = b""
for i in range(1, n + 1):
    s.sendall(b"durable-%d\n" % i)
    want = b"OK %d\n" % i
    while want not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection closed before %r" % want)
        buf += chunk
s.shutdown(socket.SHUT_WR)
while s.recv(4096):
    pass
print("acked", n)
EOF
    fail "$name: client: $(cat "$name.client")"
  # Every OK is in the trace by now (strace prints a write's data when the
  # call begins).
  strace_detach
  stop_daemon || fail "$name: daemon exited with status $BQ_RC"
  check_eq "$name: rows" "$(sql "SELECT count(*) FROM messages")" "$N"
}

# check_trace NAME: print "oks N unflushed M" for NAME.trace.
check_trace() {
  python3 - "$1.trace" <<'EOF'
import re, sys
# A line is "PID name(args) = r", "PID name(args <unfinished ...>" or
# "PID <... name resumed>...) = r"; lines are in the order strace saw the
# events, across threads.
call = re.compile(r'^(\d+)\s+(\w+)\((.*)$')
resumed = re.compile(r'^(\d+)\s+<\.\.\. (\w+) resumed>')
open_calls = {}  # pid -> (name, is_wal, start index)
wal_write_done = []  # indexes where a WAL write ended
flushes = []  # (start, end) of each WAL flush
oks = []  # index where each "OK n" write began
for i, line in enumerate(open(sys.argv[1], errors="replace")):
    m = resumed.match(line)
    if m:
        pid, name = m.group(1), m.group(2)
        if pid in open_calls:
            n, wal, start = open_calls.pop(pid)
            if wal and n == "pwrite64":
                wal_write_done.append(i)
            elif wal:
                flushes.append((start, i))
        continue
    m = call.match(line)
    if not m:
        continue
    pid, name, rest = m.groups()
    wal = re.match(r'\d+<[^>]*-wal>', rest) is not None
    if name in ("write", "writev", "sendmsg", "sendto") and re.search(r'"OK \d+\\n', rest):
        oks.append(i)
    if not wal or name not in ("pwrite64", "fdatasync", "fsync"):
        continue
    if "<unfinished ...>" in line:
        open_calls[pid] = (name, True, i)
    elif name == "pwrite64":
        wal_write_done.append(i)
    else:
        flushes.append((i, i))
unflushed = 0
for ok in oks:
    before = [w for w in wal_write_done if w < ok]
    last = before[-1] if before else -1
    if not any(s > last and e < ok for s, e in flushes):
        unflushed += 1
print("oks", len(oks), "unflushed", unflushed)
EOF
}

trace_daemon full --sync full
read -r _ oks _ unflushed < <(check_trace full)
check_eq "--sync full: OK lines seen in the trace" "$oks" "$N"
check_eq "--sync full: OKs written before their WAL frames were flushed" \
  "$unflushed" 0

BQ_DB=$BQ_T/normal.db
trace_daemon normal --sync normal
read -r _ oks _ unflushed < <(check_trace normal)
check_eq "--sync normal: OK lines seen in the trace" "$oks" "$N"
check_eq "--sync normal (the check's control): OKs without a flush" \
  "$unflushed" "$N"
