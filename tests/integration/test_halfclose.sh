#!/usr/bin/env bash
# test_halfclose.sh BURSTQD -- connection edge cases: a client that sends
# nothing and half-closes gets "OK 0"; a client killed mid-line leaves no
# torn row (the unterminated tail is either dropped, on a reset, or stored
# whole, on a FIN); --max-connections refuses the excess connection with
# "ERR too-many-connections" while the open ones keep working, and frees
# the slot when one closes.
. "$(dirname "$0")/lib.sh" "$@"

NC_LIMIT=$((60 * BQ_SLOW))

start_daemon

# 1. Nothing sent, then half-close: exactly "OK 0".
timeout "$NC_LIMIT" nc -N 127.0.0.1 "$BQ_PORT" </dev/null >out.empty
check_eq "empty connection: nc exit status" "$?" 0
check_eq "empty connection: wire bytes" "$(od -An -c out.empty | tr -s ' \n' ' ')" \
  " O K 0 \n "

# 2. A client killed (SIGKILL) after a complete line and half of another.
mkfifo in.kill
bq_spawn in.kill out.kill err.kill nc 127.0.0.1 "$BQ_PORT"
kill_pid=$BQ_SPAWNED
open_fifo_writer in.kill kill_fd
printf 'full-1\nabc' >&"$kill_fd"
wait_acked kill 1
kill -KILL "$kill_pid"
reap "$kill_pid" 10 || fail "nc survived SIGKILL"
close_fd "$kill_fd"
kill_conn=$(sql "SELECT conn_id FROM messages WHERE payload = CAST('full-1' AS BLOB)")
kill_rows() {
  sql "SELECT group_concat(hex(payload), ',') FROM
       (SELECT payload FROM messages WHERE conn_id = '$kill_conn' ORDER BY seq)"
}
# Wait until the daemon has dealt with the close (closed_at recorded).
kill_closed() {
  [ "$(sql "SELECT closed_at IS NOT NULL FROM connections WHERE id = '$kill_conn'")" = 1 ]
}
poll $((30 * BQ_SLOW)) kill_closed ||
  fail "killed client: the daemon never recorded the close"
got=$(kill_rows)
note "killed client: rows (hex) $got"
case "$got" in
  "$(printf full-1 | od -An -tx1 | tr -d ' \n' | tr a-f A-F)")
    note "ok: killed client: the partial line was dropped (reset)" ;;
  "$(printf full-1 | od -An -tx1 | tr -d ' \n' | tr a-f A-F),616263")
    note "ok: killed client: the partial line was stored whole (FIN)" ;;
  *) fail "killed client: rows are '$got', expected full-1 and at most 'abc' (hex 616263)" ;;
esac

# 3. Later traffic is unaffected.
printf 'later-1\nlater-2\n' | timeout "$NC_LIMIT" nc -N 127.0.0.1 "$BQ_PORT" >out.later
check_acks out.later 2 "a connection after the killed one"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary received == rows" "$(summary received)" "$(msg_count)"
check_eq "summary committed == rows" "$(summary committed)" "$(msg_count)"
check_eq "connections recorded (empty, killed, later)" \
  "$(sql 'SELECT count(*) FROM connections')" 3
check_eq "connections without closed_at" \
  "$(sql 'SELECT count(*) FROM connections WHERE closed_at IS NULL')" 0
check_eq "the empty connection has no messages" \
  "$(sql 'SELECT count(*) FROM messages WHERE conn_id = (SELECT min(id) FROM connections)')" 0

# 4. --max-connections 2.
BQ_DB=$BQ_T/maxconn.db
start_daemon --max-connections 2
for c in A B; do
  mkfifo "in.$c"
  bq_spawn "in.$c" "out.$c" "err.$c" timeout "$NC_LIMIT" nc -N 127.0.0.1 "$BQ_PORT"
  CLIENT_PID[$c]=$BQ_SPAWNED
  open_fifo_writer "in.$c" "fd_$c"
