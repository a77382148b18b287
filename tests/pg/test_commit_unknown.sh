#!/usr/bin/env bash
# test_commit_unknown.sh BURSTQD -- a batch whose COMMIT outcome burstqd
# cannot know: a proxy (pgproxy.py) between burstqd and PostgreSQL cuts
# burstqd's connection at a COMMIT, either after relaying it (the server
# commits; burstqd never hears so) or before (the server rolls back).
# Either way every message is acked, stored exactly once, in order; after
# the relayed COMMIT, burstqd finds its batch committed on reconnect and
# says it does not write it again (store_pg.c: batch numbers in nodes).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need
command -v python3 >/dev/null || die "python3 is needed"

pg_start "$BQ_T/pg"
pgport=$(pg_port "$BQ_T/pg")
N=$((20000 / BQ_DIV))
seq -f "m-%.0f" 1 "$N" >in.txt

for mode in after before; do
  pg_psql "$BQ_T/pg" postgres "CREATE DATABASE cu_$mode" >/dev/null
  # COMMIT 1 is the schema's (at open), 2 the first batch's: cut the 3rd.
  bq_spawn /dev/null proxy.$mode.log "&1" python3 "$here/pgproxy.py" \
    --listen-port-file "$BQ_T/proxy.$mode" --upstream "$pgport" \
    --mode "$mode" --at 3
  ppid_=$BQ_SPAWNED
  wait_ready "$BQ_T/proxy.$mode" "$ppid_" || die "pgproxy did not start"
  pport=$(cat "$BQ_T/proxy.$mode")
  start_daemon --node "cu-$mode" --batch-max 1000 \
    --db "postgresql://postgres@127.0.0.1:$pport/cu_$mode?sslmode=disable&gssencmode=disable"
  send out.$mode <in.txt
  check_eq "$mode: final ack" "$(tail -n1 out.$mode)" "OK $N"
  check_eq "$mode: the proxy cut" "$(cat "$BQ_T/proxy.$mode.cut" 2>/dev/null)" "cut 3"
  stop_daemon
  check_eq "$mode: daemon exit status" "$BQ_RC" 0
  check_num "$mode: retried" "$(summary db_retries)" -ge 1
  q() { pg_psql "$BQ_T/pg" "cu_$mode" "$@"; }
  check_eq "$mode: rows" "$(q "SELECT count(*) FROM messages")" "$N"
  check_eq "$mode: distinct seq" "$(q "SELECT count(DISTINCT seq) FROM messages")" "$N"
  check_eq "$mode: payload matches seq" \
    "$(q "SELECT count(*) FROM messages WHERE convert_from(payload, 'UTF8') <> 'm-' || seq")" 0
  check_eq "$mode: ids grow with seq" \
    "$(q "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY id) AS p FROM messages) x
          WHERE p IS NOT NULL AND seq <> p + 1")" 0
  check_eq "$mode: one connection row" "$(q "SELECT count(*) FROM connections")" 1
  if [ "$mode" = after ]; then
    check_grep "after: the committed batch is recognised" "$BQ_LOG" \
      'batch [0-9]+ was committed before the connection was lost; not writing it again'
  else
    check_no_grep "before: nothing was committed twice" "$BQ_LOG" \
      'was committed before the connection was lost'
  fi
  kill -TERM "$ppid_" 2>/dev/null
  reap_or_kill "$ppid_" 30 "pgproxy"
done
