#!/usr/bin/env bash
# test_e2e.sh BURSTQD -- the PostgreSQL backend end to end: 4 nc
# connections x 25,000 messages into burstqd --db postgresql://...; every
# one is acked, stored once, in per-connection order (seq 1..N, ids
# growing with seq), each connection's rows in its node's id range;
# "stopped:" has received = committed and names the backend.  A second
# start finds the burstq schema and goes on with new connection ids (a
# HELLO first line makes a producer connection there); a
# database holding other tables is refused without a write; a URI with a
# password is refused, and the password never reaches the log;
# --page-size (SQLite's) is refused; --retain-rows is applied.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need

pg_start "$BQ_T/pg"
BQ_DB=$(pg_url "$BQ_T/pg" burstq)
psqlq() { pg_psql "$BQ_T/pg" burstq "$@"; }

start_daemon --node e2e --metrics 127.0.0.1:0
check_grep "start-up line names the backend" "$BQ_LOG" \
  "db $BQ_DB \\(postgresql [0-9.]+\\), sync full"
N=$((25000 / BQ_DIV))
pids=()
for c in 1 2 3 4; do
  seq -f "c$c-%.0f" 1 "$N" >in.$c
  bq_spawn in.$c out.$c err.$c timeout $((120 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
  pids+=("$BQ_SPAWNED")
done
for c in 1 2 3 4; do
  reap_or_kill "${pids[$((c - 1))]}" $((150 * BQ_SLOW)) "nc $c"
  check_eq "nc $c exit status" "$BQ_RC" 0
  check_eq "nc $c final ack" "$(tail -n1 out.$c)" "OK $N"
done
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_eq "stopped: received" "$(summary received)" $((4 * N))
check_eq "stopped: committed" "$(summary committed)" $((4 * N))
check_grep "stopped: names the backend" "$BQ_LOG" 'stopped: .* backend=postgresql/[0-9.]+$'

check_eq "rows" "$(psqlq "SELECT count(*) FROM messages")" $((4 * N))
check_eq "distinct (conn_id, seq)" \
  "$(psqlq "SELECT count(DISTINCT (conn_id, seq)) FROM messages")" $((4 * N))
check_eq "connections" "$(psqlq "SELECT count(*) FROM connections WHERE closed_at IS NOT NULL")" 4
# Each connection: one client's lines, seq = the line's number, 1..N.
check_eq "payload is its client's line number seq" \
  "$(psqlq "SELECT count(*) FROM messages
            WHERE split_part(convert_from(payload, 'UTF8'), '-', 2)::bigint <> seq")" 0
check_eq "one client per connection" \
  "$(psqlq "SELECT count(*) FROM (SELECT conn_id FROM messages
            GROUP BY conn_id HAVING count(DISTINCT split_part(convert_from(payload, 'UTF8'), '-', 1)) = 1
            AND min(seq) = 1 AND max(seq) = $N AND count(*) = $N) x")" 4
check_eq "ids grow with seq within each connection" \
  "$(psqlq "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY conn_id ORDER BY id) AS p
            FROM messages) x WHERE p IS NOT NULL AND seq <> p + 1")" 0
node_id=$(psqlq "SELECT id FROM nodes WHERE name = 'e2e'")
check_eq "connection ids in the node's range" \
  "$(psqlq "SELECT count(*) FROM connections WHERE id >> 40 = $node_id")" 4
check_eq "schema version" \
  "$(psqlq "SELECT value FROM burstq_meta WHERE key = 'schema_version'")" 4
last=$(psqlq "SELECT max(id) FROM connections")

# Again: the schema is found and kept; new connections get new ids.
# A HELLO first line makes the connection a producer (pg.producers has
# the rest); no warning about producers at start.
start_daemon --node e2e
check_no_grep "no producers warning" "$BQ_LOG" 'producers'
printf 'HELLO p1\nx\n' | send hello.out
check_eq "a HELLO: RESUME, then the producer's ack" \
  "$(tr '\n' ' ' <hello.out)" "RESUME 0 OK 1 "
printf 'again\n' | send again.out
check_eq "second run acked" "$(cat again.out)" "OK 1"
stop_daemon
check_eq "second run exit status" "$BQ_RC" 0
check_eq "second run: new ids after the old ones" \
  "$(psqlq "SELECT count(*) FROM connections WHERE id > $last")" 2
