#!/usr/bin/env bash
# test_tls_native.sh BURSTQD -- native TLS listeners (--listen ...,tls),
# with certificates from tests/tls/mkcerts.sh:
#   - `openssl s_client` and `socat OPENSSL:` send lines to an acked,tls
#     listener, verifying the certificate, and read "OK n"; socat sends
#     syslog to a syslog,tls listener (nothing comes back but TLS itself);
#     the rows are stored, connections.listener names the tls listener;
#   - refused, with a log line naming the peer and counted: a client that
#     trusts another CA, plaintext sent to a TLS port, a TLS ClientHello
#     sent to a plaintext port, and (a daemon started with it) an expired
#     server certificate;
#   - mutual TLS (--tls-client-ca): no client certificate and one from
#     another CA are refused; the right one is served and its subject is
#     in connections.tls_subject;
#   - start-up: a missing key, an unreadable certificate, a key readable by
#     others and a tls listener without --tls-cert are bad usage (exit 2),
#     with a message that says so and no database left behind.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

command -v openssl >/dev/null || die "openssl is not installed"
command -v socat >/dev/null || die "socat is not installed (make deps)"
bash "$HERE/../tls/mkcerts.sh" "$BQ_T/certs" >mkcerts.log 2>&1 ||
  die "mkcerts.sh failed: $(cat mkcerts.log)"
C=$BQ_T/certs
T=$((60 * BQ_SLOW))

# s_client_lines NAME PORT N OPENSSL-ARGS...: s_client sends the file
# NAME.in (N lines) and is stopped once it has read "OK N" (or after T s);
# its output is NAME.out, its stderr NAME.err.
s_client_lines() {
  local name=$1 port=$2 n=$3
  shift 3
  bq_spawn "$name.in" "$name.out" "$name.err" \
    openssl s_client -connect "127.0.0.1:$port" -quiet "$@"
  local pid=$BQ_SPAWNED
  poll "$T" grep -qx "OK $n" "$name.out" ||
    fail "$name: no 'OK $n' from s_client: $(cat "$name.out" "$name.err")"
  kill -TERM "$pid" 2>/dev/null
  reap_or_kill "$pid" 10 "s_client"
}

# refused_client NAME PORT OPENSSL-ARGS...: s_client, verifying, must fail.
refused_client() {
  local name=$1 port=$2
  shift 2
  printf 'never-stored-%s\n' "$name" >"$name.in"
  timeout "$T" openssl s_client -connect "127.0.0.1:$port" \
    -verify_return_error -quiet "$@" <"$name.in" >"$name.out" 2>"$name.err"
  local rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
    note "ok: $name: s_client failed (status $rc): $(grep -m1 -iE 'error|alert' "$name.err")" ||
    fail "$name: s_client status $rc (expected a failure)"
  check_eq "$name: nothing came back" "$(grep -c OK "$name.out")" 0
}

# summary_value KEY: KEY=value from the daemon's last "stopped:" line.
summary_value() { sed -n "s/.*stopped:.* $1=\([0-9]*\).*/\1/p" "$BQ_LOG" | tail -n 1; }

# 1. One daemon: a plaintext acked listener (the first), acked,tls,
#    syslog,tls.
start_daemon --listen 127.0.0.1:0,tls --listen 127.0.0.1:0,syslog,tls \
  --tls-cert "$C/server.pem" --tls-key "$C/server.key"
PLAIN=${BQ_PORTS[0]}
TLSP=${BQ_PORTS[1]}
SYSP=${BQ_PORTS[2]}
check_grep "the listeners say tls" "$BQ_LOG" "listening on 127\.0\.0\.1:$TLSP \(acked,tls\)$"
check_grep "the syslog one too" "$BQ_LOG" "listening on 127\.0\.0\.1:$SYSP \(syslog,tls\)$"

