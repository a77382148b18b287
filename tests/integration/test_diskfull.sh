#!/usr/bin/env bash
# test_diskfull.sh BURSTQD -- promise 3: a full disk (or a database at
# --max-db-size) loses nothing and crashes nothing.  Intake pauses: commits
# fail with SQLITE_FULL and are retried, no ack is sent, the daemon stops
# reading and TCP holds the senders.  Once there is room again everything
# resumes and every message is stored, byte-exact, exactly once.
#
# Part 1, a real full filesystem: the database lives on a small tmpfs
# (mount needs root; without it this part is skipped with a message) that
# the stream fills; then the filesystem is grown (mount -o remount,size=).
# Part 2, --max-db-size: rows an earlier client stored fill most of the
# cap, the next client's stream hits it, an operator deletes the earlier
# rows, and the stream completes into the freed pages without the file
# passing the cap, and /healthz (--metrics) says 503 and why while the
# database is full, 200 again afterwards.
CHECK=$(realpath "$(dirname "$0")/../helpers/check_rows.py")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
. "$HERE/metrics_lib.sh"

LOADGEN=${BQ_LOADGEN:-$(dirname "$BQ_BIN")/tests/helpers/loadgen}
[ -x "$LOADGEN" ] || die "no loadgen at $LOADGEN (build tests/helpers)"
command -v python3 >/dev/null || die "python3 is needed"

MNT=$BQ_T/mnt
MOUNTED=
# Unmount (lazily: the daemon may still hold files) before lib.sh cleans up.
trap 'rc=$?; [ -n "$MOUNTED" ] && umount -l "$MNT"; (exit $rc); bq_cleanup' EXIT

status_field() { # FILE FIELD
  sed -n "s/.*\\b$2=\\([0-9]*\\).*/\\1/p" "$1" 2>/dev/null
}

# wait_stalled STATUS: wait until loadgen's ack count stops moving (two
# readings a second apart agree), then check it stays put for 2 s more
# while the daemon keeps failing and retrying.  Sets STALL_ACKED.
wait_stalled() {
  local st=$1 a b i
  a=$(status_field "$st" acked)
  for ((i = 0; i < 60 * BQ_SLOW; i++)); do
    sleep 1
    b=$(status_field "$st" acked)
    [ "$a" = "$b" ] && break
    a=$b
  done
  sleep 2
  STALL_ACKED=$(status_field "$st" acked)
  check_eq "no ack while the database is full (acked stays put)" \
    "$STALL_ACKED" "$a"
}

# --- part 1: a full filesystem ---------------------------------------------

CONNS=1
MSGS=$((200000 / BQ_DIV))
WIDTH=600
mkdir -p "$MNT"
if ! mount_err=$(mount -t tmpfs -o size=6m tmpfs "$MNT" 2>&1); then
  note "SKIP part 1 (full filesystem): cannot mount a tmpfs here: $mount_err"
else
  MOUNTED=1
  BQ_DB_SAVE=$BQ_DB
  BQ_DB=$MNT/bq.db
  start_daemon --queue-capacity 2000 --queue-bytes 512K
  bq_spawn /dev/null lg.fs.out lg.fs.err \
    timeout $((600 * BQ_SLOW)) "$LOADGEN" --port "$BQ_PORT" --tag fs \
    --conns "$CONNS" --msgs "$MSGS" --width "$WIDTH" \
    --report rep.fs --status st.fs
  lg=$BQ_SPAWNED

  wait_log 'commit of [0-9]+ records failed: .*full.*; retrying' ||
    fail "no 'database or disk is full' retry in the log"
  wait_stalled st.fs
  note "filesystem full: $(df -k "$MNT" | tail -n1)"
  bq_is_running_child "$BQ_PID" || fail "daemon died on a full disk"
  bq_is_running_child "$lg" || fail "the client finished while the disk was full"
  check_num "acked before the disk filled" "$STALL_ACKED" -gt 0
  check_num "some messages not acked while full" "$STALL_ACKED" -lt \
    $((CONNS * MSGS))
  sent=$(status_field st.fs sent)
  check_num "TCP held the sender back (messages sent so far)" "$sent" -lt \
    $((CONNS * MSGS))
  check_grep "intake paused" "$BQ_LOG" 'intake paused'
  FS_STALL=$STALL_ACKED FS_SENT=$sent
  stored=$(msg_count)
  check_num "every acked message stored while full" "$stored" -ge "$STALL_ACKED"

  mount -o remount,size=512m "$MNT" || die "cannot grow the tmpfs"
  note "space is back: $(df -k "$MNT" | tail -n1)"
  reap_or_kill "$lg" $((300 * BQ_SLOW)) "loadgen (full filesystem)" &&
    check_eq "the client got every ack after space came back" "$BQ_RC" 0
  note "loadgen: $(cat lg.fs.out)"
  check_grep "the log says the database is writable again" "$BQ_LOG" \
    'database writable again: batch of [0-9]+ records committed after [0-9]+ failed attempts'
  stop_daemon
  check_eq "exit status" "$BQ_RC" 0
  if out=$(python3 "$CHECK" "$BQ_DB" "$WIDTH" rep.fs 2>&1); then
    note "full filesystem: $out"
  else
    fail "full filesystem: rows do not match: $out"
  fi
  check_eq "rows" "$(msg_count)" $((CONNS * MSGS))
  check_eq "integrity" "$(sql 'PRAGMA integrity_check')" ok
  check_num "summary db_retries" "$(summary db_retries)" -ge 1
  check_num "summary pauses" "$(summary pauses)" -ge 1
  BQ_DB=$BQ_DB_SAVE