done
printf 'A-1\n' >&"$fd_A"
printf 'B-1\n' >&"$fd_B"
wait_acked A 1
wait_acked B 1

timeout "$NC_LIMIT" nc -N 127.0.0.1 "$BQ_PORT" </dev/null >out.third 2>err.third
rc=$?
check_eq "third connection: nc exits (closed by the daemon)" "$rc" 0
check_eq "third connection: wire bytes" "$(cat out.third)" "ERR too-many-connections"
check_grep "the log reports the refusal" "$BQ_LOG" 'refused a connection: 2 open'

# The first two still work.
printf 'A-2\n' >&"$fd_A"
printf 'B-2\nB-3\n' >&"$fd_B"
wait_acked A 2
wait_acked B 3
close_fd "$fd_A"
close_fd "$fd_B"
wait_clients A B
check_acks out.A 2 "client A"
check_acks out.B 3 "client B"

# A slot is free again once a connection has closed.  The daemon frees it
# a moment after the client sees its FIN, so retry (each refusal counted).
# A refused try that sent its line may see a reset instead of the ERR line
# (docs/protocol.md, Errors): no reply at all is a refusal too.
refusals=1
accepted=no
for ((try = 1; try <= 100; try++)); do
  printf 'C-1\n' | timeout "$NC_LIMIT" nc -N 127.0.0.1 "$BQ_PORT" >out.C 2>err.C
  if grep -qx 'ERR too-many-connections' out.C || [ ! -s out.C ]; then
    refusals=$((refusals + 1))
    sleep 0.1
    continue
  fi
  accepted=yes
  break
done
check_eq "a connection after two closed is accepted" "$accepted" yes
check_acks out.C 1 "client C"

stop_daemon
check_eq "exit status (--max-connections)" "$BQ_RC" 0
check_eq "summary refused == refusals seen" "$(summary refused)" "$refusals"
check_eq "summary connections" "$(summary connections)" 3
check_eq "connections recorded (refused ones are not)" \
  "$(sql 'SELECT count(*) FROM connections')" 3
check_eq "stored lines" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM
          (SELECT payload FROM messages ORDER BY CAST(payload AS TEXT))")" \
  "A-1,A-2,B-1,B-2,B-3,C-1"

# Shutdown with idle connections and a tiny queue: the CLOSE records queued
# at shutdown are not a "queue full" pause, and every idle connection gets
# its final "OK 0" before the daemon exits 0.
rm -f "$BQ_DB"*
start_daemon --queue-capacity 4
IDLE=6
# One at a time, each recorded before the next opens: six OPEN records at
# once could fill the 4-slot queue before a writer runs on a loaded
# machine, a pause before shutdown that this part is not about.
idle_recorded() { [ "$(sql 'SELECT count(*) FROM connections')" = "$1" ]; }
for ((k = 1; k <= IDLE; k++)); do
  mkfifo "idle.$k"
  bq_spawn "idle.$k" "out.idle.$k" /dev/null nc 127.0.0.1 "$BQ_PORT"
  IDLE_PID[$k]=$BQ_SPAWNED
  open_fifo_writer "idle.$k" IDLE_FD
  IDLE_FDS[$k]=$IDLE_FD
  poll $((30 * BQ_SLOW)) idle_recorded "$k" ||
    fail "idle connection $k was not recorded"
done
stop_daemon
check_eq "exit status (idle connections, tiny queue)" "$BQ_RC" 0
check_eq "no pause at shutdown" "$(summary pauses)" 0
check_no_grep "no 'intake paused' at shutdown" "$BQ_LOG" 'intake paused'
for ((k = 1; k <= IDLE; k++)); do
  close_fd "${IDLE_FDS[$k]}"
  reap_or_kill "${IDLE_PID[$k]}" $((30 * BQ_SLOW)) "idle client $k (nc)"
  check_eq "idle client $k: final ack" "$(cat "out.idle.$k")" "OK 0"
done
check_eq "idle connections closed in the database" \
  "$(sql 'SELECT count(*) FROM connections WHERE closed_at IS NULL')" 0
