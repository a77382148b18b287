#!/usr/bin/env bash
# test_payloads.sh BURSTQD -- payloads and peer strings reach PostgreSQL
# only as COPY data, never as SQL text: a corpus (corpus.py: tabs,
# backslashes, NUL, "\.", quotes, SQL text, invalid UTF-8, 1 MiB, then
# 2000 random byte strings) round-trips byte for byte, in order, and the
# schema is intact afterwards.  A syslog message whose header holds
# invalid UTF-8 keeps every byte in messages.payload.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need
command -v python3 >/dev/null || die "python3 is needed"

pg_start "$BQ_T/pg"
BQ_DB=$(pg_url "$BQ_T/pg" burstq)
psqlq() { pg_psql "$BQ_T/pg" burstq "$@"; }

python3 "$here/corpus.py" corpus.txt corpus.hex 15 $((2000 / BQ_DIV)) || die "corpus.py"
n=$(wc -l <corpus.hex)
start_daemon --node payloads --max-message 2M --listen 127.0.0.1:0,syslog
send out <corpus.txt
check_eq "corpus acked" "$(tail -n1 out)" "OK $n"
# RFC 5424, hostname "h<ff>st", app "a<c3>(pp"; then a 3164 one.
printf '<13>1 2024-05-06T07:08:09Z h\377st a\303(pp 42 ID7 - body \377\n<14>Jan  2 03:04:05 host2 tag: hello\n' |
  timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "${BQ_PORTS[1]}" >/dev/null
syslog_in() { [ "$(psqlq "SELECT count(*) FROM syslog_messages")" = 2 ]; }
poll $((60 * BQ_SLOW)) syslog_in || fail "syslog messages not stored"
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0

psqlq "SELECT encode(payload, 'hex') FROM messages m JOIN connections c ON c.id = m.conn_id
       WHERE c.listener LIKE '%,acked' ORDER BY m.seq" >stored.hex
check_eq "payloads stored" "$(wc -l <stored.hex)" "$n"
if cmp -s corpus.hex stored.hex; then
  note "ok: every payload round-trips byte for byte, in order"
else
  fail "payloads differ: first at line $(cmp corpus.hex stored.hex | sed -n 's/.* line \([0-9]*\).*/\1/p')"
fi
check_eq "the 1 MiB payload" \
  "$(psqlq "SELECT count(*) FROM messages WHERE length(payload) = 1048576")" 1
check_eq "schema intact" "$(psqlq "SELECT value FROM burstq_meta WHERE key = 'schema_version'")" 4

check_eq "syslog: payload kept byte for byte" \
  "$(psqlq "SELECT encode(payload, 'hex') FROM syslog_messages WHERE seq = 1")" \
  "$(printf '<13>1 2024-05-06T07:08:09Z h\377st a\303(pp 42 ID7 - body \377' | od -An -tx1 | tr -d ' \n')"
# Header fields are printable ASCII (RFC 5424 PRINTUSASCII): a header with
# other bytes leaves its fields NULL, as on SQLite.
check_eq "syslog: a header with invalid bytes: only PRI parsed" \
  "$(psqlq "SELECT concat_ws('|', hostname, app_name, procid, msgid, facility, severity, log_time) FROM syslog_messages WHERE seq = 1")" \
  "1|5"
check_eq "syslog: RFC 3164" \
  "$(psqlq "SELECT hostname || '|' || app_name || '|' || truncated FROM syslog_messages WHERE seq = 2")" \
  "host2|tag|0"
