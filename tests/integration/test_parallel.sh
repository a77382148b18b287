#!/usr/bin/env bash
# test_parallel.sh BURSTQD -- many clients at once, each on its own
# connection: every line stored exactly once, per-connection order and seq
# intact, every client told the whole count.
. "$(dirname "$0")/lib.sh" "$@"

CLIENTS=50
LINES=$((2000 / BQ_DIV))
WIDTH=40

start_daemon --workers 2 --batch-max 500

for ((k = 1; k <= CLIENTS; k++)); do start_client "$k" "$LINES" "$WIDTH"; done
wait_clients $(seq "$CLIENTS")

# Every client: a well-formed ack stream ending in its line count.
for ((k = 1; k <= CLIENTS; k++)); do
  check_acks "out.$k" "$LINES" "client $k"
done

check_streams "$CLIENTS" "$LINES" "$WIDTH"

# The last ack of each client equals the rows of its connection.
mismatch=$(sql "SELECT group_concat(substr(CAST(payload AS TEXT), 1,
                        instr(CAST(payload AS TEXT), '-') - 1) || '=' || n)
                FROM (SELECT conn_id, min(payload) AS payload, count(*) AS n
                      FROM messages GROUP BY conn_id)
                WHERE n != $LINES")
check_eq "connections whose row count is not $LINES" "${mismatch:-none}" none

stop_daemon
check_eq "exit status after SIGTERM" "$BQ_RC" 0
check_eq "summary received" "$(summary received)" $((CLIENTS * LINES))
check_eq "summary committed" "$(summary committed)" $((CLIENTS * LINES))
check_eq "summary connections" "$(summary connections)" "$CLIENTS"
check_eq "connections recorded" "$(sql 'SELECT count(*) FROM connections')" \
  "$CLIENTS"
check_eq "connections left without closed_at" \
  "$(sql 'SELECT count(*) FROM connections WHERE closed_at IS NULL')" 0
check_eq "rows after stop" "$(msg_count)" $((CLIENTS * LINES))
