#!/usr/bin/env bash
# test_writeback.sh BURSTQD -- at --sync normal the writer asks the kernel
# to start writing the WAL each time the WAL has grown by 1 MiB
# (store_sqlite.c, "Writeback at --sync normal"), so that a checkpoint's
# fsync of the WAL finds its pages written rather than writing them all
# while the checkpoint waits; at full (flushed after every commit) and off
# (nothing written on purpose) it never does.
#
# The daemon runs under strace, which records every write to the WAL and
# every sync_file_range() on it.  A client sends about 6 MiB of messages
# and reads every OK.  At normal the trace must hold at least one hint,
# each on the WAL and only starting writes (SYNC_FILE_RANGE_WRITE: it
# never waits), and no more hints than the WAL had MiB written to it (the
# hint is rate-limited, not one per commit); at full and off, none.
. "$(dirname "$0")/lib.sh" "$@"

need_prog strace strace
N=6000     # messages of 1000 bytes: about 6 MiB, several commits
SIZE=1000

# trace_daemon NAME ARGS...: start a daemon with ARGS, attach strace to
# all its threads (NAME.trace), send N lines and read every OK, stop.
trace_daemon() {
  local name=$1
  shift
  start_daemon "$@"
  strace_attach "$name" pwrite64,sync_file_range
  python3 - "$BQ_PORT" "$N" "$SIZE" >"$name.client" 2>&1 <<'EOF' ||
import socket, sys
port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port), timeout=120)
body = b"w" * (size - 8)
s.sendall(b"".join(b"%07d%s\n" % (i, body) for i in range(1, n + 1)))
s.shutdown(socket.SHUT_WR)  # then read every OK before closing
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
last = buf.split()[-1] if buf.split() else b""
if last != str(n).encode():
    sys.exit("last ack %r, want OK %d" % (buf[-40:], n))
print("acked", n)
EOF
    fail "$name: client: $(cat "$name.client")"
  strace_detach
  stop_daemon || fail "$name: daemon exited with status $BQ_RC"
  check_eq "$name: rows" "$(sql "SELECT count(*) FROM messages")" "$N"
}

# count_trace NAME: print "wal_mib M hints H bad B": MiB written to the
# WAL, hints on the WAL, and hints that were not on the WAL or asked for
# more than SYNC_FILE_RANGE_WRITE.
count_trace() {
  python3 - "$1.trace" <<'EOF'
import re, sys
# Lines are "PID name(args) = r", "PID name(args <unfinished ...>" or
# "PID <... name resumed>...) = r" (strace -f, one order over all threads).
written = hints = bad = 0
pending = {}  # pid -> the unfinished call's first part
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r'^(\d+)\s+<\.\.\. \w+ resumed>(.*)$', line)
    if m:
        line = pending.pop(m.group(1), "") + m.group(2)
    else:
        m = re.match(r"^(\d+)\s+(.*?)\s*<unfinished \.\.\.>$", line.rstrip())
        if m:
            pending[m.group(1)] = m.group(2)
            continue
        line = re.sub(r'^\d+\s+', '', line)
    if line.startswith("pwrite64(") and "-wal>" in line:
        w = re.search(r'\)\s*=\s*(\d+)\s*$', line)
        if w:
            written += int(w.group(1))
    elif line.startswith("sync_file_range("):
        if re.match(r'sync_file_range\(\d+<[^>]*-wal>, 0, 0, '
                    r'SYNC_FILE_RANGE_WRITE\)\s*=\s*0', line):
            hints += 1
        else:
            bad += 1
print("wal_mib", written // (1024 * 1024), "hints", hints, "bad", bad)
EOF
}

trace_daemon normal --sync normal
read -r _ mib _ hints _ bad < <(count_trace normal)
[ "$mib" -ge 4 ] || fail "--sync normal: only $mib MiB written to the WAL"
[ "$hints" -ge 1 ] || fail "--sync normal: no writeback hint in $mib MiB"
[ "$hints" -le "$mib" ] ||
  fail "--sync normal: $hints hints for $mib MiB (want at most one per MiB)"
check_eq "--sync normal: hints not on the WAL or not SYNC_FILE_RANGE_WRITE" \
  "$bad" 0

for level in full off; do
  BQ_DB=$BQ_T/$level.db
  trace_daemon "$level" --sync "$level"
  read -r _ mib _ hints _ bad < <(count_trace "$level")
  [ "$mib" -ge 4 ] || fail "--sync $level: only $mib MiB written to the WAL"
  check_eq "--sync $level: sync_file_range calls" "$((hints + bad))" 0
done
