#!/usr/bin/env bash
# test_basic.sh BURSTQD -- framing, byte-exact storage, the schema's
# bookkeeping, the summary line, restart on an existing database, and the
# command line (help, version, bad flags, unusable database).
. "$(dirname "$0")/lib.sh" "$@"

# send_ok OUT: send (lib.sh), and nc must exit 0.
send_ok() {
  send "$1" || fail "nc for $(basename "$1") exited $?"
}

hexof() { od -An -v -tx1 | tr -d ' \n' | tr a-f A-F; }

# Rows of the Nth connection (by id), as "seq|hex(payload)|typeof" lines.
rows_of_nth_conn() {
  sql "SELECT seq || '|' || hex(payload) || '|' || typeof(payload)
       FROM messages
       WHERE conn_id = (SELECT id FROM connections ORDER BY id
                        LIMIT 1 OFFSET $(($1 - 1)))
       ORDER BY seq"
}

start_daemon

# 1. Two lines -> "OK 2\n" last on the wire ("OK 1\n" may come first: the
# two lines can arrive, and be committed, apart), each ack ending in \n.
printf 'hello\nworld\n' | send_ok out.hello
check_acks out.hello 2 "reply to 'hello\\nworld\\n'"
check_eq "reply to 'hello\\nworld\\n': ends in a newline" \
  "$(tail -c 1 out.hello | od -An -c | tr -d ' ')" '\n'

# 2. An unterminated last line is still a message at EOF.
printf 'a\nb' | send_ok out.unterminated
check_acks out.unterminated 2 "reply to 'a\\nb'"

# 3. CRLF: the trailing \r is stripped; an empty line (bare or CRLF) is an
# empty message.
printf 'x\r\ny\r\n\r\n\n' | send_ok out.crlf
check_acks out.crlf 4 "reply to CRLF lines"

# 4. Payload bytes are stored exactly: tab, UTF-8, 0xff 0xfe, NUL, DEL, a
# lone interior \r.
printf 't\ta b\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\xfe\x00\x01\x7fend' >bin1
printf 'p\rq' >bin2
{ cat bin1; printf '\n'; cat bin2; printf '\n'; } | send_ok out.bin
check_acks out.bin 2 "reply to binary lines"

check_eq "connection 1 rows" "$(rows_of_nth_conn 1)" \
  "1|$(printf hello | hexof)|blob
2|$(printf world | hexof)|blob"
check_eq "connection 2 rows (unterminated tail kept)" "$(rows_of_nth_conn 2)" \
  "1|61|blob
2|62|blob"
check_eq "connection 3 rows (CR stripped, empty lines are empty blobs)" \
  "$(rows_of_nth_conn 3)" "1|78|blob
2|79|blob
3||blob
4||blob"
check_eq "connection 4 rows (byte-exact)" "$(rows_of_nth_conn 4)" \
  "1|$(hexof <bin1)|blob
2|$(hexof <bin2)|blob"

