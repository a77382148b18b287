#!/usr/bin/env bash
# test_producers.sh BURSTQD -- exactly-once producers (docs/protocol.md,
# "Producers: exactly once") on the PostgreSQL backend:
#  1. nc resend: the same file sent with HELLO through nc -N, first cut off
#     mid-line (nc killed), then whole three times: each line is stored
#     once (pseq k carries line k), RESUME is the committed count.
#  2. a HELLO batch whose COMMIT outcome burstqd cannot know (pgproxy.py
#     relays the COMMIT and cuts the link): on reconnect burstqd finds the
#     batch committed, does not write it again, and the connection still
#     gets the exact RESUME (store_pg.c: settle_hellos); then a resend
#     stores nothing twice.
#  3. one producer id on two daemons at once (fencing is per daemon): the
#     daemon whose messages no longer follow the committed count fails
#     its batch and stops (exit 1); the database has no duplicate and no
#     hole, and the other daemon goes on.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need
command -v python3 >/dev/null || die "python3 is needed"

pg_start "$BQ_T/pg"
pgport=$(pg_port "$BQ_T/pg")
BQ_DB=$(pg_url "$BQ_T/pg" burstq)
q() { pg_psql "$BQ_T/pg" "${DB:-burstq}" "$@"; }
N=$((20000 / BQ_DIV))
seq 1 "$N" >lines

check_rows() { pg_check_producer "$BQ_T/pg" "${DB:-burstq}" "$@"; }
committed_is() { # ID N
  [ "$(q "SELECT coalesce(max(committed), 0) FROM producers WHERE name = '$1'")" = "$2" ]
}

# --- 1. nc resend -----------------------------------------------------------
start_daemon --node prod-a
cut=$(($(wc -c <lines) / 2 + 2)) # about half the file, ending inside a line
whole=$(head -c "$cut" lines | tr -cd '\n' | wc -c)
mkfifo in.cut
bq_spawn in.cut out.cut err.cut nc -N 127.0.0.1 "$BQ_PORT"
CUT_PID=$BQ_SPAWNED
open_fifo_writer in.cut CUT_FD
{ echo 'HELLO nc1'; head -c "$cut" lines; } >&"$CUT_FD"
poll $((60 * BQ_SLOW)) committed_is nc1 "$whole" ||
  fail "cut-off send: committed never reached $whole"
