#!/usr/bin/env bash
# test_flood.sh BURSTQD -- promise 6: a connection flood beyond
# --max-connections is refused at once: each extra connection gets
# "ERR too-many-connections" without having sent anything and is closed,
# the connections already open keep working, the refusals are counted and
# the log line about them is rate-limited.  Once the held connections go,
# new ones are served again.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

MAXC=50
FLOOD=$((1000 / BQ_DIV))

since=$SECONDS
start_daemon --max-connections "$MAXC"
# MAXC connections that send nothing and stay.
bq_spawn /dev/null hold.log "&1" timeout $((300 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" hold --port "$BQ_PORT" --conns "$MAXC" \
  --ready held --stop stop.held --out held.out --timeout $((280 * BQ_SLOW))
HOLD_PID=$BQ_SPAWNED
poll $((60 * BQ_SLOW)) test -e held || die "holders did not connect: $(cat hold.log)"
opened() { [ "$(sql 'SELECT count(*) FROM connections')" -ge "$MAXC" ]; }
poll $((60 * BQ_SLOW)) opened || die "the daemon did not accept the $MAXC held connections"

bq_spawn /dev/null flood.log "&1" timeout $((300 * BQ_SLOW)) \
  python3 "$HERE/sockets.py" hold --port "$BQ_PORT" --conns "$FLOOD" \
  --ready flooded --stop stop.flood --out flood.out --progress flood.progress \
  --timeout $((280 * BQ_SLOW))
FLOOD_PID=$BQ_SPAWNED
all_answered() { [ "$(cat flood.progress 2>/dev/null || echo 0)" -ge "$FLOOD" ]; }
poll $((120 * BQ_SLOW)) all_answered ||
  fail "not every flood connection was answered ($(cat flood.progress 2>/dev/null) of $FLOOD)"
touch stop.flood
reap_or_kill "$FLOOD_PID" $((60 * BQ_SLOW)) "flood client"
refused=$(awk '$3 == "ERR_too-many-connections"' flood.out | wc -l)
closed=$(awk '$2 == "eof" || $2 == "reset"' flood.out | wc -l)
slowest=$(awk '$4 > m { m = $4 } END { printf "%.3f", m }' flood.out)
note "flood: $refused of $FLOOD refused with the error line; slowest refusal ${slowest} s after connect"
check_eq "flood connections answered 'ERR too-many-connections'" "$refused" "$FLOOD"
check_eq "flood connections closed by the daemon" "$closed" "$FLOOD"
check_eq "other replies to the flood" \
  "$(awk '$3 != "ERR_too-many-connections"' flood.out | wc -l)" 0

# The held connections were not disturbed by the flood, and once they go a
# new client is served.
touch stop.held
reap_or_kill "$HOLD_PID" $((60 * BQ_SLOW)) "holders"
check_eq "held connections still open when the flood ended" \
  "$(awk '$2 == "open"' held.out | wc -l)" "$MAXC"
poll $((60 * BQ_SLOW)) served after-flood ||
  fail "no client served after the flood: $(cat served.out)"
check_eq "rows" "$(msg_count)" 1

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_num "summary refused" "$(summary refused)" -ge "$FLOOD"
n_lines=$(grep -c 'refused a connection' "$BQ_LOG")
check_ratelimited "refusal log lines (rate-limited)" "$n_lines" "$since"