# 5. A line trickled in one byte at a time (many reads) is one message.
mkfifo in.drip
bq_spawn in.drip out.drip err.drip timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
drip_pid=$BQ_SPAWNED
open_fifo_writer in.drip drip_fd
drip='trickled-line'
for ((i = 0; i < ${#drip}; i++)); do
  printf '%s' "${drip:i:1}" >&"$drip_fd"
  sleep 0.02
done
printf '\r' >&"$drip_fd"; sleep 0.02; printf '\n' >&"$drip_fd"
close_fd "$drip_fd"
reap_or_kill "$drip_pid" $((60 * BQ_SLOW)) "trickling nc"
check_acks out.drip 1 "reply to a trickled line"
check_eq "connection 5 rows (trickled)" "$(rows_of_nth_conn 5)" \
  "1|$(printf '%s' "$drip" | hexof)|blob"

stop_daemon
check_eq "exit status after SIGTERM" "$BQ_RC" 0
rows=$(msg_count)
check_eq "rows" "$rows" 11
check_eq "summary received" "$(summary received)" "$rows"
check_eq "summary committed" "$(summary committed)" "$rows"
check_eq "summary rejected" "$(summary rejected)" 0
check_eq "summary connections" "$(summary connections)" \
  "$(sql 'SELECT count(*) FROM connections')"
check_eq "summary connections" "$(summary connections)" 5
check_eq "summary refused" "$(summary refused)" 0

# Schema bookkeeping.
check_eq "messages whose conn_id is not a connection" \
  "$(sql 'SELECT count(*) FROM messages WHERE conn_id NOT IN (SELECT id FROM connections)')" 0
check_eq "connections whose peer is not 127.0.0.1:PORT" \
  "$(sql "SELECT count(*) FROM connections WHERE peer NOT GLOB '127.0.0.1:[0-9]*'")" 0
check_eq "connections without opened_at/closed_at, or closed before opened" \
  "$(sql 'SELECT count(*) FROM connections WHERE opened_at IS NULL OR closed_at IS NULL OR closed_at < opened_at')" 0
check_eq "messages received outside their connection's lifetime" \
  "$(sql 'SELECT count(*) FROM messages m JOIN connections c ON c.id = m.conn_id WHERE m.received_at < c.opened_at OR m.received_at > c.closed_at')" 0
check_eq "conns whose seqs are not 1..n" \
  "$(sql 'SELECT count(*) FROM (SELECT conn_id FROM messages GROUP BY conn_id HAVING min(seq) != 1 OR max(seq) != count(*) OR count(DISTINCT seq) != count(*))')" 0
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
check_eq "no WAL left after a clean stop" \
  "$( [ -s "$BQ_DB-wal" ] && echo present || echo absent)" absent

# Restart on the same database: old rows stay, connection ids go on, seq
# starts again at 1; SIGINT stops it as SIGTERM does.
start_daemon
printf 'again\n' | send_ok out.again
check_acks out.again 1 "reply after restart"

# One daemon per database: a second one on the same file is refused before
# it listens (two writers would hand out the same connection ids), and the
# first one is not disturbed.
timeout $((30 * BQ_SLOW)) "$BQ_BIN" --listen 127.0.0.1:0 --db "$BQ_DB" \
  >second.out 2>second.err
check_eq "second daemon on the same database: exit status" "$?" 2
check_grep "second daemon: says why" second.err 'in use by another burstqd'
check_no_grep "second daemon: does not listen" second.err 'listening on'
check_sanitizer_log second.err
stop_daemon INT
check_eq "exit status after SIGINT" "$BQ_RC" 0
check_eq "rows after restart" "$(msg_count)" 12
check_eq "new connection's id continues" \
  "$(sql "SELECT conn_id || ':' || seq FROM messages WHERE payload = CAST('again' AS BLOB)")" \
  "6:1"
check_eq "summary after restart: received" "$(summary received)" 1
check_eq "summary after restart: connections" "$(summary connections)" 1

# --- the command line ----------------------------------------------------

"$BQ_BIN" --help >help.out 2>help.err
check_eq "--help exit status" "$?" 0
for flag in --listen --db --workers --queue-capacity --queue-bytes \
  --batch-max --sync --ack --max-message --max-connections --log-level \
  --help --version; do
  grep -q -- "$flag" help.out || fail "--help does not mention $flag"
done
check_eq "--help writes nothing to stderr" "$(cat help.err)" ""

"$BQ_BIN" --version >version.out 2>&1
check_eq "--version exit status" "$?" 0
check_grep "--version prints 'burstqd X.Y.Z'" version.out \
  '^burstqd [0-9]+\.[0-9]+\.[0-9]+$'

# Each bad invocation: exit 2, a message naming the problem, never listening.
# --listen and --db come first so that a flag wrongly accepted would not
# touch port 7070 or ./burstq.db (and timeout bounds it).
n=0
bad() { # ERE-the-message-must-match ARGS...
  local re=$1
  shift
  n=$((n + 1))
  timeout $((30 * BQ_SLOW)) "$BQ_BIN" --listen 127.0.0.1:0 \
    --db "$BQ_T/bad.db" "$@" >"bad$n.out" 2>"bad$n.err"
  local rc=$?
  check_eq "exit status of burstqd $*" "$rc" 2
  check_grep "burstqd $*: error message" "bad$n.err" "$re"
  check_no_grep "burstqd $*: does not listen" "bad$n.err" 'listening on'
  check_sanitizer_log "bad$n.err"
}
bad 'workers.*out of range' --workers 0
bad 'workers.*out of range' --workers 65
bad 'workers.*not a number' --workers abc
bad 'queue-capacity.*out of range' --queue-capacity 0
bad 'queue-bytes.*out of range' --queue-bytes 10
bad 'queue-bytes.*not a number' --queue-bytes 12X
bad 'batch-max' --batch-max -1
bad 'sync' --sync maybe
bad 'ack' --ack yes
bad 'max-message.*out of range' --max-message 0
bad 'max-connections' --max-connections 0
bad 'log-level' --log-level loud
bad 'listen' --listen 127.0.0.1
bad "--listen: the port in '127.0.0.1:99999' is out of range \\(0 to 65535" --listen 127.0.0.1:99999
bad '--listen: cannot resolve the host' --listen nosuchhost.invalid:80
bad 'db.*empty' --db ''
bad 'unknown option' --bogus
bad 'unknown option' -Z
bad 'needs a value' --db
bad 'unexpected argument' extra-argument
check_eq "no database created by bad invocations" \
  "$(ls "$BQ_T"/bad.db* 2>/dev/null | wc -l)" 0

# A database that cannot be opened: exit 2 before listening, with the path
# and the reason in the log.
db_unusable() { # WHAT PATH ERE [ARGS...]
  n=$((n + 1))
  timeout $((30 * BQ_SLOW)) "$BQ_BIN" --listen 127.0.0.1:0 --db "$2" \
    "${@:4}" >"bad$n.out" 2>"bad$n.err"
  local rc=$?
  check_eq "$1: exit status" "$rc" 2
  check_grep "$1: error names the database" "bad$n.err" "$(printf '%s' "$2" | sed 's/[.[\*^$]/\\&/g')"
  check_grep "$1: error says why" "bad$n.err" "$3"
  check_no_grep "$1: does not listen" "bad$n.err" 'listening on'
  check_sanitizer_log "bad$n.err"
}
# A --max-message the database cannot hold in a row is refused up front
# (SQLite stores at most 1e9 bytes per row by default).
db_unusable "--max-message over the database's row limit" "$BQ_T/big.db" \
  'max-message .* larger than the database .* can store' --max-message 1G
db_unusable "db in a missing directory" "$BQ_T/no/such/dir/x.db" \
  'directory .*/no/such/dir does not exist'
printf 'this is not a database, just some text long enough to matter\n%.0s' \
  $(seq 200) >notadb
db_unusable "db that is not a database" "$BQ_T/notadb" \
  'is not an SQLite database'
sqlite3 "$BQ_T/other.db" 'CREATE TABLE unrelated(x); INSERT INTO unrelated VALUES (1);'
db_unusable "db of another application" "$BQ_T/other.db" \
  'not a burstq database: it holds table unrelated'
check_eq "the other application's data is untouched" \
  "$(sql 'SELECT count(*) FROM unrelated' "$BQ_T/other.db")" 1
