#!/usr/bin/env bash
# test_client_auth.sh BURSTQD -- the burstq client against a daemon with
# --auth-token-file: `burstq send` and `burstq bench` with --token-file (and
# $BURSTQ_TOKEN_FILE) send "AUTH <token>" first, never count or store it,
# never print the token; a wrong or missing token exits 4 with
# "authentication failed (ERR auth)" and stores nothing; bad token files
# are refused before connecting (exit 2), an open one only warned about.
. "$(dirname "$0")/lib.sh" "$@"
need_client
unset BURSTQ_TOKEN_FILE BURSTQ_HOST

TOKEN='cl1ent-7a6b5c4d3e2f-Secret'
SECRET=${TOKEN:6:14}   # a piece of the token that no message contains
(umask 077; printf '%s\n' "$TOKEN" >token; printf 'not-%s\n' "$TOKEN" >wrong)

# bq NAME CMD ARGS...: run burstq CMD (bounded); NAME.out, NAME.err, RC.
bq() {
  local name=$1
  shift
  timeout $((240 * BQ_SLOW)) "$BQ_CLIENT" "$@" >"$name.out" 2>"$name.err"
  RC=$?
  check_sanitizer_log "$name.err" || true
  check_no_grep "$name: the token is not printed" "$name.out" "$SECRET"
  check_no_grep "$name: the token is not in stderr" "$name.err" "$SECRET"
}
rows() { sql "SELECT count(*) FROM messages"; }

# --- help ---------------------------------------------------------------------
for cmd in send bench; do
  "$BQ_CLIENT" help $cmd >help.$cmd 2>&1
  check_grep "burstq help $cmd: --token-file" help.$cmd '^ +-T, --token-file FILE'
  check_grep "burstq help $cmd: \$BURSTQ_TOKEN_FILE" help.$cmd 'BURSTQ_TOKEN_FILE'
  check_grep "burstq help $cmd: exit 4 names ERR auth" help.$cmd 'ERR auth'
done
"$BQ_CLIENT" --help >help.main 2>&1
check_grep "burstq --help: stats defaults to the metrics address" help.main '127\.0\.0\.1:9070'
check_grep "burstq --help: exit 4 lists ERR denied" help.main 'ERR denied'
check_grep "burstq --help: exit 4 lists ERR auth" help.main 'ERR auth'
check_grep "burstq --help: exit 4 lists ERR idle" help.main 'ERR idle'
bq noval send -T </dev/null
check_eq "send -T without a value: exit status" "$RC" 2
check_grep "send -T without a value: says so" noval.err '-T needs a value'

start_daemon --auth-token-file token
H=127.0.0.1:$BQ_PORT

# --- burstq send ------------------------------------------------------------
bq args send -H "$H" --token-file token -- alpha 'be ta' '' </dev/null
check_eq "send --token-file, arguments: exit status" "$RC" 0
check_eq "send --token-file, arguments: summary (AUTH not counted)" \
  "$(cat args.out)" "sent 3, committed 3"
printf 'line-1\nline-2\nline-3\nlast' >in.txt
bq stdin send -H "$H" -T token <in.txt
check_eq "send -T, stdin: exit status" "$RC" 0
check_eq "send -T, stdin: summary" "$(cat stdin.out)" "sent 4, committed 4"
bq empty send -H "$H" -T token </dev/null
check_eq "send -T, no input: exit status" "$RC" 0
check_eq "send -T, no input: summary" "$(cat empty.out)" "sent 0, committed 0"
# The token read from a pipe, messages from the same stdin.
printf '%s\nvia-stdin-1\nvia-stdin-2\n' "$TOKEN" >both.txt
bq devstdin send -H "$H" --token-file /dev/stdin <both.txt
check_eq "send --token-file /dev/stdin: exit status" "$RC" 0
check_eq "send --token-file /dev/stdin: summary" "$(cat devstdin.out)" "sent 2, committed 2"
BURSTQ_TOKEN_FILE=token bq env send -H "$H" from-env </dev/null
check_eq "send with \$BURSTQ_TOKEN_FILE: exit status" "$RC" 0
check_eq "send with \$BURSTQ_TOKEN_FILE: summary" "$(cat env.out)" "sent 1, committed 1"
check_eq "rows after the good sends" "$(rows)" 10
check_eq "stored payloads, in order" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM (SELECT payload FROM messages ORDER BY id)")" \
  "alpha,be ta,,line-1,line-2,line-3,last,via-stdin-1,via-stdin-2,from-env"

