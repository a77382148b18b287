#!/usr/bin/env bash
# test_syslog_rsyslog_tls.sh BURSTQD -- a real rsyslogd (Debian's rsyslog
# with rsyslog-openssl) relays 100,000 messages over TLS into a
# `--listen HOST:PORT,syslog,tls` listener, with the configuration
# docs/operations.md gives ("rsyslog over TLS"): omfwd with the ossl
# stream driver, StreamDriverMode="1", StreamDriverAuthMode="x509/name"
# (the daemon's certificate must be signed by the CA rsyslog trusts and
# name the permitted peer), newline framing.  Certificates come from
# tests/tls/mkcerts.sh.
# rsyslogd runs in the foreground (-n) from a config and a work directory
# in the test's temp dir, with its own PID file (-i), no system socket
# (imuxsock is not loaded) and no disk-assisted queue; its own messages
# stay in a file of the temp dir.  logger feeds its imtcp input (port 0;
# rsyslog writes the port it bound to a file).  Once all the messages are
# in the database, rsyslogd is stopped by its PID (SIGTERM) and must exit
# 0; once the daemon has recorded the close of rsyslog's connection, every
# message is stored exactly once, with rsyslog's header.  (Parsing the
# header is integration.syslog_rsyslog's; this test is about the transport.)  (rsyslog does
# not promise the order across its queue, so the order is not checked.)
# A second rsyslogd that trusts another CA gets nothing stored.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

declare -F need_prog >/dev/null || need_prog() { # PROG PACKAGE
  command -v "$1" >/dev/null || die "$1 is not installed (apt-get install $2)"
}
need_prog rsyslogd rsyslog
need_prog logger bsdutils
need_prog openssl openssl
OSSL=$(find /usr/lib -name lmnsd_ossl.so -print -quit 2>/dev/null)
[ -n "$OSSL" ] || die "rsyslog's ossl driver is not installed (apt-get install rsyslog-openssl)"

bash "$HERE/../tls/mkcerts.sh" certs >mkcerts.log 2>&1 ||
  die "mkcerts.sh failed: $(cat mkcerts.log)"
C=$BQ_T/certs
N=$((100000 / BQ_DIV))
TAG=rsystls

# rsyslog_conf DIR CAFILE SHUTDOWN_MS: the configuration docs/operations.md
# shows, with this test's paths, port and queue shutdown timeout.
rsyslog_conf() {
  cat >"$1/rsyslog.conf" <<EOF
global(workDirectory="$1/work"
       defaultNetstreamDriverCAFile="$2")
module(load="imtcp")
# How long the queue may drain at SIGTERM (the default is 1.5 s).
main_queue(queue.timeoutShutdown="$3")
input(type="imtcp" address="127.0.0.1" port="0"
      listenPortFileName="$1/imtcp.port" ruleset="to-burstq")
ruleset(name="to-burstq") {
  action(type="omfwd" target="127.0.0.1" port="$SYSLOG_PORT" protocol="tcp"
         StreamDriver="ossl" StreamDriverMode="1"
         StreamDriverAuthMode="x509/name"
         StreamDriverPermittedPeers="localhost"
         action.resumeRetryCount="-1")
}
# rsyslogd's own messages: into a file here, never forwarded.
*.* action(type="omfile" file="$1/rsyslogd-own.log")
EOF
  rsyslogd -N1 -f "$1/rsyslog.conf" >"$1/check.out" 2>&1 ||
    die "rsyslogd -N1 rejects the config: $(cat "$1/check.out")"
}

# start_rsyslogd DIR: rsyslogd on DIR/rsyslog.conf; RS_PID, RS_PORT.
start_rsyslogd() {
  bq_spawn /dev/null "$1/rsyslogd.out" "&1" \
    rsyslogd -n -f "$1/rsyslog.conf" -i "$1/rsyslogd.pid"
  RS_PID=$BQ_SPAWNED
  poll $((60 * BQ_SLOW)) test -s "$1/imtcp.port" || {
    cat "$1/rsyslogd.out" >&2
    die "rsyslogd did not write its port"
  }
  RS_PORT=$(cat "$1/imtcp.port")
}

stop_rsyslogd() {
  kill -TERM "$RS_PID" 2>/dev/null || fail "rsyslogd $RS_PID was not running at stop"
  reap_or_kill "$RS_PID" $((120 * BQ_SLOW)) "rsyslogd"
  check_eq "rsyslogd exit status" "$BQ_RC" 0
}