printf 's_client line one\ns_client line two\ns_client line three\n' >sc.in
s_client_lines sc "$TLSP" 3 -CAfile "$C/ca.pem" -verify_return_error \
  -verify_hostname localhost
printf 'socat line one\nsocat line two\n' |
  timeout "$T" socat -t "$T" - "OPENSSL:127.0.0.1:$TLSP,cafile=$C/ca.pem,commonname=localhost" >socat.out 2>socat.err
check_reply "socat: the acks" socat.out "OK 2"
printf '<14>Oct 11 22:14:15 tlshost app: syslog over tls\n' |
  timeout "$T" socat -t "$T" - "OPENSSL:127.0.0.1:$SYSP,cafile=$C/ca.pem" >syslog.out 2>syslog.err
check_eq "syslog,tls: nothing written back" "$(wc -c <syslog.out)" 0
six_stored() { [ "$(msg_count)" -ge 6 ]; }
poll "$T" six_stored || fail "the syslog,tls message was not stored"

# Refusals.
refused_client other-ca "$TLSP" -CAfile "$C/ca2.pem"
check_grep "other CA: the client says why" other-ca.err 'verify error|certificate verify failed|unable to get local issuer'
wait_log "TLS handshake failed on 127\.0\.0\.1:$TLSP,acked,tls: " ||
  fail "other CA: no handshake failure logged"
check_grep "the failure names the peer" "$BQ_LOG" "conn [0-9]+ \(127\.0\.0\.1:[0-9]+\): TLS handshake failed"

printf 'plaintext line\n' | timeout "$T" nc -N 127.0.0.1 "$TLSP" >plain-to-tls.out
check_eq "plaintext to the TLS port: no reply" "$(wc -c <plain-to-tls.out)" 0
wait_log "refused: plaintext sent to the TLS listener 127\.0\.0\.1:$TLSP,acked,tls" ||
  fail "plaintext to the TLS port: not logged"

refused_client tls-to-plain "$PLAIN" -CAfile "$C/ca.pem"
wait_log "refused: a TLS ClientHello sent to the plaintext listener 127\.0\.0\.1:$PLAIN,acked" ||
  fail "TLS to the plaintext port: not logged"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "rows: s_client's three, socat's two, the syslog one" "$(msg_count)" 6
check_eq "s_client's rows" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), '|') FROM (SELECT payload FROM messages WHERE CAST(payload AS TEXT) LIKE 's_client%' ORDER BY id)")" \
  "s_client line one|s_client line two|s_client line three"
check_eq "the syslog row parsed" \
  "$(sql "SELECT hostname || '|' || app_name || '|' || c.listener FROM syslog_messages m JOIN connections c ON c.id = m.conn_id WHERE CAST(payload AS TEXT) LIKE '%syslog over tls'")" \
  "tlshost|app|127.0.0.1:$SYSP,syslog,tls"
check_eq "the TLS connections' listener" \
  "$(sql "SELECT count(DISTINCT conn_id) FROM messages m JOIN connections c ON c.id = m.conn_id WHERE c.listener = '127.0.0.1:$TLSP,acked,tls'")" 2
check_eq "no client certificates: tls_subject NULL" \
  "$(sql "SELECT count(*) FROM connections WHERE tls_subject IS NOT NULL")" 0
check_eq "nothing refused was stored" "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE 'never-stored%' OR CAST(payload AS TEXT) LIKE 'plaintext%'")" 0
check_eq "counted: handshakes" "$(summary_value tls_handshakes)" 3
check_eq "counted: failed handshakes" "$(summary_value tls_failed)" 1
check_eq "counted: plaintext to TLS" "$(summary_value tls_plaintext_refused)" 1
check_eq "counted: TLS to plaintext" "$(summary_value tls_on_plain_refused)" 1

# 2. An expired server certificate: the daemon serves it, clients refuse.
start_daemon --listen 127.0.0.1:0,tls --tls-cert "$C/expired.pem" \
  --tls-key "$C/expired.key"
