#!/usr/bin/env bash
# test_syslog_loggen.sh BURSTQD -- syslog-ng's load generator, loggen, into
# a syslog listener: 4 connections x 50,000 messages, five rounds against one
# daemon, alternately RFC 3164 newline-framed (loggen's default) and RFC 5424
# octet-counted (loggen -P: "LEN SP MSG", the MSG ending in its own \n).
# loggen numbers each connection's messages "seq: 0000000000" upwards and
# marks the connection "thread: 000K".  After each round, once the daemon has
# recorded the close of its 4 connections (everything they sent is then
# committed), every connection holds exactly seq 0..N-1, each once, in order
# (messages.seq = loggen's seq + 1), and the header is parsed.  Nothing is
# lost in any round.  Runs are not timed: loggen's own rate limit (-r) and
# run time (-I, 10 s by default, which silently ends a run early) are set
# out of the way.
. "$(dirname "$0")/lib.sh" "$@"

need_loggen

C=4
N=$((50000 / BQ_DIV))
ROUNDS=5

start_syslog_daemon

for r in $(seq "$ROUNDS"); do
  case $r in
    2|4) fmt=(-P); kind="RFC 5424, octet-counted" ;;
    *) fmt=(); kind="RFC 3164, newline-framed" ;;
  esac
  # This round's rows: after the last row of the previous ones (ids
  # increase in commit order; every earlier connection has closed).
  first=$(sql "SELECT coalesce(max(id), 0) FROM messages")
  note "round $r: loggen $kind, $C connections x $N messages"
  bq_spawn /dev/null "$BQ_T/loggen.$r.out" "$BQ_T/loggen.$r.err" \
    timeout $((300 * BQ_SLOW)) "${BQ_LOGGEN[@]}" -i -S "${fmt[@]}" \
    --active-connections="$C" -n "$N" -r 1000000000 -I 1000000 -Q \
    127.0.0.1 "$BQ_SYSLOG_PORT"
  reap_or_kill "$BQ_SPAWNED" $((330 * BQ_SLOW)) "loggen round $r"
  check_eq "round $r: loggen exit status" "$BQ_RC" 0
  # loggen's own account of what it sent (its summary line on stderr).
  check_eq "round $r: loggen reports sending" \
    "$(sed -n 's/.*average rate = .*count=\([0-9]*\),.*/\1/p' "$BQ_T/loggen.$r.err" | tail -n1)" \
    $((C * N))
  wait_syslog_closed $((r * C))

  # One row per connection of this round: its rows, distinct loggen seqs,
  # lowest and highest, rows whose messages.seq is not loggen's + 1, its
  # threads, rows whose header did not parse as loggen sent it.
  sql "
    CREATE TEMP VIEW m AS
      SELECT conn_id, seq, facility, severity, hostname, app_name, procid,
             msgid, log_time, truncated, CAST(payload AS TEXT) AS p
      FROM syslog_messages WHERE id > $first;
    CREATE TEMP VIEW l AS
      SELECT *, CAST(substr(p, instr(p, 'seq: ') + 5, 10) AS INTEGER) AS ls,
             substr(p, instr(p, 'thread: ') + 8, 4) AS th
      FROM m;
    SELECT conn_id, count(*), count(DISTINCT ls), min(ls), max(ls),
           sum(seq != ls + 1), count(DISTINCT th), min(th),
           sum(instr(p, 'seq: ') = 0 OR facility IS NOT 4
               OR severity IS NOT 6 OR hostname IS NOT 'localhost'
               OR app_name IS NOT 'prg00000' OR procid IS NOT '1234'
               OR msgid IS NOT NULL OR log_time IS NULL
               OR truncated IS NOT 0)
    FROM l GROUP BY conn_id ORDER BY conn_id;" >"$BQ_T/round.$r" ||
    fail "round $r: query failed"
  check_eq "round $r: connections with messages" "$(wc -l <"$BQ_T/round.$r")" "$C"
  check_eq "round $r: rows" \
    "$(awk -F'|' '{ s += $2 } END { print s + 0 }' "$BQ_T/round.$r")" $((C * N))
  check_eq "round $r: connections holding exactly seq 0..$((N - 1)) once each, in order, one loggen thread, header parsed" \
    "$(awk -F'|' -v n="$N" '$2 == n && $3 == n && $4 == 0 && $5 == n - 1 &&
                            $6 == 0 && $7 == 1 && $9 == 0' "$BQ_T/round.$r" | wc -l)" "$C"
  check_eq "round $r: distinct loggen threads" \
    "$(cut -d'|' -f8 "$BQ_T/round.$r" | sort -u | wc -l)" "$C"
  [ "$BQ_FAILS" = 0 ] || { note "round $r per connection:"; cat "$BQ_T/round.$r"; }
done

check_eq "syslog connections recorded" \
  "$(sql "SELECT count(*) FROM connections WHERE listener LIKE '%,syslog'")" \
  $((ROUNDS * C))
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_eq "rows in all" "$(msg_count)" $((ROUNDS * C * N))