# Wrong token, no token, $BURSTQ_TOKEN_FILE wrong and --token-file right
# (the option wins).
bq wrong send -H "$H" --token-file wrong -- must-not-1 must-not-2 </dev/null
check_eq "send, wrong token: exit status" "$RC" 4
check_grep "send, wrong token: message" wrong.err 'authentication failed \(ERR auth\)'
bq notoken send -H "$H" must-not-3 </dev/null
check_eq "send, no token: exit status" "$RC" 4
check_grep "send, no token: message" notoken.err 'authentication failed \(ERR auth\).*--token-file'
BURSTQ_TOKEN_FILE=wrong bq wrongenv send -H "$H" must-not-4 </dev/null
check_eq "send, wrong \$BURSTQ_TOKEN_FILE: exit status" "$RC" 4
BURSTQ_TOKEN_FILE=wrong bq optwins send -H "$H" -T token opt-wins </dev/null
check_eq "send, --token-file over \$BURSTQ_TOKEN_FILE: exit status" "$RC" 0
seq 1 5000 | sed 's/^/must-not-stdin-/' >many.txt
bq wrongmany send -H "$H" -T wrong <many.txt
check_eq "send, wrong token, 5000 stdin lines: exit status" "$RC" 4
# A large input to a refusing daemon: the client stops at ERR auth (the
# daemon would discard 1 MiB and then reset the connection).
seq 1 400000 | sed 's/^/must-not-big-/' >big.txt
bq wrongbig send -H "$H" -T wrong <big.txt
check_eq "send, wrong token, 7 MB on stdin: exit status" "$RC" 4
check_grep "send, wrong token, 7 MB on stdin: message" wrongbig.err 'authentication failed \(ERR auth\)'
check_eq "rows after the refused sends (one more: opt-wins)" "$(rows)" 11
check_eq "no refused message stored" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE 'must-not%'")" 0
check_eq "no AUTH line stored" \
  "$(sql "SELECT count(*) FROM messages WHERE instr(payload, CAST('AUTH' AS BLOB)) > 0")" 0

# Token files refused before connecting: exit 2, a clear reason.
client_refuses_token() { # WHAT FILE ERE
  bq refuse send -H "$H" --token-file "$2" must-not-5 </dev/null
  check_eq "$1: exit status" "$RC" 2
  check_grep "$1: message" refuse.err "$3"
}
(umask 077; : >emptytok; printf '\n%s\n' "$TOKEN" >blankfirst
 printf 'two words\n' >spacetok; printf 'tab\there\n' >ctltok)
client_refuses_token "empty token file" emptytok 'token \(its first line\) is empty'
client_refuses_token "empty first line" blankfirst 'is empty'
client_refuses_token "token with a space" spacetok 'holds a space'
client_refuses_token "token with a tab" ctltok 'control'
client_refuses_token "missing token file" nosuch 'cannot open the token file nosuch'
client_refuses_token "a directory" . 'is a directory'
BURSTQ_TOKEN_FILE=emptytok bq envempty send -H "$H" must-not-6 </dev/null
check_eq "empty token via \$BURSTQ_TOKEN_FILE: exit status" "$RC" 2
bq benchrefuse bench -H "$H" -T spacetok -c 1 -n 10
check_eq "bench, token with a space: exit status" "$RC" 2
check_grep "bench, token with a space: message" benchrefuse.err 'holds a space'
cp token open644; chmod 644 open644
bq open send -H "$H" -T open644 open-ok </dev/null
check_eq "world-readable token file: still used (exit status)" "$RC" 0
check_grep "world-readable token file: warned" open.err 'warning: .*readable by group or others \(mode 0644\).*chmod 600'
check_eq "rows after the refusals (one more: open-ok)" "$(rows)" 12

