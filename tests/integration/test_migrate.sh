#!/usr/bin/env bash
# test_migrate.sh BURSTQD -- databases written by earlier releases are
# migrated in place to schema version 5 at start, every row kept:
#  - version 1 (data/schema-v1-burstqd-0.1.0.sqlite3, made by burstqd 0.1.0
#    from two connections, "first v1 message" and "second v1 message" on
#    the first, "from another connection" on the second): every row kept
#    byte for byte, the new columns there and NULL in the old rows,
#    connection ids continuing after the old ones, and the new rows
#    carrying their listener.  A second start finds version 5 and leaves it
#    as it is.
#  - version 2 (data/schema-v2-burstqd-0.1.0.sqlite3: "first v2 message"
#    and "second v2 message" on an acked listener, one syslog message on a
#    syslog one): its rows, parsed columns and listeners kept,
#    connections.tls_subject added and NULL in them.
#  - version 3 (data/schema-v3-burstqd-0.1.0.sqlite3, made by main at
#    8bd71bc: "first v3 message" and "second v3 message" on an acked
#    listener, one syslog message on a syslog one): its rows kept,
#    messages.producer and pseq NULL in them, the producers table empty,
#    and a producer's HELLO works on it at once.
#  - version 4 (data/schema-v4-burstqd-0.1.0.sqlite3, made by main at
#    81d1f5e: "first v4 message" and "second v4 message" plain; producer
#    v4-producer's p1..p3 from one connection, then "HELLO v4-producer 3"
#    with p3 (skipped), p4, p5 from another; one syslog message), which
#    stored each producer message's producer and pseq in its row: the
#    rows kept, producer_messages still gives v4-producer's pseqs 1..5,
#    the producer resumes at 5 and its next lines continue at 6 (stored the
#    version 5 way, in the connection's row), and the view shows 1..7.
. "$(dirname "$0")/lib.sh" "$@"

# use_fixture V: the database written by the release of schema version V,
# in place of $BQ_DB.
use_fixture() {
  rm -f "$BQ_DB" "$BQ_DB-wal" "$BQ_DB-shm"
  cp "$(dirname "$0")/data/schema-v$1-burstqd-0.1.0.sqlite3" "$BQ_DB" || die "no v$1 fixture"
  chmod u+w "$BQ_DB"
  check_eq "v$1 fixture: schema version" "$(sql 'PRAGMA user_version')" "$1"
}

use_fixture 1
old_msgs=$(sql "SELECT group_concat(id || ':' || conn_id || ':' || seq || ':' || received_at || ':' || hex(payload), ',') FROM messages")
old_conns=$(sql "SELECT group_concat(id || ':' || peer || ':' || opened_at || ':' || closed_at, ',') FROM connections")
check_eq "fixture: messages" "$(sql 'SELECT count(*) FROM messages')" 3

start_daemon --listen 127.0.0.1:0,syslog
SPORT=${BQ_PORTS[1]}
check_grep "the migration is logged" "$BQ_LOG" 'migrated from schema version 1 to 5'
printf 'after-migration\n' | timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.acked
check_eq "acked listener after the migration" "$(cat out.acked)" "OK 1"
printf '<14>Oct 11 22:14:15 host app: syslog-after-migration\n' |
  timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$SPORT" >out.syslog
check_eq "syslog listener: nothing written back" "$(wc -c <out.syslog)" 0
stop_daemon
check_eq "exit status" "$BQ_RC" 0

check_eq "schema version" "$(sql 'PRAGMA user_version')" 5
check_eq "old messages kept" \
  "$(sql "SELECT group_concat(id || ':' || conn_id || ':' || seq || ':' || received_at || ':' || hex(payload), ',') FROM messages WHERE id <= 3")" \
  "$old_msgs"
check_eq "old connections kept" \
  "$(sql "SELECT group_concat(id || ':' || peer || ':' || opened_at || ':' || closed_at, ',') FROM connections WHERE id <= 2")" \
  "$old_conns"
check_eq "no syslog headers for the old rows" \
  "$(sql "SELECT count(*) FROM syslog_headers WHERE message_id <= 3")" 0
check_eq "listener NULL in the old connections" \
  "$(sql "SELECT count(*) FROM connections WHERE id <= 2 AND listener IS NULL AND tls_subject IS NULL")" 2
check_eq "new connections: ids after the old ones, with their listener" \
  "$(sql "SELECT group_concat(c.id || ':' || c.listener, ',') FROM messages m JOIN connections c ON c.id = m.conn_id WHERE m.id > 3 ORDER BY m.id")" \
  "3:127.0.0.1:$BQ_PORT,acked,4:127.0.0.1:$SPORT,syslog"
check_eq "the syslog row parsed" \
  "$(sql "SELECT facility || '|' || severity || '|' || hostname || '|' || app_name || '|' || truncated FROM syslog_messages WHERE CAST(payload AS TEXT) LIKE '%syslog-after-migration'")" \
  "1|6|host|app|0"
check_eq "integrity" "$(sql 'PRAGMA integrity_check')" ok

