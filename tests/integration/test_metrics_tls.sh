#!/usr/bin/env bash
# test_metrics_tls.sh BURSTQD -- --metrics HOST:PORT,tls serves the
# endpoints over TLS with the daemon's --tls-cert/--tls-key
# (certificates from tests/tls/mkcerts.sh):
#  - ,tls without --tls-cert/--tls-key is refused at startup (exit 2, the
#    reason named);
#  - curl --cacert gets /metrics and /healthz (also two requests on one
#    kept-alive TLS connection);
#  - burstq stats --tls verifies the certificate: the test CA (option or
#    $BURSTQ_TLS_CA) works, another CA is refused with the reason and exit
#    3, as is a TLS scrape of a plain --metrics port;
#  - plain HTTP to the TLS port gets a 400 naming https, is closed and
#    counted; a failed handshake is counted and logged; a TCP connection
#    that never starts its handshake is closed (bounded) and counted;
#  - SIGHUP swaps the certificate for the metrics listener too: a new
#    handshake sees the new one (SHA-256 fingerprint);
#  - with --tls-client-ca, a client without a certificate is refused
#    (exit 3, counted) and one with the test client certificate served;
#    over --tls-max-handshakes, a connection is closed and counted.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
need_client
unset BURSTQ_TLS_CA BURSTQ_METRICS

command -v openssl >/dev/null || die "openssl is not installed"
command -v curl >/dev/null || die "curl is not installed"
bash "$HERE/../tls/mkcerts.sh" "$BQ_T/certs" >mkcerts.log 2>&1 ||
  die "mkcerts.sh failed: $(cat mkcerts.log)"
C=$BQ_T/certs
T=$((60 * BQ_SLOW))
CURL=(curl -sS --max-time "$T")

fingerprint() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
# served_fingerprint PORT: the SHA-256 of the certificate a new TLS
# handshake with 127.0.0.1:PORT gets.
served_fingerprint() {
  timeout "$T" openssl s_client -connect "127.0.0.1:$1" -CAfile "$C/ca.pem" \
    </dev/null 2>/dev/null | openssl x509 -outform DER | sha256sum | cut -d' ' -f1
}
metrics_tls_port() {
  sed -n 's/.* metrics on https:\/\/127\.0\.0\.1:\([0-9][0-9]*\)\/metrics .*/\1/p' \
    "$BQ_LOG" | tail -n1
}
# tls_metric NAME LABELS: a sample of the current daemon's /metrics, over
# TLS (with the client certificate, which a daemon without
# --tls-client-ca does not ask for).
tls_metric() {
  "${CURL[@]}" --cacert "$C/ca.pem" --cert "$C/client.pem" --key "$C/client.key" \
    -o m.txt "https://127.0.0.1:$MP/metrics" 2>/dev/null || { echo error; return; }
  awk -v s="$1{$2}" '$1 == s { print $2; found = 1; exit }
                     END { if (!found) print "absent" }' m.txt
}
bq_metric_ge() { [ "$(tls_metric "$1" "$2")" -ge "$3" ] 2>/dev/null; }

# ---- startup: ,tls needs the certificate and key --------------------------
"$BQ_BIN" --db "$BQ_T/none.db" --metrics 127.0.0.1:0,tls >nocert.out 2>nocert.err
check_eq "--metrics ,tls without --tls-cert: exit status" "$?" 2
check_grep "--metrics ,tls without --tls-cert: the reason" nocert.err \
  '--metrics 127\.0\.0\.1:0,tls needs --tls-cert FILE \(and --tls-key\)'
check_eq "--metrics ,tls without --tls-cert: no database" "$(ls none.db 2>/dev/null)" ""

# ---- the daemon ---------------------------------------------------------------
cp "$C/server.pem" live.pem
cp "$C/server.key" live.key
chmod 600 live.key
OLD=$(fingerprint live.pem)
start_daemon --metrics 127.0.0.1:0,tls --tls-cert live.pem --tls-key live.key
MP=$(metrics_tls_port)
[ -n "$MP" ] || die "no 'metrics on https://' line in the log"

# A TCP connection that never says a word: its handshake is bounded.
bq_spawn /dev/null idle.out idle.err python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").close()
s.settimeout(float(sys.argv[3]))
try:
    while s.recv(4096):
        pass
    print("closed")
except socket.timeout:
    print("still open")
except OSError as e:
    print("closed", e)
' "$MP" "$BQ_T/idle.ready" "$T"
IDLE_PID=$BQ_SPAWNED
wait_ready "$BQ_T/idle.ready" "$IDLE_PID" || die "the idle client did not connect"

