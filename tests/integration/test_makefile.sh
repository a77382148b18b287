#!/usr/bin/env bash
# test_makefile.sh BURSTQD -- the Makefile's own promises: `make help` lists
# every .PHONY target with a one-line description, and `make stop` signals
# only the burstqd that `make run` started: with no pid file, or one whose
# PID is now another process (a burstqd not started by make run, or not a
# burstqd at all), it says so, exits non-zero, removes the stale file and
# signals nothing.  (make run and make stop on the happy path:
# integration.readme.)
MAKEFILE=$(realpath "$(dirname "$0")/../../Makefile")
. "$(dirname "$0")/lib.sh" "$@"

unset MAKEFLAGS MFLAGS MAKELEVEL GNUMAKEFLAGS

# A stand-in checkout: the real Makefile, a build/ with the daemon.
CO=$BQ_T/checkout
mkdir -p "$CO/build"
ln -s "$MAKEFILE" "$CO/Makefile"
ln -s "$BQ_BIN" "$CO/build/burstqd"
mk() { (cd "$CO" && timeout $((60 * BQ_SLOW)) make --no-print-directory "$@"); }

# --- make help ---------------------------------------------------------------
mk help >help.out 2>help.err
check_eq "make help: exit status" "$?" 0
check_eq "make help: nothing on stderr" "$(cat help.err)" ""
# The .PHONY targets, from make's own database (every .PHONY line merged).
mk -pn help 2>/dev/null | sed -n 's/^\.PHONY: //p' | tr ' ' '\n' |
  sed '/^$/d' | sort -u >phony.txt
check_num "make -p: .PHONY targets found" "$(wc -l <phony.txt)" -ge 10
sed -n 's/^  make \([a-z][a-z-]*\)  *\(.*\)$/\1/p' help.out | sort >listed.txt
while read -r t; do
  if grep -qx -- "$t" listed.txt; then
    note "ok: make help lists $t"
  else
    fail "make help does not list the .PHONY target '$t'"
  fi
done <phony.txt
check_eq "make help: one line per target, each with its description" \
  "$(grep -cE '^  make [a-z][a-z-]* +[^ ].*$' help.out)" "$(wc -l <help.out)"
check_eq "make help: no target twice" \
  "$(sort listed.txt | uniq -d | tr '\n' ' ')" ""
for t in run stop test help; do
  check_grep "make help: $t" help.out "^  make $t "
done
check_no_grep "make help: no unexpanded make variable" help.out '\$\('

# --- make stop without a daemon of make run -----------------------------------
mk stop >stop1.out 2>&1
check_num "make stop, no pid file: exit status" "$?" -ne 0
check_grep "make stop, no pid file: says so" stop1.out \
  '^make stop: no burstqd started by make run is running$'

# A pid file naming a process that is not burstqd (the PID was reused): it
# must live on.
bq_spawn /dev/null /dev/null /dev/null sleep 600
SLEEP_PID=$BQ_SPAWNED
echo "$SLEEP_PID" >"$CO/build/burstqd.pid"
mk stop >stop2.out 2>&1
check_num "make stop, pid of another program: exit status" "$?" -ne 0
check_grep "make stop, pid of another program: says so" stop2.out \
  '^make stop: no burstqd started by make run is running$'
bq_is_running_child "$SLEEP_PID" && note "ok: that process was not signalled" ||
  fail "make stop signalled a process that is not burstqd ($SLEEP_PID)"
check_eq "make stop: the stale pid file is removed" \
  "$(test -e "$CO/build/burstqd.pid" && echo left || echo removed)" removed

# A pid file naming a burstqd that is not this checkout's build/burstqd (a
# copy elsewhere, as another user's would be): it must live on.
cp "$BQ_BIN" "$BQ_T/other-burstqd"
BQ_BIN_SAVED=$BQ_BIN
BQ_BIN=$BQ_T/other-burstqd
start_daemon
BQ_BIN=$BQ_BIN_SAVED
echo "$BQ_PID" >"$CO/build/burstqd.pid"
mk stop >stop3.out 2>&1
check_num "make stop, pid of a burstqd built elsewhere: exit status" "$?" -ne 0
bq_is_running_child "$BQ_PID" && note "ok: that burstqd was not signalled" ||
  fail "make stop signalled a burstqd that make run did not start ($BQ_PID)"

# make run refuses to start a second daemon over the first's pid file...
# which here names a live burstqd of this build: start one and record it as
# make run does.
stop_daemon
check_eq "the other burstqd: exit status" "$BQ_RC" 0
start_daemon
echo "$BQ_PID" >"$CO/build/burstqd.pid"
mk -o build run RUN_ARGS="--listen 127.0.0.1:0" >run2.out 2>&1
check_num "make run while make run's daemon runs: exit status" "$?" -ne 0
check_grep "make run while make run's daemon runs: says so" run2.out \
  "^make run: burstqd is already running \\(pid $BQ_PID\\); make stop stops it$"
check_eq "make run refused: the pid file still names the running daemon" \
  "$(cat "$CO/build/burstqd.pid")" "$BQ_PID"
# ...and make stop stops that one, waiting until it has exited.
mk stop >stop4.out 2>&1
check_eq "make stop: exit status" "$?" 0
check_eq "make stop: prints nothing" "$(cat stop4.out)" ""
check_eq "make stop: the daemon has exited when it returns" \
  "$(readlink "/proc/$BQ_PID/exe" 2>/dev/null || echo gone)" gone
wait_daemon_exit $((60 * BQ_SLOW))
check_eq "make stop: the daemon drained (exit status)" "$BQ_RC" 0
check_grep "make stop: the daemon logged its summary" "$BQ_LOG" ' stopped: received=0 '
