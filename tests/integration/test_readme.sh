#!/usr/bin/env bash
# test_readme.sh BURSTQD -- README's "A first session", run as written, and
# the example at the end of `burstqd --help`.
#
# The checkout is stood in for by a directory holding the real Makefile and
# a build/ with the built burstqd and burstq.  `make run` is started there
# (only the port is substituted, through RUN_ARGS; -o build: this build is
# the one under test, not rebuilt), then each "$ " command of the second
# terminal's block runs in a shell in that directory, the port of
# 127.0.0.1 7070 substituted (and BURSTQ_HOST for burstq), and its output
# must be exactly the lines README shows under it.  The last command must
# stop that daemon and no other burstqd: it drains, make run exits 0, and
# the summary is README's.
README=$(realpath "$(dirname "$0")/../../README.md")
MAKEFILE=$(realpath "$(dirname "$0")/../../Makefile")
. "$(dirname "$0")/lib.sh" "$@"
need_client

# The commands as a person types them: no make of ctest's around them, no
# client settings from the environment.
unset MAKEFLAGS MFLAGS MAKELEVEL GNUMAKEFLAGS BURSTQ_HOST BURSTQ_TOKEN_FILE

check_eq "burstq is built next to burstqd" \
  "$(dirname "$BQ_CLIENT")" "$(dirname "$BQ_BIN")"

CO=$BQ_T/checkout
mkdir -p "$CO/build"
ln -s "$MAKEFILE" "$CO/Makefile"
ln -s "$BQ_BIN" "$CO/build/burstqd"
ln -s "$BQ_CLIENT" "$CO/build/burstq"

