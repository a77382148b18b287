#!/usr/bin/env bash
# test_logjson.sh BURSTQD -- --log-format json: every line the daemon
# writes in a whole life (start, a client, a rejected line, a locked
# database, the drain, the summary) is one JSON object with ts, level, msg
# and fields; a database path full of characters JSON must escape comes
# back intact; and no payload appears in the log at info level.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

command -v python3 >/dev/null || die "python3 is needed (apt-get install python3)"

# Quote, backslash, tab and a non-ASCII character in the database path.
WEIRD=$'we"ird\\dir\tnäme'
mkdir -p "$BQ_T/$WEIRD"
BQ_DB="$BQ_T/$WEIRD/bq.db"
LOG=$BQ_T/json.log
BQ_LOGS+=("$LOG")
bq_spawn /dev/null "$LOG" "&1" "$BQ_BIN" --listen 127.0.0.1:0 --db "$BQ_DB" \
  --log-format json --max-message 100
BQ_PID=$BQ_SPAWNED
BQ_LOG=$LOG
port_of() {
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l)["msg"]
    if m.startswith("listening on 127.0.0.1:"): print(m.rsplit(":", 1)[1].split()[0])' "$LOG" 2>/dev/null
}
has_port() { [ -n "$(port_of)" ]; }
poll $((60 * BQ_SLOW)) has_port || die "no 'listening on' message: $(head -c 2000 "$LOG")"
BQ_PORT=$(port_of)
note "daemon $BQ_PID on port $BQ_PORT"

SECRET=payload-must-not-be-logged-$RANDOM$RANDOM
{ echo "$SECRET-1"; printf '%0200d\n' 0 | sed "s/^/$SECRET-long-/"; echo "$SECRET-2"; } >in.txt
timeout 60 nc -N 127.0.0.1 "$BQ_PORT" <in.txt >out.txt
check_eq "client: one ERR" "$(grep -c '^ERR too-long$' out.txt)" 1
check_eq "client: last reply" "$(tail -n1 out.txt)" "OK 2"

# A locked database produces warn lines with SQLite's message in them.
lock_db
printf 'x\n' | timeout 60 nc -N 127.0.0.1 "$BQ_PORT" >out2.txt &
NC2=$!
wait_log '"level":"warn","msg":"commit of [0-9]+ records failed' ||
  fail "no JSON warn line for the failed commit"
unlock_db
wait "$NC2"
check_eq "client 2 acked" "$(cat out2.txt)" "OK 1"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
python3 "$HERE/check_jsonlog.py" "$LOG" >check.out
check_eq "every line is a well-formed JSON object" "$?" 0
cat check.out
MSGS=$LOG.msgs
check_grep "the path comes back exactly (escaping round-trips)" "$MSGS" \
  "$(printf '%s' "db $BQ_T/$WEIRD/bq.db" | python3 -c 'import json,sys,re; print(re.escape(json.dumps(sys.stdin.read())[1:-1]))')"
check_grep "the summary is there" "$MSGS" '^"stopped: received=3 committed=3 '
check_grep "the rejected line is reported" "$MSGS" 'rejected a line over 100 bytes'
check_no_grep "no payload in the log" "$LOG" "$SECRET"
check_eq "rows" "$(msg_count)" 3
