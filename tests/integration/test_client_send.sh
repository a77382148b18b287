#!/usr/bin/env bash
# test_client_send.sh BURSTQD -- `burstq send` against a real daemon: every
# exit status that can be provoked, with what it prints and what the
# database holds:
#   0 all committed (arguments, stdin, unterminated last line, no input)
#   1 lines rejected (ERR too-long)       2 usage
#   3 cannot connect                      4 refused (too many connections)
#   5 --timeout (the database is locked)  6 connection lost (daemon killed)
. "$(dirname "$0")/lib.sh" "$@"
need_client


# --- usage (2) ------------------------------------------------------------
bq_send usage1 --bogus </dev/null
check_eq "unknown option: exit status" "$RC" 2
check_grep "unknown option: says which" usage1.err "unknown option '--bogus'"
bq_send usage2 -H 127.0.0.1:7070 "$(printf 'a\nb')" </dev/null
check_eq "a MSG with a newline: exit status" "$RC" 2
check_grep "a MSG with a newline: says why" usage2.err 'contains a newline'
bq_send usage3 -H 'not an address:x' a </dev/null
check_eq "bad -H: exit status" "$RC" 2
bq_send usage4 --timeout 1s a </dev/null
check_eq "bad --timeout: exit status" "$RC" 2
"$BQ_CLIENT" help send >help.out 2>&1
check_eq "burstq help send: exit status" "$?" 0
check_grep "burstq help send: usage and examples" help.out '^usage: burstq send'
check_grep "burstq help send: documents the exit codes" help.out '5 timeout'

"$BQ_CLIENT" --version >version.out 2>&1
check_eq "burstq --version" "$?" 0
check_grep "burstq --version: names the program" version.out '^burstq [0-9]+\.[0-9]+\.[0-9]+$'
"$BQ_CLIENT" --help >mainhelp.out 2>&1
check_eq "burstq --help: exit status" "$?" 0
check_grep "burstq --help: lists send" mainhelp.out '^  send +'
check_grep "burstq --help: lists bench" mainhelp.out '^  bench +'
check_grep "burstq --help: examples" mainhelp.out '^Examples:'
"$BQ_CLIENT" </dev/null >noargs.out 2>&1
check_eq "burstq without a command: exit status" "$?" 2
"$BQ_CLIENT" nosuch >nosuch.out 2>&1
check_eq "burstq nosuch: exit status" "$?" 2
check_grep "burstq nosuch: says so" nosuch.out "'nosuch' is not a command"
"$BQ_CLIENT" help nosuch >helpnosuch.out 2>&1
check_eq "burstq help nosuch: exit status" "$?" 2

# --- ok (0) ---------------------------------------------------------------
start_daemon --max-message 50 --log-level debug
port=$BQ_PORT
bq_send args -H "127.0.0.1:$port" -- alpha 'be ta' '' -gamma </dev/null
check_eq "arguments: exit status" "$RC" 0
check_eq "arguments: summary" "$(cat args.out)" "sent 4, committed 4"
check_eq "arguments: rows, in order" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), '|') FROM (SELECT payload FROM messages ORDER BY id)")" \
  "alpha|be ta||-gamma"

gen_lines 1 20000 40 >lines.in
BURSTQ_HOST=127.0.0.1:$port bq_send stdin <lines.in
check_eq "stdin lines (host from \$BURSTQ_HOST): exit status" "$RC" 0
check_eq "stdin lines: summary" "$(cat stdin.out)" "sent 20000, committed 20000"
check_eq "stdin lines: rows of that client" "$(rows_of_client 1)" 20000

printf 'x1\nx2\nx3' >unterminated.in
bq_send unterminated -H "127.0.0.1:$port" <unterminated.in
check_eq "unterminated last line: exit status" "$RC" 0
check_eq "unterminated last line: summary" "$(cat unterminated.out)" "sent 3, committed 3"
check_eq "unterminated last line: stored" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) = 'x3'")" 1

bq_send empty -H "127.0.0.1:$port" </dev/null
check_eq "no input: exit status" "$RC" 0
check_eq "no input: summary" "$(cat empty.out)" "sent 0, committed 0"

# --- rejected (1) -----------------------------------------------------------
{ echo short1; head -c 200 /dev/zero | tr '\0' y; echo; echo short2; } >rejected.in
bq_send rejected -H "127.0.0.1:$port" <rejected.in
check_eq "a line over --max-message: exit status" "$RC" 1
check_eq "a line over --max-message: summary" "$(cat rejected.out)" "sent 3, committed 2"
check_grep "a line over --max-message: says why" rejected.err \
  '1 line rejected by the daemon \(ERR too-long'
