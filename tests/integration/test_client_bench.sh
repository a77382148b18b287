#!/usr/bin/env bash
# test_client_bench.sh BURSTQD -- `burstq bench` against a real daemon: the
# report (text and --json) counts what was committed; --db proves every
# message is stored once and in order, and fails, naming the gap, once a
# row is deleted or duplicated behind its back; the load shapes (--rate,
# --burst/--pause-ms, --duration, 64 connections) all end with sent ==
# committed; errors get their exit status.  No assertion is about speed.
. "$(dirname "$0")/lib.sh" "$@"
need_client

# bq_bench NAME ARGS...: run burstq bench (bounded); NAME.out, NAME.err,
# NAME.json (its last line), status in RC.
bq_bench() {
  local name=$1
  shift
  timeout $((240 * BQ_SLOW)) "$BQ_CLIENT" bench "$@" </dev/null \
    >"$name.out" 2>"$name.err"
  RC=$?
  check_sanitizer_log "$name.err" || true
  tail -n 1 "$name.out" >"$name.json"
}

# jget FILE EXPR: a value from the JSON object in FILE (python3), e.g.
# jget x.json '["db"]["ok"]'; prints "INVALID" if FILE is not JSON.
jget() {
  python3 -c 'import json,sys
try:
    o = json.load(open(sys.argv[1]))
except Exception:
    print("INVALID"); sys.exit(0)
v = eval("o" + sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}

# --- usage ---------------------------------------------------------------------
bq_bench u1 -s 5
check_eq "-s too small for the header: exit status" "$RC" 2
check_grep "-s too small: says why" u1.err 'too small: messages carry'
bq_bench u2 --rate 10 --burst 5 --pause-ms 1
check_eq "--rate with --burst: exit status" "$RC" 2
bq_bench u3 --burst 5
check_eq "--burst without --pause-ms: exit status" "$RC" 2
bq_bench u4 -c 0
check_eq "-c 0: exit status" "$RC" 2
"$BQ_CLIENT" help bench >help.out 2>&1
check_eq "burstq help bench: exit status" "$?" 0
check_grep "burstq help bench: examples" help.out '^Examples:'
check_grep "burstq help bench: --db explained" help.out '^ +--db PATH'

start_daemon --sync normal
N=$((20000 / BQ_DIV))

# --- a plain run, checked ------------------------------------------------------------
bq_bench plain -H "127.0.0.1:$BQ_PORT" -c 4 -n "$N" -s 100 --db "$BQ_DB" --json
check_eq "plain run: exit status" "$RC" 0
check_eq "plain run: last line is JSON" "$(jget plain.json '["exit"]')" 0
run=$(jget plain.json '["run"]')
check_eq "plain run: sent" "$(jget plain.json '["sent"]')" "$N"
check_eq "plain run: committed" "$(jget plain.json '["committed"]')" "$N"
check_eq "plain run: sent == committed" "$(jget plain.json '["sent_eq_committed"]')" true
check_eq "plain run: a latency for every message" \
  "$(jget plain.json '["latency_ms"]["count"]')" "$N"
check_eq "plain run: p50 <= p99 <= p99.9 <= max" \
  "$(jget plain.json '["latency_ms"]["p50"] <= o["latency_ms"]["p99"] <= o["latency_ms"]["p999"] <= o["latency_ms"]["max"]')" true
check_eq "plain run: db check ok" "$(jget plain.json '["db"]["ok"]')" true
check_eq "plain run: db rows" "$(jget plain.json '["db"]["rows"]')" "$N"
check_grep "plain run: text report, committed rate" plain.out \
  "^committed +$N msgs in .* msgs/s .* MB/s$"
check_grep "plain run: text report, latency" plain.out \
  '^ack latency ms: p50 [0-9.]+  p90 [0-9.]+  p99 [0-9.]+  p99\.9 [0-9.]+  max [0-9.]+'
check_grep "plain run: text report, sent == committed" plain.out '^sent == committed: yes$'
check_grep "plain run: text report, client CPU" plain.out \
  '^client cpu: user [0-9.]+ s, sys [0-9.]+ s: [0-9]+% of one core over the run(; runnable without a core [0-9.]+ s)?$'
check_eq "plain run: JSON client CPU share is user+sys over the run" \
  "$(jget plain.json '["client_cpu"]["share"] >= 0 and o["client_cpu"]["user_s"] >= 0 and o["client_cpu"]["sys_s"] >= 0 and (o["client_cpu"]["run_delay_s"] is None or o["client_cpu"]["run_delay_s"] >= 0)')" true
check_no_grep "plain run: no progress line when stdout is not a terminal" plain.out $'\r'
# The database, read independently: N rows of this run, 4 connections,
# each one's seqs 1..count in id order, payloads of 100 bytes.
check_eq "sqlite3: rows of the run" \
  "$(sql "SELECT count(*) FROM messages WHERE substr(CAST(payload AS TEXT), 1, 12) = 'bq:$run:'")" "$N"
check_eq "sqlite3: connections of the run" \
  "$(sql "SELECT count(DISTINCT conn_id) FROM messages WHERE substr(CAST(payload AS TEXT), 1, 12) = 'bq:$run:'")" 4
check_eq "sqlite3: payload sizes" \
  "$(sql "SELECT DISTINCT length(payload) FROM messages WHERE substr(CAST(payload AS TEXT), 1, 12) = 'bq:$run:'")" 100

# On a terminal (script(1) gives it one) a progress line is redrawn with
# "\r"; the paced run lasts at least a second, the line comes every 0.5 s.
if command -v script >/dev/null; then
  timeout $((120 * BQ_SLOW)) script -qec "$BQ_CLIENT bench -H 127.0.0.1:$BQ_PORT -c 1 -n 2000 --rate 2000" \
    /dev/null </dev/null >tty.out 2>&1
  check_eq "on a terminal: exit status" "$?" 0
  check_grep "on a terminal: a progress line" tty.out $'\r[-|/\\\\] +[0-9.]+s  sent [0-9.kM]+ +acked [0-9.kM]+ +[0-9.kM]+ msgs/s  in flight'
else
  note "skipped: no script(1) for a terminal"
fi

# --- the check fails when a row goes missing or repeats --------------------------------
bq_bench recheck --check-only --run-id "$run" -c 4 -n "$N" -s 100 --db "$BQ_DB" --json
check_eq "re-check of the untouched run: exit status" "$RC" 0
victim=$(sql "SELECT id FROM messages WHERE CAST(payload AS TEXT) LIKE 'bq:$run:3:7:%'")
sql "DELETE FROM messages WHERE id = $victim"
bq_bench deleted --check-only --run-id "$run" -c 4 -n "$N" -s 100 --db "$BQ_DB" --json
check_eq "a deleted row: exit status" "$RC" 1
check_eq "a deleted row: db ok" "$(jget deleted.json '["db"]["ok"]')" false
check_eq "a deleted row: missing" "$(jget deleted.json '["db"]["missing"]')" 1
check_grep "a deleted row: the gap is named" deleted.out 'FAILED: .*missing: conn 3: seq 7$'
sql "INSERT INTO messages(conn_id, seq, received_at, payload)
     SELECT conn_id, seq, received_at, payload FROM messages
     WHERE CAST(payload AS TEXT) LIKE 'bq:$run:2:5:%'"
bq_bench dup --check-only --run-id "$run" -c 4 -n "$N" -s 100 --db "$BQ_DB" --json
check_eq "a duplicated row: exit status" "$RC" 1
check_eq "a duplicated row: duplicates" "$(jget dup.json '["db"]["duplicates"]')" 1
check_eq "a duplicated row: misordered" "$(jget dup.json '["db"]["misordered"]')" 1

# --- load shapes ----------------------------------------------------------------------
bq_bench rate -H "127.0.0.1:$BQ_PORT" -c 2 -n $((4000 / BQ_DIV)) --rate 20000 --db "$BQ_DB" --json
check_eq "--rate: exit status" "$RC" 0
check_eq "--rate: db ok" "$(jget rate.json '["db"]["ok"]')" true
check_grep "--rate: reported" rate.out '^load: paced at 20000 msgs/s$'
# Never ahead of the schedule (pace.h): each connection's last message
# (n = 2000/BQ_DIV) falls due at grid point ceil((n - 1) * 2 * 1000 / 20000),
# in ms, and the sending ends after it is written.
n=$((2000 / BQ_DIV))
check_num "--rate: sending took at least the schedule (us)" \
  "$(jget rate.json '["send_s"]' | awk '{ printf "%d", $1 * 1e6 + 0.5 }')" \
  -ge $(((n - 1 + 9) / 10 * 1000))

bq_bench burst -H "127.0.0.1:$BQ_PORT" -c 3 -n $((3000 / BQ_DIV)) --burst 250 --pause-ms 20 -s 60 --db "$BQ_DB" --json
check_eq "--burst/--pause-ms: exit status" "$RC" 0
check_eq "--burst/--pause-ms: db ok" "$(jget burst.json '["db"]["ok"]')" true
check_eq "--burst/--pause-ms: committed" "$(jget burst.json '["committed"]')" $((3000 / BQ_DIV))

bq_bench dur -H "127.0.0.1:$BQ_PORT" -c 2 --duration 0.5 --rate 5000 --db "$BQ_DB" --json
check_eq "--duration: exit status" "$RC" 0
check_eq "--duration: sent == committed" "$(jget dur.json '["sent_eq_committed"]')" true
check_num "--duration: sent something" "$(jget dur.json '["sent"]')" -gt 0
check_eq "--duration: db ok" "$(jget dur.json '["db"]["ok"]')" true

bq_bench many -H "127.0.0.1:$BQ_PORT" -c 64 -n $((64000 / BQ_DIV)) --db "$BQ_DB" --json
check_eq "64 connections: exit status" "$RC" 0
check_eq "64 connections: db ok" "$(jget many.json '["db"]["ok"]')" true
check_eq "64 connections: connections in the database" \
  "$(sql "SELECT count(DISTINCT conn_id) FROM messages WHERE substr(CAST(payload AS TEXT), 1, 12) = 'bq:$(jget many.json '["run"]'):'")" 64
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0

# --- errors -------------------------------------------------------------------------
start_daemon --max-message 500
bq_bench toolong -H "127.0.0.1:$BQ_PORT" -c 2 -n 100 -s 1000 --json
check_eq "messages over --max-message: exit status" "$RC" 1
check_eq "messages over --max-message: rejected" "$(jget toolong.json '["errors"]["rejected"]')" 100
check_eq "messages over --max-message: committed" "$(jget toolong.json '["committed"]')" 0
# The database locked by another program: no ack can come.
lock_db
bq_bench locked -H "127.0.0.1:$BQ_PORT" -c 1 -n 10 --timeout 1 --json
check_eq "locked database, --timeout 1: exit status" "$RC" 5
check_eq "locked database: timeout reported" "$(jget locked.json '["errors"]["timeout"]')" true
check_eq "locked database: nothing committed" "$(jget locked.json '["committed"]')" 0
unlock_db
port=$BQ_PORT
stop_daemon

# More connections than the daemon serves: the others are refused.
start_daemon --max-connections 2 --log-level debug
mkfifo hold.fifo
bq_spawn hold.fifo hold.out hold.err timeout $((120 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
hold_pid=$BQ_SPAWNED
open_fifo_writer hold.fifo hold_fd
wait_log 'conn [0-9]+ from' || fail "the holding connection was not accepted"
bq_bench refused -H "127.0.0.1:$BQ_PORT" -c 3 -n 300 --json
check_eq "over --max-connections: exit status" "$RC" 4
check_num "over --max-connections: refusals counted" "$(jget refused.json '["errors"]["refused"]')" -ge 2
check_grep "over --max-connections: the daemon's reason" refused.out 'ERR too-many-connections'
close_fd "$hold_fd"
reap_or_kill "$hold_pid" $((60 * BQ_SLOW)) "holding nc"
stop_daemon

hold_refused_port
bq_bench noconn -H "127.0.0.1:$BQ_REFUSED_PORT" -c 2 -n 10 --json
check_eq "nothing listening: exit status" "$RC" 3
check_grep "nothing listening: says why" noconn.out "cannot connect to 127\.0\.0\.1:$BQ_REFUSED_PORT"

# --- the client's own speed, against a sink that stores nothing ---------------------------
sinkport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bq_spawn /dev/null /dev/null sink.err timeout $((120 * BQ_SLOW)) nc -l 127.0.0.1 "$sinkport"
sink_pid=$BQ_SPAWNED
# Listening yet?  (/proc/net/tcp, not a probe: nc -l takes one connection.)
# in_listen_state PORT: a TCP socket is in LISTEN on PORT, seen in
# /proc/net/tcp without connecting (nc -l would take that connection).
in_listen_state() {
  awk -v p="$(printf ':%04X' "$1")" '$2 ~ p"$" && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp
}
poll $((30 * BQ_SLOW)) in_listen_state "$sinkport" || fail "nc -l did not listen"
bq_bench sink -H "127.0.0.1:$sinkport" --sink -c 1 -n $((500000 / BQ_DIV)) --json
check_eq "--sink: exit status" "$RC" 0
check_eq "--sink: everything handed to the kernel" "$(jget sink.json '["sent"]')" $((500000 / BQ_DIV))
check_num "--sink: a sending rate" "$(jget sink.json '["send_msgs_per_s"]')" -gt 0
note "client sending rate into nc: $(jget sink.json '["send_msgs_per_s"]') msgs/s"
reap_or_kill "$sink_pid" $((60 * BQ_SLOW)) "nc -l sink"
