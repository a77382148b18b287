# lib.sh -- shared helpers for the burstq integration tests.
#
# A test script starts with
#     . "$(dirname "$0")/lib.sh" "$@"
# where $1 is the path to the burstqd binary.  Sourcing this file:
#   - makes a private temp dir ($BQ_T, also the cwd) that is removed on exit;
#   - installs an EXIT trap that ends only the processes this test started
#     (daemons, nc, sqlite3 lock holders: each one a direct child of this
#     shell, checked through /proc before it is signalled), runs the
#     commands a test queued in BQ_ON_EXIT, scans every
#     daemon log for sanitizer reports, and turns recorded failures into
#     the exit status;
#   - sets BQ_DIV (divide message counts by it) and BQ_SLOW (multiply upper
#     time bounds by it) from $BQ_SANITIZER (asan or tsan).
#
# Assertions are soft (fail records and goes on) so that one run reports
# every broken expectation; die is for setup problems after which nothing
# more can be checked.  No assertion here or in the tests is about time:
# every time limit is only an upper bound against hangs.

set -u -o pipefail

BQ_BIN=${1:-}
if [ -z "$BQ_BIN" ] || [ ! -x "$BQ_BIN" ]; then
  echo "usage: $0 PATH-TO-BURSTQD (got '${BQ_BIN}')" >&2
  exit 1
fi
BQ_BIN=$(realpath "$BQ_BIN")
BQ_TEST=$(basename "$0" .sh)
BQ_SAN=${BQ_SANITIZER:-}
case "$BQ_SAN" in
  "") BQ_DIV=1; BQ_SLOW=1 ;;
  asan|tsan) BQ_DIV=2; BQ_SLOW=10 ;;
  *) echo "BQ_SANITIZER must be asan, tsan or empty (got '$BQ_SAN')" >&2
     exit 1 ;;
esac
# Sanitizer runtimes: make a report visible and fatal in the daemon's log.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1}

BQ_SANITIZER_RE='ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer|ERROR: LeakSanitizer'

BQ_T=$(mktemp -d "${TMPDIR:-/tmp}/bq-$BQ_TEST.XXXXXX") || exit 1
BQ_DB=$BQ_T/bq.db
BQ_PIDS=()       # background processes started by this shell
BQ_FDS=()        # fifo write ends this shell holds open
BQ_LOGS=()       # every daemon log, scanned at exit and shown on failure
BQ_ON_EXIT=()    # commands run at exit once those processes are gone
                 # (undoing what a test set up outside $BQ_T)
BQ_FAILS=0
BQ_NDAEMON=0
BQ_PID=          # the current daemon
BQ_PORT=
BQ_LOG=
BQ_RC=           # exit status from the last stop_daemon / reap
cd "$BQ_T" || exit 1

note() { echo "[$BQ_TEST] $*"; }

# Record a failed assertion and go on.  Also in a file, so that a failure
# inside a subshell (the right side of a pipe, $(...)) still counts.
fail() {
  BQ_FAILS=$((BQ_FAILS + 1))
  echo "FAIL [$BQ_TEST]: $*" >&2
  echo "$*" >>"$BQ_T/.failures"
}

# A failure after which the test cannot go on.
die() {
  fail "$* (fatal)"
  exit 1
}

check_eq() { # WHAT ACTUAL EXPECTED
  if [ "$2" == "$3" ]; then
    note "ok: $1 = $2"
  else
    fail "$1: got '$2', expected '$3'"
  fi
}

check_num() { # WHAT A OP B   (OP: -eq -ne -lt -le -gt -ge)
  if [[ "$2" =~ ^-?[0-9]+$ && "$4" =~ ^-?[0-9]+$ ]] && [ "$2" "$3" "$4" ]; then
    note "ok: $1: $2 $3 $4"
  else
    fail "$1: expected '$2' $3 '$4'"
  fi
}

check_grep() { # WHAT FILE ERE: FILE must contain a line matching ERE
  if grep -Eq -- "$3" "$2"; then
    note "ok: $1"
  else
    fail "$1: no line matching /$3/ in $(basename "$2")"
  fi
}

check_no_grep() { # WHAT FILE ERE: FILE must not contain ERE
  if grep -Eq -- "$3" "$2"; then
    fail "$1: found /$3/ in $(basename "$2"): $(grep -E -m3 -- "$3" "$2")"
  else
    note "ok: $1"
  fi
}

# --- processes ---------------------------------------------------------

