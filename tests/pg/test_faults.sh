#!/usr/bin/env bash
# test_faults.sh BURSTQD -- PostgreSQL faults are retried with backoff,
# intake is held, nothing is acked early and nothing is lost or doubled:
#  - the server goes away (stopped) and comes back: /healthz is 503 and
#    names PostgreSQL meanwhile, no ack, then everything is committed;
#  - the server turns read-only (default_transaction_read_only, as after a
#    demotion): 503 "read-only", no ack; writable again: committed;
#  - too many connections: burstqd's session is ended while every slot is
#    taken; its reconnection is refused ("too many clients") and retried
#    until slots free up.
# One nc connection is held open throughout (a fifo), so that each phase's
# lines are acked by the same connection, in order.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/../integration/metrics_lib.sh"
. "$here/lib.sh"
pg_need

# Five connections in all, none reserved.
pg_start "$BQ_T/pg" 0 "max_connections = 5" "superuser_reserved_connections = 0"
BQ_DB=$(pg_url "$BQ_T/pg" burstq)
psqlq() { pg_psql "$BQ_T/pg" burstq "$@"; }

start_daemon --node faults --metrics 127.0.0.1:0
BQ_MPORT=$(metrics_port)
mkfifo feed
bq_spawn feed out err timeout $((300 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
ncpid=$BQ_SPAWNED
open_fifo_writer feed FD

total=0
acked() { [ "$(tail -n1 out 2>/dev/null)" = "OK $1" ]; }
phase() { # NAME COUNT: send COUNT lines named NAME-i
  seq -f "$1-%.0f" 1 "$2" >&"$FD"
  total=$((total + $2))
}
health_says() { [ "$(scrape h.txt /healthz)" = 503 ] && grep -Eq -- "$1" h.txt; }
no_new_ack() { check_eq "$1: no ack while failing" "$(tail -n1 out 2>/dev/null)" "OK $2"; }

phase warm 1000
poll $((60 * BQ_SLOW)) acked $total || fail "warm-up not acked: $(tail -n1 out)"

# 1. The server goes away.
pg_stop "$BQ_T/pg"
phase down 1000
poll $((60 * BQ_SLOW)) health_says '^database not writable: unavailable: postgresql: ' ||
  fail "/healthz while the server is down: $(cat h.txt)"
no_new_ack "server down" 1000
pg_start "$BQ_T/pg" {FD}>&- # the server must not hold the fifo open
poll $((120 * BQ_SLOW)) acked $total || fail "after the restart: $(tail -n1 out)"
check_eq "/healthz after the restart" "$(scrape h.txt /healthz)" 200

# 2. Read-only.
psqlq "ALTER SYSTEM SET default_transaction_read_only = on" "SELECT pg_reload_conf()" >/dev/null
ro() { [ "$(psqlq "SHOW default_transaction_read_only")" = on ]; }
poll 30 ro || fail "the server did not turn read-only"
phase ro 1000
poll $((60 * BQ_SLOW)) health_says 'read-only' ||
  fail "/healthz while read-only: $(cat h.txt)"
no_new_ack "read-only" 2000
psqlq "ALTER SYSTEM RESET default_transaction_read_only" "SELECT pg_reload_conf()" >/dev/null
poll $((120 * BQ_SLOW)) acked $total || fail "after read-only: $(tail -n1 out)"

# 3. Too many connections: burstqd's idle session is ended (SIGTERM to
# its backend, as pg_terminate_backend does; burstqd reconnects only when
# it next writes), then five idle sessions take every slot.
bpid=$(psqlq "SELECT pid FROM pg_stat_activity WHERE application_name = 'burstqd'")
[ -n "$bpid" ] || die "no burstqd session found"
kill -TERM "$bpid"
gone() { [ ! -e "/proc/$bpid" ]; }
poll 30 gone || fail "burstqd's backend $bpid did not end"
fillers=()
for i in 1 2 3 4 5; do
  bq_spawn /dev/null fill.$i.out fill.$i.err \
    "$PG_BINDIR/psql" -X -h 127.0.0.1 -p "$(pg_port "$BQ_T/pg")" -U postgres burstq \
    -c "SELECT pg_sleep(3600)"
  fillers+=("$BQ_SPAWNED")
done
# (psql itself needs a slot: count the fillers' server processes instead.)
in_fill() { [ "$(pg_procs "$BQ_T/pg" | xargs -r ps -o args= -p | grep -c 'postgres: postgres burstq .*SELECT')" -ge 5 ]; }
poll $((60 * BQ_SLOW)) in_fill || fail "the five sessions did not start"
phase full 1000
too_many() { grep -q 'too many clients' "$BQ_LOG"; }
poll $((60 * BQ_SLOW)) too_many || fail "no 'too many clients' retry in the log"
no_new_ack "too many connections" 3000
# Their backends sleep on, client or not: end them (by PID), then psql.
fill_backends() {
  local p
  for p in $(pg_procs "$BQ_T/pg"); do
    ps -o args= -p "$p" | grep -q 'postgres: postgres burstq .*SELECT' && echo "$p"
  done
}
# shellcheck disable=SC2046
kill -TERM $(fill_backends)
for p in "${fillers[@]}"; do reap_or_kill "$p" 30 "psql"; done
poll $((120 * BQ_SLOW)) acked $total || fail "after too many connections: $(tail -n1 out)"

close_fd "$FD"
reap_or_kill "$ncpid" $((60 * BQ_SLOW)) "nc"
check_eq "final ack" "$(tail -n1 out)" "OK $total"
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_num "retries" "$(summary db_retries)" -ge 3
check_eq "stopped: committed" "$(summary committed)" "$total"
check_eq "rows" "$(psqlq "SELECT count(*) FROM messages")" "$total"
check_eq "distinct seq" "$(psqlq "SELECT count(DISTINCT seq) FROM messages")" "$total"
check_eq "ids grow with seq" \
  "$(psqlq "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY id) AS p FROM messages) x
          WHERE p IS NOT NULL AND seq <> p + 1")" 0
