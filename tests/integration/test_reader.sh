#!/usr/bin/env bash
# test_reader.sh BURSTQD -- the database stays readable while the daemon
# runs, and a reader never blocks intake: a sqlite3 CLI holding a read
# transaction open (a snapshot) while clients send does not stop a single
# commit or ack, and the reader keeps seeing its snapshot until it ends.
. "$(dirname "$0")/lib.sh" "$@"

CLIENTS=4
LINES=$((20000 / BQ_DIV))
WIDTH=100

start_daemon
printf 'before\n' | send out.before
check_acks out.before 1 "first client"

# A reader opens a read transaction and keeps it open.
mkfifo reader.fifo
bq_spawn reader.fifo reader.out "&1" sqlite3 -batch "$BQ_DB"
READER_PID=$BQ_SPAWNED
open_fifo_writer reader.fifo READER_FD
echo "BEGIN; SELECT 'snapshot ' || count(*) FROM messages;" >&"$READER_FD"
poll $((60 * BQ_SLOW)) grep -qx 'snapshot 1' reader.out ||
  die "the reader could not read: $(cat reader.out)"

# Clients send everything and get their final acks while the reader holds
# its snapshot: commits are not blocked by it.
for ((k = 1; k <= CLIENTS; k++)); do start_client "$k" "$LINES" "$WIDTH"; done
wait_clients $(seq "$CLIENTS")
for ((k = 1; k <= CLIENTS; k++)); do
  check_acks "out.$k" "$LINES" "client $k (reader open)"
done
check_no_grep "no commit failed because of the reader" "$BQ_LOG" 'commit of'

# The reader still sees its snapshot; a new reader sees everything.
echo "SELECT 'still ' || count(*) FROM messages;" >&"$READER_FD"
poll $((60 * BQ_SLOW)) grep -q '^still ' reader.out
check_eq "the open reader keeps its snapshot" \
  "$(grep '^still ' reader.out)" "still 1"
check_eq "a new reader sees every row" "$(msg_count)" $((1 + CLIENTS * LINES))
echo "COMMIT;" >&"$READER_FD"
close_fd "$READER_FD"
reap_or_kill "$READER_PID" 60 "reader"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary committed" "$(summary committed)" $((1 + CLIENTS * LINES))
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
# The clients' rows, once the first client's line is set aside.
sql "DELETE FROM messages WHERE payload = CAST('before' AS BLOB)" >/dev/null
check_streams "$CLIENTS" "$LINES" "$WIDTH"