start_daemon
check_no_grep "second start: no migration" "$BQ_LOG" 'migrated from'
stop_daemon
check_eq "second start: exit status" "$BQ_RC" 0
check_eq "second start: rows" "$(sql 'SELECT count(*) FROM messages')" 5

# Version 2 -> 3.
use_fixture 2
old_msgs=$(sql "SELECT group_concat(m.id || ':' || m.conn_id || ':' || m.seq || ':' || m.received_at || ':' || hex(m.payload) || ':' || coalesce(h.facility, '-') || ':' || coalesce(h.hostname, '-') || ':' || coalesce(h.truncated, '-'), ',') FROM messages AS m LEFT JOIN syslog_headers AS h ON h.message_id = m.id")
old_conns=$(sql "SELECT group_concat(id || ':' || peer || ':' || opened_at || ':' || closed_at || ':' || listener, ',') FROM connections")
check_eq "v2 fixture: messages" "$(sql 'SELECT count(*) FROM messages')" 3
start_daemon
check_grep "v2: the migration is logged" "$BQ_LOG" 'migrated from schema version 2 to 5'
printf 'after-v2-migration\n' | timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.v2
check_eq "v2: acked listener after the migration" "$(cat out.v2)" "OK 1"
stop_daemon
check_eq "v2: exit status" "$BQ_RC" 0
check_eq "v2: schema version" "$(sql 'PRAGMA user_version')" 5
check_eq "v2: old messages kept" \
  "$(sql "SELECT group_concat(m.id || ':' || m.conn_id || ':' || m.seq || ':' || m.received_at || ':' || hex(m.payload) || ':' || coalesce(h.facility, '-') || ':' || coalesce(h.hostname, '-') || ':' || coalesce(h.truncated, '-'), ',') FROM messages AS m LEFT JOIN syslog_headers AS h ON h.message_id = m.id WHERE m.id <= 3")" \
  "$old_msgs"
check_eq "v2: old connections kept" \
  "$(sql "SELECT group_concat(id || ':' || peer || ':' || opened_at || ':' || closed_at || ':' || listener, ',') FROM connections WHERE id <= 2")" \
  "$old_conns"
check_eq "v2: tls_subject NULL everywhere" \
  "$(sql "SELECT count(*) FROM connections WHERE tls_subject IS NULL")" 3
check_eq "v2: the new connection's id follows the old ones" \
  "$(sql "SELECT conn_id FROM messages WHERE CAST(payload AS TEXT) = 'after-v2-migration'")" 3
check_eq "v2: integrity" "$(sql 'PRAGMA integrity_check')" ok

# Version 3 -> 4.
use_fixture 3
old_msgs=$(sql "SELECT group_concat(m.id || ':' || m.conn_id || ':' || m.seq || ':' || m.received_at || ':' || hex(m.payload) || ':' || coalesce(h.facility, '-') || ':' || coalesce(h.hostname, '-'), ',') FROM messages AS m LEFT JOIN syslog_headers AS h ON h.message_id = m.id")
old_conns=$(sql "SELECT group_concat(id || ':' || peer || ':' || opened_at || ':' || closed_at || ':' || listener || ':' || coalesce(tls_subject, '-'), ',') FROM connections")
check_eq "v3 fixture: messages" "$(sql 'SELECT count(*) FROM messages')" 3
start_daemon
check_grep "v3: the migration is logged" "$BQ_LOG" 'migrated from schema version 3 to 5'
printf 'HELLO migrated-producer\nafter-v3-migration\n' |
  timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.v3
check_eq "v3: a producer right after the migration" "$(tr '\n' ' ' <out.v3)" "RESUME 0 OK 1 "
stop_daemon
check_eq "v3: exit status" "$BQ_RC" 0
check_eq "v3: schema version" "$(sql 'PRAGMA user_version')" 5
check_eq "v3: old messages kept" \
  "$(sql "SELECT group_concat(m.id || ':' || m.conn_id || ':' || m.seq || ':' || m.received_at || ':' || hex(m.payload) || ':' || coalesce(h.facility, '-') || ':' || coalesce(h.hostname, '-'), ',') FROM messages AS m LEFT JOIN syslog_headers AS h ON h.message_id = m.id WHERE m.id <= 3")" \
  "$old_msgs"
check_eq "v3: old connections kept" \
  "$(sql "SELECT group_concat(id || ':' || peer || ':' || opened_at || ':' || closed_at || ':' || listener || ':' || coalesce(tls_subject, '-'), ',') FROM connections WHERE id <= 2")" \
  "$old_conns"
check_eq "v3: producer and pseq NULL in the old rows" \
  "$(sql "SELECT count(*) FROM messages WHERE id <= 3 AND producer IS NULL AND pseq IS NULL")" 3
check_eq "v3: the producer's row and message" \
  "$(sql "SELECT p.name || ':' || p.committed || ':' || m.pseq || ':' || CAST(m.payload AS TEXT) || ':' || m.conn_id FROM producers p JOIN producer_messages m ON m.producer = p.name")" \
  "migrated-producer:1:1:after-v3-migration:3"
check_eq "v3: integrity" "$(sql 'PRAGMA integrity_check')" ok

