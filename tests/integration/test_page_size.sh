#!/usr/bin/env bash
# test_page_size.sh BURSTQD -- --page-size (SQLite):
#  - a database burstqd creates gets the page size asked (PRAGMA
#    page_size), 65536 and 4096, and BQ_SQLITE_PAGE_SIZE (16384) without
#    the option;
#  - an existing database keeps its own whatever the option says, and the
#    daemon logs, at info, the page size it has when it differs: a 65536
#    one restarted with --page-size 4096, and a previous release's 4096
#    one (data/schema-v3-burstqd-0.1.0.sqlite3) started without it;
#  - in each case 1 KB and 16 KB messages are stored byte for byte and
#    acked (one connection, half-closed, the final ack read);
#  - a bad value exits 2 with the reason and creates no file.
. "$(dirname "$0")/lib.sh" "$@"

N=$((400 / BQ_DIV))

# lines TAG N WIDTH: N distinct lines of WIDTH bytes before the newline
# (gen_lines' awk may be mawk, whose sprintf stops at 8 KB).
lines() {
  python3 -c 'import sys
tag, n, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(1, n + 1):
    s = "%s-%d-" % (tag, i)
    sys.stdout.write(s + "x" * (w - len(s)) + "\n")' "$@"
}

# store_some TAG: N lines of 1 KB, then N of 16 KB, on one connection:
# acked in full, and every line stored once, byte for byte.
store_some() {
  local tag=$1 before
  before=$(msg_count)
  { lines "$tag-1k" "$N" 1024; lines "$tag-16k" "$N" 16384; } >"in.$tag"
  send "out.$tag" <"in.$tag"
  check_eq "$tag: final ack" "$(tail -n1 "out.$tag")" "OK $((2 * N))"
  check_eq "$tag: rows" "$(msg_count)" $((before + 2 * N))
  check_eq "$tag: payloads byte for byte" \
    "$(sql "SELECT payload FROM messages WHERE id > $before ORDER BY id" | md5sum)" \
    "$(md5sum <"in.$tag")"
}

# A new database with --page-size 65536.
start_daemon --page-size 65536
check_eq "new, 65536: page size" "$(sql 'PRAGMA page_size')" 65536
check_no_grep "new, 65536: nothing to say about the page size" "$BQ_LOG" 'byte pages'
store_some new64k
stop_daemon
check_eq "new, 65536: exit status" "$BQ_RC" 0

# The same database, restarted with --page-size 4096: it keeps 65536, says so.
start_daemon --page-size 4096
check_grep "existing: the kept page size is logged at info" "$BQ_LOG" \
  'info.*the database has 65536-byte pages, kept \(--page-size 4096 applies to new databases only\)'
store_some again
stop_daemon
check_eq "existing: exit status" "$BQ_RC" 0
check_eq "existing: page size kept" "$(sql 'PRAGMA page_size')" 65536
check_eq "existing: every row" "$(msg_count)" $((4 * N))

# A new database with --page-size 4K (the suffix is 1024-based).
BQ_DB=$BQ_T/small.db
start_daemon --page-size 4K
check_eq "new, 4096: page size" "$(sql 'PRAGMA page_size')" 4096
store_some new4k
stop_daemon
check_eq "new, 4096: exit status" "$BQ_RC" 0

# A new database without the option: the default.
BQ_DB=$BQ_T/default.db
start_daemon
check_eq "new, default: page size" "$(sql 'PRAGMA page_size')" 16384
check_no_grep "new, default: nothing to say about the page size" "$BQ_LOG" 'byte pages'
store_some default
stop_daemon
check_eq "new, default: exit status" "$BQ_RC" 0

# A previous release's database (4096-byte pages), started without the
# option: migrated, kept at 4096, logged.
BQ_DB=$BQ_T/old.db
cp "$(dirname "$0")/data/schema-v3-burstqd-0.1.0.sqlite3" "$BQ_DB" || die "no v3 fixture"
chmod u+w "$BQ_DB"
old=$(msg_count)
start_daemon
check_grep "old release: the kept page size is logged" "$BQ_LOG" \
  'the database has 4096-byte pages, kept \(--page-size 16384 applies'
store_some old
stop_daemon
check_eq "old release: exit status" "$BQ_RC" 0
check_eq "old release: page size kept" "$(sql 'PRAGMA page_size')" 4096
check_eq "old release: every row" "$(msg_count)" $((old + 2 * N))

# Bad values: exit 2, the reason, no file.
k=0
for bad in 5000 2048 128K 0 48K big; do
  k=$((k + 1))
  timeout $((60 * BQ_SLOW)) "$BQ_BIN" --listen 127.0.0.1:0 \
    --db "$BQ_T/bad$k.db" --page-size "$bad" >"bad$k.log" 2>&1
  check_eq "--page-size $bad: exit status" "$?" 2
  check_grep "--page-size $bad: the reason" "bad$k.log" \
    "--page-size: '$bad' is (not a power of two|out of range|not a number)"
  check_sanitizer_log "bad$k.log"
  check_eq "--page-size $bad: no file" "$(ls -d "$BQ_T/bad$k.db"* 2>/dev/null)" ""
done