# --- burstq bench -----------------------------------------------------------
N=$((20000 / BQ_DIV))
bq bench bench -H "$H" --token-file token -c 4 -n "$N" --db "$BQ_DB"
check_eq "bench --token-file: exit status" "$RC" 0
check_grep "bench --token-file: everything committed" bench.out '^sent == committed: yes$'
check_grep "bench --token-file: db check ok" bench.out "^db check .*: ok: $N of $N messages found"
BURSTQ_TOKEN_FILE=token bq benchenv bench -H "$H" -c 2 -n 1000 --db "$BQ_DB"
check_eq "bench with \$BURSTQ_TOKEN_FILE: exit status" "$RC" 0
check_grep "bench with \$BURSTQ_TOKEN_FILE: db check ok" benchenv.out '^db check .*: ok: 1000 of 1000'
before=$(rows)
bq benchwrong bench -H "$H" -T wrong -c 4 -n 2000
check_eq "bench, wrong token: exit status" "$RC" 4
check_grep "bench, wrong token: message" benchwrong.err 'authentication failed \(ERR auth\)'
check_grep "bench, wrong token: every connection refused" benchwrong.out 'refused 4,'
bq benchnone bench -H "$H" -c 2 -n 200
check_eq "bench, no token: exit status" "$RC" 4
bq benchbig bench -H "$H" -T wrong -c 2 -n 400000
check_eq "bench, wrong token, 400k messages: exit status" "$RC" 4
check_grep "bench, wrong token, 400k messages: refused, not lost" benchbig.out 'refused 2, .*lost connections 0'
check_grep "bench, no token: message" benchnone.err 'authentication failed \(ERR auth\).*--token-file'
check_eq "bench, refused: no rows stored" "$(rows)" "$before"
check_eq "rows in all" "$before" $((12 + N + 1000))

stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_no_grep "the token is not in the daemon log" "$BQ_LOG" "$SECRET"

# 5 refused sends, 4 + 2 + 2 refused bench connections; bad token files
# never connected.
check_eq "daemon counted the refused connections (auth_failed)" "$(summary auth_failed)" 13

# --- a token for a daemon that does not want one ------------------------------
# It stores "AUTH <token>" as a message (nothing can stop that: the
# protocol has no way to ask); the client notices the extra ack and warns.
rm -f "$BQ_DB"*
start_daemon
H=127.0.0.1:$BQ_PORT
bq noauth send -H "$H" -T token plain-1 </dev/null
check_eq "token to a daemon without auth: exit status (committed)" "$RC" 0
check_grep "token to a daemon without auth: warned" noauth.err 'warning: .*does not require a token and stored the AUTH line'
check_eq "token to a daemon without auth: the rows" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) = 'AUTH $TOKEN'"),$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) = 'plain-1'")" "1,1"
bq noauthbench bench -H "$H" -T token -c 2 -n 100
check_eq "bench with a token to a daemon without auth: exit status" "$RC" 1
check_grep "bench with a token to a daemon without auth: warned" noauthbench.err 'warning: .*stored the AUTH line as a message on 2 connections'
bq plain send -H "$H" plain-2 </dev/null
check_eq "no token to a daemon without auth: exit status" "$RC" 0
check_no_grep "no token to a daemon without auth: no warning" plain.err 'warning'
stop_daemon
check_eq "daemon without auth: exit status" "$BQ_RC" 0
