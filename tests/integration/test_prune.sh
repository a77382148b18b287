#!/usr/bin/env bash
# test_prune.sh: delete old messages in small batches while burstqd takes
# new ones (docs/operations.md, "Pruning"), with that page's commands:
#   1. the boundary: the highest id received before the cutoff (one read);
#   2. DELETE ... WHERE id <= min(boundary, oldest id + 4999) until nothing
#      is left below the boundary, each batch its own short transaction;
#   3. connection rows closed before the oldest remaining message.
# Clients 1-2 send the "old" messages and finish; clients 3-5 stream the
# new ones while the pruning runs (client 5 holds its connection open
# halfway, so intake is certainly running during the prune).  Afterwards
# no old row is left, every new message is stored exactly once and in
# order, every new connection row is still there, and burstqd never
# stopped taking messages (acks all arrive; exit 0).
. "$(dirname "$0")/lib.sh" "$@"

N=$((40000 / BQ_DIV))
W=40
start_daemon --batch-max 512

for k in 1 2; do start_client "$k" "$N" "$W"; done
wait_clients 1 2
for k in 1 2; do check_acks "$BQ_T/out.$k" "$N" "old client $k"; done
# Connection rows are committed with the CLOSE record: wait for both.
both_closed() {
  [ "$(sql 'SELECT count(*) FROM connections WHERE closed_at IS NOT NULL')" = 2 ]
}
poll $((60 * BQ_SLOW)) both_closed ||
  fail "old connections not closed in the database"
sleep 0.01 # received_at has microsecond resolution: the cutoff is after them
cutoff=$(date +%s%6N)
sleep 0.01

start_gated_client 5 $((N / 2)) $((N / 2)) $W "$BQ_T/gate"
for k in 3 4; do start_client "$k" "$N" "$W"; done
wait_acked 5 $((N / 2))

# 1. The boundary, read once (a read never blocks the writer in WAL mode).
boundary=$(sql "SELECT coalesce(max(id), 0) FROM messages WHERE received_at < $cutoff")
check_num "boundary id" "$boundary" -ge $((2 * N))
# 2. Small batches: each DELETE is one short write transaction; burstqd's
#    writer waits for it (busy timeout, then retries) and intake goes on.
batches=0
while :; do
  n=$(sqlite3 -batch -bail "$BQ_DB" ".timeout 30000" \
        "DELETE FROM messages WHERE id <= min($boundary,
           (SELECT min(id) FROM messages) + 4999);
         SELECT changes();") || { fail "DELETE batch failed"; break; }
  [ "$n" -gt 0 ] || break
  batches=$((batches + 1))
  [ "$batches" -lt 10000 ] || { fail "prune does not end"; break; }
done
note "pruned in $batches batches while intake ran"
check_num "delete batches" "$batches" -ge 2
# 3. Connections closed before the oldest remaining message have no rows
#    left; keep the newest (burstqd numbers new connections from max(id)).
sql "DELETE FROM connections
     WHERE closed_at < (SELECT coalesce((SELECT received_at FROM messages
                                         ORDER BY id LIMIT 1), $cutoff))
       AND id < (SELECT max(id) FROM connections)" ||
  fail "deleting old connection rows failed"

touch "$BQ_T/gate"
wait_clients 3 4 5
for k in 3 4 5; do check_acks "$BQ_T/out.$k" "$N" "new client $k"; done
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0

check_eq "old rows left" "$(sql "SELECT count(*) FROM messages WHERE received_at < $cutoff")" 0
check_eq "old clients' rows left" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE 'c1-%' OR CAST(payload AS TEXT) LIKE 'c2-%'")" 0
check_eq "old connection rows left" "$(sql "SELECT count(*) FROM connections WHERE id <= 2")" 0
check_eq "new connection rows" "$(sql "SELECT count(*) FROM connections WHERE id > 2")" 3
check_eq "messages without a connection row" \
  "$(sql 'SELECT count(*) FROM messages WHERE conn_id NOT IN (SELECT id FROM connections)')" 0
check_eq "integrity_check" "$(sql 'PRAGMA integrity_check')" ok
# Every new message exactly once, in order.
stream_stats "$W"
check_stream_shape
check_eq "rows" "$S_ROWS" $((3 * N))
check_eq "lowest client number" "$S_KMIN" 3
check_eq "highest client number" "$S_KMAX" 5
check_eq "rows of client 3" "$(rows_of_client 3)" "$N"
check_eq "rows of client 4" "$(rows_of_client 4)" "$N"
check_eq "rows of client 5" "$(rows_of_client 5)" "$N"
