#!/usr/bin/env bash
# test_client_tls.sh BURSTQD -- burstq send and bench with --tls, the
# configuration docs/operations.md gives ("burstq over TLS"), with
# certificates made by tests/tls/mkcerts.sh.
#   1. Against a third-party TLS server (openssl s_server), burstq refuses
#      what it must not trust, exit 3 with the reason on stderr: another
#      CA, an expired certificate, a certificate for another name (-H by
#      name and by IP address), the system trust store for a private CA, a
#      server that wants a client certificate we do not have, and a
#      plaintext server.  The --tls-* usage errors are exit 2.
#   2. Against burstqd --listen 127.0.0.1:0,tls: send --tls --tls-ca (and
#      $BURSTQ_TLS_CA) commits what it sent, rows checked in the database;
#      a CA that did not sign the daemon's certificate and -H localhost
#      when the certificate is for another name are refused; bench --tls
#      -c 4 -n 100k --db commits and checks every message.
#   3. Mutual TLS (--tls-client-ca): with --tls-cert/--tls-key the rows
#      are stored and the connection's row holds the certificate's
#      subject; without a certificate, exit 3 and nothing stored.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
need_client

command -v openssl >/dev/null || die "openssl is not installed"
unset BURSTQ_TLS_CA BURSTQ_HOST
bash "$HERE/../tls/mkcerts.sh" certs >mkcerts.log 2>&1 ||
  die "mkcerts.sh failed: $(cat mkcerts.log)"
C=$BQ_T/certs

# --- 1. a third-party server ----------------------------------------------

# s_server CERT KEY [ARGS...]: openssl s_server on a free loopback port
# ($SS_PORT, its PID $SS_PID), for one connection.  Its stdin is a fifo we
# hold open: at EOF on stdin it would close the connection.
s_server() {
  rm -f ss.out ss.in
  mkfifo ss.in
  bq_spawn ss.in ss.out "&1" openssl s_server -accept 127.0.0.1:0 \
    -cert "$1" -key "$2" -naccept 1 "${@:3}"
  SS_PID=$BQ_SPAWNED
  open_fifo_writer ss.in SS_FD
  poll $((30 * BQ_SLOW)) grep -q '^ACCEPT' ss.out ||
    die "openssl s_server did not start: $(cat ss.out)"
  SS_PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' ss.out)
  [ -n "$SS_PORT" ] || die "no port from openssl s_server: $(cat ss.out)"
}

s_server_stop() {
  close_fd "$SS_FD"
  kill -TERM "$SS_PID" 2>/dev/null
  reap_or_kill "$SS_PID" $((30 * BQ_SLOW)) "openssl s_server"
}

# refused WHAT ERE CMD...: burstq CMD exits 3 with a line matching ERE on
# stderr.
refused() {
  local what=$1 ere=$2
  shift 2
  timeout $((60 * BQ_SLOW)) "$BQ_CLIENT" "$@" >refused.out 2>refused.err
  check_eq "$what: exit status" "$?" 3
  check_grep "$what: the reason" refused.err "$ere"
  note "$what: $(head -n 1 refused.err)"
}

s_server "$C/server.pem" "$C/server.key"
refused "send, another CA" \
  '^burstq send: cannot connect to 127\.0\.0\.1:[0-9]+: .*certificate verify failed: unable to get local issuer certificate' \
  send --tls --tls-ca "$C/ca2.pem" -H "127.0.0.1:$SS_PORT" hello
s_server_stop

s_server "$C/server.pem" "$C/server.key"
refused "bench, another CA" \
  '^burstq bench: cannot connect to 127\.0\.0\.1:[0-9]+: .*certificate verify failed' \
  bench --tls --tls-ca "$C/ca2.pem" -H "127.0.0.1:$SS_PORT" -c 1 -n 10
s_server_stop

s_server "$C/server.pem" "$C/server.key"
refused "send, the system's trust store for a private CA" \
  'certificate verify failed' \
  send --tls -H "localhost:$SS_PORT" hello
