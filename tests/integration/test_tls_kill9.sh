#!/usr/bin/env bash
# test_tls_kill9.sh BURSTQD -- kill -9 under TLS load loses no acknowledged
# message.  Four TLS connections (tls_client.py, loadgen's message format)
# send as fast as they can and record every "OK n" they read; once each has
# been acked a few times the daemon is killed with SIGKILL.  The next
# daemon opens the database (recovering it), and check_rows.py checks the
# rows against what the clients were told: every acked message present
# exactly once, byte-exact, each connection's rows a gap-free prefix of
# what it sent.  Two rounds, the second with mutual TLS.
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT=$HERE/tls_client.py
CHECK=$(realpath "$HERE/../helpers/check_rows.py")
. "$HERE/lib.sh" "$@"

bash "$HERE/../tls/mkcerts.sh" "$BQ_T/certs" >mkcerts.log 2>&1 ||
  die "mkcerts.sh failed: $(cat mkcerts.log)"
C=$BQ_T/certs
T=$((60 * BQ_SLOW))
WIDTH=40
SINCE=0

# acked_at_least FILE N: the last ack recorded in FILE is >= N.
acked_at_least() { [ -s "$1" ] && [ "$(tail -n 1 "$1")" -ge "$2" ]; }

for round in 1 2; do
  extra=()
  cli=()
  if [ "$round" = 2 ]; then
    extra=(--tls-client-ca "$C/ca.pem")
    cli=(--cert "$C/client.pem" --key "$C/client.key")
  fi
  start_daemon --listen 127.0.0.1:0,tls --tls-cert "$C/server.pem" \
    --tls-key "$C/server.key" --sync normal "${extra[@]}"
  bq_spawn /dev/null "r$round.out" "r$round.err" python3 "$CLIENT" \
    --port "${BQ_PORTS[1]}" --ca "$C/ca.pem" "${cli[@]}" --conns 4 \
    --width "$WIDTH" --tag "r$round" --report "r$round.report"
  cpid=$BQ_SPAWNED
  for k in 1 2 3 4; do
    poll "$T" acked_at_least "r$round.report.$k.acks" 300 ||
      fail "round $round: connection $k was not acked 300 messages"
  done
  kill -KILL "$BQ_PID"
  wait_daemon_exit "$T"
  reap_or_kill "$cpid" "$T" "tls_client.py"
  check_eq "round $round: the clients saw the connections end" \
    "$(awk '$5 != "done"' "r$round.report" | wc -l)" 4
  # The next daemon recovers the database; then the rows are checked.
  start_daemon
  stop_daemon
  if out=$(python3 "$CHECK" "$BQ_DB" "$WIDTH" --since-id "$SINCE" "r$round.report"); then
    note "ok: round $round: $out"
  else
    fail "round $round: $out"
  fi
  acked=$(awk '{ s += $4 } END { print s }' "r$round.report")
  check_num "round $round: acked messages" "$acked" -ge 1200
  SINCE=$(sql "SELECT coalesce(max(id), 0) FROM messages")
  check_eq "round $round: integrity" "$(sql 'PRAGMA integrity_check')" ok
done
check_eq "round 2: the client's subject on its connections" \
  "$(sql "SELECT DISTINCT c.tls_subject FROM messages m JOIN connections c ON c.id = m.conn_id WHERE CAST(payload AS TEXT) LIKE 'r2.%'")" \
  "CN=burstq-client"
