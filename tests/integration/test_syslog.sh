#!/usr/bin/env bash
# test_syslog.sh BURSTQD -- syslog listeners (--listen HOST:PORT,syslog),
# from the daemon's side, with python sockets (syslog_client.py) and nc:
#  - newline and octet-counted frames mixed in one connection, the whole
#    stream at once and cut into pieces at every byte: the same rows,
#    byte for byte, in order; empty lines and a stray LF between frames
#    are no messages;
#  - the header columns of an RFC 5424 and an RFC 3164 message, NULL for
#    a message that is neither;
#  - a message over --max-message is stored cut to it with truncated = 1
#    and counted; one of exactly --max-message is whole;
#  - a bad octet count closes the connection and is counted; what came
#    before it is kept, nothing after it;
#  - not a byte is ever written back: every sender reads 0 bytes, then our
#    FIN (or a reset, where we closed on unread input);
#  - acked and syslog listeners side by side: connections.listener names
#    each connection's listener;
#  - a sender that writes 5,000 lines and closes at once, never reading,
#    loses nothing;
#  - refusals (--allow), authentication failures and idle timeouts are
#    silent on a syslog listener (and counted).
. "$(dirname "$0")/lib.sh" "$@"

CLIENT=$(dirname "$0")/syslog_client.py
MAX=200

sclient() { # OUT ARGS...: syslog_client.py ARGS, its report into OUT
  local out=$1
  shift
  timeout $((120 * BQ_SLOW)) python3 "$CLIENT" "$@" --timeout $((60 * BQ_SLOW)) \
    >"$out" 2>"$out.err" || fail "syslog_client $*: exit $?: $(cat "$out.err")"
}
report() { sed -n "s/^$2 //p" "$1"; } # FILE KEY

# check_silent WHAT OUT: the daemon wrote nothing to that client.
check_silent() {
  check_eq "$1: bytes the daemon wrote" "$(report "$2" received)" 0
}

# The streams and the rows they must give, made by python: for tag T,
# stream.T (the bytes) and expect.T (hex of each message, in order).
python3 - "$MAX" <<'EOF' || die "cannot make the test streams"
import sys
mx = int(sys.argv[1])
def octet(m): return b"%d %s" % (len(m), m)
for t in "ABC":
    T = t.encode()
    m = [b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
         b"%% It's time to make the do-nuts. " + T,
         b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for "
         b"lonvick on /dev/pts/8 " + T,
         b"plain line, no PRI " + T,
         b"two\nlines " + T,
         b"abc " + T,
         b"12 defg " + T,
         b"xyz " + T,
         b"last " + T]
    stream = (m[0] + b"\n" + octet(m[1]) + m[2] + b"\r\n" + b"\n" + b"\r\n" +
              octet(m[3]) + octet(m[4]) + octet(m[5]) + b"\n" + octet(m[6]) +
              b"\n\n" + m[7] + b"\n")
    open("stream." + t, "wb").write(stream)
    open("expect." + t, "w").write("".join(x.hex().upper() + "\n" for x in m))
# Truncation: octet-counted and newline messages over the limit, each
# followed by a short one; one of exactly the limit.
big_o = b"T-oct-" + b"o" * (mx + 50 - 6)
big_n = b"T-nl-" + b"n" * (mx + 100 - 5)
exact = b"T-exact-" + b"e" * (mx - 8)
open("stream.trunc", "wb").write(octet(big_o) + octet(b"after-oct") +
                                 big_n + b"\nafter-nl\n" + exact + b"\n")
open("expect.trunc", "w").write(
    "%s|1\n%s|0\n%s|1\n%s|0\n%s|0\n" % (big_o[:mx].hex().upper(),
    b"after-oct".hex().upper(), big_n[:mx].hex().upper(),
    b"after-nl".hex().upper(), exact.hex().upper()))
# Bad octet counts: a digit then neither a digit nor SP; ten digits.
open("stream.bad1", "wb").write(octet(b"bad1-kept") + b"12x34 bad\n" +
                                octet(b"bad1-never"))
open("stream.bad2", "wb").write(b"bad2-kept\n1234567890 x\nbad2-never\n")
EOF

start_daemon --listen 127.0.0.1:0,syslog --max-message "$MAX"
SPORT=${BQ_PORTS[1]}
check_grep "logs the acked listener" "$BQ_LOG" \
  " listening on 127\\.0\\.0\\.1:$BQ_PORT \\(acked\\)$"
