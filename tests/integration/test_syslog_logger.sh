#!/usr/bin/env bash
# test_syslog_logger.sh BURSTQD -- util-linux logger into a syslog listener,
# 5,000 lines from stdin per run, one connection each: RFC 5424 and RFC 3164,
# each newline-framed (`logger --tcp`) and octet-counted (`--octet-count`).
# Every line is stored exactly once, in order, byte for byte as logger sent
# it, and the header is parsed: facility and severity from -p, hostname,
# app_name from -t, procid from --id, msgid from --msgid (RFC 5424 only),
# log_time as sent.  The payload is rebuilt from the parsed columns and
# compared with the stored one, so each column holds exactly its field.
. "$(dirname "$0")/lib.sh" "$@"

need_prog logger bsdutils

N=$((5000 / BQ_DIV))
HOST=$(uname -n)

start_syslog_daemon

# variant: tag, format, framing flag, priority (facility.severity), PRI.
VARIANTS=(
  "lg5424nl rfc5424 - local3.warning 156"
  "lg5424oc rfc5424 --octet-count user.err 11"
  "lg3164nl rfc3164 - daemon.info 30"
  "lg3164oc rfc3164 --octet-count local7.debug 191"
)
i=0
for v in "${VARIANTS[@]}"; do
  read -r tag format framing prio pri <<<"$v"
  i=$((i + 1))
  awk -v t="$tag" -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "%s line %06d\n", t, i }' \
    >"$BQ_T/$tag.in"
  args=(-n 127.0.0.1 -P "$BQ_SYSLOG_PORT" --tcp "--$format" -t "$tag"
        --id=$((4000 + i)) -p "$prio")
  [ "$framing" = - ] || args+=("$framing")
  [ "$format" = rfc3164 ] || args+=(--msgid "MID$i")
  note "logger ${args[*]} <$N lines>"
  bq_spawn "$BQ_T/$tag.in" "$BQ_T/$tag.out" "$BQ_T/$tag.err" \
    timeout $((120 * BQ_SLOW)) logger "${args[@]}"
  reap_or_kill "$BQ_SPAWNED" $((150 * BQ_SLOW)) "logger $tag"
  check_eq "$tag: logger exit status" "$BQ_RC" 0
  [ -s "$BQ_T/$tag.err" ] && note "$tag: logger said: $(head -c 300 "$BQ_T/$tag.err")"
  wait_syslog_closed "$i"
done

for v in "${VARIANTS[@]}"; do
  read -r tag format framing prio pri <<<"$v"
  fac=$((pri / 8)) sev=$((pri % 8))
  i=$(( $(printf '%s\n' "${VARIANTS[@]}" | grep -n "^$tag " | cut -d: -f1) ))
  if [ "$format" = rfc5424 ]; then
    # <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
    rebuilt="'<$pri>1 ' || log_time || ' ' || hostname || ' ' || app_name || ' ' ||
             procid || ' ' || msgid || ' '"
    want_host=$HOST msgid="'MID$i'"
  else
    # <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG
    rebuilt="'<$pri>' || log_time || ' ' || hostname || ' ' || app_name || '[' ||
             procid || ']: '"
    want_host=${HOST%%.*} msgid=NULL
  fi
  out=$(sql "
    CREATE TEMP VIEW m AS
      SELECT *, CAST(payload AS TEXT) AS p FROM syslog_messages
      WHERE app_name = '$tag';
    SELECT count(*), count(DISTINCT conn_id),
      count(DISTINCT substr(p, -6)),
      min(CAST(substr(p, -6) AS INTEGER)), max(CAST(substr(p, -6) AS INTEGER)),
      sum(CAST(substr(p, -6) AS INTEGER) != seq),
      sum(substr(p, -length('$tag line 000000')) != '$tag line ' || substr(p, -6)),
      sum(facility IS NOT $fac OR severity IS NOT $sev
          OR hostname IS NOT '$want_host' OR procid IS NOT '$((4000 + i))'
          OR msgid IS NOT $msgid OR truncated IS NOT 0),
      sum(log_time IS NULL OR substr(p, 1, length($rebuilt)) != $rebuilt)
    FROM m;")
  IFS='|' read -r rows conns distinct lo hi misordered badbody badcols badhdr <<<"$out"
  note "$tag: rows=$rows conns=$conns distinct=$distinct [$lo..$hi]" \
    "misordered=$misordered badbody=$badbody badcols=$badcols badhdr=$badhdr"
  check_eq "$tag: rows (app_name = the tag)" "$rows" "$N"
  check_eq "$tag: connections" "$conns" 1
  check_eq "$tag: distinct line numbers" "$distinct" "$N"
  check_eq "$tag: lowest line" "$lo" 1
  check_eq "$tag: highest line" "$hi" "$N"
  check_eq "$tag: rows whose seq is not their line number" "$misordered" 0
  check_eq "$tag: rows whose message is not the line sent" "$badbody" 0
  check_eq "$tag: rows with a wrong facility/severity/hostname/procid/msgid/truncated" "$badcols" 0
  check_eq "$tag: rows whose payload does not start with the header rebuilt from the columns" "$badhdr" 0
done
sql "SELECT app_name, facility, severity, log_time, hostname, procid, msgid,
            CAST(payload AS TEXT) FROM syslog_messages WHERE seq = 1 ORDER BY id" |
  while read -r l; do note "first row: $l"; done

stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_eq "rows in all" "$(msg_count)" $((4 * N))
check_eq "syslog connections recorded" \
  "$(sql "SELECT count(*) FROM connections WHERE listener LIKE '%,syslog'")" 4
