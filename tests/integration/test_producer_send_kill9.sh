#!/usr/bin/env bash
# test_producer_send_kill9.sh BURSTQD -- issue 14's kill -9 loop: while
# `burstq send --producer` streams numbered lines from a pipe, the daemon
# is killed with -9 and restarted (on the same port and database) again
# and again; at the end the database holds lines 1..N of each producer
# exactly once and in order (pseq k carries line k, ids increase with
# pseq), producers.committed is N, and every burstq send exits 0.
#
# Phase 1 runs one producer, phase 2 eight at once.  Each client reads a
# fifo that the test fills in ROUNDS + 1 segments and keeps open until
# the last one, so every kill happens while the clients are still
# streaming (their input is not at its end), never after they are done.
# A kill comes either 0-100 ms after a segment was written (maybe before
# any of it is committed) or 0-300 ms after the producers' committed
# count moved; the restart after a further 0-300 ms, so that clients
# also meet a refused connection and back off.  The pipe is never
# re-read: what a client resends comes from its window.
#
# Sizes: BQ_EO_LINES lines for the single producer (default 200,000;
# halved under sanitizers), BQ_EO_PLINES for each of the eight (default
# 25,000), BQ_EO_ROUNDS kills per phase (default 3).  `make soak` runs
# 1,000,000 lines each and 50 rounds (tests/soak/).
#
# BQ_EO_PG=1 (pg.producer_send_kill9, tests/pg/): the same against a
# private PostgreSQL cluster (tests/pg/lib.sh) instead of a SQLite file.
. "$(dirname "$0")/lib.sh" "$@"
need_client
if [ -n "${BQ_EO_PG:-}" ]; then
  . "$(dirname "$0")/../pg/lib.sh"
  pg_need
  pg_start "$BQ_T/pg"
  BQ_DB=$(pg_url "$BQ_T/pg" burstq)
  sql() { pg_psql "$BQ_T/pg" burstq "$1"; }
  integrity() { echo ok; } # PostgreSQL checks its own pages
  PAYLOAD="convert_from(payload, 'UTF8')"
else
  command -v sqlite3 >/dev/null || die "sqlite3 is needed"
  integrity() { sql 'PRAGMA integrity_check'; }
  PAYLOAD="CAST(payload AS TEXT)"
fi

LINES=${BQ_EO_LINES:-$((200000 / BQ_DIV))}
PLINES=${BQ_EO_PLINES:-$((25000 / BQ_DIV))}
ROUNDS=${BQ_EO_ROUNDS:-3}
KILLS=0

start_daemon
PORT=$BQ_PORT # every daemon of this test listens here too

# restart: a new daemon on the same database and PORT (start_daemon's own
# 127.0.0.1:0 listener comes first and is not used).
restart() {
  start_daemon --listen "127.0.0.1:$PORT" --workers $((RANDOM % 2 + 1))
}

# committed_sum: the producers' committed counts, summed (0 before v4's
# table has rows).
committed_sum() {
  sql "SELECT coalesce(sum(committed), 0) FROM producers" 2>/dev/null || echo 0
}

# pause MAX_MS: sleep a random 0..MAX_MS-1 ms.
pause() { sleep "$(printf '0.%03d' $((RANDOM % $1)))"; }

# kill_restart WHAT BEFORE: kill -9 the daemon at a random moment after
# a segment was written (BEFORE: committed_sum before it was), restart it.
kill_restart() {
  if [ $((RANDOM % 3)) = 0 ]; then
    pause 100
  else
    poll $((120 * BQ_SLOW)) bq_moved "$2" ||
      fail "$1: nothing committed within the time limit"
    pause 300
  fi
  kill -KILL "$BQ_PID"
  wait_daemon_exit 30
  check_eq "$1: daemon died of SIGKILL" "$BQ_RC" 137
  KILLS=$((KILLS + 1))
  pause 300
  restart
  check_eq "$1: integrity after kill -9" "$(integrity)" ok
}
bq_moved() { [ "$(committed_sum)" -gt "$1" ]; }