check_eq "the HELLO line is not a message; its line is p1's first" \
  "$(psqlq "SELECT count(*) FROM messages WHERE payload = 'HELLO p1'::bytea"
     )/$(psqlq "SELECT producer, pseq, convert_from(payload, 'UTF8') FROM producer_messages")" \
  "0/p1|1|x"
check_eq "second run: the same node" "$(psqlq "SELECT count(*) FROM nodes")" 1

# A database with other tables: refused, exit 2, nothing written.
pg_psql "$BQ_T/pg" postgres "CREATE DATABASE other" >/dev/null
pg_psql "$BQ_T/pg" other "CREATE TABLE foo(x int)" >/dev/null
"$BQ_BIN" --listen 127.0.0.1:0 --db "$(pg_url "$BQ_T/pg" other)" >other.log 2>&1
check_eq "foreign database: exit status" "$?" 2
check_grep "foreign database: the reason" other.log 'is not a burstq database'
check_eq "foreign database: untouched" \
  "$(pg_psql "$BQ_T/pg" other "SELECT string_agg(relname, ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace")" foo

# --page-size is SQLite's: refused on PostgreSQL, exit 2, nothing written
# (an empty database stays without tables).
pg_psql "$BQ_T/pg" postgres "CREATE DATABASE pages" >/dev/null
"$BQ_BIN" --listen 127.0.0.1:0 --node pages --db "$(pg_url "$BQ_T/pg" pages)" \
  --page-size 65536 >pages.log 2>&1
check_eq "--page-size on PostgreSQL: exit status" "$?" 2
check_grep "--page-size on PostgreSQL: the reason" pages.log \
  '--page-size is for SQLite databases only'
check_sanitizer_log pages.log
check_eq "--page-size on PostgreSQL: nothing created" \
  "$(pg_psql "$BQ_T/pg" pages "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")" 0

# A password in the URI: refused before connecting; never logged.
port=$(pg_port "$BQ_T/pg")
"$BQ_BIN" --listen 127.0.0.1:0 --db "postgresql://postgres:s3cr3t@127.0.0.1:$port/burstq" >pw.log 2>&1
check_eq "password in the URI: exit status" "$?" 2
check_grep "password in the URI: the reason" pw.log 'holds a password: give it in PGPASSFILE'
check_no_grep "password in the URI: not logged" pw.log 's3cr3t'
"$BQ_BIN" --listen 127.0.0.1:0 --db "postgresql://postgres@127.0.0.1:$port/burstq?password=s3cr3t" >pw2.log 2>&1
check_eq "password= in the URI: exit status" "$?" 2
check_no_grep "password= in the URI: not logged" pw2.log 's3cr3t'

# Retention works on PostgreSQL (tests/pg/test_retention.sh has the
# rest): --retain-rows 2 keeps the newest two of three messages.
pg_psql "$BQ_T/pg" postgres "CREATE DATABASE ret" >/dev/null
start_daemon --node ret --db "$(pg_url "$BQ_T/pg" ret)" --retain-rows 2
check_eq "--retain-rows on PostgreSQL: acked" \
  "$(printf 'r1\nr2\nr3\n' | nc -N 127.0.0.1 "$BQ_PORT" | tail -n1)" "OK 3"
stop_daemon
check_eq "--retain-rows on PostgreSQL: the newest two kept" \
  "$(pg_psql "$BQ_T/pg" ret "SELECT string_agg(convert_from(payload, 'UTF8'), ','
                              ORDER BY id) FROM messages")" "r2,r3"

# The password user through PGPASSFILE: works.
pg_passfile "$BQ_T/pgpass" "$BQ_T/pg"
pg_psql "$BQ_T/pg" postgres "CREATE DATABASE pw OWNER $PG_PW_USER" >/dev/null
PGPASSFILE=$BQ_T/pgpass start_daemon --node pw --db "$(pg_url "$BQ_T/pg" pw "$PG_PW_USER")"
printf 'p\n' | send pw.out
check_eq "PGPASSFILE: acked" "$(cat pw.out)" "OK 1"
stop_daemon
check_eq "PGPASSFILE: exit status" "$BQ_RC" 0
check_eq "PGPASSFILE: stored" "$(pg_psql "$BQ_T/pg" pw "SELECT count(*) FROM messages")" 1