# ---- curl ----------------------------------------------------------------------
"${CURL[@]}" --cacert "$C/ca.pem" -o metrics.txt -w '%{http_code}' \
  "https://127.0.0.1:$MP/metrics" >code.txt 2>curl.err
check_eq "curl https /metrics: status" "$(cat code.txt)" 200
check_grep "curl https /metrics: Prometheus text" metrics.txt '^burstq_messages_received_total 0$'
check_eq "curl https /healthz (name localhost)" \
  "$("${CURL[@]}" --cacert "$C/ca.pem" "https://localhost:$MP/healthz" 2>&1)" ok
"${CURL[@]}" --cacert "$C/ca.pem" "https://127.0.0.1:$MP/healthz" \
  "https://127.0.0.1:$MP/readyz" -o one.txt -o two.txt \
  -w '%{num_connects}\n' >connects.txt 2>keep.err
check_eq "two requests on one TLS connection: the first" "$(cat one.txt)" ok
check_eq "two requests on one TLS connection: the second" "$(cat two.txt)" ready
check_eq "two requests on one TLS connection: one connect" "$(tr '\n' ' ' <connects.txt)" "1 0 "
"${CURL[@]}" --cacert "$C/ca2.pem" "https://127.0.0.1:$MP/healthz" >/dev/null 2>wrongca.err
check_eq "curl trusting another CA: curl's verify error" "$?" 60

# ---- burstq stats --tls ------------------------------------------------------------
"$BQ_CLIENT" stats --tls --tls-ca "$C/ca.pem" -H "localhost:$MP" >stats.out 2>stats.err
check_eq "stats --tls: exit status" "$?" 0
check_grep "stats --tls: the summary" stats.out '^burstqd .* at 127\.0\.0\.1:'
check_grep "stats --tls: the health line" stats.out '^state .*database ok'
BURSTQ_TLS_CA=$C/ca.pem "$BQ_CLIENT" stats --tls -H "127.0.0.1:$MP" --health >health.out 2>health.err
check_eq "stats --tls --health with \$BURSTQ_TLS_CA: exit status" "$?" 0
check_eq "stats --tls --health: its line" "$(cat health.out)" ok
"$BQ_CLIENT" stats --tls --tls-ca "$C/ca2.pem" -H "localhost:$MP" >wrong.out 2>wrong.err
check_eq "stats --tls trusting another CA: exit status (as send's)" "$?" 3
check_grep "stats --tls trusting another CA: the reason" wrong.err \
  "^burstq stats: cannot connect to 127\.0\.0\.1:$MP: TLS handshake failed: certificate verify failed: unable to get local issuer certificate$"
check_eq "stats --tls trusting another CA: nothing on stdout" "$(cat wrong.out)" ""
"$BQ_CLIENT" stats --tls-ca "$C/ca.pem" -H "localhost:$MP" >/dev/null 2>usage.err
check_eq "stats --tls-ca without --tls: usage" "$?" 2
check_grep "stats --tls-ca without --tls: the reason" usage.err '--tls-ca needs --tls'
poll "$T" bq_metric_ge burstq_http_tls_handshake_failures_total 'reason="failed"' 2 ||
  fail "the failed handshakes (curl, stats) are not counted: $(tls_metric burstq_http_tls_handshake_failures_total 'reason="failed"')"
check_grep "a failed handshake is logged with the peer" "$BQ_LOG" \
  'warn: metrics https: 127\.0\.0\.1:[0-9]+: TLS handshake failed'

# ---- plain HTTP to the TLS port ---------------------------------------------------
"${CURL[@]}" -o plain.txt -w '%{http_code}' "http://127.0.0.1:$MP/metrics" >plain.code 2>plain.err
check_eq "plain HTTP to the TLS port: 400" "$(cat plain.code)" 400
check_eq "plain HTTP to the TLS port: says https" "$(cat plain.txt)" \
  "plain HTTP sent to a TLS port: use https:// instead"
"$BQ_CLIENT" stats -H "127.0.0.1:$MP" >/dev/null 2>plainstats.err
check_eq "stats without --tls on the TLS port: exit status" "$?" 1
check_grep "stats without --tls on the TLS port: says use --tls" plainstats.err \
  'HTTP status 400 \(a --metrics HOST:PORT,tls address: use --tls\)$'
poll "$T" bq_metric_ge burstq_http_tls_handshake_failures_total 'reason="plaintext"' 2 ||
  fail "plain HTTP to the TLS port is not counted"
check_eq "plain HTTP to the TLS port: counted once per connection" \
  "$(tls_metric burstq_http_tls_handshake_failures_total 'reason="plaintext"')" 2