# Page sizes: earlier releases created databases with SQLite's default
# 4096-byte pages, this one with 16384 (store_sqlite.c NEW_PAGE_SIZE).  The
# migrated v3 database keeps its 4096-byte pages and takes 16 KB messages
# (every one stored once, in order: burstq bench --db); a new database
# gets 16384-byte pages and the same load.
need_client
check_eq "v3: page size kept" "$(sql 'PRAGMA page_size')" 4096
# big_load WHAT: 16 KB messages from 2 connections into the running
# daemon, checked in the database.
big_load() {
  timeout $((240 * BQ_SLOW)) "$BQ_CLIENT" bench -H "127.0.0.1:$BQ_PORT" \
    -c 2 -n 200 -s 16384 --db "$BQ_DB" --json </dev/null >big.out 2>big.err
  check_eq "$1: 16 KB messages stored and checked (exit status)" "$?" 0
  check_sanitizer_log big.err || true
  check_grep "$1: every message once, in order" big.out '"sent_eq_committed":true'
}
start_daemon
big_load "4096-byte pages"
stop_daemon
check_eq "4096-byte pages: exit status" "$BQ_RC" 0
check_eq "4096-byte pages: still 4096" "$(sql 'PRAGMA page_size')" 4096
check_eq "4096-byte pages: rows" "$(sql 'SELECT count(*) FROM messages WHERE length(payload) = 16384')" 200
check_eq "4096-byte pages: integrity" "$(sql 'PRAGMA integrity_check')" ok

rm -f "$BQ_DB" "$BQ_DB-wal" "$BQ_DB-shm"
start_daemon
big_load "a new database"
stop_daemon
check_eq "a new database: exit status" "$BQ_RC" 0
check_eq "a new database: 16384-byte pages" "$(sql 'PRAGMA page_size')" 16384
check_eq "a new database: rows" "$(sql 'SELECT count(*) FROM messages WHERE length(payload) = 16384')" 200
check_eq "a new database: integrity" "$(sql 'PRAGMA integrity_check')" ok

# Version 4 -> 5.
use_fixture 4
old_msgs=$(sql "SELECT group_concat(id || ':' || conn_id || ':' || seq || ':' || received_at || ':' || hex(payload) || ':' || coalesce(producer, '-') || ':' || coalesce(pseq, '-'), ',') FROM messages")
old_view=$(sql "SELECT group_concat(producer || ':' || pseq || ':' || id || ':' || CAST(payload AS TEXT), ',') FROM (SELECT * FROM producer_messages ORDER BY pseq)")
check_eq "v4 fixture: the producer's messages" "$old_view" \
  "v4-producer:1:3:p1,v4-producer:2:4:p2,v4-producer:3:5:p3,v4-producer:4:6:p4,v4-producer:5:7:p5"
start_daemon
check_grep "v4: the migration is logged" "$BQ_LOG" 'migrated from schema version 4 to 5'
printf 'HELLO v4-producer 5\np5\np6\np7\n' |
  timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.v4
check_reply "v4: the producer resumes where version 4 left it" out.v4 "RESUME 5 OK 7"
printf 'plain-after-v4\n' | timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.v4p
check_eq "v4: a plain connection" "$(cat out.v4p)" "OK 1"
stop_daemon
check_eq "v4: exit status" "$BQ_RC" 0
check_eq "v4: schema version" "$(sql 'PRAGMA user_version')" 5
check_eq "v4: old messages kept, their producer and pseq with them" \
  "$(sql "SELECT group_concat(id || ':' || conn_id || ':' || seq || ':' || received_at || ':' || hex(payload) || ':' || coalesce(producer, '-') || ':' || coalesce(pseq, '-'), ',') FROM messages WHERE id <= 8")" \
  "$old_msgs"
check_eq "v4: new rows store no producer columns" \
  "$(sql "SELECT count(*) FROM messages WHERE id > 8 AND producer IS NULL AND pseq IS NULL")" 3
check_eq "v4: the producer's connection row" \
  "$(sql "SELECT c.producer = p.id, c.pseq_base FROM connections c JOIN producers p ON p.name = 'v4-producer' WHERE c.id = 5")" "1|5"
check_eq "v4: the view: old and new messages, each pseq once, in order" \
  "$(sql "SELECT group_concat(producer || ':' || pseq || ':' || id || ':' || CAST(payload AS TEXT), ',') FROM (SELECT * FROM producer_messages ORDER BY pseq)")" \
  "v4-producer:1:3:p1,v4-producer:2:4:p2,v4-producer:3:5:p3,v4-producer:4:6:p4,v4-producer:5:7:p5,v4-producer:6:9:p6,v4-producer:7:10:p7"
check_eq "v4: the plain rows are not in the view" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM messages WHERE id NOT IN (SELECT id FROM producer_messages)")" \
  "first v4 message,second v4 message,<14>Oct 11 22:14:15 host app: v4 syslog message,plain-after-v4"
check_eq "v4: producers.committed" "$(sql "SELECT committed FROM producers WHERE name = 'v4-producer'")" 7
check_eq "v4: integrity" "$(sql 'PRAGMA integrity_check')" ok