# bq_spawn IN OUT ERR CMD...: run CMD in the background with the given
# stdin/stdout/stderr (ERR may be "&1") and without the fifo ends this
# shell holds.  The subshell execs CMD, so $BQ_SPAWNED is CMD's own PID.
bq_spawn() {
  local in=$1 out=$2 err=$3
  shift 3
  (
    for fd in "${BQ_FDS[@]}"; do eval "exec $fd>&-"; done
    if [ "$err" = "&1" ]; then
      exec "$@" <"$in" >"$out" 2>&1
    else
      exec "$@" <"$in" >"$out" 2>"$err"
    fi
  ) &
  BQ_SPAWNED=$!
  BQ_PIDS+=("$BQ_SPAWNED")
}

# 0 when PID is a live (not zombie) child of this shell.
bq_is_running_child() {
  local stat rest ppid state
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  state=${rest%% *}
  rest=${rest#* }
  ppid=${rest%% *}
  [ "$ppid" = "$$" ] && [ "$state" != Z ] && [ "$state" != X ]
}

bq_forget_pid() {
  local p keep=()
  for p in "${BQ_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BQ_PIDS=("${keep[@]}")
}

# reap PID LIMIT_S: wait at most LIMIT_S seconds for a child to exit; set
# BQ_RC to its exit status and return 0, or return 1 if it is still running
# (it is left running).
reap() {
  local pid=$1 limit=$2 i n
  n=$((limit * 20))
  for ((i = 0; i < n; i++)); do
    bq_is_running_child "$pid" || break
    sleep 0.05
  done
  if bq_is_running_child "$pid"; then return 1; fi
  wait "$pid" 2>/dev/null
  BQ_RC=$?
  bq_forget_pid "$pid"
  return 0
}

# reap_or_kill PID LIMIT_S WHAT: like reap, but a child that overstays is
# a failure and is killed; BQ_RC is then 999.
reap_or_kill() {
  if reap "$1" "$2"; then return 0; fi
  fail "$3 (pid $1) still running after $2 s; killing it"
  kill -TERM "$1" 2>/dev/null
  reap "$1" 5 || { kill -KILL "$1" 2>/dev/null; reap "$1" 5; }
  BQ_RC=999
  return 1
}

# poll LIMIT_S CMD...: run CMD every 50 ms until it succeeds (0) or
# LIMIT_S seconds have passed (1).
poll() {
  local limit=$1 i n
  shift
  n=$((limit * 20))
  for ((i = 0; i < n; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  "$@"
}

# --- fifos: connections held open by the test ----------------------------

# open_fifo_writer NAME VAR: open the write end of fifo NAME into a new fd
# stored in VAR (the reader must already be starting).
open_fifo_writer() {
  local _fd
  exec {_fd}>"$1" || die "cannot open fifo $1"
  BQ_FDS+=("$_fd")
  printf -v "$2" '%s' "$_fd"
}

close_fd() {
  local f keep=()
  eval "exec $1>&-"
  for f in "${BQ_FDS[@]}"; do [ "$f" = "$1" ] || keep+=("$f"); done
  BQ_FDS=("${keep[@]}")
}

# --- the daemon ----------------------------------------------------------

# start_daemon ARGS...: start burstqd on a free port with --db $BQ_DB and
# ARGS (which may override it); wait until it logs "listening on" for
# every listener.  Sets BQ_PID, BQ_PORT (the first listener's port: the
# acked one start_daemon adds) and BQ_LOG; a --listen in ARGS adds a
# listener (HOST must be 127.0.0.1), whose port is then in BQ_PORTS
# (BQ_PORTS[0] is BQ_PORT, the rest in the order given).
start_daemon() {
  BQ_NDAEMON=$((BQ_NDAEMON + 1))
  BQ_LOG=$BQ_T/daemon$BQ_NDAEMON.log
  BQ_LOGS+=("$BQ_LOG")
  : >"$BQ_LOG"
  bq_spawn /dev/null "$BQ_LOG" "&1" \
    "$BQ_BIN" --listen 127.0.0.1:0 --db "$BQ_DB" "$@"
  BQ_PID=$BQ_SPAWNED
  BQ_PORT=
  BQ_PORTS=()
  local a want=1 i n=$((60 * BQ_SLOW * 20))
  for a in "$@"; do
    case "$a" in --listen|-l|--listen=*) want=$((want + 1)) ;; esac
  done
  for ((i = 0; i < n; i++)); do
    mapfile -t BQ_PORTS < <(sed -n \
      's/.* listening on 127\.0\.0\.1:\([0-9][0-9]*\) ([a-z,]*)$/\1/p' "$BQ_LOG")
    [ "${#BQ_PORTS[@]}" -ge "$want" ] && break
    bq_is_running_child "$BQ_PID" || break
    sleep 0.05
  done
  if [ "${#BQ_PORTS[@]}" -lt "$want" ]; then
    cat "$BQ_LOG" >&2
    die "daemon did not start (args: $*)"
  fi
  BQ_PORT=${BQ_PORTS[0]}
  note "daemon $BQ_PID listening on port(s) ${BQ_PORTS[*]} (args: $*)"
}

# Fail if a log holds a sanitizer report (once per log).
declare -A BQ_SAN_REPORTED
check_sanitizer_log() { # LOG
  [ -n "${BQ_SAN_REPORTED[$1]:-}" ] && return 1
  if grep -Eq "$BQ_SANITIZER_RE" "$1"; then
    BQ_SAN_REPORTED[$1]=1
    fail "sanitizer report in $(basename "$1"):"
    grep -E -A30 "$BQ_SANITIZER_RE" "$1" | head -60 >&2
    return 1
  fi
  return 0
}

# wait_daemon_exit LIMIT_S: wait for the current daemon to exit by itself;
# sets BQ_RC and checks its log for sanitizer reports.
wait_daemon_exit() {
  reap_or_kill "$BQ_PID" "$1" "daemon"
  check_sanitizer_log "$BQ_LOG"
  return 0
}

# stop_daemon [SIGNAL]: signal the daemon (TERM by default), wait for it
# (bounded), set BQ_RC to its exit status and return it; a sanitizer report
# in its log is a failure.
stop_daemon() {
  local sig=${1:-TERM}
  kill -"$sig" "$BQ_PID" 2>/dev/null || fail "daemon $BQ_PID was not running at stop"
  wait_daemon_exit $((120 * BQ_SLOW))
  note "daemon $BQ_PID exited with status $BQ_RC"
  return "$BQ_RC"
}

# strace_attach NAME SYSCALLS: attach strace -f -y to every thread of the
# daemon, tracing SYSCALLS (strace's -e trace= list) into NAME.trace, and
# return once it traces them all; sets BQ_TRACER.  Needs strace
# (need_prog).
strace_attach() {
  bq_spawn /dev/null /dev/null "$1.strace-err" \
    strace -f -y -e signal=none -e trace="$2" -o "$1.trace" -p "$BQ_PID"
  BQ_TRACER=$BQ_SPAWNED
  # strace says "Process PID attached with N threads" once it traces them
  # all.
  poll $((60 * BQ_SLOW)) grep -q 'attached' "$1.strace-err" ||
    die "strace did not attach: $(cat "$1.strace-err")"
}

# strace_detach: detach BQ_TRACER (SIGINT) and reap it.  Before the daemon
# exits: LeakSanitizer's exit-time check attaches with ptrace itself, and
# fails under a tracer.
strace_detach() {
  kill -INT "$BQ_TRACER"
  reap_or_kill "$BQ_TRACER" $((60 * BQ_SLOW)) "strace"
}

# summary FIELD [LOG]: a counter from the daemon's "stopped:" line.
summary() {
  sed -n "s/.* stopped: .*\\b$1=\\([0-9][0-9]*\\).*/\\1/p" "${2:-$BQ_LOG}" |
    tail -n1
}

# wait_log ERE [LIMIT_S]: wait until the daemon log has a line matching
# ERE; 1 on timeout or if the daemon died first.
bq_log_has() { grep -Eq -- "$1" "$BQ_LOG"; }
wait_log() {
  local re=$1 limit=${2:-$((60 * BQ_SLOW))} i n
  n=$((limit * 20))
  for ((i = 0; i < n; i++)); do
    bq_log_has "$re" && return 0
    bq_is_running_child "$BQ_PID" || break
    sleep 0.05
  done
  bq_log_has "$re"
}

vmhwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status"; }

# --- the client ------------------------------------------------------------

# need_client: the burstq client, from $BQ_CLIENT (set by ctest to the
# built binary); dies when it is missing.  Sets BQ_CLIENT to its real path.
need_client() {
  [ -n "${BQ_CLIENT:-}" ] && [ -x "$BQ_CLIENT" ] ||
    die "BQ_CLIENT must name the burstq binary (got '${BQ_CLIENT:-}')"
  BQ_CLIENT=$(realpath "$BQ_CLIENT")
}

# bq_send OUT ARGS...: run burstq send (bounded; need_client first); stdout
# in OUT.out, stderr in OUT.err, exit status in RC.  Stdin is the caller's
# (a redirect, not a pipe: a pipeline would set RC in a subshell).
bq_send() {
  local out=$1
  shift
  timeout $((120 * BQ_SLOW)) "$BQ_CLIENT" send "$@" >"$out.out" 2>"$out.err"
  RC=$?
  check_sanitizer_log "$out.err" || true
}

# --- one connection at a time ------------------------------------------------

# send OUT [HOST]: stdin to the daemon on one connection from HOST
# (127.0.0.1 by default; ::1 for IPv6) with nc -N, which half-closes at the
# end of stdin and then reads every reply into OUT until the daemon closes.
# Returns nc's exit status (124 if it was still running at the bound).
send() {
  timeout $((60 * BQ_SLOW)) nc -N "${2:-127.0.0.1}" "$BQ_PORT" >"$1"
}

# served LINE: 0 when a new connection sending just LINE is answered
# exactly "OK 1" (the reply is in $BQ_T/served.out).  For poll, after an
# overload: the daemon serves new clients again.
served() {
  printf '%s\n' "$1" | send "$BQ_T/served.out"
  grep -qx 'OK 1' "$BQ_T/served.out"
}

# --- helper programs that signal readiness ------------------------------------

# wait_ready FILE PID: wait (at most 120 s x BQ_SLOW) until FILE exists or
# the child PID has exited without making it; 0 iff FILE exists.  For
# helpers such as sockets.py --ready FILE, so that one that died is
# reported at once rather than at the bound.
bq_ready_or_dead() { [ -e "$1" ] || ! bq_is_running_child "$2"; }
wait_ready() {
  poll $((120 * BQ_SLOW)) bq_ready_or_dead "$1" "$2"
  [ -e "$1" ]
}

# --- command-line scripts -------------------------------------------------------

# check_usage SCRIPT BAD_ARGS...: sh SCRIPT -h exits 0 and prints its
# "usage: NAME " line; each BAD_ARGS word list (split on spaces) exits 2
# with that usage line on stderr.
check_usage() {
  local script=$1 name bad
  shift
  name=$(basename "$script")
  sh "$script" -h >help.out 2>&1
  check_eq "-h: exit status" "$?" 0
  check_grep "-h: usage line" help.out "^usage: ${name//./\\.} "
  for bad in "$@"; do
    # shellcheck disable=SC2086
    sh "$script" $bad >bad.out 2>bad.err
    check_eq "bad input '$bad': exit status" "$?" 2
    check_grep "bad input '$bad': usage on stderr" bad.err "^usage: ${name//./\\.} "
  done
}

# --- a port where nothing listens -------------------------------------------

# hold_refused_port: a loopback port where a connect is refused, and stays
# refused for the whole test: a socket of this test holds it, bound but
# never listening (a port freed by a stopped daemon could be taken by
# another test).  Sets BQ_REFUSED_PORT.
hold_refused_port() {
  bq_spawn /dev/null "$BQ_T/refused.port" "$BQ_T/refused.err" python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(86400)'
  poll $((30 * BQ_SLOW)) test -s "$BQ_T/refused.port" ||
    die "no port held: $(cat "$BQ_T/refused.err")"
  BQ_REFUSED_PORT=$(cat "$BQ_T/refused.port")
}

# --- the database --------------------------------------------------------

sql() { # QUERY [DB]
  sqlite3 -batch -bail -cmd '.timeout 30000' "${2:-$BQ_DB}" "$1"
}

msg_count() { sql "SELECT count(*) FROM messages"; }

# lock_db: another process takes the database's write lock and holds it
# until unlock_db.  Returns once the lock is held.
lock_db() {
  rm -f "$BQ_T/lock.fifo" "$BQ_T/lock.out"
  mkfifo "$BQ_T/lock.fifo"
  bq_spawn "$BQ_T/lock.fifo" "$BQ_T/lock.out" "&1" sqlite3 -batch "$BQ_DB"
  BQ_LOCK_PID=$BQ_SPAWNED
  open_fifo_writer "$BQ_T/lock.fifo" BQ_LOCK_FD
  echo ".timeout 60000" >&"$BQ_LOCK_FD"
  echo "BEGIN IMMEDIATE; SELECT 'locked';" >&"$BQ_LOCK_FD"
  poll $((60 * BQ_SLOW)) grep -qx locked "$BQ_T/lock.out" ||
    die "could not take the database lock: $(cat "$BQ_T/lock.out")"
  note "database write-locked by sqlite3 pid $BQ_LOCK_PID"
}

unlock_db() {
  echo "COMMIT; SELECT 'unlocked';" >&"$BQ_LOCK_FD"
  close_fd "$BQ_LOCK_FD"
  reap_or_kill "$BQ_LOCK_PID" 60 "lock holder"
  grep -qx unlocked "$BQ_T/lock.out" ||
    fail "lock holder did not commit cleanly: $(cat "$BQ_T/lock.out")"
  note "database unlocked"
}

# --- message streams -----------------------------------------------------
#
# Client K sends lines "cK-SEQ-" padded with 'x' to WIDTH bytes (not
# counting the newline; never shorter than the prefix), SEQ = 1..N.  So
# every line is distinct and a row names the client and position it came
# from.

gen_lines() { # K N WIDTH
  awk -v k="$1" -v n="$2" -v w="$3" 'BEGIN {
    pad = sprintf("%*s", w, ""); gsub(/ /, "x", pad)
    for (i = 1; i <= n; i++) {
      s = "c" k "-" i "-"
      printf "%s%s\n", s, substr(pad, 1, w - length(s))
    }
  }'
}

# start_client K N WIDTH: client K sends its N lines on one connection and
# half-closes; input in.K, wire output out.K.  PID in CLIENT_PID[K].
declare -A CLIENT_PID
start_client() {
  gen_lines "$1" "$2" "$3" >"$BQ_T/in.$1"
  bq_spawn "$BQ_T/in.$1" "$BQ_T/out.$1" "$BQ_T/err.$1" \
    timeout $((240 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
  CLIENT_PID[$1]=$BQ_SPAWNED
}

# start_gated_client K N1 N2 WIDTH GATE: client K sends its first N1 lines,
# waits until file GATE exists, sends N2 more, then half-closes.
start_gated_client() {
  gen_lines "$1" $(($2 + $3)) "$4" >"$BQ_T/in.$1"
  head -n "$2" "$BQ_T/in.$1" >"$BQ_T/in.$1.a"
  tail -n +$(($2 + 1)) "$BQ_T/in.$1" >"$BQ_T/in.$1.b"
  # timeout signals its whole process group: the pipeline goes with it.
  bq_spawn /dev/null "$BQ_T/out.$1" "$BQ_T/err.$1" \
    timeout $((240 * BQ_SLOW)) bash -c '
      { cat "$1"; while [ ! -e "$3" ]; do sleep 0.05; done; cat "$2"; } |
        nc -N 127.0.0.1 "$4"' _ \
    "$BQ_T/in.$1.a" "$BQ_T/in.$1.b" "$5" "$BQ_PORT"
  CLIENT_PID[$1]=$BQ_SPAWNED
}

# stall_full_queue NCLIENTS FIRST MORE WIDTH: gated clients 1..NCLIENTS
# each send FIRST lines and are acked for all of them (the queue must hold
# NCLIENTS * (FIRST + 1) records, so that intake never pauses yet); then
# the database is write-locked (lock_db), the gate ($BQ_T/gate) opens and
# each sends MORE lines, and this returns once intake has paused on the
# full queue and a commit has failed on the lock.
stall_full_queue() {
  local k
  for ((k = 1; k <= $1; k++)); do
    start_gated_client "$k" "$2" "$3" "$4" "$BQ_T/gate"
  done
  for ((k = 1; k <= $1; k++)); do wait_acked "$k" "$2"; done
  bq_log_has 'intake paused' &&
    die "setup: the queue filled before the lock was taken"
  lock_db
  touch "$BQ_T/gate"
  wait_log 'intake paused' || fail "the daemon never logged 'intake paused'"
  wait_log 'commit of [0-9]+ records failed' ||
    fail "no failed commit logged while the database was locked"
}

# wait_acked K N: wait until client K has been told "OK n" with n >= N.
bq_acked() { [ "$(last_ack "$BQ_T/out.$1")" -ge "$2" ]; }
wait_acked() {
  poll $((60 * BQ_SLOW)) bq_acked "$1" "$2" ||
    fail "client $1: no 'OK $2' (last reply: $(tail -n1 "$BQ_T/out.$1"))"
}

# wait_clients K...: wait for those clients; each must exit 0.
wait_clients() {
  local k
  for k in "$@"; do
    reap_or_kill "${CLIENT_PID[$k]}" $((300 * BQ_SLOW)) "client $k (nc)" ||
      continue
    [ "$BQ_RC" = 0 ] ||
      fail "client $k: nc exited $BQ_RC: $(head -c 300 "$BQ_T/err.$k")"
  done
}

# check_acks FILE EXPECTED_LAST WHAT: FILE holds only "OK n" lines, n never
# decreases (docs/protocol.md), no value is repeated (each OK says
# something new: acks coalesce, they do not repeat), and the last one is
# "OK EXPECTED_LAST".
check_acks() {
  local bad last
  if [ ! -s "$1" ]; then
    fail "$3: no reply at all (expected a last 'OK $2')"
    return
  fi
  bad=$(awk '!/^OK (0|[1-9][0-9]*)$/ { print NR ": " $0; exit }' "$1")
  [ -z "$bad" ] || fail "$3: unexpected reply line $bad"
  bad=$(awk '/^OK / { if (NR > 1 && $2 + 0 < prev) { print NR ": OK " $2 " after OK " prev; exit } prev = $2 + 0 }' "$1")
  [ -z "$bad" ] || fail "$3: ack decreased at line $bad"
  bad=$(awk '/^OK / { if (NR > 1 && $2 + 0 == prev) { print NR ": OK " $2 " again"; exit } prev = $2 + 0 }' "$1")
  [ -z "$bad" ] || fail "$3: ack repeated at line $bad ($(tail -n3 "$1" | tr '\n' ' '))"
  last=$(tail -n1 "$1")
  check_eq "$3: last reply" "$last" "OK $2"
}

# check_reply WHAT FILE EXPECTED: FILE's reply, each run of "OK n" lines cut
# to its last and the lines joined by single spaces, is EXPECTED (e.g.
# "RESUME 0 OK 3" or "ERR too-long OK 2"); the OK values rise.  What a reply
# may look like beyond that is not promised: the lines of one send can reach
# the daemon in more than one read (bash's printf writes a pipe line by
# line), be committed in more than one batch, and so be acked "OK 1" then
# "OK 2" (docs/protocol.md: acks are cumulative and coalesce).
check_reply() {
  local bad got
  bad=$(awk '/^OK / { if (seen && $2 + 0 <= prev) { print NR ": OK " $2 " after OK " prev; exit }
                      seen = 1; prev = $2 + 0 }' "$2")
  [ -z "$bad" ] || fail "$1: ack did not rise at line $bad"
  got=$(awk '/^OK / { ok = $0; next }
             { if (ok != "") print ok; ok = ""; print }
             END { if (ok != "") print ok }' "$2" | tr '\n' ' ')
  check_eq "$1" "${got% }" "$3"
}

# check_ratelimited WHAT COUNT SINCE: COUNT log lines of an event the
# daemon logs at most once per 5 s (bq_ratelimit_init(..., 5000)), over
# the time since $SECONDS was SINCE (taken before the first such event):
# the first line, and one more per 5 s begun, at most.
check_ratelimited() {
  check_num "$1" "$2" -le $((2 + (SECONDS - $3) / 5))
}

# last_ack FILE: n of the last "OK n" in FILE, or 0.
last_ack() {
  local n
  n=$(sed -n 's/^OK \([0-9][0-9]*\)$/\1/p' "$1" | tail -n1)
  echo "${n:-0}"
}

# conn_of_client K: connections.id of client K's connection (from its rows).
conn_of_client() {
  sql "SELECT DISTINCT conn_id FROM messages
       WHERE CAST(payload AS TEXT) LIKE 'c$1-%'"
}

rows_of_client() {
  sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE 'c$1-%'"
}

# stream_stats WIDTH: facts about the rows written by gen_lines clients.
# Sets:
#   S_ROWS      rows in messages
#   S_DISTINCT  distinct payloads
#   S_CONNS     distinct conn_ids in messages
#   S_KS        distinct clients (K) seen; S_KMIN, S_KMAX
#   S_MIXED     conn_ids holding lines of more than one client
#   S_SPLIT     clients whose lines are in more than one conn_id
#   S_BAD       rows whose payload is not exactly client K's line number seq
#   S_GAPS      conn_ids whose seqs are not exactly 1..count
#   S_MISORDER  rows whose conn's previous row (by id) has seq != seq - 1
stream_stats() {
  local w=$1 pad out
  pad=$(printf '%*s' "$w" '' | tr ' ' x)
  out=$(sql "
    CREATE TEMP VIEW m AS
      SELECT id, conn_id, seq, CAST(payload AS TEXT) AS p,
             substr(CAST(payload AS TEXT), 2,
                    instr(CAST(payload AS TEXT), '-') - 2) AS k
      FROM messages;
    SELECT
      (SELECT count(*) FROM messages),
      (SELECT count(DISTINCT payload) FROM messages),
      (SELECT count(DISTINCT conn_id) FROM messages),
      (SELECT count(DISTINCT k) FROM m),
      (SELECT coalesce(min(CAST(k AS INTEGER)), 0) FROM m),
      (SELECT coalesce(max(CAST(k AS INTEGER)), 0) FROM m),
      (SELECT count(*) FROM (SELECT conn_id FROM m GROUP BY conn_id
                             HAVING count(DISTINCT k) != 1)),
      (SELECT count(*) FROM (SELECT k FROM m GROUP BY k
                             HAVING count(DISTINCT conn_id) != 1)),
      (SELECT count(*) FROM m WHERE p IS NOT
         ('c' || k || '-' || seq || '-' ||
          substr('$pad', 1, max(0, $w - length('c' || k || '-' || seq || '-'))))),
      (SELECT count(*) FROM (SELECT conn_id FROM messages GROUP BY conn_id
                             HAVING min(seq) != 1 OR max(seq) != count(*)
                                 OR count(DISTINCT seq) != count(*))),
      (SELECT count(*) FROM (SELECT seq, lag(seq) OVER
                               (PARTITION BY conn_id ORDER BY id) AS prev
                             FROM messages)
         WHERE prev IS NOT NULL AND seq != prev + 1);")
  IFS='|' read -r S_ROWS S_DISTINCT S_CONNS S_KS S_KMIN S_KMAX S_MIXED \
    S_SPLIT S_BAD S_GAPS S_MISORDER <<<"$out"
  note "rows=$S_ROWS distinct=$S_DISTINCT conns=$S_CONNS clients=$S_KS" \
    "[$S_KMIN..$S_KMAX] mixed=$S_MIXED split=$S_SPLIT bad=$S_BAD" \
    "gaps=$S_GAPS misordered=$S_MISORDER"
}

# check_stream_shape: the invariants that hold whatever was delivered:
# each connection's rows are an exact, gap-free, in-order prefix of what
# its client sent, and no row is duplicated.
check_stream_shape() {
  check_eq "distinct payloads == rows" "$S_DISTINCT" "$S_ROWS"
  check_eq "conn_ids holding lines of several clients" "$S_MIXED" 0
  check_eq "clients whose lines landed in several conn_ids" "$S_SPLIT" 0
  check_eq "rows whose payload is not the client's line number seq" "$S_BAD" 0
  check_eq "conn_ids whose seqs are not exactly 1..count" "$S_GAPS" 0
  check_eq "rows out of order (by id vs by seq) within their conn" \
    "$S_MISORDER" 0
}

# check_streams NCLIENTS N WIDTH: clients 1..NCLIENTS each sent N lines
# and every one of them is stored exactly once, in order.
check_streams() {
  stream_stats "$3"
  check_stream_counts "$1" "$2"
}

# check_stream_counts NCLIENTS N: check_streams on the S_* facts already
# gathered (by stream_stats, or pg_stream_stats in tests/pg/lib.sh).
check_stream_counts() {
  check_stream_shape
  check_eq "rows" "$S_ROWS" $(($1 * $2))
  check_eq "conn_ids with messages" "$S_CONNS" "$1"
  check_eq "clients seen" "$S_KS" "$1"
  check_eq "lowest client number" "$S_KMIN" 1
  check_eq "highest client number" "$S_KMAX" "$1"
}

# --- exit ----------------------------------------------------------------

bq_cleanup() {
  local rc=$? pid fd log cmd alive=()
  trap - EXIT INT TERM
  for fd in "${BQ_FDS[@]}"; do eval "exec $fd>&-"; done
  for pid in "${BQ_PIDS[@]}"; do
    if bq_is_running_child "$pid"; then
      kill -TERM "$pid" 2>/dev/null
      alive+=("$pid")
    fi
  done
  for pid in "${alive[@]}"; do
    reap "$pid" 5 || { kill -KILL "$pid" 2>/dev/null; reap "$pid" 5; }
  done
  for cmd in "${BQ_ON_EXIT[@]}"; do eval "$cmd" || true; done
  for log in "${BQ_LOGS[@]}"; do
    [ -f "$log" ] && { check_sanitizer_log "$log" || true; }
  done
  # Failures recorded in subshells count too (fail() writes each down).
  if [ -f "$BQ_T/.failures" ]; then
    local n
    n=$(wc -l <"$BQ_T/.failures")
    [ "$n" -gt "$BQ_FAILS" ] && BQ_FAILS=$n
  fi
  [ "$rc" = 0 ] || [ "$BQ_FAILS" -gt 0 ] || BQ_FAILS=1
  if [ "$BQ_FAILS" -gt 0 ]; then
    for log in "${BQ_LOGS[@]}"; do
      [ -f "$log" ] || continue
      echo "--- $(basename "$log") (last 40 lines) ---" >&2
      tail -n 40 "$log" >&2
    done
    echo "$BQ_TEST: $BQ_FAILS assertion(s) failed" >&2
  else
    echo "$BQ_TEST: PASS"
  fi
  if [ -n "${BQ_KEEP_TMP:-}" ]; then
    echo "kept $BQ_T" >&2
  else
    rm -rf "$BQ_T"
  fi
  [ "$BQ_FAILS" -gt 0 ] && exit 1
  exit 0
}
trap bq_cleanup EXIT
trap 'fail "interrupted"; exit 1' INT TERM

# --- syslog listeners and third-party senders -------------------------------
#
# The syslog tests drive real senders: logger (bsdutils), rsyslogd (rsyslog)
# and syslog-ng's loggen, unpacked by `make loggen` without installing
# syslog-ng-core (BQ_SYSLOGNG, set by ctest).  A syslog listener writes
# nothing back (docs/protocol.md), so a test knows a connection's messages
# are all committed once its close is recorded: the daemon records it only
# after everything the connection sent is committed.

# bq_skip REASON: this test cannot run on this machine at all (a program it
# drives cannot execute here): say why and exit 77 (SKIP_RETURN_CODE).  Only
# before the test has started anything.
bq_skip() {
  echo "SKIP [$BQ_TEST]: $*"
  trap - EXIT INT TERM
  cd / && rm -rf "$BQ_T"
  exit 77
}

# need_prog PROG PACKAGE: PROG must be on PATH (`make deps` installs
# PACKAGE); a missing program is a setup failure, not a skip.
need_prog() {
  command -v "$1" >/dev/null ||
    die "$1 is missing: run make deps (Debian package $2)"
}

# need_loggen: loggen from $BQ_SYSLOGNG, and it runs.  Sets BQ_LOGGEN to a
# command (array) that runs it with its prefix and libraries.
need_loggen() {
  local d=${BQ_SYSLOGNG:-}
  [ -n "$d" ] && [ -x "$d/usr/bin/loggen" ] ||
    die "loggen is not unpacked in '$d' (BQ_SYSLOGNG): run make loggen (make deps and make test do)"
  d=$(realpath "$d")
  BQ_LOGGEN=(env "SYSLOGNG_PREFIX=$d/usr" "LD_LIBRARY_PATH=$d/usr/lib/syslog-ng"
             "$d/usr/bin/loggen")
  "${BQ_LOGGEN[@]}" --help >"$BQ_T/loggen-help.out" 2>&1 ||
    bq_skip "loggen ($d/usr/bin/loggen) cannot run here: $(head -c 300 "$BQ_T/loggen-help.out")"
}

# start_syslog_daemon ARGS...: start_daemon with a syslog listener on a
# second free port as well; sets BQ_SYSLOG_PORT.
start_syslog_daemon() {
  start_daemon --listen 127.0.0.1:0,syslog "$@"
  BQ_SYSLOG_PORT=${BQ_PORTS[1]:-}
  grep -Eq " listening on 127\.0\.0\.1:$BQ_SYSLOG_PORT \(syslog\)\$" "$BQ_LOG" ||
    die "the daemon did not report its syslog listener (port '$BQ_SYSLOG_PORT')"
  note "syslog listener on port $BQ_SYSLOG_PORT"
}

# syslog_conns_closed: connections of syslog listeners whose close is
# recorded (their messages are then all committed).
syslog_conns_closed() {
  sql "SELECT count(*) FROM connections
       WHERE listener LIKE '%,syslog' AND closed_at IS NOT NULL"
}

# wait_syslog_closed N [LIMIT_S]: wait until N syslog connections have
# closed (an upper bound against hangs only); fail when they do not.
bq_syslog_closed_ge() { [ "$(syslog_conns_closed)" -ge "$1" ]; }
wait_syslog_closed() {
  local limit=${2:-$((240 * BQ_SLOW))} i
  for ((i = 0; i < limit * 4; i++)); do
    bq_syslog_closed_ge "$1" && return 0
    bq_is_running_child "$BQ_PID" || break
    sleep 0.25
  done
  bq_syslog_closed_ge "$1" && return 0
  fail "syslog connections closed: $(syslog_conns_closed), expected $1 (waited up to $limit s)"
  return 1
}

# wait_syslog_open_none [LIMIT_S]: wait until every syslog connection the
# daemon has recorded is closed; fail when one is still open.
syslog_conns_open() {
  sql "SELECT count(*) FROM connections
       WHERE listener LIKE '%,syslog' AND closed_at IS NULL"
}
wait_syslog_open_none() {
  local limit=${1:-$((240 * BQ_SLOW))} i
  for ((i = 0; i < limit * 4; i++)); do
    [ "$(syslog_conns_open)" = 0 ] && return 0
    bq_is_running_child "$BQ_PID" || break
    sleep 0.25
  done
  [ "$(syslog_conns_open)" = 0 ] && return 0
  fail "syslog connections still open: $(syslog_conns_open) (waited up to $limit s)"
  return 1
}
