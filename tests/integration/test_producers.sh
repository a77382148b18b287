#!/usr/bin/env bash
# test_producers.sh BURSTQD -- exactly-once producers (docs/protocol.md,
# "Producers: exactly once"):
#  1. nc resend: a 100,000-line file (seq 1..N) sent with "HELLO web1-access"
#     through nc -N, first cut off mid-line by killing nc, then whole three
#     times: exactly N rows for the producer, pseq 1..N once each, each row
#     holding its own line; RESUME says what was committed before.
#  2. gap: "HELLO p first-seq" past committed + 1 gets "ERR gap n", stores
#     nothing; "HELLO p n+1" then continues.
#  3. bad HELLO lines get "ERR hello", nothing stored; a plain first line
#     and a later "HELLO" line are messages.
#  4. fencing: two connections with the same id racing, 100 rounds
#     (producers.py race): each round exactly one is told "ERR fenced", the
#     winner's last OK covers every line; no duplicate, no gap.
#  5. --producers off: "HELLO x" is a message; HELLO on a syslog listener is
#     a message; HELLO after AUTH works.
#  6. kill -9 while a producer streams; after the restart the same file
#     resent completes it exactly once.
# Counts are divided by BQ_DIV under sanitizers.
. "$(dirname "$0")/lib.sh" "$@"

HERE=$(dirname "$0")
N=$((100000 / BQ_DIV))
seq 1 "$N" >lines

nc_send() { # OUT LINES...: the lines through nc -N, the replies in OUT
  local out=$1
  shift
  printf '%s\n' "$@" | timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >"$out"
}

check_rows() { # WHAT PRODUCER N: exactly N rows, pseq 1..N once each,
               # each the line of its number; committed N
  check_eq "$1: rows, distinct pseqs, first, last" \
    "$(sql "SELECT count(*) || ' ' || count(DISTINCT pseq) || ' ' || min(pseq) || ' ' || max(pseq) FROM producer_messages WHERE producer = '$2'")" \
    "$3 $3 1 $3"
  check_eq "$1: every row holds the line of its number" \
    "$(sql "SELECT count(*) FROM producer_messages WHERE producer = '$2' AND CAST(payload AS TEXT) != CAST(pseq AS TEXT)")" 0
  check_eq "$1: producers.committed" \
    "$(sql "SELECT committed FROM producers WHERE name = '$2'")" "$3"
}

start_daemon --listen 127.0.0.1:0,syslog
SPORT=${BQ_PORTS[1]}

# --- 1. nc resend -----------------------------------------------------------
cut=$((N * 3))   # bytes: about half the file, ending inside a line
whole=$(($(head -c "$cut" lines | tr -cd '\n' | wc -c)))
mkfifo in.cut
bq_spawn in.cut out.cut err.cut nc -N 127.0.0.1 "$BQ_PORT"
CUT_PID=$BQ_SPAWNED
open_fifo_writer in.cut CUT_FD
{ echo 'HELLO web1-access'; head -c "$cut" lines; } >&"$CUT_FD"
committed_is() { [ "$(sql "SELECT coalesce(max(committed), 0) FROM producers WHERE name = 'web1-access'")" = "$1" ]; }
poll $((60 * BQ_SLOW)) committed_is "$whole" ||
  fail "cut-off send: committed never reached $whole"
