#!/usr/bin/env bash
# test_metrics.sh BURSTQD -- /metrics from a real daemon under load: scrapes
# taken while clients send are well-formed and consistent (committed <=
# received <= sent, counters never go down), bad HTTP requests get the
# right error and do not disturb intake, and after the clients finish the
# counters equal what the database holds -- and still do after the drain.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
. "$HERE/metrics_lib.sh"

CLIENTS=4
LINES=$((50000 / BQ_DIV))
WIDTH=60
TOTAL=$((CLIENTS * LINES))

# A small queue, so intake pauses under this load.
start_daemon --metrics 127.0.0.1:0 --queue-capacity 500 --queue-bytes 16K
BQ_MPORT=$(metrics_port)
[ -n "$BQ_MPORT" ] || die "no 'metrics on' line in the log"
note "metrics on port $BQ_MPORT"

check_eq "GET /metrics before any load" "$(scrape m0.txt)" 200
check_eq "received before load" "$(metric m0.txt burstq_messages_received_total)" 0
check_eq "db writable" "$(metric m0.txt burstq_db_writable)" 1
check_eq "queue limit" "$(metric m0.txt burstq_queue_limit_records)" 500
check_eq "queue byte limit" "$(metric m0.txt burstq_queue_limit_bytes)" 16384
check_grep "build info" m0.txt '^burstq_build_info\{version="[0-9.]+",backend="sqlite [0-9.]+",libuv="[0-9.]+"\} 1$'
# Every sample has HELP and TYPE lines, and every line is a comment or a
# sample "name{labels} value".
check_eq "lines that are neither comment nor sample" \
  "$(grep -Evc '^(# (HELP|TYPE) (burstq|process)_[a-z_]+ .+|(burstq|process)_[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? [0-9.e+-]+)$' m0.txt)" 0
# process_* numbers are this daemon's own.
RSS_KB=$(( $(metric m0.txt process_resident_memory_bytes) / 1024 ))
VMRSS_KB=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$BQ_PID/status")
check_num "process RSS (KiB) at least half of VmRSS" $((RSS_KB * 2)) -ge "$VMRSS_KB"
check_num "process RSS (KiB) at most twice VmRSS" "$RSS_KB" -le $((VMRSS_KB * 2))
check_num "process open fds" "$(metric m0.txt process_open_fds)" -ge 5
check_eq "process max fds" "$(metric m0.txt process_max_fds)" \
  "$(awk '/^Max open files/ { print $4 }' "/proc/$BQ_PID/limits")"
for name in $(sed -n 's/^\(\(burstq\|process\)_[a-z_]*\)[{ ].*/\1/p' m0.txt |
              sed 's/_\(bucket\|sum\|count\)$//' | sort -u); do
  grep -q "^# TYPE $name " m0.txt || fail "no TYPE line for $name"
done

# Load, with a line over --max-message on its own connection.
for ((k = 1; k <= CLIENTS; k++)); do start_client "$k" "$LINES" "$WIDTH"; done
# It sends client 5's two lines around the long one.
gen_lines 5 2 "$WIDTH" >c5.in
{ head -n1 c5.in; head -c 70000 /dev/zero | tr '\0' y; echo; tail -n1 c5.in; } >long.in
bq_spawn long.in long.out long.err timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
LONG_PID=$BQ_SPAWNED

# Bad requests while the clients send.
printf 'NOT HTTP AT ALL\r\n\r\n' >bad1.req
printf 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' >bad2.req
{ printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c 9000 /dev/zero | tr '\0' a; printf '\r\n\r\n'; } >bad3.req
printf 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >bad4.req
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >pipe.req
http_raw bad1.req bad1.out
http_raw bad2.req bad2.out
http_raw bad3.req bad3.out
http_raw bad4.req bad4.out
http_raw pipe.req pipe.out
check_eq "garbage request" "$(http_status bad1.out)" 400
check_eq "POST" "$(http_status bad2.out)" 405
check_grep "405 names the allowed methods" bad2.out '^Allow: GET, HEAD'
check_eq "9 KB header" "$(http_status bad3.out)" 431
check_eq "unknown path" "$(http_status bad4.out)" 404
check_eq "pipelined requests answered in order" \
  "$(grep -E '^(ok|ready)$' pipe.out | tr '\n' ' ')" "ok ready "
check_eq "pipelined: two responses" "$(grep -c '^HTTP/1.1 200 OK' pipe.out)" 2
check_eq "HEAD /healthz has no body" \
  "$(curl -s -I --max-time 10 "http://127.0.0.1:$BQ_MPORT/healthz" | head -n1 | tr -d '\r')" \
  "HTTP/1.1 200 OK"
# A connection that sends half a request and stalls does not block others.
bq_spawn /dev/null stall.out stall.err timeout $((60 * BQ_SLOW)) bash -c \
  'printf "GET /metrics HTTP/1.1\r\nHost: x\r\n"; sleep 30' 
STALL_PID=$BQ_SPAWNED