# Connections the daemon has not recorded as closed.
open_conns() { sql "SELECT count(*) FROM connections WHERE closed_at IS NULL"; }
no_open_conns() { [ "$(open_conns)" = 0 ]; }

start_daemon --listen 127.0.0.1:0,syslog,tls --tls-cert "$C/server.pem" \
  --tls-key "$C/server.key"
SYSLOG_PORT=${BQ_PORTS[1]}

d=$BQ_T/rsyslog
mkdir -p "$d/work"
rsyslog_conf "$d" "$C/ca.pem" 60000
start_rsyslogd "$d"
note "rsyslogd $RS_PID listening on $RS_PORT, forwarding over TLS to $SYSLOG_PORT"

awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "rsys-%06d\n", i }' >lines
bq_spawn lines logger.out logger.err \
  timeout $((120 * BQ_SLOW)) logger -n 127.0.0.1 -P "$RS_PORT" --tcp \
  --rfc3164 -t "$TAG" --id=777 -p user.notice
reap_or_kill "$BQ_SPAWNED" $((150 * BQ_SLOW)) "logger into rsyslogd"
check_eq "logger exit status" "$BQ_RC" 0

got=0
for ((i = 0; i < 240 * BQ_SLOW * 4; i++)); do
  got=$(msg_count)
  [ "$got" -ge "$N" ] && break
  bq_is_running_child "$BQ_PID" || break
  bq_is_running_child "$RS_PID" || break
  sleep 0.25
done
check_eq "rows relayed by rsyslog over TLS (before the stop)" "$(msg_count)" "$N"
stop_rsyslogd
poll $((60 * BQ_SLOW)) no_open_conns ||
  fail "the daemon still has $(open_conns) connection(s) open after rsyslogd stopped"

out=$(sql "
  CREATE TEMP VIEW m AS
    SELECT CAST(payload AS TEXT) AS p,
           CAST(substr(CAST(payload AS TEXT),
                       instr(CAST(payload AS TEXT), 'rsys-') + 5, 6)
                AS INTEGER) AS line
    FROM messages;
  SELECT count(*), count(DISTINCT line), min(line), max(line),
    sum(instr(p, 'rsys-') = 0), sum(instr(p, ' $TAG[777]: rsys-') = 0)
  FROM m;")
IFS='|' read -r rows distinct lo hi nomark nohdr <<<"$out"
note "rows=$rows distinct=$distinct [$lo..$hi] unmarked=$nomark without-header=$nohdr"
check_eq "rows" "$rows" "$N"
check_eq "distinct lines" "$distinct" "$N"
check_eq "lowest line" "$lo" 1
check_eq "highest line" "$hi" "$N"
check_eq "rows that are not a line sent" "$nomark" 0
check_eq "rows without rsyslog's header (TAG[PID]: before the line)" "$nohdr" 0
note "first row: $(sql "SELECT CAST(payload AS TEXT) FROM messages ORDER BY id LIMIT 1")"
if [ "$BQ_FAILS" != 0 ]; then
  echo "--- rsyslogd output ---" >&2
  tail -n 20 "$d/rsyslogd.out" "$d/rsyslogd-own.log" >&2
fi

# An rsyslogd that trusts another CA: its handshake fails (it retries),
# nothing is stored, and it says why in its own log.
d2=$BQ_T/rsyslog-other-ca
mkdir -p "$d2/work"
rsyslog_conf "$d2" "$C/ca2.pem" 1000
start_rsyslogd "$d2"
echo "rsys-other-ca" | timeout $((60 * BQ_SLOW)) logger -n 127.0.0.1 \
  -P "$RS_PORT" --tcp --rfc3164 -t "$TAG" -p user.notice ||
  fail "logger into the second rsyslogd"
poll $((60 * BQ_SLOW)) grep -sqiE 'certificate|verify|ossl' "$d2/rsyslogd-own.log" "$d2/rsyslogd.out" ||
  fail "the rsyslogd that trusts another CA logged no TLS error"
note "other CA: $(grep -shiE 'certificate|verify|ossl' "$d2/rsyslogd-own.log" "$d2/rsyslogd.out" | head -n 1)"
stop_rsyslogd
check_eq "rows after the rsyslogd with another CA" "$(msg_count)" "$N"

stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
