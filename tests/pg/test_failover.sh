#!/usr/bin/env bash
# test_failover.sh BURSTQD -- the primary dies (issue 15): a primary and a
# synchronous standby (pg_basebackup -R, synchronous_commit on), one
# burstqd (--sync full) on the multi-host URI
#   postgresql://postgres@127.0.0.1:PA,127.0.0.1:PB/burstq?target_session_attrs=read-write
# and, each round, `burstq send` streaming one connection's numbered lines:
#   1. part A is sent; once all of it is on the primary, part B streams
#      (without end, held by TCP backpressure while nothing commits);
#   2. while B streams, the primary is killed (-9: the postmaster and all
#      its processes at once, as when its machine dies) and the standby is
#      promoted (pg_ctl promote); then B ends and part C is sent;
#   3. burstq send must exit 0 ("sent N, committed N": every message
#      acknowledged), burstqd reconnecting by itself;
#   4. on the promoted node, every message of every round so far is stored
#      exactly once, gap-free and in per-connection order
#      (pg_stream_stats + check_stream_shape).
# Between rounds the dead node's directory is rebuilt as a synchronous
# standby of the promoted one on the same port, so the same daemon and URI
# go through every round and the roles alternate.
#
# BQ_FAILOVER_ROUNDS rounds (3 in make test; 20 in make soak, soak.pg_failover).
# One "SUMMARY failover round R: acked=N stored=N duplicates=N" line per
# round.  No assertion is about time: limits only bound hangs.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need
need_client

ROUNDS=${BQ_FAILOVER_ROUNDS:-3}
W=60
NA=$((20000 / BQ_DIV))
NC=$((20000 / BQ_DIV))

prim=$BQ_T/a
stby=$BQ_T/b
pg_start "$prim"
pg_standby "$prim" "$stby"
url=$(pg_url_multi burstq "$prim" "$stby")
note "URI $url"
start_daemon --db "$url" --node failover --sync full
check_grep "the daemon names its backend" "$BQ_LOG" 'postgresql'

# rows DIR: messages on the cluster DIR (empty when it does not answer).
rows() { pg_psql "$1" burstq "SELECT count(*) FROM messages" 2>/dev/null; }
rows_ge() { local n; n=$(rows "$1"); [ -n "$n" ] && [ "$n" -ge "$2" ]; }
rows_gt() { local n; n=$(rows "$1"); [ -n "$n" ] && [ "$n" -gt "$2" ]; }

total=0
for ((r = 1; r <= ROUNDS; r++)); do
  note "--- round $r of $ROUNDS: primary $(basename "$prim") (port $(pg_port "$prim")), standby $(basename "$stby") (port $(pg_port "$stby"))"
  rm -f "$BQ_T/gate1" "$BQ_T/gate2"
  # timeout signals its whole process group: the pipeline goes with it.
  bq_spawn /dev/null "$BQ_T/out.$r" "$BQ_T/err.$r" \
    timeout $((600 * BQ_SLOW)) bash -c "$(declare -f gated_lines)"'
      gated_lines "$1" "$2" "$3" "$4" "$5/gate1" "$5/gate2" |
        "$6" send -H "127.0.0.1:$7" --timeout 300' _ \
    "$r" "$NA" "$NC" "$W" "$BQ_T" "$BQ_CLIENT" "$BQ_PORT"
  sender=$BQ_SPAWNED

  # Before: all of part A is committed on the primary.
  poll $((120 * BQ_SLOW)) rows_ge "$prim" $((total + NA)) ||
    die "round $r: part A never reached the primary (rows: $(rows "$prim"))"
  # During: part B streams; the primary dies under it.
  touch "$BQ_T/gate1"
  poll $((120 * BQ_SLOW)) rows_gt "$prim" $((total + NA)) ||
    die "round $r: part B never reached the primary (rows: $(rows "$prim"))"
  pg_kill9 "$prim"
  pg_promote "$stby"
  # After: part B ends and part C goes to the promoted node.
  touch "$BQ_T/gate2"

  reap_or_kill "$sender" $((600 * BQ_SLOW)) "round $r: burstq send"
  check_eq "round $r: burstq send exit status" "$BQ_RC" 0
  [ "$BQ_RC" = 0 ] || cat "$BQ_T/err.$r" >&2
  n=$(sed -n 's/^sent \([0-9]*\), committed \1$/\1/p' "$BQ_T/out.$r")
  [ -n "$n" ] || fail "round $r: burstq send said '$(cat "$BQ_T/out.$r")', not 'sent N, committed N'"
  check_num "round $r: messages sent" "${n:-0}" -gt $((NA + NC))
  total=$((total + ${n:-0}))

  # Every message of every round so far, once, in order, on the promoted
  # node: each connection's rows are exactly its lines 1..count (shape),
  # and each round's count is what its sender had acknowledged.
  pg_stream_stats "$stby" burstq "$W"
  check_stream_shape
  check_eq "round $r: rows on the promoted node" "$S_ROWS" "$total"
  check_eq "round $r: connections with rows" "$S_CONNS" "$r"
  check_eq "round $r: clients with rows" "$S_KS" "$r"
  mine=$(pg_psql "$stby" burstq \
    "SELECT count(*) || ' ' || count(DISTINCT payload) FROM messages
     WHERE substr(convert_from(payload, 'UTF8'), 1, length('c$r-')) = 'c$r-'")
  stored=${mine% *}
  check_eq "round $r: rows of this round" "$stored" "${n:-0}"
  echo "SUMMARY failover round $r: acked=${n:-0} stored=$stored" \
    "duplicates=$((stored - ${mine#* }))"

  if ((r < ROUNDS)); then
    # The dead node comes back as the promoted one's synchronous standby.
    dead=$prim
    port=$(pg_port "$dead")
    rm -rf "$dead"
    pg_standby "$stby" "$dead" "$port"
    prim=$stby
    stby=$dead
  fi
done

check_grep "the daemon retried the lost commit" "$BQ_LOG" 'commit of [0-9]+ records failed'
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_eq "stopped: received == committed" "$(summary received)" "$(summary committed)"
check_eq "stopped: committed == messages sent" "$(summary committed)" "$total"