# README's blocks: the first fenced block of the section is the first
# terminal, the second is the other one.
section() { awk '/^## A first session$/ { s = 1; next } s && /^## / { exit }
                 s && /^```/ { b++; next } s && b == '"$1"' { print }' "$README"; }
section 1 >term1.txt
section 3 >term2.txt
check_eq "first terminal: make run" "$(head -n 1 term1.txt)" '$ make run'
check_grep "first terminal: says where it listens" term1.txt \
  '^\.\.\. info: listening on 127\.0\.0\.1:7070 \(acked\)$'
summary_line=$(sed -n 's/^`\(stopped: .*\) \.\.\.`\.$/\1/p' "$README")
[ -n "$summary_line" ] || fail "README shows no summary line (\`stopped: ... ...\`.)"

CMDS=()
EXPS=()
while IFS= read -r line; do
  if [[ $line == '$ '* ]]; then
    CMDS+=("${line#\$ }")
    EXPS+=("")
  elif [ "${#CMDS[@]}" -gt 0 ]; then
    EXPS[${#CMDS[@]} - 1]+="$line"$'\n'
  else
    fail "second terminal: output before any command: $line"
  fi
done <term2.txt
note "second terminal: ${#CMDS[@]} commands"
# The shape this test stands for: nc -N, sqlite3, burstq send, the stop.
all=$(printf '%s\n' "${CMDS[@]}")
check_grep "session: nc -N" <(echo "$all") '\| nc -N 127\.0\.0\.1 7070'
check_grep "session: sqlite3 burstq.db" <(echo "$all") '^sqlite3 burstq\.db '
check_grep "session: ./build/burstq send" <(echo "$all") '^\./build/burstq send '
check_eq "session: the last command stops the daemon" \
  "${CMDS[-1]%%  *}" "make stop"

# Another burstqd on this machine: make stop must leave it alone.
start_daemon
OTHER_PID=$BQ_PID
OTHER_LOG=$BQ_LOG

# Terminal 1: make run.
BQ_LOG=$BQ_T/make-run.log
BQ_LOGS+=("$BQ_LOG")
bq_spawn /dev/null "$BQ_LOG" "&1" bash -c \
  'cd "$1" && exec make -o build run RUN_ARGS="--listen 127.0.0.1:0"' _ "$CO"
BQ_PID=$BQ_SPAWNED
wait_log ' listening on 127\.0\.0\.1:[0-9]+ \(acked\)$' || die "make run did not start burstqd"
PORT=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9][0-9]*\) (acked)$/\1/p' "$BQ_LOG")
DPID=$(cat "$CO/build/burstqd.pid")
check_eq "make run: the recorded PID is the daemon" \
  "$(readlink "/proc/$DPID/exe")" "$BQ_BIN"
check_eq "make run: the daemon's database is ./burstq.db" \
  "$(test -f "$CO/burstq.db" && echo yes)" yes
note "make run: burstqd $DPID on port $PORT"

# Terminal 2, command by command.
export BURSTQ_HOST=127.0.0.1:$PORT
for i in "${!CMDS[@]}"; do
  cmd=${CMDS[$i]//127.0.0.1 7070/127.0.0.1 $PORT}
  cmd=${cmd//127.0.0.1:7070/127.0.0.1:$PORT}
  (cd "$CO" && timeout $((300 * BQ_SLOW)) bash -c "$cmd") >"out.$i" 2>&1
  rc=$?
  check_eq "\$ $cmd: exit status" "$rc" 0
  check_eq "\$ ${CMDS[$i]}: output" "$(cat "out.$i")" "${EXPS[$i]%$'\n'}"
done

# The stop: the daemon make run started is gone once make stop returns, its
# drain was clean, the other daemon still runs.
if [ "$(readlink "/proc/$DPID/exe" 2>/dev/null)" = "$BQ_BIN" ]; then
  fail "make run's burstqd ($DPID) still runs after the session's last command"
  kill -TERM "$DPID"
else
  note "ok: make run's burstqd is gone once the last command returned"
fi
wait_daemon_exit $((60 * BQ_SLOW))
check_eq "make run: exit status" "$BQ_RC" 0
check_grep "make run: README's summary line" "$BQ_LOG" \
  " $(sed 's/[.[\*^$]/\\&/g' <<<"$summary_line") "
check_eq "after the stop: the pid file is removed" \
  "$(test -e "$CO/build/burstqd.pid" && echo left || echo removed)" removed
if bq_is_running_child "$OTHER_PID"; then
  note "ok: the other burstqd still runs"
else
  fail "the other burstqd ($OTHER_PID) was stopped too"
fi
BQ_PID=$OTHER_PID
BQ_LOG=$OTHER_LOG
stop_daemon
check_eq "the other burstqd: exit status" "$BQ_RC" 0

# burstqd --help's example, in a fresh directory: its lines in one shell,
# where `burstqd` is the binary under test listening on a free port instead
# of the default's 7070 (the shell waits for it to listen before the next
# line).
mkdir -p ex/bin
printf '#!/bin/sh\nexec "%s" --listen 127.0.0.1:0 "$@" 2>daemon.log\n' \
  "$BQ_BIN" >ex/bin/burstqd
chmod +x ex/bin/burstqd
"$BQ_BIN" --help | sed -n '/^Example/,$p' | tail -n +2 | sed 's/^  //' >ex.lines
check_eq "--help example: 4 lines" "$(wc -l <ex.lines)" 4
check_eq "--help example: starts the daemon on the defaults" \
  "$(sed -n 1p ex.lines)" 'burstqd &'
{
  echo 'set -u'
  echo 'PATH=$PWD/bin:$PATH'
  sed -n 1p ex.lines
  echo 'for i in $(seq 600); do grep -q "listening on" daemon.log 2>/dev/null && break; sleep 0.1; done'
  echo 'PORT=$(sed -n "s/.* listening on 127\.0\.0\.1:\([0-9]*\) (acked)$/\1/p" daemon.log)'
  sed -n '2,$p' ex.lines | sed 's/127\.0\.0\.1 7070/127.0.0.1 $PORT/'
  echo 'wait %1; echo "daemon exit $?"'
} >ex/example.sh
(cd ex && timeout $((120 * BQ_SLOW)) bash example.sh) >ex.out 2>&1
check_eq "--help example: its output" "$(cat ex.out)" \
  "OK 2
1|1|1|hello
2|1|2|world
daemon exit 0"
check_grep "--help example: the daemon drained" ex/daemon.log \
  ' stopped: received=2 committed=2 '
check_sanitizer_log ex/daemon.log