check_grep "logs the syslog listener" "$BQ_LOG" \
  " listening on 127\\.0\\.0\\.1:$SPORT \\(syslog\\)$"

# --- mixed framing, whole and in pieces ---------------------------------
sclient out.A send "$SPORT" stream.A
sclient out.B send "$SPORT" stream.B --pieces 1
sclient out.C send "$SPORT" stream.C --pieces 5,1,3,17,2,8
sclient out.trunc send "$SPORT" stream.trunc --pieces 60,1,7
sclient out.bad1 send "$SPORT" stream.bad1
sclient out.bad2 send "$SPORT" stream.bad2 --pieces 3
sclient out.flood flood "$SPORT" 5000
printf 'acked-1\nacked-2\n' | timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.acked
check_reply "acked listener beside it: acks" out.acked "OK 2"

for k in A B C trunc bad1 bad2; do check_silent "sender $k" "out.$k"; done
# (A connection closed at a framing error may be reset instead, if more
# of it was still arriving.)
for k in A B C trunc; do
  check_eq "sender $k: the daemon ended the connection with FIN" \
    "$(report "out.$k" end)" eof
done

rows_hex() { # CONN_ID
  sql "SELECT hex(payload) FROM messages WHERE conn_id = $1 ORDER BY seq"
}
# Everything sent before the daemon stops has been read and queued once
# the flood's rows are all there (the connections are sequential).
flood_rows() { [ "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE '<13>flood: n=%'")" = 5000 ]; }
poll $((120 * BQ_SLOW)) flood_rows || fail "the flood's 5000 rows did not all arrive"
stop_daemon
check_eq "exit status" "$BQ_RC" 0

for k in A B C; do
  c=$(sql "SELECT conn_id FROM messages WHERE CAST(payload AS TEXT) = 'last $k'")
  check_num "stream $k: its connection" "${c:-0}" -ge 1
  check_eq "stream $k: rows, byte for byte, in order" "$(rows_hex "${c:-0}")" "$(cat "expect.$k")"
  check_eq "stream $k: seqs 1..8" \
    "$(sql "SELECT group_concat(seq) FROM (SELECT seq FROM messages WHERE conn_id = ${c:-0} ORDER BY id)")" \
    "1,2,3,4,5,6,7,8"
  check_eq "stream $k: none truncated" \
    "$(sql "SELECT count(*) FROM syslog_messages WHERE conn_id = ${c:-0} AND truncated = 0")" 8
  check_eq "stream $k: connections.listener" \
    "$(sql "SELECT listener FROM connections WHERE id = ${c:-0}")" "127.0.0.1:$SPORT,syslog"
done

# The header columns, NULL for what is absent (msgid '-' in the 5424 one).
cols="coalesce(facility,'N')||'|'||coalesce(severity,'N')||'|'||coalesce(log_time,'N')||'|'||coalesce(hostname,'N')||'|'||coalesce(app_name,'N')||'|'||coalesce(procid,'N')||'|'||coalesce(msgid,'N')||'|'||coalesce(truncated,'N')"
check_eq "RFC 5424 message: parsed columns" \
  "$(sql "SELECT $cols FROM syslog_messages WHERE CAST(payload AS TEXT) LIKE '<165>1 %do-nuts. A'")" \
  "20|5|2003-08-24T05:14:15.000003-07:00|192.0.2.1|myproc|8710|N|0"
check_eq "RFC 3164 message: parsed columns" \
  "$(sql "SELECT $cols FROM syslog_messages WHERE CAST(payload AS TEXT) LIKE '<34>Oct 11 %pts/8 B'")" \
  "4|2|Oct 11 22:14:15|mymachine|su|230|N|0"
check_eq "neither: NULL columns" \
  "$(sql "SELECT $cols FROM syslog_messages WHERE CAST(payload AS TEXT) = 'plain line, no PRI C'")" \
  "N|N|N|N|N|N|N|0"

# Truncation.
c=$(sql "SELECT conn_id FROM messages WHERE CAST(payload AS TEXT) = 'after-oct'")
check_eq "truncation: rows (first $MAX bytes, truncated flag)" \
  "$(sql "SELECT hex(payload) || '|' || truncated FROM syslog_messages WHERE conn_id = ${c:-0} ORDER BY seq")" \
  "$(cat expect.trunc)"
check_eq "truncated counter" "$(summary truncated)" 2

# Framing errors: the connection closed at the bad count.
for k in 1 2; do
  check_eq "bad octet count $k: the rows before it, none after" \
    "$(sql "SELECT group_concat(CAST(payload AS TEXT)) FROM messages WHERE CAST(payload AS TEXT) LIKE 'bad${k}-%'")" \
    "bad${k}-kept"
done
check_eq "framing_errors counter" "$(summary framing_errors)" 2
check_grep "framing error logged" "$BQ_LOG" 'bad octet count in a syslog frame'

# The fire-and-forget sender: every line, once, in order.
c=$(sql "SELECT conn_id FROM messages WHERE CAST(payload AS TEXT) = '<13>flood: n=1'")
check_eq "flood: rows n=seq, 1..5000" \
  "$(sql "SELECT count(*), min(seq), max(seq) FROM messages WHERE conn_id = ${c:-0} AND CAST(payload AS TEXT) = '<13>flood: n=' || seq")" \
  "5000|1|5000"
check_eq "flood: connections.listener, closed_at set" \
  "$(sql "SELECT listener, closed_at IS NOT NULL FROM connections WHERE id = ${c:-0}")" \
  "127.0.0.1:$SPORT,syslog|1"

# The acked connection beside them.
c=$(sql "SELECT conn_id FROM messages WHERE CAST(payload AS TEXT) = 'acked-1'")
check_eq "acked: connections.listener" \
  "$(sql "SELECT listener FROM connections WHERE id = ${c:-0}")" "127.0.0.1:$BQ_PORT,acked"
check_eq "acked: no syslog header rows" \
  "$(sql "SELECT count(*) FROM syslog_headers WHERE message_id IN (SELECT id FROM messages WHERE conn_id = ${c:-0})")" 0
check_eq "every connection is recorded with its listener" \
  "$(sql "SELECT count(*) FROM connections WHERE listener IS NULL OR closed_at IS NULL")" 0
check_eq "all received were committed" "$(summary committed)" "$(summary received)"

# --- silence: refusals, authentication, idle ------------------------------
rm -f "$BQ_DB" "$BQ_DB-wal" "$BQ_DB-shm"
start_daemon --listen 127.0.0.1:0,syslog --allow 192.0.2.0/24
SPORT=${BQ_PORTS[1]}
sclient out.denied hold "$SPORT"
check_silent "denied on the syslog listener" out.denied
sclient out.denied_acked hold "$BQ_PORT"
check_num "denied on the acked listener: ERR denied written" \
  "$(report out.denied_acked received)" -gt 0
stop_daemon
check_eq "denied counter" "$(summary denied)" 2
check_eq "denied: no connection recorded" "$(sql "SELECT count(*) FROM connections")" 0

rm -f "$BQ_DB" "$BQ_DB-wal" "$BQ_DB-shm"
TOKEN='syslog-t0k3n-0123456789'
(umask 077; printf '%s\n' "$TOKEN" >token)
start_daemon --listen 127.0.0.1:0,syslog --auth-token-file token --idle-timeout 1
SPORT=${BQ_PORTS[1]}
printf 'AUTH wrong-token\n<13>app: auth-never\n' >auth.bad
printf 'AUTH %s\n<13>app: auth-nl\n' "$TOKEN" >auth.nl
python3 -c 'import sys; a = b"AUTH " + sys.argv[1].encode(); m = b"<13>app: auth-octet"
sys.stdout.buffer.write(b"%d %s%d %s" % (len(a), a, len(m), m))' "$TOKEN" >auth.octet
sclient out.authbad send "$SPORT" auth.bad
sclient out.authnl send "$SPORT" auth.nl
sclient out.authoct send "$SPORT" auth.octet --pieces 4
sclient out.idle hold "$SPORT"
for k in authbad authnl authoct idle; do check_silent "$k" "out.$k"; done
stop_daemon
check_eq "auth_failed counter" "$(summary auth_failed)" 1
check_eq "idle_closed counter" "$(summary idle_closed)" 1
check_eq "authenticated messages only" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM (SELECT payload FROM messages ORDER BY id)")" \
  "<13>app: auth-nl,<13>app: auth-octet"