check_eq "the lines around it are stored" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) IN ('short1', 'short2')")" 2

# --- timeout (5): the database is locked, no ack can come ---------------------
lock_db
bq_send timeout -H "127.0.0.1:$port" --timeout 1 late1 late2 </dev/null
check_eq "locked database, --timeout 1: exit status" "$RC" 5
check_eq "locked database: summary" "$(cat timeout.out)" "sent 2, committed 0"
check_grep "locked database: says timeout" timeout.err '^burstq send: timeout: '

# --- lost (6): the daemon dies before it could commit ---------------------------
bq_spawn /dev/null lost.out lost.err \
  timeout $((120 * BQ_SLOW)) "$BQ_CLIENT" send -H "127.0.0.1:$port" --timeout 0 doomed1 doomed2 doomed3 doomed4 doomed5 doomed6 doomed7
lost_pid=$BQ_SPAWNED
wait_log 'end of input after 7 messages' ||
  fail "the daemon never read the 7 messages"
kill -KILL "$BQ_PID"
wait_daemon_exit $((60 * BQ_SLOW))
reap_or_kill "$lost_pid" $((60 * BQ_SLOW)) "burstq send (lost)"
check_sanitizer_log lost.err || true
check_eq "daemon killed before the commit: exit status" "$BQ_RC" 6
check_eq "daemon killed: summary" "$(cat lost.out)" "sent 7, committed 0"
check_grep "daemon killed: says lost" lost.err 'lost before everything was committed: 0 of 7'
unlock_db

# --- cannot connect (3): nothing listens on the port ------------------------------
hold_refused_port
bq_send noconn -H "127.0.0.1:$BQ_REFUSED_PORT" a </dev/null
check_eq "nothing listening: exit status" "$RC" 3
check_grep "nothing listening: says why" noconn.err "cannot connect to 127\.0\.0\.1:$BQ_REFUSED_PORT"
check_eq "nothing listening: no summary (nothing was sent)" "$(cat noconn.out)" ""

# --- refused (4): the only connection slot is taken -----------------------------
start_daemon --max-connections 1 --log-level debug
mkfifo hold.fifo
bq_spawn hold.fifo hold.out hold.err timeout $((120 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
hold_pid=$BQ_SPAWNED
open_fifo_writer hold.fifo hold_fd
echo held >&"$hold_fd"
wait_log 'conn [0-9]+ from' || fail "the holding connection was not accepted"
# A client that sends nothing before the verdict (no MSG, empty stdin) gives
# the daemon nothing that could arrive after its close and reset it: exit 4
# with the daemon's reason, always.
bq_send refused1 -H "127.0.0.1:$BQ_PORT" </dev/null
check_eq "connection limit reached, nothing sent: exit status" "$RC" 4
check_grep "connection limit reached, nothing sent: the daemon's reason" refused1.err \
  'refused by the daemon at .*: ERR too-many-connections'
# One that sends at once: the daemon writes its ERR line best effort, and
# a message arriving after its close may turn the close into a reset that
# destroys the line (docs/protocol.md, Errors).  The client then cannot know
# the reason and must say the connection was lost (6); either way nothing
# it sent is committed.
for i in 2 3; do
  bq_send refused$i -H "127.0.0.1:$BQ_PORT" r1 r2 </dev/null
  case "$RC" in
    4) check_grep "connection limit reached, try $i: the daemon's reason" refused$i.err \
         'refused by the daemon at .*: ERR too-many-connections' ;;
    6) check_grep "connection limit reached, try $i: reset before the reason, lost" \
         refused$i.err 'lost before everything was committed: 0 of ' ;;
    *) fail "connection limit reached, try $i: exit status $RC, expected 4 (or 6 on a reset): $(cat refused$i.err)" ;;
  esac
  check_grep "connection limit reached, try $i: nothing committed" refused$i.out ', committed 0$'
done
close_fd "$hold_fd"
reap_or_kill "$hold_pid" $((60 * BQ_SLOW)) "holding nc"
check_acks hold.out 1 "the holding connection"
bq_send after -H "127.0.0.1:$BQ_PORT" after </dev/null
check_eq "once the slot is free: exit status" "$RC" 0
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0

# What is in the database: every committed message once; the refused ones
# never; the timed-out ones were committed once the lock went (the daemon
# kept them), the killed daemon's were not.
check_eq "refused messages are not stored" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) IN ('r1', 'r2')")" 0
check_eq "messages of the killed daemon are not stored" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE 'doomed%'")" 0
check_eq "total rows" "$(msg_count)" $((4 + 20000 + 3 + 2 + 1 + 1))
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