refused_client expired "${BQ_PORTS[1]}" -CAfile "$C/ca.pem"
check_grep "expired: the client says why" expired.err 'certificate has expired'
wait_log "TLS handshake failed on 127\.0\.0\.1:${BQ_PORTS[1]},acked,tls: " ||
  fail "expired: no handshake failure logged"
stop_daemon
check_eq "expired: counted" "$(summary_value tls_failed)" 1

# 3. Mutual TLS.
start_daemon --listen 127.0.0.1:0,tls --tls-cert "$C/server.pem" \
  --tls-key "$C/server.key" --tls-client-ca "$C/ca.pem"
MP=${BQ_PORTS[1]}
refused_client no-client-cert "$MP" -CAfile "$C/ca.pem"
wait_log "TLS handshake failed on 127\.0\.0\.1:$MP,acked,tls: .*certificate" ||
  fail "no client certificate: no failure naming the certificate logged"
printf 'mutual one\nmutual two\n' >mtls.in
s_client_lines mtls "$MP" 2 -CAfile "$C/ca.pem" -verify_return_error \
  -cert "$C/client.pem" -key "$C/client.key"
stop_daemon
check_eq "mutual TLS: counted failures" "$(summary_value tls_failed)" 1
check_eq "mutual TLS: the subject stored with the rows" \
  "$(sql "SELECT DISTINCT c.tls_subject FROM messages m JOIN connections c ON c.id = m.conn_id WHERE CAST(payload AS TEXT) LIKE 'mutual%'")" \
  "CN=burstq-client"
check_eq "mutual TLS: the refused left no connection row" \
  "$(sql "SELECT count(*) FROM connections WHERE listener = '127.0.0.1:$MP,acked,tls'")" 1

# A client certificate from another CA (a daemon of its own: failures are
# logged at most once per 5 s).
start_daemon --listen 127.0.0.1:0,tls --tls-cert "$C/server.pem" \
  --tls-key "$C/server.key" --tls-client-ca "$C/ca.pem"
refused_client wrong-client-cert "${BQ_PORTS[1]}" -CAfile "$C/ca.pem" \
  -cert "$C/other.pem" -key "$C/other.key"
wait_log "TLS handshake failed on 127\.0\.0\.1:${BQ_PORTS[1]},acked,tls: .*certificate" ||
  fail "wrong client certificate: no failure naming the certificate logged"
stop_daemon
check_eq "wrong client certificate: counted" "$(summary_value tls_failed)" 1
check_eq "wrong client certificate: no row" "$(sql "SELECT count(*) FROM connections WHERE listener = '127.0.0.1:${BQ_PORTS[1]},acked,tls'")" 0

# 4. Start-up errors: exit 2, a clear message, no database.
startfail() { # WHAT ERE ARGS...
  local what=$1 re=$2
  shift 2
  rm -rf sf && mkdir sf
  timeout "$T" "$BQ_BIN" --db sf/bq.db --listen 127.0.0.1:0,tls "$@" >sf.out 2>&1
  check_eq "$what: exit status" "$?" 2
  check_grep "$what: says why" sf.out "$re"
  check_eq "$what: no database" "$(ls sf | wc -l)" 0
}
startfail "no --tls-cert" 'needs --tls-cert FILE' --tls-key "$C/server.key"
startfail "a missing key" 'TLS: .*nope\.key' --tls-cert "$C/server.pem" --tls-key "$C/nope.key"
cp "$C/server.key" open.key && chmod 644 open.key
startfail "a key others can read" 'TLS: .*open\.key.*chmod 600' --tls-cert "$C/server.pem" --tls-key open.key
printf 'not a certificate\n' >bad.pem
startfail "a certificate that is not PEM" 'TLS: .*bad\.pem' --tls-cert bad.pem --tls-key "$C/server.key"
startfail "a key that does not match" 'TLS: ' --tls-cert "$C/server.pem" --tls-key "$C/client.key"
