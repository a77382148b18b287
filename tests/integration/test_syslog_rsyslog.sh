#!/usr/bin/env bash
# test_syslog_rsyslog.sh BURSTQD -- a real rsyslogd (Debian's rsyslog) relays
# 100,000 messages into a syslog listener with omfwd over TCP, the
# configuration docs/operations.md gives ("Syslog senders"), twice:
#   1. TCP_Framing="traditional" (newline) with the default
#      RSYSLOG_TraditionalForwardFormat, fed RFC 3164 by logger;
#   2. TCP_Framing="octet-counted" with RSYSLOG_SyslogProtocol23Format
#      (RFC 5424), fed RFC 5424 by logger.
# rsyslogd runs unprivileged-style in the foreground (-n) from a config and a
# work directory in the test's temp dir, with its own PID file (-i), no
# system socket (imuxsock is not loaded) and no disk-assisted queue; its own
# messages stay in a file of the temp dir (only the imtcp input's ruleset
# forwards).  logger feeds rsyslog's imtcp input (port 0; rsyslog writes the
# port it bound to a file).  Once all the messages are in the database,
# rsyslogd is stopped by its PID (SIGTERM) and must exit 0; once the daemon
# has recorded the close of rsyslog's connections, every message is stored
# exactly once with its header parsed.  (rsyslog does not promise the order
# across its queue, so the order is not checked.)
. "$(dirname "$0")/lib.sh" "$@"

need_prog rsyslogd rsyslog
need_prog logger bsdutils

N=$((100000 / BQ_DIV))
HOST=$(uname -n)

# wait_rows_after ID N LIMIT_S: until N rows after row ID are committed (the
# limit is an upper bound against hangs only).
wait_rows_after() {
  local i got
  for ((i = 0; i < $3 * 4; i++)); do
    got=$(sql "SELECT count(*) FROM messages WHERE id > $1")
    [ "$got" -ge "$2" ] && return 0
    bq_is_running_child "$BQ_PID" || break
    bq_is_running_child "$RS_PID" || break
    sleep 0.25
  done
  got=$(sql "SELECT count(*) FROM messages WHERE id > $1")
  [ "$got" -ge "$2" ] && return 0
  fail "rows relayed by rsyslog: $got, expected $2 (waited up to $3 s)"
  return 1
}

start_syslog_daemon

run=0
for framing in traditional octet-counted; do
  run=$((run + 1))
  d=$BQ_T/rsyslog.$framing
  mkdir -p "$d/work"
  if [ "$framing" = traditional ]; then
    tag=rsys3164 template=RSYSLOG_TraditionalForwardFormat format=--rfc3164
  else
    tag=rsys5424 template=RSYSLOG_SyslogProtocol23Format format=--rfc5424
  fi
  cat >"$d/rsyslog.conf" <<EOF
global(workDirectory="$d/work")
module(load="imtcp")
# Give the queue time to drain at SIGTERM (the default is 1.5 s).
main_queue(queue.timeoutShutdown="60000")
input(type="imtcp" address="127.0.0.1" port="0"
      listenPortFileName="$d/imtcp.port" ruleset="to-burstq")