# Scrape while the load runs: consistency and monotonic counters.
prev_r=0 prev_c=0 n=0 paused_seen=0
while :; do
  running=0
  for ((k = 1; k <= CLIENTS; k++)); do
    bq_is_running_child "${CLIENT_PID[$k]}" && running=1
  done
  code=$(scrape cur.txt)
  if [ "$code" != 200 ]; then fail "scrape under load: HTTP $code"; break; fi
  r=$(metric cur.txt burstq_messages_received_total)
  c=$(metric cur.txt burstq_messages_committed_total)
  [ "$c" -le "$r" ] || fail "scrape $n: committed $c > received $r"
  [ "$r" -le $((TOTAL + 2)) ] || fail "scrape $n: received $r > sent"
  [ "$r" -ge "$prev_r" ] || fail "scrape $n: received went down ($prev_r -> $r)"
  [ "$c" -ge "$prev_c" ] || fail "scrape $n: committed went down ($prev_c -> $c)"
  [ "$(metric cur.txt burstq_intake_paused)" = 1 ] && paused_seen=1
  prev_r=$r prev_c=$c n=$((n + 1))
  [ "$running" = 0 ] && break
  sleep 0.02
done
note "$n scrapes under load (intake seen paused: $paused_seen)"
check_num "scrapes under load" "$n" -ge 1

wait_clients $(seq "$CLIENTS")
reap_or_kill "$LONG_PID" $((60 * BQ_SLOW)) "long-line client"
for ((k = 1; k <= CLIENTS; k++)); do check_acks "out.$k" "$LINES" "client $k"; done
check_eq "long-line client: one ERR" "$(grep -c '^ERR too-long$' long.out)" 1
check_eq "long-line client: last reply" "$(tail -n1 long.out)" "OK 2"
stream_stats "$WIDTH"
check_stream_shape
check_eq "clients seen" "$S_KS" $((CLIENTS + 1))

# Everything is acked, so everything is committed: the counters must match
# the database exactly.  Connections close just after their last ack;
# wait for the close records to be written too.
poll $((30 * BQ_SLOW)) bash -c \
  '[ "$(curl -s --max-time 5 http://127.0.0.1:'"$BQ_MPORT"'/metrics |
        awk '\''$1 == "burstq_queue_records" { print $2 }'\'')" = 0 ] &&
   [ "$(curl -s --max-time 5 http://127.0.0.1:'"$BQ_MPORT"'/metrics |
        awk '\''$1 == "burstq_connections_open" { print $2 }'\'')" = 0 ]' ||
  fail "queue or connections did not go to 0"
check_eq "final scrape" "$(scrape m1.txt)" 200
ROWS=$(msg_count)
CONNS=$(sql "SELECT count(*) FROM connections")
check_eq "rows" "$ROWS" $((TOTAL + 2))
check_eq "received == rows" "$(metric m1.txt burstq_messages_received_total)" "$ROWS"
check_eq "committed == rows" "$(metric m1.txt burstq_messages_committed_total)" "$ROWS"
check_eq "bytes == sum of payload lengths" \
  "$(metric m1.txt burstq_received_bytes_total)" \
  "$(sql 'SELECT sum(length(payload)) FROM messages')"
check_eq "rejected too_long" "$(metric m1.txt burstq_messages_rejected_total 'reason="too_long"')" 1
check_eq "accepted == connection rows" "$(metric m1.txt burstq_connections_accepted_total)" "$CONNS"
check_eq "refused" "$(metric m1.txt burstq_connections_refused_total 'reason="max_connections"')" 0
check_eq "connections open" "$(metric m1.txt burstq_connections_open)" 0
check_eq "queue records" "$(metric m1.txt burstq_queue_records)" 0
check_eq "queue bytes" "$(metric m1.txt burstq_queue_bytes)" 0
check_eq "intake not paused" "$(metric m1.txt burstq_intake_paused)" 0
check_num "intake pauses" "$(metric m1.txt burstq_intake_pauses_total)" -ge 1
# Records written = messages + an OPEN and a CLOSE per connection.
check_eq "batch_records_sum == messages + 2 x connections" \
  "$(metric m1.txt burstq_batch_records_sum)" $((ROWS + 2 * CONNS))
check_eq "batch count == commit count" \
  "$(metric m1.txt burstq_batch_records_count)" \
  "$(metric m1.txt burstq_commit_duration_seconds_count)"
check_eq "+Inf bucket == count" \
  "$(metric m1.txt burstq_commit_duration_seconds_bucket 'le="+Inf"')" \
  "$(metric m1.txt burstq_commit_duration_seconds_count)"
check_num "acks sent" "$(metric m1.txt burstq_acks_sent_total)" -ge $((CLIENTS + 1))
check_eq "db errors (busy)" "$(metric m1.txt burstq_db_errors_total 'kind="busy"')" 0

# Intake was never hurt by the HTTP abuse, and a stalled HTTP client is
# still there without blocking anyone (it is closed by its timeout).
kill -TERM "$STALL_PID" 2>/dev/null; reap "$STALL_PID" 10 || true

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "rows after the drain == last committed scrape" "$(msg_count)" \
  "$(metric m1.txt burstq_messages_committed_total)"
check_eq "summary committed" "$(summary committed)" "$ROWS"
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
