#!/usr/bin/env bash
# test_failover_producer.sh BURSTQD -- an exactly-once producer through
# the loss of the primary (as pg.failover, with `burstq send --producer`):
# a primary and a synchronous standby, one burstqd (--sync full) on the
# multi-host URI, and `burstq send --producer fo1` reading numbered lines
# from a fifo:
#   1. part A is written; once all of it is committed on the primary,
#      part B is written and, while it is being stored, the primary is
#      killed (-9, every process at once) and the standby promoted;
#   2. part C is written and the fifo closed: burstq send must exit 0
#      ("sent N, committed N");
#   3. on the promoted node, fo1's lines 1..N are stored once each, in
#      order, with producers.committed N; a resend of the whole file with
#      nc (HELLO fo1) gets RESUME N and stores nothing.
# No assertion is about time: limits only bound hangs.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need
need_client

N=$((60000 / BQ_DIV))
A=$((N / 3))
B=$((2 * N / 3))
seq 1 "$N" >lines

prim=$BQ_T/a
stby=$BQ_T/b
pg_start "$prim"
pg_standby "$prim" "$stby"
url=$(pg_url_multi burstq "$prim" "$stby")
start_daemon --db "$url" --node fo --sync full

committed() { pg_psql "$1" burstq "SELECT coalesce(max(committed), 0) FROM producers WHERE name = 'fo1'" 2>/dev/null; }
committed_ge() { local n; n=$(committed "$1"); [ -n "$n" ] && [ "$n" -ge "$2" ]; }
committed_gt() { local n; n=$(committed "$1"); [ -n "$n" ] && [ "$n" -gt "$2" ]; }

mkfifo in.fo1
bq_spawn in.fo1 out.fo1 err.fo1 timeout $((600 * BQ_SLOW)) \
  "$BQ_CLIENT" send -H "127.0.0.1:$BQ_PORT" --producer fo1 --timeout 300
SENDER=$BQ_SPAWNED
open_fifo_writer in.fo1 FD
sed -n "1,${A}p" lines >&"$FD"
poll $((120 * BQ_SLOW)) committed_ge "$prim" "$A" ||
  die "part A never reached the primary (committed: $(committed "$prim"))"
sed -n "$((A + 1)),${B}p" lines >&"$FD"
poll $((120 * BQ_SLOW)) committed_gt "$prim" "$A" ||
  die "part B never reached the primary (committed: $(committed "$prim"))"
pg_kill9 "$prim"
pg_promote "$stby"
sed -n "$((B + 1)),\$p" lines >&"$FD"
close_fd "$FD"
reap_or_kill "$SENDER" $((600 * BQ_SLOW)) "burstq send --producer"
check_eq "burstq send exit status" "$BQ_RC" 0
[ "$BQ_RC" = 0 ] || cat err.fo1 >&2
check_grep "burstq send: every line committed" out.fo1 "^sent $N, committed $N "

pg_check_producer "$stby" burstq "promoted node" fo1 "$N"
{ echo 'HELLO fo1'; cat lines; } | send out.resend
check_eq "resend: RESUME N, then OK N" "$(tr '\n' ' ' <out.resend)" "RESUME $N OK $N "
check_eq "resend: nothing stored" \
  "$(pg_psql "$stby" burstq "SELECT count(*) FROM messages")" "$N"
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_num "the daemon retried" "$(summary db_retries)" -ge 1
