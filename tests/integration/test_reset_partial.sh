#!/usr/bin/env bash
# test_reset_partial.sh BURSTQD -- a connection that sends "complete\n" and
# "partial" and is then reset: the unterminated "partial" is never stored
# (docs/protocol.md), whenever the reset comes.  Four timings, N
# connections each, all on one daemon:
#   R  the reset right behind the data (one write, then SO_LINGER 0 close),
#      so the daemon usually reads data and reset together;
#   K  the client is SIGKILLed right after the write, with an ack unread,
#      so its kernel resets the connection;
#   P  as R, while intake is paused (queue full, database locked): the
#      daemon reads data and reset only when intake resumes;
#   A  the reset after the daemon acked "complete", i.e. after it read the
#      data.
# A line framed before the reset may be stored (and must be, once acked);
# only what the docs promise is asserted: no row ever holds "partial", every
# row is a whole line sent, acked lines are stored, and each of these
# connections counts in conn_errors.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
. "$HERE/metrics_lib.sh"

N=120
FLOOD=$((20000 / BQ_DIV))

torn() { # TAG TIMING
  timeout $((120 * BQ_SLOW)) python3 "$HERE/sockets.py" torn \
    --port "$BQ_PORT" --conns "$N" --tag "$1" --timing "$2" \
    --timeout $((60 * BQ_SLOW)) ||
    fail "sockets.py torn $1 $2 failed"
}

paused() {
  [ "$(scrape m.txt)" = 200 ] && [ "$(metric m.txt burstq_intake_paused)" = 1 ]
}

start_daemon --sync off --queue-capacity 64 --queue-bytes 16K --batch-max 64 \
  --metrics 127.0.0.1:0
BQ_MPORT=$(metrics_port)
[ -n "$BQ_MPORT" ] || die "no 'metrics on' line in the log"

torn R rst
torn K kill
torn A acked

# P: a flood fills the queue while the database is locked, so intake stays
# paused (nothing can be committed) until the lock goes.
lock_db
start_client 1 "$FLOOD" 40
poll $((60 * BQ_SLOW)) paused || die "intake did not pause under the flood"
torn P rst
check_eq "intake still paused after the P connections" \
  "$([ "$(scrape m.txt)" = 200 ] && metric m.txt burstq_intake_paused)" 1
unlock_db
wait_clients 1
check_acks out.1 "$FLOOD" "flood"

stop_daemon
check_eq "exit status" "$BQ_RC" 0

for t in R K P A; do
  check_eq "$t: rows holding 'partial'" \
    "$(sql "SELECT count(*) FROM messages
            WHERE instr(payload, CAST('$t-' AS BLOB)) > 0
              AND instr(payload, CAST('partial' AS BLOB)) > 0")" 0
done
# Every other row is one whole line a client sent, stored once, with the
# seq its position on its connection gives it.
check_eq "rows that are not a line sent, in its place" \
  "$(sql "SELECT count(*) FROM messages WHERE NOT (
            (CAST(payload AS TEXT) GLOB '[RPA]-[1-9]*-complete' AND seq = 1)
         OR (CAST(payload AS TEXT) GLOB 'K-[1-9]*-first' AND seq = 1)
         OR (CAST(payload AS TEXT) GLOB 'K-[1-9]*-complete' AND seq = 2)
         OR (CAST(payload AS TEXT) GLOB 'c1-*'))
          OR typeof(payload) != 'blob'")" 0
check_eq "rows stored twice" \
  "$(sql "SELECT count(*) - count(DISTINCT payload) FROM messages")" 0
check_eq "A: acked lines stored" \
  "$(sql "SELECT count(*) FROM messages
          WHERE CAST(payload AS TEXT) GLOB 'A-[1-9]*-complete'")" "$N"
check_eq "K: acked first lines stored" \
  "$(sql "SELECT count(*) FROM messages
          WHERE CAST(payload AS TEXT) GLOB 'K-[1-9]*-first'")" "$N"
check_eq "flood rows" "$(rows_of_client 1)" "$FLOOD"
for t in R K P; do
  note "$t: 'complete' stored for $(sql "SELECT count(*) FROM messages
    WHERE CAST(payload AS TEXT) GLOB '$t-[1-9]*-complete'") of $N connections"
done

# Counters (docs/protocol.md): every one of these connections ended in a
# reset; each partial line the daemon read was dropped, and it read one
# only after the complete line before it, which it kept.
completes=$(sql "SELECT count(*) FROM messages
                 WHERE CAST(payload AS TEXT) GLOB '*-complete'")
check_eq "summary conn_errors" \
  "$(( $(summary conn_errors) + $(summary accept_errors) ))" $((4 * N))
check_num "summary partial_dropped" "$(summary partial_dropped)" -le "$completes"
check_num "summary partial_dropped" "$(summary partial_dropped)" -ge "$N"
