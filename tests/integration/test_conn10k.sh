#!/usr/bin/env bash
# test_conn10k.sh BURSTQD -- promise 7: 10,000 concurrent connections on
# loopback each send a few messages; all are stored; the daemon's memory
# per idle connection is measured and reported.
#
# loadgen (tests/helpers/loadgen.c) opens the connections (at most 256
# connecting at a time), each sends 3 messages and waits for "OK 3"; then
# all 10,000 stay open and idle while the test counts the daemon's sockets
# and reads its resident memory: (RSS now - RSS after a warm-up run) /
# connections is the memory per idle connection, reported in the log and
# bounded (64 KiB, far above the ~1-2 KiB expected) so that a per-connection
# leak or buffer fails the test.  Then loadgen half-closes them all, every
# connection must get its final ack, and every message must be in the
# database exactly once, byte-exact.  Under sanitizers: 5,000 connections
# and no memory bound (their allocators change RSS).
CHECK=$(realpath "$(dirname "$0")/../helpers/check_rows.py")
. "$(dirname "$0")/lib.sh" "$@"

LOADGEN=${BQ_LOADGEN:-$(dirname "$BQ_BIN")/tests/helpers/loadgen}
[ -x "$LOADGEN" ] || die "no loadgen at $LOADGEN (build tests/helpers)"
command -v python3 >/dev/null || die "python3 is needed"

CONNS=$((10000 / BQ_DIV))
MSGS=3
WIDTH=40
# Both processes need a descriptor per connection (plus a few): raise the
# soft limit, and as root the hard one too when it is lower.
want=$((CONNS + 500))
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt "$want" ]; then
  ulimit -S -n "$want" 2>/dev/null || ulimit -n "$want" 2>/dev/null ||
    die "open-file limit $nofile (hard $(ulimit -Hn)) is too low for $CONNS connections and cannot be raised: run as root or raise it (ulimit -Hn $want)"
fi
note "open-file limit: $(ulimit -n)"

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status"; }
sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }

start_daemon --max-connections $((CONNS + 100))
# Warm-up: the first connections, batches and slabs grow the heap once.
"$LOADGEN" --port "$BQ_PORT" --tag warm --conns 50 --msgs 100 \
  --width "$WIDTH" --report rep.warm >lg.warm.out 2>&1 ||
  fail "warm-up client: $(cat lg.warm.out)"
sleep 0.5
base_rss=$(rss_kb "$BQ_PID")
base_socks=$(sockets "$BQ_PID")
note "baseline: RSS $base_rss kB, $base_socks sockets"

# Two loadgens of CONNS/2 connections each: the first may reuse heap the
# warm-up freed, so the per-connection figure asserted is the second half's
# (marginal) growth; the overall one is reported too.
HALF=$((CONNS / 2))
rm -f release
declare -A LG RSS
for tag in c d; do
  bq_spawn /dev/null "lg.$tag.out" "lg.$tag.err" \
    timeout $((600 * BQ_SLOW)) "$LOADGEN" --port "$BQ_PORT" --tag "$tag" \
    --conns "$HALF" --msgs "$MSGS" --width "$WIDTH" --ramp 256 \
    --hold release --report "rep.$tag" --status "st.$tag"
  LG[$tag]=$BQ_SPAWNED
  poll $((300 * BQ_SLOW)) grep -qx all-acked "lg.$tag.out" ||
    die "loadgen $tag: not every connection was acked: $(cat "st.$tag" 2>/dev/null) $(head -c 500 "lg.$tag.err")"
  sleep 0.5
  RSS[$tag]=$(rss_kb "$BQ_PID")
  note "$tag: $HALF more connections held and acked: RSS ${RSS[$tag]} kB"
done

# All connections open, idle, every message acked.
held=$(sockets "$BQ_PID")
rss=${RSS[d]}
check_num "sockets the daemon holds" "$held" -ge $((base_socks + 2 * HALF))
check_eq "messages stored while the connections are held" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) GLOB '[cd].*'")" \
  $((2 * HALF * MSGS))
per_conn=$(( (rss - base_rss) * 1024 / (2 * HALF) ))
marginal=$(( (RSS[d] - RSS[c]) * 1024 / HALF ))
note "MEASURE conn10k: $((2 * HALF)) idle connections held ($held sockets);" \
  "daemon RSS $base_rss kB -> ${RSS[c]} kB -> $rss kB;" \
  "$marginal bytes per idle connection (second half), $per_conn overall"
if [ -z "$BQ_SAN" ]; then
  check_num "daemon memory per idle connection (bytes, second half)" \
    "$marginal" -le 65536
fi

touch release
for tag in c d; do
  reap_or_kill "${LG[$tag]}" $((300 * BQ_SLOW)) "loadgen $tag" &&
    check_eq "loadgen $tag: every connection got its final ack" "$BQ_RC" 0
  note "loadgen $tag: $(tail -n1 "lg.$tag.out")"
done
check_eq "connections complete" \
  "$(cat rep.c rep.d | awk '$5 == "complete"' | wc -l)" $((2 * HALF))
stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary connections" "$(summary connections)" $((2 * HALF + 50))
check_eq "summary refused" "$(summary refused)" 0
if out=$(python3 "$CHECK" "$BQ_DB" "$WIDTH" rep.warm rep.c rep.d 2>&1); then
  note "rows: $out"
else
  fail "rows do not match the acks: $out"
fi
check_eq "rows" "$(msg_count)" $((2 * HALF * MSGS + 50 * 100))
check_eq "connections rows" "$(sql 'SELECT count(*) FROM connections')" \
  $((2 * HALF + 50))
check_eq "integrity" "$(sql 'PRAGMA integrity_check')" ok