# check_producer ID N: lines 1..N of producer ID, once each, in order.
check_producer() {
  local id=$1 n=$2
  check_eq "$id: rows, distinct pseqs, first, last" \
    "$(sql "SELECT count(*), count(DISTINCT pseq), min(pseq), max(pseq)
            FROM producer_messages WHERE producer = '$id'")" \
    "$n|$n|1|$n"
  check_eq "$id: each row carries its own line (payload = pseq)" \
    "$(sql "SELECT count(*) FROM producer_messages WHERE producer = '$id'
            AND $PAYLOAD != CAST(pseq AS TEXT)")" 0
  check_eq "$id: in order (ids increase with pseq)" \
    "$(sql "SELECT count(*) FROM (SELECT id, lag(id) OVER (ORDER BY pseq)
            AS prev FROM producer_messages WHERE producer = '$id')
            AS x WHERE prev > id")" 0
  check_eq "$id: producers.committed" \
    "$(sql "SELECT committed FROM producers WHERE name = '$id'")" "$n"
}

# run_phase NAME N IDS...: one burstq send --producer per id, each fed N
# lines through a fifo in ROUNDS + 1 segments, with a kill -9 and restart
# after each segment but the last.
run_phase() {
  local name=$1 n=$2 id r k lo hi fd before
  shift 2
  local ids=("$@") fds=() pids=()
  for id in "${ids[@]}"; do
    mkfifo "in.$id"
    bq_spawn "in.$id" "out.$id" "err.$id" \
      timeout $((600 * BQ_SLOW)) "$BQ_CLIENT" send -H "127.0.0.1:$PORT" \
      --producer "$id" --timeout 30
    pids+=("$BQ_SPAWNED")
    open_fifo_writer "in.$id" fd
    fds+=("$fd")
  done
  for ((r = 1; r <= ROUNDS + 1; r++)); do
    lo=$(((r - 1) * n / (ROUNDS + 1) + 1))
    hi=$((r * n / (ROUNDS + 1)))
    before=$(committed_sum)
    for ((k = 0; k < ${#ids[@]}; k++)); do
      seq "$lo" "$hi" >&"${fds[$k]}" || fail "$name: writing ${ids[$k]}'s lines"
    done
    [ "$r" -le "$ROUNDS" ] && kill_restart "$name round $r" "$before"
  done
  for ((k = 0; k < ${#ids[@]}; k++)); do
    close_fd "${fds[$k]}"
  done
  for ((k = 0; k < ${#ids[@]}; k++)); do
    id=${ids[$k]}
    reap_or_kill "${pids[$k]}" $((600 * BQ_SLOW)) "burstq send --producer $id"
    check_eq "$name: $id: exit status" "$BQ_RC" 0
    check_grep "$name: $id: summary" "out.$id" "^sent $n, committed $n "
    [ "$BQ_RC" = 0 ] || cat "err.$id" >&2
    check_sanitizer_log "err.$id" || true
  done
  for id in "${ids[@]}"; do check_producer "$id" "$n"; done
  note "$name: $(for id in "${ids[@]}"; do cat "err.$id"; done |
    grep -c 'connecting again') outages reported by the clients"
}

run_phase "one producer" "$LINES" p1
run_phase "eight producers" "$PLINES" q1 q2 q3 q4 q5 q6 q7 q8
# p1 is still exactly once after the second phase's kills.
check_producer p1 "$LINES"

stop_daemon
check_eq "exit status of the last daemon" "$BQ_RC" 0
check_eq "no plain rows" "$(sql 'SELECT (SELECT count(*) FROM messages) - (SELECT count(*) FROM producer_messages)')" 0
note "SUMMARY producer_send_kill9: rounds=$ROUNDS kills=$KILLS lines=$LINES+8x$PLINES"
