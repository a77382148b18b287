#!/usr/bin/env bash
# test_backup.sh: back up a live database while burstqd takes messages
# (docs/operations.md, "Backup"), with the commands that page gives:
#   sqlite3 LIVE "VACUUM INTO 'COPY'"
#   sqlite3 LIVE "BEGIN" "SELECT count(*) FROM messages" ".backup COPY" "COMMIT"
# Clients 1-3 stream while the copies are made; client 4 holds its
# connection open halfway through its input, so intake is certainly still
# going when the copies are taken.  Each copy must pass integrity_check, be
# a consistent snapshot (every connection's rows an exact gap-free prefix of
# what it sent), hold fewer rows than the final database (taken mid-intake),
# and work as a database for a new burstqd (restore).  Nothing sent is lost
# from the live database.
. "$(dirname "$0")/lib.sh" "$@"

N=$((60000 / BQ_DIV))
W=60
start_daemon --batch-max 512

start_gated_client 4 $((N / 2)) $((N / 2)) $W "$BQ_T/gate"
for k in 1 2 3; do start_client "$k" "$N" "$W"; done
wait_acked 4 $((N / 2))
note "client 4 holds its connection open at $(last_ack "$BQ_T/out.4") acked"

# Copy 1: VACUUM INTO, one read transaction: a consistent snapshot that
# never blocks the daemon's writer (WAL).
sql "VACUUM INTO '$BQ_T/copy1.db'" || fail "VACUUM INTO failed"
# Copy 2: the online-backup API inside an explicit read transaction, so the
# source cannot change under it (otherwise each commit by burstqd restarts
# the copy).
sqlite3 -batch -bail "$BQ_DB" ".timeout 30000" "BEGIN" \
  "SELECT count(*) FROM messages" ".backup '$BQ_T/copy2.db'" "COMMIT" \
  >"$BQ_T/backup.out" 2>&1 || fail "sqlite3 .backup failed: $(cat "$BQ_T/backup.out")"
before_gate=$(msg_count)
touch "$BQ_T/gate"
wait_clients 1 2 3 4
for k in 1 2 3 4; do check_acks "$BQ_T/out.$k" "$N" "client $k"; done

check_copy() { # FILE WHAT
  local rows
  check_eq "$2: integrity_check" "$(sql 'PRAGMA integrity_check' "$1")" ok
  rows=$(sql 'SELECT count(*) FROM messages' "$1")
  check_num "$2: rows (taken mid-intake)" "$rows" -lt $((4 * N))
  check_num "$2: rows, at least client 4's first half" "$rows" -ge $((N / 2))
  check_num "$2: rows, at most what the live database had after it" "$rows" -le "$before_gate"
  # Consistent snapshot: every connection an exact, gap-free prefix.
  local live_db=$BQ_DB
  BQ_DB=$1
  stream_stats "$W"
  check_stream_shape
  BQ_DB=$live_db
}
check_copy "$BQ_T/copy1.db" "VACUUM INTO copy"
check_copy "$BQ_T/copy2.db" ".backup copy"

stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_streams 4 "$N" "$W"

# Restore: a copy is a database burstqd can carry on with.
copy_rows=$(sql 'SELECT count(*) FROM messages' "$BQ_T/copy1.db")
start_daemon --db "$BQ_T/copy1.db"
printf 'after-restore\n' | send "$BQ_T/out.r"
check_eq "ack from the restored database" "$(cat "$BQ_T/out.r")" "OK 1"
stop_daemon
check_eq "restored daemon exit status" "$BQ_RC" 0
check_eq "rows in the restored database" \
  "$(sql 'SELECT count(*) FROM messages' "$BQ_T/copy1.db")" $((copy_rows + 1))
