#!/usr/bin/env bash
# test_acl.sh BURSTQD -- --allow CIDR: peers outside every rule are refused
# at accept with "ERR denied", closed, counted and logged (rate-limited);
# nothing of theirs reaches the database.  IPv4 and IPv6.  The default
# listener is loopback.  Malformed rules are bad usage (exit 2).
. "$(dirname "$0")/lib.sh" "$@"

# check_denied WHAT OUT: a denied peer that sent a line before the verdict.
# The daemon writes "ERR denied" best effort and closes; a line that arrives
# after the close may turn it into a reset that destroys the reply
# (docs/protocol.md, Errors).  So the peer read "ERR denied" or nothing, and
# never anything else (no OK: nothing of it was read).
check_denied() {
  local got
  got=$(cat "$2")
  case "$got" in
    "ERR denied") note "ok: $1: ERR denied" ;;
    "") note "ok: $1: reset before the reply (allowed for a peer that sends)" ;;
    *) fail "$1: got '$got', expected 'ERR denied' or nothing (reset)" ;;
  esac
}

check_grep "default listen address is loopback" \
  <("$BQ_BIN" --help) '\[127\.0\.0\.1:7070\]'

# Loopback is not in 10.0.0.0/8 or fd00::/8: denied.  Peers that send
# nothing (only a FIN) leave nothing that could reset the close: each must
# read exactly "ERR denied".  Peers that send a line may see a reset instead.
since=$SECONDS
start_daemon --allow 10.0.0.0/8 --allow fd00::/8
for i in $(seq 1 10); do send "out.quiet$i" 127.0.0.1 </dev/null; done
for i in $(seq 1 10); do printf 'denied-%d\n' "$i" | send "out.deny$i" 127.0.0.1; done
check_eq "silent denied peer: reply" "$(cat out.quiet1)" "ERR denied"
check_eq "silent denied peers answered exactly 'ERR denied'" \
  "$(for i in $(seq 1 10); do [ "$(cat "out.quiet$i")" = "ERR denied" ] && echo y; done | grep -c y)" 10
for i in $(seq 1 10); do check_denied "sending denied peer $i" "out.deny$i"; done
check_eq "rows" "$(msg_count)" 0
check_eq "connections recorded" "$(sql 'SELECT count(*) FROM connections')" 0
stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "summary denied" "$(summary denied)" 20
check_eq "summary connections" "$(summary connections)" 0
check_grep "the denial is logged with the peer" "$BQ_LOG" 'denied a connection from 127\.0\.0\.1:[0-9]+ \(not in --allow\)'
check_ratelimited "denial log lines (rate-limited)" \
  "$(grep -c 'denied a connection' "$BQ_LOG")" "$since"

# The right rule lets loopback in (a host rule and a prefix rule).
start_daemon --allow 10.0.0.0/8 --allow 127.0.0.1
printf 'allowed-1\n' | send out.allow 127.0.0.1
check_eq "allowed peer: ack" "$(cat out.allow)" "OK 1"
stop_daemon
check_eq "summary denied" "$(summary denied)" 0

# IPv6: a daemon on [::1] with IPv4-only rules denies ::1; with ::1/128 it
# serves it.  (Skipped when the machine has no IPv6 loopback.)
start_v6() { # ARGS...: like start_daemon, on [::1]:0
  BQ_NDAEMON=$((BQ_NDAEMON + 1))
  BQ_LOG=$BQ_T/daemon$BQ_NDAEMON.log
  BQ_LOGS+=("$BQ_LOG")
  bq_spawn /dev/null "$BQ_LOG" "&1" "$BQ_BIN" --listen '[::1]:0' --db "$BQ_DB" "$@"
  BQ_PID=$BQ_SPAWNED
  has_port() { grep -q 'listening on \[::1\]:' "$BQ_LOG" || ! bq_is_running_child "$BQ_PID"; }
  poll $((60 * BQ_SLOW)) has_port
  BQ_PORT=$(sed -n 's/.* listening on \[::1\]:\([0-9]*\) (acked)$/\1/p' "$BQ_LOG")
  [ -n "$BQ_PORT" ] || die "daemon on [::1] did not start: $(cat "$BQ_LOG")"
}
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
  start_v6 --allow 127.0.0.0/8
  send out.v6quiet ::1 </dev/null
  check_eq "IPv6 peer vs IPv4 rules: reply" "$(cat out.v6quiet)" "ERR denied"
  printf 'v6-denied\n' | send out.v6deny ::1
  check_denied "IPv6 sending peer vs IPv4 rules" out.v6deny
  stop_daemon
  check_eq "IPv6: summary denied" "$(summary denied)" 2
  start_v6 --allow ::1/128
  printf 'v6-allowed\n' | send out.v6allow ::1
  check_eq "IPv6 peer vs ::1/128: ack" "$(cat out.v6allow)" "OK 1"
  stop_daemon
  check_eq "IPv6: summary denied" "$(summary denied)" 0
else
  note "no IPv6 loopback here: skipping the IPv6 cases"
fi
check_eq "rows" "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',') FROM messages")" \
  "$(python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null && echo allowed-1,v6-allowed || echo allowed-1)"

# Malformed rules: exit 2 before listening.
for bad in 10.0.0.1/8 10.0.0.0/33 fd00::/129 localhost ''; do
  timeout $((60 * BQ_SLOW)) "$BQ_BIN" --listen 127.0.0.1:0 --db bad.db \
    --allow "$bad" >bad.out 2>&1
  check_eq "--allow '$bad': exit status" "$?" 2
  check_grep "--allow '$bad': message" bad.out "^burstqd: --allow: '"
done
