#!/usr/bin/env bash
# test_harness.sh BURSTQD -- tests/pg/lib.sh itself: a primary and a
# synchronous standby (pg_basebackup -R) start on free loopback ports;
# rows written with psql reach the standby; the password user connects
# through a PGPASSFILE; the primary dies (kill -9), the standby is
# promoted and takes writes; every cluster is stopped by PID and no
# process of either is left behind.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need

pg_start "$BQ_T/p1"
p1_port=$PG_PORT
pg_standby "$BQ_T/p1" "$BQ_T/s1"
check_num "primary and standby on different ports" "$p1_port" -ne "$PG_PORT"

check_eq "standby state on the primary" \
  "$(pg_psql "$BQ_T/p1" postgres "SELECT state || ',' || sync_state FROM pg_stat_replication")" \
  streaming,quorum
check_eq "synchronous_standby_names" \
  "$(pg_psql "$BQ_T/p1" postgres "SHOW synchronous_standby_names")" "ANY 1 (ss1)"
check_eq "standby is in recovery" \
  "$(pg_psql "$BQ_T/s1" postgres "SELECT pg_is_in_recovery()")" t
check_eq "fsync on" "$(pg_psql "$BQ_T/p1" postgres "SHOW fsync")" on
check_eq "synchronous_commit on" \
  "$(pg_psql "$BQ_T/p1" postgres "SHOW synchronous_commit")" on

pg_psql "$BQ_T/p1" burstq "CREATE TABLE t (n int PRIMARY KEY, s text)" \
  "INSERT INTO t SELECT g, 'r' || g FROM generate_series(1, 1000) g" ||
  fail "psql write on the primary"
# A synchronous commit is flushed on the standby; replay may trail a little.
standby_rows() { pg_psql "$BQ_T/s1" burstq "SELECT count(*) FROM t" 2>/dev/null; }
has_rows() { [ "$(standby_rows)" = "$1" ]; }
poll 60 has_rows 1000 || fail "standby rows: got '$(standby_rows)', expected 1000"

# The password user, through a PGPASSFILE and a URI without a password.
pg_passfile "$BQ_T/pgpass" "$BQ_T/p1"
check_eq "password user via PGPASSFILE" \
  "$(PGPASSFILE=$BQ_T/pgpass "$PG_BINDIR/psql" -X -At \
     "$(pg_url "$BQ_T/p1" burstq "$PG_PW_USER")" -c "SELECT current_user")" \
  "$PG_PW_USER"
check_eq "password user without a password is refused" \
  "$(PGPASSFILE=/dev/null "$PG_BINDIR/psql" -X -At -w \
     "$(pg_url "$BQ_T/p1" burstq "$PG_PW_USER")" -c "SELECT 1" 2>/dev/null)" ""

# The primary dies; the standby is promoted and takes writes.
p1_pids=$(pg_procs "$BQ_T/p1" | tr '\n' ' ')
check_num "primary processes seen" "$(wc -w <<<"$p1_pids")" -ge 2
pg_kill9 "$BQ_T/p1"
for p in $p1_pids; do
  [ -e "/proc/$p" ] && [ "$(readlink "/proc/$p/cwd")" = "$BQ_T/p1/data" ] &&
    fail "primary process $p survived pg_kill9"
done
pg_promote "$BQ_T/s1"
pg_psql "$BQ_T/s1" burstq "INSERT INTO t VALUES (1001, 'after')" ||
  fail "write on the promoted standby"
check_eq "rows on the promoted standby" \
  "$(pg_psql "$BQ_T/s1" burstq "SELECT count(*) FROM t")" 1001
url=$(pg_url_multi burstq "$BQ_T/p1" "$BQ_T/s1")
check_eq "multi-host URI reaches the promoted node" \
  "$(PGCONNECT_TIMEOUT=10 "$PG_BINDIR/psql" -X -At "$url" -c "SELECT count(*) FROM t")" 1001

s1_pids=$(pg_procs "$BQ_T/s1" | tr '\n' ' ')
pg_stop "$BQ_T/s1"
for p in $s1_pids; do
  [ -e "/proc/$p" ] && [ "$(readlink "/proc/$p/cwd")" = "$BQ_T/s1/data" ] &&
    fail "standby process $p survived pg_stop"
done
check_eq "processes left of p1" "$(pg_procs "$BQ_T/p1" | wc -l)" 0
check_eq "processes left of s1" "$(pg_procs "$BQ_T/s1" | wc -l)" 0
# pg_stop_all (at exit) is idempotent: a stopped cluster stays stopped.
pg_stop_all
check_eq "processes left after pg_stop_all" \
  "$( (pg_procs "$BQ_T/p1"; pg_procs "$BQ_T/s1") | wc -l)" 0
