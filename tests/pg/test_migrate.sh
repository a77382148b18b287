#!/usr/bin/env bash
# test_migrate.sh BURSTQD -- a PostgreSQL database of schema version 3,
# written by the release before producers on PostgreSQL
# (tests/pg/fixtures/schema_v3.sql), is migrated in place to version 4 at
# start: its rows, node and batch number are kept (the new columns NULL),
# the schema is then the same as a new database's (pg_dump --schema-only
# of both are equal), and producers work on it.  Two daemons starting at
# once on a version-3 database: the advisory lock lets one migrate, and
# both run.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need

pg_start "$BQ_T/pg"
fixture=$here/fixtures/schema_v3.sql
# restore DB: a new database DB holding the fixture.
restore() {
  pg_psql "$BQ_T/pg" postgres "CREATE DATABASE $1" >/dev/null
  "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(pg_port "$BQ_T/pg")" \
    -U postgres -d "$1" -f "$fixture" >restore.$1.log 2>&1 ||
    die "cannot restore the fixture into $1: $(cat restore.$1.log)"
}
q() { pg_psql "$BQ_T/pg" old "$@"; }

restore old
check_eq "fixture: version 3, 4 messages, node old-node at batch 5" \
  "$(q "SELECT value FROM burstq_meta")/$(q "SELECT count(*) FROM messages")/$(q "SELECT name, last_batch FROM nodes")" \
  "3/4/old-node|5"

BQ_DB=$(pg_url "$BQ_T/pg" old)
start_daemon --node old-node
check_grep "the migration is logged" "$BQ_LOG" \
  'database migrated from schema version 3 to 4 \(rows kept'
check_eq "schema version 4" "$(q "SELECT value FROM burstq_meta WHERE key = 'schema_version'")" 4
check_eq "old rows kept, producer and pseq NULL" \
  "$(q "SELECT count(*) FROM messages WHERE producer IS NULL AND pseq IS NULL")" 4
check_eq "the old HELLO line is still a plain message" \
  "$(q "SELECT count(*) FROM messages WHERE payload = 'HELLO p1'::bytea")" 1
{ echo 'HELLO p1'; seq 1 100; } | send out.p1
check_eq "a producer on the migrated database: RESUME 0 ... OK 100" \
  "$(head -n1 out.p1) ... $(tail -n1 out.p1)" "RESUME 0 ... OK 100"
printf 'plain\n' | send out.plain
check_eq "a plain connection" "$(cat out.plain)" "OK 1"
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
pg_check_producer "$BQ_T/pg" old "migrated database" p1 100
check_eq "the node and its batch numbers go on" \
  "$(q "SELECT count(*), min(last_batch) > 5 FROM nodes")" "1|t"
check_eq "message ids go on after the old ones" \
  "$(q "SELECT min(id) FROM messages WHERE producer IS NOT NULL")" 5

# The migrated schema is the one a new database gets.
pg_psql "$BQ_T/pg" postgres "CREATE DATABASE fresh" >/dev/null
BQ_DB=$(pg_url "$BQ_T/pg" fresh) start_daemon --node fresh
stop_daemon
dump() {
  "$PG_BINDIR/pg_dump" --schema-only --no-owner --no-privileges -h 127.0.0.1 \
    -p "$(pg_port "$BQ_T/pg")" -U postgres "$1" | grep -v -e '^--' -e '^$' -e '^\\restrict ' -e '^\\unrestrict '
}
dump old >schema.old
dump fresh >schema.fresh
check_eq "migrated schema = new schema" "$(diff schema.old schema.fresh && echo same)" same

# Two daemons started at once on a version-3 database.
restore two
url=$(pg_url "$BQ_T/pg" two)
pids=()
for n in a b; do
  bq_spawn /dev/null two.$n.log "&1" "$BQ_BIN" --listen 127.0.0.1:0 --db "$url" --node two-$n
  pids+=("$BQ_SPAWNED")
done
listening() { grep -q 'listening on' two.a.log && grep -q 'listening on' two.b.log; }
poll $((60 * BQ_SLOW)) listening || fail "two daemons: not both listening"
for n in a b; do
  port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' two.$n.log)
  printf '%s\n' "$n" | BQ_PORT=$port send out.$n
  check_eq "daemon $n stores" "$(cat out.$n)" "OK 1"
done
for k in 0 1; do
  kill -TERM "${pids[$k]}"
  reap_or_kill "${pids[$k]}" $((60 * BQ_SLOW)) "daemon $k"
  check_eq "daemon $k exit status" "$BQ_RC" 0
  check_sanitizer_log "two.$([ $k = 0 ] && echo a || echo b).log"
done
check_eq "exactly one of them migrated" \
  "$(cat two.a.log two.b.log | grep -c 'migrated from schema version 3 to 4')" 1
check_eq "two: version 4, 6 messages" \
  "$(pg_psql "$BQ_T/pg" two "SELECT value FROM burstq_meta")/$(pg_psql "$BQ_T/pg" two "SELECT count(*) FROM messages")" \
  "4/6"