ruleset(name="to-burstq") {
  action(type="omfwd" target="127.0.0.1" port="$BQ_SYSLOG_PORT"
         protocol="tcp" TCP_Framing="$framing" template="$template"
         action.resumeRetryCount="-1")
}
# rsyslogd's own messages: into a file here, never forwarded.
*.* action(type="omfile" file="$d/rsyslogd-own.log")
EOF
  rsyslogd -N1 -f "$d/rsyslog.conf" >"$d/check.out" 2>&1 ||
    die "rsyslogd -N1 rejects the config: $(cat "$d/check.out")"

  # This run's rows: after the last row of the previous one (ids increase
  # in commit order; its connections have all closed).
  first=$(sql "SELECT coalesce(max(id), 0) FROM messages")
  bq_spawn /dev/null "$d/rsyslogd.out" "&1" \
    rsyslogd -n -f "$d/rsyslog.conf" -i "$d/rsyslogd.pid"
  RS_PID=$BQ_SPAWNED
  poll $((60 * BQ_SLOW)) test -s "$d/imtcp.port" || {
    cat "$d/rsyslogd.out" >&2
    die "rsyslogd ($framing) did not write its port"
  }
  rs_port=$(cat "$d/imtcp.port")
  note "run $run: rsyslogd $RS_PID ($framing, $template) listening on $rs_port"

  awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "rsys-%06d\n", i }' \
    >"$d/lines"
  bq_spawn "$d/lines" "$d/logger.out" "$d/logger.err" \
    timeout $((120 * BQ_SLOW)) logger -n 127.0.0.1 -P "$rs_port" --tcp \
    "$format" -t "$tag" --id=$((700 + run)) -p user.notice
  reap_or_kill "$BQ_SPAWNED" $((150 * BQ_SLOW)) "logger into rsyslogd"
  check_eq "run $run: logger exit status" "$BQ_RC" 0

  wait_rows_after "$first" "$N" $((240 * BQ_SLOW))
  kill -TERM "$RS_PID" 2>/dev/null || fail "rsyslogd $RS_PID was not running at stop"
  reap_or_kill "$RS_PID" $((120 * BQ_SLOW)) "rsyslogd"
  check_eq "run $run: rsyslogd exit status" "$BQ_RC" 0
  wait_syslog_open_none

  if [ "$framing" = traditional ]; then
    # <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG
    want_host=${HOST%%.*} msgid=NULL
    rebuilt="'<13>' || log_time || ' ' || hostname || ' ' || app_name || '[' ||
             procid || ']: '"
  else
    # <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
    want_host=$HOST msgid=NULL
    rebuilt="'<13>1 ' || log_time || ' ' || hostname || ' ' || app_name || ' ' ||
             procid || ' - '"
  fi
  out=$(sql "
    CREATE TEMP VIEW m AS
      SELECT *, CAST(payload AS TEXT) AS p,
             CAST(substr(CAST(payload AS TEXT),
                         instr(CAST(payload AS TEXT), 'rsys-') + 5, 6)
                  AS INTEGER) AS line
      FROM syslog_messages WHERE id > $first;
    SELECT count(*), count(DISTINCT line), min(line), max(line),
      sum(instr(p, 'rsys-') = 0),
      sum(facility IS NOT 1 OR severity IS NOT 5 OR hostname IS NOT '$want_host'
          OR app_name IS NOT '$tag' OR procid IS NOT '$((700 + run))'
          OR msgid IS NOT $msgid OR truncated IS NOT 0),
      sum(log_time IS NULL OR substr(p, 1, length($rebuilt)) != $rebuilt)
    FROM m;")
  IFS='|' read -r rows distinct lo hi nomark badcols badhdr <<<"$out"
  note "run $run: rows=$rows distinct=$distinct [$lo..$hi] unmarked=$nomark" \
    "badcols=$badcols badhdr=$badhdr"
  check_eq "run $run ($framing): rows" "$rows" "$N"
  check_eq "run $run ($framing): distinct lines" "$distinct" "$N"
  check_eq "run $run ($framing): lowest line" "$lo" 1
  check_eq "run $run ($framing): highest line" "$hi" "$N"
  check_eq "run $run ($framing): rows that are not a line sent" "$nomark" 0
  check_eq "run $run ($framing): rows with a wrong facility/severity/hostname/app_name/procid/msgid/truncated" "$badcols" 0
  check_eq "run $run ($framing): rows whose payload does not start with the header rebuilt from the columns" "$badhdr" 0
  note "run $run: first row: $(sql "SELECT CAST(payload AS TEXT) FROM messages WHERE id > $first ORDER BY id LIMIT 1")"
  if [ "$BQ_FAILS" != 0 ]; then
    echo "--- rsyslogd output ($framing) ---" >&2
    tail -n 20 "$d/rsyslogd.out" >&2
  fi
done

stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_eq "rows in all" "$(msg_count)" $((2 * N))
