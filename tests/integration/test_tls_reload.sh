#!/usr/bin/env bash
# test_tls_reload.sh BURSTQD -- SIGHUP swaps the TLS certificate without
# dropping connections.  Four TLS connections (tls_client.py) send half
# their lines and read the acks; the certificate and key files are
# replaced by another pair (same CA, another key) and SIGHUP sent; the
# four send the rest: every line is acked and stored (0 lost), and they
# saw the old certificate while a new connection made afterwards sees the
# new one (SHA-256 fingerprints).  Then a bad pair (a key that does not
# match) is logged and the current pair kept: new handshakes still work.
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT=$HERE/tls_client.py
. "$HERE/lib.sh" "$@"

command -v openssl >/dev/null || die "openssl is not installed"
bash "$HERE/../tls/mkcerts.sh" "$BQ_T/certs" >mkcerts.log 2>&1 ||
  die "mkcerts.sh failed: $(cat mkcerts.log)"
C=$BQ_T/certs
T=$((60 * BQ_SLOW))
LINES=$((4000 / BQ_DIV))

fingerprint() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }

# The daemon reads these paths: first the test CA's server pair.
cp "$C/server.pem" live.pem
cp "$C/server.key" live.key
chmod 600 live.key
OLD=$(fingerprint live.pem)
# The new pair: same CA, same name, a new key (mkcerts.sh's renewed pair).
cp "$C/renewed.pem" new.pem
cp "$C/renewed.key" new.key
NEW=$(fingerprint new.pem)
[ "$OLD" != "$NEW" ] || die "the two certificates are the same"

start_daemon --listen 127.0.0.1:0,tls --tls-cert live.pem --tls-key live.key
P=${BQ_PORTS[1]}

bq_spawn /dev/null streams.out streams.err python3 "$CLIENT" --port "$P" \
  --ca "$C/ca.pem" --conns 4 --lines "$LINES" --tag s --gate "$BQ_T/gate" \
  --report streams.report --fingerprints streams.fp
SPID=$BQ_SPAWNED
halves() { [ "$(ls "$BQ_T"/gate.*.half 2>/dev/null | wc -l)" -eq 4 ]; }
poll "$T" halves || die "the four connections did not get half way: $(cat streams.err)"

cp new.pem live.pem
cp new.key live.key
kill -HUP "$BQ_PID"
wait_log 'SIGHUP: reloaded the TLS certificate' || fail "the reload is not logged"
check_grep "the reload says the connections keep theirs" "$BQ_LOG" \
  'SIGHUP: reloaded .*\(4 connections keep the old ones\)'

# A connection made now gets the new certificate.
python3 "$CLIENT" --port "$P" --ca "$C/ca.pem" --lines 3 --tag n \
  --report new.report --fingerprints new.fp 2>new.err
check_eq "a new connection: served" "$(cut -d' ' -f3-5 new.report)" "3 3 done"
check_eq "a new connection: the new certificate" "$(cut -d' ' -f2 new.fp)" "$NEW"

touch "$BQ_T/gate"
reap_or_kill "$SPID" "$T" "tls_client.py"
check_eq "the four: all acked" "$(awk -v n="$LINES" '$3 == n && $4 == n && $5 == "done"' streams.report | wc -l)" 4
check_eq "the four: the old certificate" "$(awk -v fp="$OLD" '$2 == fp' streams.fp | wc -l)" 4

# A bad pair: logged, the current one kept.
cp "$C/client.key" live.key
kill -HUP "$BQ_PID"
wait_log 'SIGHUP: cannot reload the TLS certificate: .*; keeping the one loaded before' ||
  fail "the bad pair is not logged"
python3 "$CLIENT" --port "$P" --ca "$C/ca.pem" --lines 2 --tag b \
  --report bad.report --fingerprints bad.fp 2>bad.err
check_eq "after the bad pair: served" "$(cut -d' ' -f3-5 bad.report)" "2 2 done"
check_eq "after the bad pair: still the new certificate" "$(cut -d' ' -f2 bad.fp)" "$NEW"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "0 lost: every line stored" "$(msg_count)" $((4 * LINES + 5))
check_eq "each stream stored in order" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE 's.%' AND CAST(payload AS TEXT) LIKE 's.%.' || seq || '.%'")" $((4 * LINES))
check_eq "no connection error" "$(sed -n 's/.*stopped:.* conn_errors=\([0-9]*\).*/\1/p' "$BQ_LOG")" 0