kill -KILL "$CUT_PID" 2>/dev/null # nc dies with its input still open
reap "$CUT_PID" 10 || fail "nc did not die"
close_fd "$CUT_FD"
for round in 1 2 3; do
  { echo 'HELLO web1-access'; cat lines; } |
    timeout $((240 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.resend$round
done
check_eq "resend 1: RESUME the committed count of the cut-off send" \
  "$(head -n1 out.resend1)" "RESUME $whole"
check_eq "resend 1: the last ack covers the file" "$(tail -n1 out.resend1)" "OK $N"
check_eq "resend 2: RESUME N" "$(head -n1 out.resend2)" "RESUME $N"
check_reply "resend 3: RESUME N, then OK N" out.resend3 "RESUME $N OK $N"
check_rows "nc resend" web1-access "$N"

# --- 2. gap -------------------------------------------------------------------
nc_send out.g1 'HELLO gp' a b c
check_reply "gap setup" out.g1 "RESUME 0 OK 3"
nc_send out.g2 'HELLO gp 5' e f
check_eq "first-seq past committed + 1: ERR gap" "$(tr '\n' ' ' <out.g2)" "ERR gap 3 "
nc_send out.g3 'HELLO gp 4' d e
check_reply "first-seq = committed + 1: continues" out.g3 "RESUME 3 OK 5"
nc_send out.g4 'HELLO gp 2' b c d e f
check_reply "first-seq inside: duplicates skipped" out.g4 "RESUME 5 OK 6"
check_eq "gap: rows" \
  "$(sql "SELECT group_concat(pseq || CAST(payload AS TEXT), ' ') FROM (SELECT * FROM producer_messages WHERE producer = 'gp' ORDER BY pseq)")" \
  "1a 2b 3c 4d 5e 6f"

# --- 3. bad HELLO lines, plain first lines, a later HELLO -------------------
before=$(msg_count)
for bad in 'HELLO' 'HELLO ' 'HELLO a b c' 'HELLO a 0' 'HELLO a 01' 'HELLO a/b' \
           'HELLO a -1' "HELLO $(printf 'x%.0s' $(seq 1 129))"; do
  nc_send out.bad "$bad" 'should not be stored'
  check_eq "'${bad:0:20}': ERR hello" "$(tr '\n' ' ' <out.bad)" "ERR hello "
done
check_eq "bad HELLO lines store nothing" "$(msg_count)" "$before"
nc_send out.plain 'hello world' 'HELLO p9' 'HELLOx'
check_reply "a plain first line: all messages" out.plain "OK 3"
check_eq "a later HELLO line is stored as a message" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) = 'HELLO p9' AND id NOT IN (SELECT id FROM producer_messages)")" 1
nc_send out.empty 'HELLO quiet'
check_eq "HELLO alone: RESUME 0 and the final OK 0" "$(tr '\n' ' ' <out.empty)" "RESUME 0 OK 0 "

# --- 4. fencing ------------------------------------------------------------------
rounds=100
k=$((100 / BQ_DIV))
timeout $((600 * BQ_SLOW)) python3 "$HERE/producers.py" race "$BQ_PORT" "$rounds" "$k" "$BQ_SLOW" >race.out ||
  fail "producers.py race: status $? ($(tail -n1 race.out))"
check_eq "race: rounds reported" "$(grep -c '^round' race.out)" "$rounds"
check_eq "race: exactly one fenced per round" "$(grep -vc ' fenced 1 ' race.out)" 0
check_eq "race: the winner's last OK covers every line" \
  "$(awk '$8 != $10' race.out | head -n3)" ""
total=$((rounds * k))
check_eq "race: rows, distinct pseqs, first, last" \
  "$(sql "SELECT count(*) || ' ' || count(DISTINCT pseq) || ' ' || min(pseq) || ' ' || max(pseq) FROM producer_messages WHERE producer = 'race'")" \
  "$total $total 1 $total"
check_eq "race: every row holds the line of its number" \
  "$(sql "SELECT count(*) FROM producer_messages WHERE producer = 'race' AND CAST(payload AS TEXT) != 'L' || pseq")" 0

# --- 5. syslog listener ------------------------------------------------------
printf 'HELLO slog\n' | timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$SPORT" >out.syslog
check_eq "syslog listener: nothing written back" "$(wc -c <out.syslog)" 0
hello_stored() {
  [ "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) = 'HELLO slog'")" = 1 ]
}
poll $((30 * BQ_SLOW)) hello_stored ||
  fail "syslog listener: HELLO is not stored as a message"
stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "counters: fenced" "$(summary fenced)" "$rounds"
check_eq "counters: gaps refused" "$(summary gaps_refused)" 1
check_eq "counters: bad hellos" "$(summary bad_hellos)" 8
check_num "counters: duplicates skipped" "$(summary duplicates_skipped)" -ge $((2 * N))

start_daemon --producers off
nc_send out.off 'HELLO web1-access' 'x'
check_reply "--producers off: HELLO is a message" out.off "OK 2"
stop_daemon

(umask 077; echo 'producer-token-1' >token)
start_daemon --auth-token-file token
nc_send out.auth 'AUTH producer-token-1' 'HELLO authed' one two
check_reply "HELLO after AUTH" out.auth "RESUME 0 OK 2"
nc_send out.auth2 'HELLO authed' 'x'
check_eq "HELLO before AUTH: ERR auth" "$(tr '\n' ' ' <out.auth2)" "ERR auth "
stop_daemon
check_eq "after AUTH: rows" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT)) FROM producer_messages WHERE producer = 'authed'")" "one,two"

# --- 6. kill -9 mid-stream, then resume ------------------------------------
M=$((200000 / BQ_DIV))
seq 1 "$M" >big
start_daemon
bq_spawn /dev/null out.k9 err.k9 timeout $((240 * BQ_SLOW)) bash -c '
  { echo "HELLO k9"; cat big; } | nc -N 127.0.0.1 "$1"' _ "$BQ_PORT"
K9_PID=$BQ_SPAWNED
some_committed() { [ "$(sql "SELECT coalesce(max(committed), 0) FROM producers WHERE name = 'k9'")" -gt 0 ]; }
poll $((60 * BQ_SLOW)) some_committed || fail "kill -9: nothing committed"
kill -KILL "$BQ_PID"
wait_daemon_exit $((30 * BQ_SLOW))
reap_or_kill "$K9_PID" $((60 * BQ_SLOW)) "nc after kill -9"
start_daemon
{ echo 'HELLO k9'; cat big; } | timeout $((240 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" >out.k9b
stop_daemon
check_num "kill -9: RESUME after the restart" "$(sed -n 's/^RESUME //p' out.k9b)" -gt 0
check_eq "kill -9: the resend's last ack" "$(tail -n1 out.k9b)" "OK $M"
check_rows "kill -9 then resend" k9 "$M"
check_eq "integrity" "$(sql 'PRAGMA integrity_check')" ok