s_server_stop

s_server "$C/expired.pem" "$C/expired.key"
refused "send, an expired certificate" \
  'certificate verify failed: certificate has expired' \
  send --tls --tls-ca "$C/ca.pem" -H "localhost:$SS_PORT" hello
s_server_stop

# client.pem is signed by the right CA, for CN=burstq-client only.
s_server "$C/client.pem" "$C/client.key"
refused "send, a certificate for another name (-H localhost)" \
  'certificate verify failed: hostname mismatch' \
  send --tls --tls-ca "$C/ca.pem" -H "localhost:$SS_PORT" hello
s_server_stop

s_server "$C/client.pem" "$C/client.key"
refused "send, a certificate for another address (-H 127.0.0.1)" \
  'certificate verify failed: IP address mismatch' \
  send --tls --tls-ca "$C/ca.pem" -H "127.0.0.1:$SS_PORT" hello
s_server_stop

s_server "$C/server.pem" "$C/server.key" -Verify 1 -CAfile "$C/ca.pem"
refused "send without the client certificate a server wants" \
  'certificate required' \
  send --tls --tls-ca "$C/ca.pem" -H "localhost:$SS_PORT" hello
s_server_stop

# A plaintext server that answers what burstqd's plaintext port would.
python3 - >plain.port <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
s.settimeout(120)
c, _ = s.accept()
c.settimeout(60)
c.recv(4096)
c.sendall(b"ERR tls-on-plain-port\n")
c.close()
PY
PY_PID=$!
BQ_PIDS+=("$PY_PID")
poll $((30 * BQ_SLOW)) test -s plain.port || die "the plaintext server did not start"
refused "send --tls to a plaintext server" 'not TLS' \
  send --tls --tls-ca "$C/ca.pem" -H "127.0.0.1:$(cat plain.port)" hello
reap_or_kill "$PY_PID" $((30 * BQ_SLOW)) "the plaintext server"

# Usage errors: exit 2, said before connecting anywhere.
usage_err() { # WHAT ERE ARGS...
  local what=$1 ere=$2
  shift 2
  "$BQ_CLIENT" "$@" >usage.out 2>usage.err
  check_eq "$what: exit status" "$?" 2
  check_grep "$what: the reason" usage.err "$ere"
}
usage_err "--tls-ca without --tls" '--tls-ca needs --tls' \
  send --tls-ca "$C/ca.pem" -H 127.0.0.1:9 hello
usage_err "--tls-cert without --tls-key" '--tls-cert needs --tls-key' \
  bench --tls --tls-cert "$C/client.pem" -H 127.0.0.1:9 -n 10
usage_err "a missing --tls-ca file" 'no-such-ca\.pem' \
  send --tls --tls-ca "$BQ_T/no-such-ca.pem" -H 127.0.0.1:9 hello
cp "$C/client.key" loose.key
chmod 644 loose.key
usage_err "a client key that others can read" 'chmod 600' \
  send --tls --tls-ca "$C/ca.pem" --tls-cert "$C/client.pem" \
  --tls-key loose.key -H 127.0.0.1:9 hello
usage_err "-H :PORT names no host to verify" 'names no host' \
  send --tls --tls-ca "$C/ca.pem" -H :9 hello

# --- 2. burstqd over TLS --------------------------------------------------

start_daemon --listen 127.0.0.1:0,tls --tls-cert "$C/server.pem" \
  --tls-key "$C/server.key"
TLS_PORT=${BQ_PORTS[1]}

timeout $((60 * BQ_SLOW)) "$BQ_CLIENT" send --tls --tls-ca "$C/ca.pem" \
  -H "127.0.0.1:$TLS_PORT" tls-arg-1 tls-arg-2 >send1.out 2>send1.err
check_eq "send --tls (arguments): exit status" "$?" 0
check_grep "send --tls (arguments): its report" send1.out '^sent 2, committed 2$'

