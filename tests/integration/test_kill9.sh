#!/usr/bin/env bash
# test_kill9.sh BURSTQD -- promise 1: kill -9 loses no acknowledged message.
#
# Each round starts the daemon on the same database, lets loadgen
# (tests/helpers/loadgen.c) push sequence-numbered messages over several
# connections at full speed, and kill -9s the daemon at a random moment:
# sometimes before anything is acked, mostly a random while after.
# loadgen records the last "OK n" each connection read.  The next round's
# daemon recovers the database; then check_rows.py checks the rows of the
# killed round: every acked message is there exactly once, each
# connection's rows are a gap-free prefix of what it sent, every payload is
# byte-exact, and PRAGMA integrity_check is ok.  The round before that is
# checked a second time (it has survived two crashes by then), then deleted
# except its last row, which keeps the database small over many rounds.
#
# Rounds: BQ_KILL9_ROUNDS (default 5; 3 under sanitizers).  `make soak`
# runs 50 (tests/soak/).  Sync modes and worker counts alternate.
CHECK=$(realpath "$(dirname "$0")/../helpers/check_rows.py")
. "$(dirname "$0")/lib.sh" "$@"

LOADGEN=${BQ_LOADGEN:-$(dirname "$BQ_BIN")/tests/helpers/loadgen}
[ -x "$LOADGEN" ] || die "no loadgen at $LOADGEN (build tests/helpers)"
command -v python3 >/dev/null || die "python3 is needed"

ROUNDS=${BQ_KILL9_ROUNDS:-$([ -n "$BQ_SAN" ] && echo 3 || echo 5)}
CONNS=4
WIDTH=40
TOTAL_ACKED=0
TOTAL_ROWS=0
declare -a SINCE   # SINCE[R]: max(messages.id) before round R

# check_round R: check the rows of rounds R-1 (if kept) and R.
check_round() {
  local r=$1 from=$1 reps=() out
  [ "$r" -gt 1 ] && [ -f "rep.$((r - 1))" ] && from=$((r - 1))
  for ((q = from; q <= r; q++)); do reps+=("rep.$q"); done
  if out=$(python3 "$CHECK" "$BQ_DB" "$WIDTH" --since-id "${SINCE[$from]}" \
    "${reps[@]}" 2>&1); then
    note "round $r: rounds $from..$r check: $out"
  else
    fail "round $r: stored rows do not match the acks: $out"
  fi
}

for ((round = 1; round <= ROUNDS + 1; round++)); do
  sync=$([ $((round % 2)) = 1 ] && echo full || echo normal)
  workers=$([ $((round % 4)) -lt 2 ] && echo 1 || echo 2)
  start_daemon --sync "$sync" --workers "$workers"

  # The daemon has recovered what the previous kill left: check it.
  if [ "$round" -gt 1 ]; then
    prev=$((round - 1))
    check_round "$prev"
    acked=$(awk '{ a += $4 } END { print a + 0 }' "rep.$prev")
    rows=$(sql "SELECT count(*) FROM messages WHERE id > ${SINCE[$prev]}")
    TOTAL_ACKED=$((TOTAL_ACKED + acked))
    TOTAL_ROWS=$((TOTAL_ROWS + rows))
    check_eq "round $prev: integrity after kill -9 and restart" \
      "$(sql 'PRAGMA integrity_check')" ok
    if [ "$prev" -gt 1 ] && [ -f "rep.$((prev - 1))" ]; then
      # Checked twice now: drop it, keeping its last row so ids never go
      # back (rowids are max + 1).
      sql "DELETE FROM messages WHERE id > ${SINCE[$((prev - 1))]}
             AND id < ${SINCE[$prev]}" >/dev/null
      rm -f "rep.$((prev - 1))"
    fi
  fi
  [ "$round" -gt "$ROUNDS" ] && break

  SINCE[$round]=$(sql 'SELECT coalesce(max(id), 0) FROM messages')
  bq_spawn /dev/null "lg.$round.out" "lg.$round.err" \
    timeout $((120 * BQ_SLOW)) "$LOADGEN" --port "$BQ_PORT" --tag "r$round" \
    --conns "$CONNS" --msgs 0 --width "$WIDTH" --lossy \
    --report "rep.$round" --status "st.$round"
  lg=$BQ_SPAWNED

  # When: a third of the rounds at once (0-100 ms, maybe before any
  # commit), the rest a random 0-400 ms after the first ack.
  if [ $((RANDOM % 3)) = 0 ]; then
    sleep "0.$(printf '%03d' $((RANDOM % 100)))"
    when="early"
  else
    poll $((60 * BQ_SLOW)) grep -q 'acked=[1-9]' "st.$round" ||
      fail "round $round: no ack within the time limit"
    sleep "0.$(printf '%03d' $((RANDOM % 400)))"
    when="mid-stream"
  fi
  kill -KILL "$BQ_PID"
  wait_daemon_exit 30
  check_eq "round $round: daemon died of SIGKILL" "$BQ_RC" 137
  reap_or_kill "$lg" $((60 * BQ_SLOW)) "loadgen round $round" &&
    check_eq "round $round: loadgen saw no protocol error" "$BQ_RC" 0
  note "round $round ($sync, $workers workers) killed $when: $(cat "lg.$round.out")"
done

stop_daemon
check_eq "exit status of the last daemon" "$BQ_RC" 0
check_eq "final integrity" "$(sql 'PRAGMA integrity_check')" ok
check_num "acked messages checked" "$TOTAL_ACKED" -gt 0
note "SUMMARY kill9: rounds=$ROUNDS acked_checked=$TOTAL_ACKED rows_checked=$TOTAL_ROWS"