fi

# --- part 2: --max-db-size -------------------------------------------------

WIDTH=400
OLD=12000   # about 2.5 MB of rows under a 4 MB cap (not scaled: the
            # stream must reach the cap under sanitizers too)
NEW=10000   # about 2 MB more: hits the cap half-way
start_daemon --max-db-size 4M --queue-capacity 1000 --queue-bytes 256K \
  --metrics 127.0.0.1:0
check_grep "the cap is logged" "$BQ_LOG" 'database capped at 4194304 bytes'
BQ_MPORT=$(metrics_port)
[ -n "$BQ_MPORT" ] || die "no 'metrics on' line in the log"
"$LOADGEN" --port "$BQ_PORT" --tag old --conns 1 --msgs "$OLD" \
  --width "$WIDTH" --report rep.old >lg.old.out 2>&1 ||
  fail "the first client did not get all its acks: $(cat lg.old.out)"
since=$(sql 'SELECT max(id) FROM messages')

bq_spawn /dev/null lg.cap.out lg.cap.err \
  timeout $((600 * BQ_SLOW)) "$LOADGEN" --port "$BQ_PORT" --tag cap \
  --conns 1 --msgs "$NEW" --width "$WIDTH" --report rep.cap --status st.cap
lg=$BQ_SPAWNED
wait_log 'commit of [0-9]+ records failed: .*full.*; retrying' ||
  fail "no 'database or disk is full' retry at the cap"
wait_stalled st.cap
bq_is_running_child "$BQ_PID" || fail "daemon died at the cap"
bq_is_running_child "$lg" || fail "the client finished at the cap"
check_num "some messages not acked at the cap" "$STALL_ACKED" -lt "$NEW"
check_eq "GET /healthz at the cap" "$(scrape health.full /healthz)" 503
check_grep "/healthz says the database is full" health.full \
  'database not writable: .*full'
size=$(sql 'SELECT page_count * page_size FROM pragma_page_count, pragma_page_size')
check_num "database size at the cap (bytes)" "$size" -le $((4 * 1024 * 1024))
stored=$(sql "SELECT count(*) FROM messages WHERE id > $since")
check_num "every acked message stored at the cap" "$stored" -ge "$STALL_ACKED"

# The operator makes room by deleting the first client's rows.
sql "DELETE FROM messages WHERE id <= $since" >/dev/null
note "deleted $OLD rows of the first client"
reap_or_kill "$lg" $((300 * BQ_SLOW)) "loadgen (cap)" &&
  check_eq "the client got every ack after rows were deleted" "$BQ_RC" 0
note "loadgen: $(cat lg.cap.out)"
check_eq "GET /healthz once there is room" "$(scrape health.ok /healthz)" 200
stop_daemon
check_eq "exit status" "$BQ_RC" 0
if out=$(python3 "$CHECK" "$BQ_DB" "$WIDTH" --since-id "$since" rep.cap 2>&1); then
  note "cap: $out"
else
  fail "cap: rows do not match: $out"
fi
check_eq "rows after the delete" "$(msg_count)" "$NEW"
size=$(stat -c %s "$BQ_DB")
check_num "database file never passed the cap (bytes)" "$size" -le $((4 * 1024 * 1024))
check_eq "integrity" "$(sql 'PRAGMA integrity_check')" ok
note "SUMMARY diskfull: fs: stalled at ${FS_STALL:-skipped} acked," \
  "${FS_SENT:-?} of $((CONNS * MSGS)) sent, then all stored;" \
  "cap: stalled at $STALL_ACKED of $NEW acked, then all stored"