N=$((20000 / BQ_DIV))
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "tls-line-%06d\n", i }' >lines
BURSTQ_TLS_CA=$C/ca.pem timeout $((120 * BQ_SLOW)) "$BQ_CLIENT" send --tls \
  -H "localhost:$TLS_PORT" <lines >send2.out 2>send2.err
check_eq "send --tls (stdin, \$BURSTQ_TLS_CA, -H localhost): exit status" "$?" 0
check_grep "send --tls (stdin): its report" send2.out "^sent $N, committed $N\$"
check_eq "rows of the two sends, in order" \
  "$(sql "SELECT count(*), sum(CAST(payload AS TEXT) = 'tls-arg-1'),
                 sum(CAST(payload AS TEXT) = 'tls-arg-2'),
                 count(DISTINCT CAST(payload AS TEXT))
          FROM messages")" "$((N + 2))|1|1|$((N + 2))"
check_eq "stdin lines stored as sent" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), char(10)) FROM
          (SELECT payload FROM messages WHERE CAST(payload AS TEXT) LIKE
           'tls-line-%' ORDER BY id)" | md5sum)" "$(md5sum <lines)"

before=$(msg_count)
refused "send --tls to burstqd, another CA" 'certificate verify failed' \
  send --tls --tls-ca "$C/ca2.pem" -H "127.0.0.1:$TLS_PORT" not-stored
refused "bench --tls to burstqd, another CA" 'certificate verify failed' \
  bench --tls --tls-ca "$C/ca2.pem" -H "127.0.0.1:$TLS_PORT" -c 2 -n 10
check_eq "nothing stored from refused clients" "$(msg_count)" "$before"

# bench over TLS: 4 connections, every message committed and checked.
M=$((100000 / BQ_DIV))
timeout $((300 * BQ_SLOW)) "$BQ_CLIENT" bench --tls --tls-ca "$C/ca.pem" \
  -H "127.0.0.1:$TLS_PORT" -c 4 -n "$M" --db "$BQ_DB" >bench.out 2>bench.err
check_eq "bench --tls -c 4 -n $M --db: exit status" "$?" 0
check_grep "bench --tls: sent == committed" bench.out '^sent == committed: yes$'
check_grep "bench --tls: the database check" bench.out \
  "^db check .*: ok: $M of $M messages found"
note "bench --tls: $(grep '^committed' bench.out)"
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0

# --- 3. mutual TLS ----------------------------------------------------------

start_daemon --listen 127.0.0.1:0,tls --tls-cert "$C/server.pem" \
  --tls-key "$C/server.key" --tls-client-ca "$C/ca.pem"
TLS_PORT=${BQ_PORTS[1]}
before=$(msg_count)
refused "send --tls without a client certificate (--tls-client-ca)" \
  'certificate required|closed the connection during the TLS handshake' \
  send --tls --tls-ca "$C/ca.pem" -H "127.0.0.1:$TLS_PORT" no-cert
check_eq "nothing stored without a client certificate" "$(msg_count)" "$before"

timeout $((60 * BQ_SLOW)) "$BQ_CLIENT" send --tls --tls-ca "$C/ca.pem" \
  --tls-cert "$C/client.pem" --tls-key "$C/client.key" \
  -H "127.0.0.1:$TLS_PORT" mtls-1 mtls-2 mtls-3 >send3.out 2>send3.err
check_eq "send --tls --tls-cert/--tls-key: exit status" "$?" 0
check_grep "send with a client certificate: its report" send3.out '^sent 3, committed 3$'
check_eq "rows with a client certificate, and its subject on their connection" \
  "$(sql "SELECT count(*), min(c.tls_subject), max(c.tls_subject)
          FROM messages m JOIN connections c ON m.conn_id = c.id
          WHERE CAST(m.payload AS TEXT) LIKE 'mtls-%'")" \
  "3|CN=burstq-client|CN=burstq-client"
stop_daemon
check_eq "daemon exit status (mutual TLS)" "$BQ_RC" 0
