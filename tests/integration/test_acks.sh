#!/usr/bin/env bash
# test_acks.sh BURSTQD -- "OK n" means n of this connection's messages are
# in the database: for bulk clients the last ack equals their rows; for an
# interactive client every ack arrives while the connection stays open and
# the rows are already there when it does; --ack off writes nothing back
# (but errors) and still stores everything.
. "$(dirname "$0")/lib.sh" "$@"

WIDTH=30
COUNTS=(1 7 100 $((5000 / BQ_DIV)) $((30000 / BQ_DIV)))

start_daemon --batch-max 1000

# Bulk clients of different sizes, all at once.
for i in "${!COUNTS[@]}"; do start_client $((i + 1)) "${COUNTS[$i]}" "$WIDTH"; done
wait_clients $(seq ${#COUNTS[@]})
total=0
for i in "${!COUNTS[@]}"; do
  k=$((i + 1))
  n=${COUNTS[$i]}
  total=$((total + n))
  check_acks "out.$k" "$n" "client $k ($n lines)"
  check_eq "client $k: rows of its connection" \
    "$(sql "SELECT count(*) FROM messages WHERE conn_id = '$(conn_of_client "$k")'")" "$n"
  check_eq "client $k: last ack == rows of its connection" \
    "$(last_ack "out.$k")" "$(rows_of_client "$k")"
done
stream_stats "$WIDTH"
check_stream_shape
check_eq "rows of the bulk clients" "$S_ROWS" "$total"

# An interactive client: one line, wait for its ack, three more, wait, then
# half-close.  Each ack must come while the connection is open, and the
# acked rows must already be committed when it arrives.
mkfifo in.live
bq_spawn in.live out.live err.live timeout $((120 * BQ_SLOW)) \
  nc -N 127.0.0.1 "$BQ_PORT"
live_pid=$BQ_SPAWNED
open_fifo_writer in.live live_fd
live_rows() {
  sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) GLOB 'live-*'"
}
printf 'live-1\n' >&"$live_fd"
if poll $((60 * BQ_SLOW)) grep -qx 'OK 1' out.live; then
  check_eq "interactive: rows when 'OK 1' arrived" "$(live_rows)" 1
else
  fail "interactive: no 'OK 1' for one line on an open connection (got: $(cat out.live))"
fi
printf 'live-2\nlive-3\nlive-4\n' >&"$live_fd"
if poll $((60 * BQ_SLOW)) grep -qx 'OK 4' out.live; then
  check_eq "interactive: rows when 'OK 4' arrived" "$(live_rows)" 4
else
  fail "interactive: no 'OK 4' after four lines (got: $(cat out.live | tr '\n' ' '))"
fi
check_eq "interactive: connection still open (closed_at NULL)" \
  "$(sql "SELECT count(*) FROM connections WHERE closed_at IS NULL AND id =
          (SELECT conn_id FROM messages WHERE payload = CAST('live-1' AS BLOB))")" 1
check_eq "interactive: nc still connected" \
  "$(bq_is_running_child "$live_pid" && echo yes || echo no)" yes
close_fd "$live_fd"   # nc -N half-closes
reap_or_kill "$live_pid" $((60 * BQ_SLOW)) "interactive nc" &&
  check_eq "interactive: nc exit status" "$BQ_RC" 0
# After the half-close the daemon owes the final ack.  It had already said
# "OK 4", so a well-behaved daemon adds nothing new; a second "OK 4" is the
# duplicate final ack (check_acks reports "ack repeated").
check_acks out.live 4 "interactive client"
check_eq "interactive: payloads in order" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM
          (SELECT payload FROM messages WHERE CAST(payload AS TEXT) GLOB 'live-*'
           ORDER BY seq)")" "live-1,live-2,live-3,live-4"

# A client that never reads its acks (bash's /dev/tcp: nothing reads the
# socket) still gets everything stored, and costs the other clients nothing.
QUIET=$((20000 / BQ_DIV))
gen_lines 90 "$QUIET" "$WIDTH" >in.90
exec {quiet_fd}<>"/dev/tcp/127.0.0.1/$BQ_PORT" || die "cannot connect"
BQ_FDS+=("$quiet_fd")
timeout $((120 * BQ_SLOW)) cat in.90 >&"$quiet_fd" ||
  fail "could not send to the daemon while not reading its acks"
start_client 91 100 "$WIDTH"
wait_clients 91
check_acks out.91 100 "a client alongside one that never reads"
quiet_done() { [ "$(rows_of_client 90)" = "$QUIET" ]; }
poll $((120 * BQ_SLOW)) quiet_done
check_eq "client that never reads: rows" "$(rows_of_client 90)" "$QUIET"
close_fd "$quiet_fd"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary received == rows" "$(summary received)" "$(msg_count)"
check_eq "summary committed == rows" "$(summary committed)" "$(msg_count)"

# --ack off: nothing written back, everything stored; errors still sent.
BQ_DB=$BQ_T/noack.db
start_daemon --ack off --max-message 1000
for k in 1 2 3; do start_client "$k" $((3000 / BQ_DIV)) "$WIDTH"; done
{ printf 'short-1\n'; head -c 5000 /dev/zero | tr '\0' y; printf '\nshort-2\n'; } \
  >in.err
bq_spawn in.err out.err err.errc timeout $((120 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
err_pid=$BQ_SPAWNED
wait_clients 1 2 3
for k in 1 2 3; do
  check_eq "--ack off: client $k got no bytes" "$(wc -c <"out.$k")" 0
  check_eq "--ack off: client $k rows" "$(rows_of_client "$k")" $((3000 / BQ_DIV))
done
reap_or_kill "$err_pid" $((60 * BQ_SLOW)) "--ack off error client"
check_eq "--ack off: a too-long line still gets its error, and only that" \
  "$(cat out.err)" "ERR too-long"
check_eq "--ack off: the short lines around it are stored" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM
          (SELECT payload FROM messages WHERE CAST(payload AS TEXT) GLOB 'short-*'
           ORDER BY id)")" "short-1,short-2"
stop_daemon
check_eq "--ack off: exit status" "$BQ_RC" 0
check_eq "--ack off: summary committed == rows" "$(summary committed)" "$(msg_count)"
check_eq "--ack off: summary rejected" "$(summary rejected)" 1
