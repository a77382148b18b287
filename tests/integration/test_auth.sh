#!/usr/bin/env bash
# test_auth.sh BURSTQD -- --auth-token-file: a connection's first line must
# be "AUTH <token>"; otherwise "ERR auth", close, nothing stored, counted.
# The token never appears in the log (even at debug level), the AUTH line is
# not a message, and a token file that others can read, an empty one or a
# missing one stops the daemon before it listens (exit 2).
. "$(dirname "$0")/lib.sh" "$@"

TOKEN='t0k-9f8e7d6c5b4a-Secret'
(umask 077; printf '%s\n' "$TOKEN" >token)

since=$SECONDS
start_daemon --auth-token-file token --log-level debug
check_grep "start-up says authentication is on" "$BQ_LOG" 'authentication: first line must be AUTH'

printf 'AUTH %s\ngood-1\ngood-2\n' "$TOKEN" | send out.good
check_reply "right token: acks" out.good "OK 2"
printf 'AUTH %s\r\ngood-crlf\n' "$TOKEN" | send out.crlf
check_eq "right token with CRLF: acks" "$(cat out.crlf)" "OK 1"
# The AUTH line split over several TCP segments.
{ printf 'AU'; sleep 0.3; printf 'TH %s' "${TOKEN:0:5}"; sleep 0.3
  printf '%s\ngood-split\n' "${TOKEN:5}"; } | send out.split
check_eq "right token in pieces: acks" "$(cat out.split)" "OK 1"

printf 'AUTH %sX\nbad-1\n' "$TOKEN" | send out.wrong
check_eq "wrong token: reply" "$(cat out.wrong)" "ERR auth"
printf 'AUTH %s\nbad-2\n' "${TOKEN%?}" | send out.short
check_eq "token missing its last byte: reply" "$(cat out.short)" "ERR auth"
printf 'bad-3\nAUTH %s\n' "$TOKEN" | send out.noauth
check_eq "no AUTH line first: reply" "$(cat out.noauth)" "ERR auth"
printf 'auth %s\nbad-4\n' "$TOKEN" | send out.case
check_eq "lower-case auth: reply" "$(cat out.case)" "ERR auth"
send out.empty </dev/null
check_eq "nothing sent, then FIN: reply" "$(cat out.empty)" "ERR auth"
printf 'AUTH %s' "$TOKEN" | send out.unterminated
check_eq "AUTH line without newline, then FIN: reply (authenticated, OK 0)" \
  "$(cat out.unterminated)" "OK 0"
head -c 200000 /dev/zero | tr '\0' A | send out.long
check_eq "a 200 KB first line: reply" "$(cat out.long)" "ERR auth"

check_eq "rows" "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM (SELECT payload FROM messages ORDER BY id)")" \
  "good-1,good-2,good-crlf,good-split"
check_eq "rows holding AUTH" "$(sql "SELECT count(*) FROM messages WHERE instr(payload, CAST('AUTH' AS BLOB)) > 0")" 0

stop_daemon
check_eq "exit status" "$BQ_RC" 0
# After the drain: an "OK n" covers the connection's messages, not its own
# row, and "OK 0" (authenticated, nothing sent) may come before that row is
# committed.  The four authenticated connections, none of the refused ones.
check_eq "connections recorded (only authenticated ones)" \
  "$(sql 'SELECT count(*) FROM connections')" 4
check_eq "summary auth_failed" "$(summary auth_failed)" 6
check_no_grep "the token is not in the log" "$BQ_LOG" "${TOKEN:4:12}"
check_no_grep "no payload in the log" "$BQ_LOG" 'bad-[0-9]|good-'
check_grep "authentication failures are logged" "$BQ_LOG" 'authentication failed'
check_ratelimited "failure log lines (rate-limited)" \
  "$(grep -c 'authentication failed' "$BQ_LOG")" "$since"

# The AUTH line is not a message: --max-message does not limit it, even
# with the longest token (1024 bytes) and a CRLF; after it, messages are
# limited as usual.
rm -f "$BQ_DB"*
LONGTOK=$(head -c 1024 /dev/zero | tr '\0' k)
(umask 077; printf '%s\n' "$LONGTOK" >longtoken)
start_daemon --auth-token-file longtoken --max-message 8
printf 'AUTH %s\nshort-1\n123456789\nshort-2\n' "$LONGTOK" | send out.longtok
check_eq "1024-byte token, --max-message 8: replies" \
  "$(grep -c '^ERR too-long$' out.longtok) $(grep -v '^ERR' out.longtok | tail -n1)" \
  "1 OK 2"
printf 'AUTH %s\r\nshort-3\n' "$LONGTOK" | send out.longtok.crlf
check_eq "1024-byte token with CRLF: reply" "$(cat out.longtok.crlf)" "OK 1"
printf 'AUTH %s' "$LONGTOK" | send out.longtok.fin
check_eq "1024-byte token without newline, then FIN: reply" \
  "$(cat out.longtok.fin)" "OK 0"
printf 'AUTH %sk\nbad-5\n' "$LONGTOK" | send out.longtok.over
check_eq "a token byte too many: reply" "$(cat out.longtok.over)" "ERR auth"
printf 'AUTH %s\nbad-6\n' "${LONGTOK%?}" | send out.longtok.under
check_eq "a token byte too few: reply" "$(cat out.longtok.under)" "ERR auth"
check_eq "rows (--max-message 8)" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM (SELECT payload FROM messages ORDER BY id)")" \
  "short-1,short-2,short-3"
stop_daemon
check_eq "exit status (--max-message 8)" "$BQ_RC" 0
check_eq "summary auth_failed (--max-message 8)" "$(summary auth_failed)" 2
check_eq "summary rejected (--max-message 8)" "$(summary rejected)" 1

# Token files the daemon must refuse: exit 2, no listening, no token in
# the message.
daemon_refuses_token() { # WHAT FILE EXPECTED-ERE
  timeout $((60 * BQ_SLOW)) "$BQ_BIN" --listen 127.0.0.1:0 --db refused.db \
    --auth-token-file "$2" >refuse.out 2>&1
  check_eq "$1: exit status" "$?" 2
  check_grep "$1: message" refuse.out "$3"
  check_no_grep "$1: never listened" refuse.out 'listening on'
  check_no_grep "$1: token not printed" refuse.out "${TOKEN:4:12}"
  [ ! -e refused.db ] && note "ok: $1: no database created" ||
    { fail "$1: a database was created"; rm -f refused.db*; }
}
cp token open644; chmod 644 open644
daemon_refuses_token "world-readable token file" open644 'accessible by group or others.*chmod 600'
cp token open640; chmod 640 open640
daemon_refuses_token "group-readable token file" open640 'accessible by group or others'
(umask 077; : >emptytok)
daemon_refuses_token "empty token file" emptytok 'empty'
daemon_refuses_token "missing token file" nosuchfile 'cannot open nosuchfile'
(umask 077; printf 'two words\n' >spacetok)
daemon_refuses_token "token with a space" spacetok 'space'
