#!/usr/bin/env bash
# test_stats.sh BURSTQD -- `burstq stats` against a real daemon: the
# summary's numbers are the daemon's (checked against the database), the
# state line follows the database's health (locked by sqlite3), --watch
# prints rates between scrapes, and errors have their exit codes.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
. "$HERE/metrics_lib.sh"
need_client

stats() { timeout $((60 * BQ_SLOW)) "$BQ_CLIENT" stats "$@"; }
# field FILE LABEL: the rest of the summary line that starts with LABEL.
field() { sed -n "s/^$2 *//p" "$1" | head -n1; }

start_daemon --metrics 127.0.0.1:0
BQ_MPORT=$(metrics_port)
[ -n "$BQ_MPORT" ] || die "no 'metrics on' line in the log"
M=127.0.0.1:$BQ_MPORT

LINES=$((30000 / BQ_DIV))
start_client 1 "$LINES" 40
start_client 2 "$LINES" 40
{ printf '%070000d\n' 0; echo tail; } >long.in
timeout 60 nc -N 127.0.0.1 "$BQ_PORT" <long.in >long.out
wait_clients 1 2
check_acks out.1 "$LINES" "client 1"
# Let the connections' CLOSE records land: a connection is gone from the
# open count once it is closed, but its CLOSE record leaves the queue only
# once it is committed.
drained() {
  scrape q.txt >/dev/null &&
    [ "$(metric q.txt burstq_connections_open)" = 0 ] &&
    [ "$(metric q.txt burstq_queue_records)" = 0 ]
}
poll $((30 * BQ_SLOW)) drained || fail "connections did not close"

stats -H "$M" >s1.txt 2>s1.err
check_eq "stats exit status" "$?" 0
cat s1.txt
ROWS=$(msg_count)
fmt() { printf "%'d" "$1"; }
export LC_NUMERIC=C
group() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
check_grep "header names the daemon" s1.txt "^burstqd [0-9.]+ at $M \\(sqlite [0-9.]+, libuv [0-9.]+\\), up "
check_eq "state" "$(field s1.txt state)" "accepting; intake running; database ok"
check_eq "messages" "$(field s1.txt messages)" \
  "received $(group "$ROWS"), committed $(group "$ROWS"), in flight 0"
check_eq "rejected" "$(field s1.txt rejected)" "1 (too_long 1)"
check_eq "connections" "$(field s1.txt connections)" \
  "open 0, accepted 3, refused 0 (max_connections 0, not_allowed 0)"
check_grep "queue empty" s1.txt '^queue +0 / 65,536 records \(0%\), 0 B / 64.0 MiB$'
check_grep "commits line" s1.txt '^commits +[0-9,]+ batches, [0-9,]+ records each on average; latency p50 [0-9.]+ [mu]?s, p99 [0-9.]+ [mu]?s$'
check_eq "db errors" "$(field s1.txt 'db errors')" none
check_grep "process line" s1.txt '^process +memory [0-9.]+ (KiB|MiB), CPU [0-9.]+ m?s, descriptors [0-9]+ / [0-9,]+$'

# The database locked with a message pending: the state line says why.
lock_db
start_client 3 5 10
unhealthy() { [ "$(scrape h.txt /healthz)" = 503 ]; }
poll $((60 * BQ_SLOW)) unhealthy || fail "/healthz did not turn 503"
stats -H "$M" >s2.txt
cat s2.txt
check_grep "state shows the database error" s2.txt \
  '^state +accepting; intake running; database not writable: busy: .*locked'
check_grep "db errors counted" s2.txt '^db errors +busy [1-9][0-9]*$'
stats -H "$M" --health >p1.txt
check_eq "--health while locked: exit 1" "$?" 1
check_grep "--health prints the reason" p1.txt '^database not writable: busy: '
stats -H "$M" --ready >p2.txt
check_eq "--ready while locked (still accepting): exit 0" "$?" 0
check_eq "--ready prints" "$(cat p2.txt)" ready
unlock_db
wait_clients 3

stats -H "$M" --health >p3.txt
check_eq "--health after the lock: exit 0" "$?" 0
check_eq "--health prints ok" "$(cat p3.txt)" ok

# --watch: two summaries, the second with rates, separated by a blank line.
start_client 4 "$LINES" 40
stats -H "$M" --watch 0.5 --count 2 >w.txt
check_eq "watch exit status" "$?" 0
check_eq "two summaries" "$(grep -c '^burstqd ' w.txt)" 2
check_eq "one blank line between them" "$(grep -c '^$' w.txt)" 1
check_grep "rates in the second" w.txt '^messages +received [0-9,]+ \([0-9,]+/s\), committed [0-9,]+ \([0-9,]+/s\)'
check_grep "per-scrape commits in the second" w.txt 'batches since the last scrape'
check_grep "CPU share in the second" w.txt '^process +memory .*% of a core\)'
stats -H "$M" --watch=0.2 -n 1 >w1.txt
check_eq "--watch=SEC form" "$(grep -c '^burstqd ' w1.txt)" 1
wait_clients 4

# Errors.
stats -H "127.0.0.1:$BQ_PORT" --timeout 10 >/dev/null 2>e1.txt
check_eq "the message port instead: exit 1" "$?" 1
check_grep "the message port instead: says so" e1.txt \
  "burstq stats: 127\\.0\\.0\\.1:$BQ_PORT is a burstqd message port, not its --metrics address"
# An HTTP server that is not burstqd (python3 -m http.server: 404).
python3 -m http.server --help >/dev/null 2>&1 && {
  bq_spawn /dev/null web.out web.err python3 -u -m http.server --bind 127.0.0.1 0
  WEB_PID=$BQ_SPAWNED
  webport() { sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' web.out web.err | head -n1; }
  poll $((30 * BQ_SLOW)) bash -c '[ -n "$(sed -n "s/.*port \([0-9][0-9]*\).*/\1/p" web.out web.err)" ]' || true
  WP=$(webport)
  [ -n "$WP" ] || fail "python3 -m http.server did not say its port"
  if [ -n "$WP" ]; then
    stats -H "127.0.0.1:$WP" >/dev/null 2>e5.txt
    check_eq "an HTTP server without /metrics: exit 1" "$?" 1
    check_grep "an HTTP server without /metrics: says so" e5.txt 'HTTP status 404'
  fi
  kill -TERM "$WEB_PID"; reap "$WEB_PID" 10 || true
}
hold_refused_port
stats -H "127.0.0.1:$BQ_REFUSED_PORT" >/dev/null 2>e2.txt
check_eq "nothing listening: exit 3" "$?" 3
check_grep "nothing listening: says so" e2.txt 'Connection refused \(is burstqd running with --metrics at that address\?\)'
stats --count 2 >/dev/null 2>e3.txt
check_eq "--count without --watch: exit 2" "$?" 2
stats -H "127.0.0.1:$BQ_REFUSED_PORT" --health >/dev/null 2>e6.txt
check_eq "--health, nothing listening: exit 3" "$?" 3
stats --health --ready >/dev/null 2>e7.txt
check_eq "--health with --ready: exit 2" "$?" 2
stats --bogus >/dev/null 2>e4.txt
check_eq "unknown option: exit 2" "$?" 2
BURSTQ_METRICS=$M stats >env.txt
check_eq "\$BURSTQ_METRICS is the default address" "$?" 0
"$BQ_CLIENT" help stats >help.txt
check_grep "help explains --watch" help.txt '--watch \[SEC\]'
"$BQ_CLIENT" --help >help2.txt
check_grep "stats is in the command list" help2.txt '^  stats '

stop_daemon
check_eq "exit status" "$BQ_RC" 0