kill -KILL "$CUT_PID" 2>/dev/null # nc dies with its input still open
reap "$CUT_PID" 10 || fail "nc did not die"
close_fd "$CUT_FD"
for round in 1 2 3; do
  { echo 'HELLO nc1'; cat lines; } |
    timeout $((240 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.resend$round
done
check_eq "resend 1: RESUME the cut-off send's count" \
  "$(head -n1 out.resend1)" "RESUME $whole"
check_eq "resend 1: the last ack covers the file" "$(tail -n1 out.resend1)" "OK $N"
check_eq "resend 2: RESUME N" "$(head -n1 out.resend2)" "RESUME $N"
check_eq "resend 3: RESUME N, then OK N" "$(tr '\n' ' ' <out.resend3)" "RESUME $N OK $N "
check_rows "nc resend" nc1 "$N"
check_eq "the torn line is not stored" \
  "$(q "SELECT count(*) FROM messages WHERE producer IS NULL")" 0
stop_daemon
check_eq "nc resend: daemon exit status" "$BQ_RC" 0

# --- 2. a HELLO batch's COMMIT outcome unknown --------------------------------
pg_psql "$BQ_T/pg" postgres "CREATE DATABASE cu" >/dev/null
DB=cu
curl_=$(pg_url "$BQ_T/pg" cu)
K=$((N / 4))
BQ_DB=$curl_ start_daemon --node cu-direct
head -n "$K" lines | { echo 'HELLO cu1'; cat; } | send out.cu0
check_eq "before: RESUME 0 ... OK K" \
  "$(head -n1 out.cu0) ... $(tail -n1 out.cu0)" "RESUME 0 ... OK $K"
stop_daemon
# Through the proxy: COMMIT 1 is the open's (schema and node), 2 the first
# batch's: the new connection's OPEN and HELLO.
bq_spawn /dev/null proxy.log "&1" python3 "$here/pgproxy.py" \
  --listen-port-file "$BQ_T/proxy" --upstream "$pgport" --mode after --at 2
PROXY_PID=$BQ_SPAWNED
wait_ready "$BQ_T/proxy" "$PROXY_PID" || die "pgproxy did not start"
BQ_DB="postgresql://postgres@127.0.0.1:$(cat "$BQ_T/proxy")/cu?sslmode=disable&gssencmode=disable" \
  start_daemon --node cu-proxy
{ echo 'HELLO cu1'; cat lines; } | send out.cu1
check_eq "the proxy cut the HELLO batch's COMMIT" "$(cat "$BQ_T/proxy.cut" 2>/dev/null)" "cut 2"
check_eq "after the unknown COMMIT: RESUME K (the committed count)" \
  "$(head -n1 out.cu1)" "RESUME $K"
check_eq "after the unknown COMMIT: the last ack covers the file" \
  "$(tail -n1 out.cu1)" "OK $N"
check_grep "the committed HELLO batch is recognised" "$BQ_LOG" \
  'batch [0-9]+ was committed before the connection was lost; not writing it again'
{ echo 'HELLO cu1'; cat lines; } | send out.cu2
check_eq "resend: RESUME N, then OK N" "$(tr '\n' ' ' <out.cu2)" "RESUME $N OK $N "
stop_daemon
check_eq "unknown COMMIT: daemon exit status" "$BQ_RC" 0
check_rows "unknown COMMIT" cu1 "$N"
kill -TERM "$PROXY_PID" 2>/dev/null
reap_or_kill "$PROXY_PID" 30 "pgproxy"

# --- 3. one producer id on two daemons at once -----------------------------
pg_psql "$BQ_T/pg" postgres "CREATE DATABASE two" >/dev/null
DB=two
BQ_DB=$(pg_url "$BQ_T/pg" two)
start_daemon --node two-a
A_PID=$BQ_PID A_PORT=$BQ_PORT A_LOG=$BQ_LOG
start_daemon --node two-b
B_PID=$BQ_PID B_PORT=$BQ_PORT B_LOG=$BQ_LOG
acked() { [ "$(grep -c . "$1")" -ge "$2" ] && [ "$(tail -n1 "$1")" = "$3" ]; }
mkfifo in.a in.b
bq_spawn in.a out.a err.a nc -N 127.0.0.1 "$A_PORT"
NCA=$BQ_SPAWNED
open_fifo_writer in.a FA
{ echo 'HELLO dup1'; seq 1 10; } >&"$FA"
poll $((60 * BQ_SLOW)) acked out.a 2 "OK 10" || fail "daemon a: no OK 10"
# Daemon b takes a HELLO of the same id: it cannot fence a's connection.
bq_spawn in.b out.b err.b nc -N 127.0.0.1 "$B_PORT"
NCB=$BQ_SPAWNED
open_fifo_writer in.b FB
echo 'HELLO dup1 11' >&"$FB"
poll $((60 * BQ_SLOW)) acked out.b 1 "RESUME 10" || fail "daemon b: no RESUME 10"
seq 11 20 >&"$FA"
poll $((60 * BQ_SLOW)) acked out.a 3 "OK 20" || fail "daemon a: no OK 20"
# b numbers its lines from 11 (its HELLO said so): they do not follow
# committed 20.
seq 11 15 | sed 's/^/b-/' >&"$FB"
BQ_PID=$B_PID BQ_LOG=$B_LOG wait_daemon_exit $((60 * BQ_SLOW))
check_eq "daemon b stopped: its batch broke the contiguity check" "$BQ_RC" 1
check_grep "daemon b: the reason" "$B_LOG" \
  'do not follow its committed count'
close_fd "$FB"
reap_or_kill "$NCB" 30 "nc b"
check_no_grep "b's connection was not acked" out.b '^OK'
# a goes on.
seq 21 25 >&"$FA"
close_fd "$FA"
reap_or_kill "$NCA" $((60 * BQ_SLOW)) "nc a"
check_eq "daemon a goes on" "$(tail -n1 out.a)" "OK 25"
BQ_PID=$A_PID BQ_LOG=$A_LOG stop_daemon
check_eq "daemon a exit status" "$BQ_RC" 0
check_rows "two daemons" dup1 25
check_eq "nothing of b's stored" \
  "$(q "SELECT count(*) FROM messages WHERE convert_from(payload, 'UTF8') LIKE 'b-%'")" 0

