#!/usr/bin/env bash
# test_client_reset.sh BURSTQD -- `burstq bench` and `burstq send` against a
# peer that reads a little and then resets the connection (SO_LINGER 0)
# while the client is still writing: the client must report a lost
# connection (exit 6, with its report).  The peer is a small Python
# listener, so the outcome does not depend on timing: the client's input is
# far larger than the socket buffers.
# (bench also ignores SIGPIPE since a write into a reset connection killed
# it with 141; this peer does not reliably provoke that case, because libuv
# usually sees the reset on the read side first: the test checks exit 6.)
. "$(dirname "$0")/lib.sh" "$@"
need_client

cat >resetter.py <<'PY'
import socket, struct, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(srv.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
for _ in range(int(sys.argv[2])):
    c, _ = srv.accept()
    got = 0
    while got < 65536:
        d = c.recv(65536)
        if not d:
            break
        got += len(d)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
PY

# run_against NAME IN CMD ARGS...: start the resetter for one connection,
# run burstq CMD against it (bounded) with stdin from IN; NAME.out,
# NAME.err, RC.
run_against() {
  local name=$1 in=$2 rpid
  shift 2
  rm -f port
  bq_spawn /dev/null resetter.out resetter.err python3 resetter.py port 1
  rpid=$BQ_SPAWNED
  poll $((30 * BQ_SLOW)) test -s port || die "the resetter did not start"
  timeout $((120 * BQ_SLOW)) "$BQ_CLIENT" "$@" -H "127.0.0.1:$(cat port)" \
    >"$name.out" 2>"$name.err" <"$in"
  RC=$?
  check_sanitizer_log "$name.err" || true
  reap_or_kill "$rpid" $((30 * BQ_SLOW)) "resetter"
}

run_against bench /dev/null bench -c 1 -n 2M -s 100 --timeout 60
check_eq "bench, peer resets: exit status (lost, not SIGPIPE)" "$RC" 6
check_grep "bench, peer resets: the report is printed" bench.out 'lost connections 1'
check_grep "bench, peer resets: sent != committed" bench.out '^sent == committed: NO$'

seq 1 1000000 >big.txt
run_against send big.txt send --timeout 60
check_eq "send, peer resets: exit status (lost, not SIGPIPE)" "$RC" 6
check_grep "send, peer resets: says so" send.err 'connection to .* lost before everything was committed'
