#!/usr/bin/env bash
# test_tls.sh BURSTQD -- the documented TLS set-up works: stunnel runs
# docs/examples/stunnel-burstq.conf (only ports, certificate paths
# changed) in front of burstqd with --auth-token-file; a client stunnel
# in client mode, verifying the server's throwaway self-signed certificate,
# carries nc's lines; the rows arrive intact and the acks come back through
# TLS.  `openssl s_client` is checked as a client too.  The bytes between
# the two stunnels are TLS: the TLS port stores nothing sent in plain text,
# and a client that does not trust the certificate gets nothing through.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

STUNNEL=$(command -v stunnel4 || command -v stunnel) ||
  die "stunnel4 is not installed (apt-get install stunnel4)"
command -v openssl >/dev/null || die "openssl is not installed"
EXAMPLE=$HERE/../../docs/examples/stunnel-burstq.conf
[ -f "$EXAMPLE" ] || die "missing $EXAMPLE"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout server.key -out server.pem >openssl.log 2>&1 ||
  die "openssl could not make a certificate: $(cat openssl.log)"
chmod 600 server.key
TOKEN=tls-$RANDOM$RANDOM$RANDOM
(umask 077; echo "$TOKEN" >token)

start_daemon --auth-token-file token
TLS_PORT=$(free_port)
PLAIN_PORT=$(free_port)

# The server side: the example file, with this test's ports and paths.
sed -e "s|^accept = .*|accept = 127.0.0.1:$TLS_PORT|" \
    -e "s|^connect = .*|connect = 127.0.0.1:$BQ_PORT|" \
    -e "s|^cert = .*|cert = $BQ_T/server.pem|" \
    -e "s|^key = .*|key = $BQ_T/server.key|" \
    "$EXAMPLE" >server.conf
check_eq "the example's settings were all substituted" \
  "$(grep -cE "^(accept = 127.0.0.1:$TLS_PORT|connect = 127.0.0.1:$BQ_PORT|cert = $BQ_T|key = $BQ_T)" server.conf)" 4
bq_spawn /dev/null stunnel-server.log "&1" "$STUNNEL" server.conf
SRV_PID=$BQ_SPAWNED

# The client side: stunnel in client mode, verifying the certificate.
cat >client.conf <<CONF
foreground = yes
pid =
[burstq-client]
client = yes
accept = 127.0.0.1:$PLAIN_PORT
connect = 127.0.0.1:$TLS_PORT
verifyPeer = yes
CAfile = $BQ_T/server.pem
checkHost = localhost
CONF
bq_spawn /dev/null stunnel-client.log "&1" "$STUNNEL" client.conf
CLI_PID=$BQ_SPAWNED
# accepts_connection PORT: a connect to 127.0.0.1:PORT succeeds.
accepts_connection() {
  python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null
}
poll $((30 * BQ_SLOW)) accepts_connection "$TLS_PORT" || die "server stunnel is not listening: $(cat stunnel-server.log)"
poll $((30 * BQ_SLOW)) accepts_connection "$PLAIN_PORT" || die "client stunnel is not listening: $(cat stunnel-client.log)"

# nc -> client stunnel -> TLS -> server stunnel -> burstqd.
N=1000
{ echo "AUTH $TOKEN"; seq -f 'tls-%g' 1 "$N"; } >in.tls
timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$PLAIN_PORT" <in.tls >out.tls
check_eq "final ack through TLS" "$(tail -n1 out.tls)" "OK $N"
check_eq "rows through TLS" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) GLOB 'tls-*'")" "$N"
check_eq "rows in order" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) != 'tls-' || seq")" 0
check_eq "the client stunnel verified the certificate" \
  "$(grep -c 'Certificate accepted\|peer certificate verified\|verify ok\|Certificate verification successful' stunnel-client.log | awk '{ print ($1 > 0) }')" 1

# A client that does not trust the certificate gets nothing through.
cat >badclient.conf <<CONF
foreground = yes
pid =
[burstq-bad]
client = yes
accept = 127.0.0.1:$(free_port)
connect = 127.0.0.1:$TLS_PORT
verifyPeer = yes
CAfile = /etc/ssl/certs/ca-certificates.crt
CONF
BAD_PORT=$(sed -n 's/^accept = 127.0.0.1://p' badclient.conf)
bq_spawn /dev/null stunnel-bad.log "&1" "$STUNNEL" badclient.conf
BADC_PID=$BQ_SPAWNED
poll $((30 * BQ_SLOW)) accepts_connection "$BAD_PORT" || die "bad client stunnel is not listening"
printf 'AUTH %s\nuntrusted-1\n' "$TOKEN" |
  timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BAD_PORT" >out.bad
check_eq "untrusted certificate: no reply" "$(cat out.bad)" ""

# openssl s_client as the client (it does not half-close: wait for the
# ack, then let it go).
mkfifo sclient.in
bq_spawn sclient.in out.sclient sclient.err timeout $((60 * BQ_SLOW)) \
  openssl s_client -quiet -no_ign_eof -verify_return_error -CAfile server.pem \
  -verify_hostname localhost -connect "127.0.0.1:$TLS_PORT"
SC_PID=$BQ_SPAWNED
open_fifo_writer sclient.in SC_FD
printf 'AUTH %s\ns_client-1\ns_client-2\n' "$TOKEN" >&"$SC_FD"
sc_acked() { grep -qx 'OK 2' out.sclient; }
poll $((60 * BQ_SLOW)) sc_acked || fail "s_client: no OK 2 ($(cat out.sclient sclient.err | head -5))"
close_fd "$SC_FD"
reap "$SC_PID" $((30 * BQ_SLOW)) || { kill -TERM "$SC_PID"; reap "$SC_PID" 5; }

# The TLS port takes TLS only: plain lines sent to it never arrive.
printf 'AUTH %s\nplain-1\n' "$TOKEN" |
  timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$TLS_PORT" >out.plain 2>&1
check_eq "plain text to the TLS port: no ack" "$(grep -c '^OK' out.plain)" 0
check_grep "the server stunnel refused the untrusting client's handshake" \
  stunnel-server.log 'SSL_accept: .*(unknown ca|certificate unknown|bad certificate)'

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary received" "$(summary received)" $((N + 2))
check_eq "no untrusted-client rows" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) GLOB 'untrusted*'
                                          OR CAST(payload AS TEXT) GLOB 'plain*'")" 0
check_no_grep "the token is not in the daemon log" "$BQ_LOG" "$TOKEN"