# ---- the connection that never said a word -------------------------------------------
reap_or_kill "$IDLE_PID" $((T + 30)) "the idle client"
check_eq "a silent TLS connection is closed (handshake bounded)" "$(cut -d' ' -f1 idle.out)" closed
check_eq "the silent connection is counted as a timeout" \
  "$(tls_metric burstq_http_tls_handshake_failures_total 'reason="timeout"')" 1

# ---- SIGHUP swaps the certificate -----------------------------------------------------
check_eq "before SIGHUP: the first certificate" "$(served_fingerprint "$MP")" "$OLD"
# The new pair: same CA, same name, a new key (mkcerts.sh's renewed pair).
NEW=$(fingerprint "$C/renewed.pem")
[ "$OLD" != "$NEW" ] || die "the two certificates are the same"
cp "$C/renewed.pem" live.pem
cp "$C/renewed.key" live.key
kill -HUP "$BQ_PID"
wait_log 'SIGHUP: reloaded the TLS certificate' || fail "the reload is not logged"
check_eq "after SIGHUP: the metrics listener serves the new certificate" \
  "$(served_fingerprint "$MP")" "$NEW"
"$BQ_CLIENT" stats --tls --tls-ca "$C/ca.pem" -H "localhost:$MP" --ready >ready.out 2>ready.err
check_eq "after SIGHUP: stats --tls --ready" "$?:$(cat ready.out)" "0:ready"
stop_daemon
check_eq "exit status" "$BQ_RC" 0

# ---- a TLS scrape of a plain --metrics port -------------------------------------------
start_daemon --metrics 127.0.0.1:0
PP=$(sed -n 's/.* metrics on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\)\/metrics .*/\1/p' "$BQ_LOG")
"$BQ_CLIENT" stats --tls --tls-ca "$C/ca.pem" -H "127.0.0.1:$PP" >/dev/null 2>toplain.err
check_eq "stats --tls on a plain metrics port: exit status" "$?" 3
check_grep "stats --tls on a plain metrics port: the reason" toplain.err \
  "cannot connect to 127\.0\.0\.1:$PP: not TLS: the server's first bytes are not a TLS record"
stop_daemon
check_eq "exit status (plain)" "$BQ_RC" 0

# ---- mutual TLS, and the handshake limit -------------------------------------------------
start_daemon --metrics 127.0.0.1:0,tls --tls-cert "$C/server.pem" \
  --tls-key "$C/server.key" --tls-client-ca "$C/ca.pem" --tls-max-handshakes 1
MP=$(metrics_tls_port)
"$BQ_CLIENT" stats --tls --tls-ca "$C/ca.pem" -H "localhost:$MP" --health >nocert.out 2>nocert.err
check_eq "mTLS, no client certificate: exit status" "$?" 3
check_grep "mTLS, no client certificate: the reason" nocert.err \
  "^burstq stats: cannot connect to 127\.0\.0\.1:$MP: TLS handshake failed: .*certificate required"
"$BQ_CLIENT" stats --tls --tls-ca "$C/ca.pem" --tls-cert "$C/client.pem" \
  --tls-key "$C/client.key" -H "localhost:$MP" --health >cert.out 2>cert.err
check_eq "mTLS, the client certificate: served" "$?:$(cat cert.out)" "0:ok"
poll "$T" bq_metric_ge burstq_http_tls_handshake_failures_total 'reason="failed"' 1 ||
  fail "the refused client certificate is not counted"

# One connection holds the only handshake slot: the next is closed.
bq_spawn /dev/null hold.out hold.err python3 -c '
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
s.close()
' "$MP" "$BQ_T/hold.ready" "$BQ_T/hold.go"
HOLD_PID=$BQ_SPAWNED
wait_ready "$BQ_T/hold.ready" "$HOLD_PID" || die "the holding client did not connect"
"$BQ_CLIENT" stats --tls --tls-ca "$C/ca.pem" --tls-cert "$C/client.pem" \
  --tls-key "$C/client.key" -H "localhost:$MP" --health >limit.out 2>limit.err
check_eq "over --tls-max-handshakes: closed (exit 3)" "$?" 3
check_grep "over --tls-max-handshakes: the reason" limit.err \
  'the daemon closed the connection during the TLS handshake'
touch "$BQ_T/hold.go"
reap_or_kill "$HOLD_PID" "$T" "the holding client"
poll "$T" bq_metric_ge burstq_http_tls_handshake_failures_total 'reason="limit"' 1 ||
  fail "the connection over the handshake limit is not counted"
stop_daemon
check_eq "exit status (mTLS)" "$BQ_RC" 0
