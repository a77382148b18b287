#!/usr/bin/env bash
# test_tls_limits.sh BURSTQD -- the bounds of TLS handshakes, and the
# protocol's replies through TLS:
#   - --tls-max-handshakes 2: two connections that never start a handshake
#     hold both slots; a third TLS client is closed at once (logged,
#     counted as tls_limited); the two are closed once --idle-timeout (2 s,
#     shorter than the 10 s handshake limit) has passed (tls_timeouts);
#   - with --auth-token-file, a wrong AUTH line gets "ERR auth" through TLS
#     and a close; the right one, a line over --max-message and a good
#     line get "ERR too-long" and "OK 1" through TLS.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

command -v openssl >/dev/null || die "openssl is not installed"
bash "$HERE/../tls/mkcerts.sh" "$BQ_T/certs" >mkcerts.log 2>&1 ||
  die "mkcerts.sh failed: $(cat mkcerts.log)"
C=$BQ_T/certs
T=$((60 * BQ_SLOW))
TOKEN=tls-limit-$RANDOM$RANDOM
(umask 077; echo "$TOKEN" >token)

summary_value() { sed -n "s/.*stopped:.* $1=\([0-9]*\).*/\1/p" "$BQ_LOG" | tail -n 1; }

start_daemon --listen 127.0.0.1:0,tls --tls-cert "$C/server.pem" \
  --tls-key "$C/server.key" --tls-max-handshakes 2 --idle-timeout 2 \
  --auth-token-file token --max-message 16 --log-level debug
P=${BQ_PORTS[1]}

bq_spawn /dev/null hold.log "&1" timeout $((300 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" hold --port "$P" --conns 2 --ready held \
  --stop stop.held --out held.out --progress held.progress \
  --timeout $((280 * BQ_SLOW))
HOLD_PID=$BQ_SPAWNED
poll "$T" test -e held || die "holders did not connect: $(cat hold.log)"
accepted() { [ "$(grep -c "debug: conn [0-9]* from 127.0.0.1" "$BQ_LOG")" -ge 2 ]; }
poll "$T" accepted || die "the daemon did not take the two held connections"

timeout "$T" openssl s_client -connect "127.0.0.1:$P" -CAfile "$C/ca.pem" \
  -quiet </dev/null >third.out 2>third.err
check_eq "third: nothing came back" "$(wc -c <third.out)" 0
wait_log "refused a TLS connection from 127\.0\.0\.1:[0-9]+ to 127\.0\.0\.1:$P,acked,tls: 2 handshakes in progress" ||
  fail "the third connection's refusal is not logged"

wait_log "TLS handshake not done within 2000 ms" || fail "no handshake timeout logged"
# Each holder's deadline runs from its own accept, and the sweep runs every
# 250 ms: the second may be closed a tick after the first.  The holders
# send nothing and the daemon sends nothing before a handshake, so each
# connection counts in the progress file once it has ended.
closed() { [ "$(cat held.progress 2>/dev/null)" = 2 ]; }
poll "$T" closed || fail "the daemon did not close both held connections"
touch stop.held
reap_or_kill "$HOLD_PID" "$T" "holders"
check_eq "the held connections were closed by the daemon" \
  "$(awk '$2 == "eof" || $2 == "reset"' held.out | wc -l)" 2

# The protocol through TLS.
printf 'AUTH wrong\nnever stored\n' |
  timeout "$T" socat -t "$T" - "OPENSSL:127.0.0.1:$P,cafile=$C/ca.pem" >wrong.out 2>wrong.err
check_eq "wrong token: ERR auth through TLS" "$(cat wrong.out)" "ERR auth"
printf 'AUTH %s\nthis line is far too long\nshort\n' "$TOKEN" |
  timeout "$T" socat -t "$T" - "OPENSSL:127.0.0.1:$P,cafile=$C/ca.pem" >right.out 2>right.err
check_eq "right token: the replies through TLS" "$(tr '\n' '|' <right.out)" "ERR too-long|OK 1|"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "counted: limited" "$(summary_value tls_limited)" 1
check_eq "counted: timed out" "$(summary_value tls_timeouts)" 2
check_eq "counted: auth failures" "$(summary_value auth_failed)" 1
check_eq "rows" "$(sql "SELECT group_concat(CAST(payload AS TEXT), '|') FROM messages")" "short"
check_eq "no row for the unauthenticated or unfinished connections" \
  "$(sql "SELECT count(*) FROM connections")" 1
