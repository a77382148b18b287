#!/usr/bin/env bash
# test_http.sh BURSTQD -- the --metrics HTTP server's protocol handling and
# bounds (http_probe.py: keep-alive, Connection: close, HTTP/1.0,
# pipelining, trickled requests, HEAD, 405/413/414/431, the 64-connection
# limit, the 10 s request timeout), while a client sends messages on the
# main port: intake is unharmed and the HTTP refusals are not counted as
# client connections.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
. "$HERE/metrics_lib.sh"
command -v python3 >/dev/null || die "python3 is needed (apt-get install python3)"

start_daemon --metrics 127.0.0.1:0
BQ_MPORT=$(metrics_port)
[ -n "$BQ_MPORT" ] || die "no 'metrics on' line in the log"
LINES=$((20000 / BQ_DIV))
start_client 1 "$LINES" 30
timeout $((300 * BQ_SLOW)) python3 "$HERE/http_probe.py" "$BQ_MPORT" "$BQ_SLOW" >probe.txt 2>&1
rc=$?
cat probe.txt
check_eq "http_probe.py exit status" "$rc" 0
check_num "probe checks passed" "$(grep -c '^ok: ' probe.txt)" -ge 20
wait_clients 1
check_acks out.1 "$LINES" "client 1"
check_eq "/metrics still served" "$(scrape m.txt)" 200
check_eq "client connections: only the real one" \
  "$(metric m.txt burstq_connections_accepted_total)" 1
check_num "HTTP requests counted" "$(metric m.txt burstq_http_requests_total)" -ge 250
check_num "bad HTTP requests counted" "$(metric m.txt burstq_http_bad_requests_total)" -ge 100
# At least the 65th; a retry while the server had not yet seen a close
# may be refused too.
check_num "HTTP connections refused" "$(metric m.txt burstq_http_refused_total)" -ge 1
check_eq "refused client connections" \
  "$(metric m.txt burstq_connections_refused_total 'reason="max_connections"')" 0
stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_streams 1 "$LINES" 30

# IPv6: --metrics [::1]:0 (skipped where the machine has no ::1).
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
  rm -f "$BQ_DB"*
  start_daemon --metrics '[::1]:0'
  V6PORT=$(sed -n 's/.* metrics on http:\/\/\[::1\]:\([0-9][0-9]*\)\/metrics .*/\1/p' "$BQ_LOG")
  check_num "IPv6 metrics port" "${V6PORT:-0}" -gt 0
  check_eq "GET /healthz over IPv6" \
    "$(curl -s -g --max-time $((10 * BQ_SLOW)) "http://[::1]:$V6PORT/healthz")" ok
  if [ -n "${BQ_CLIENT:-}" ]; then
    need_client
    check_eq "burstq stats --health over IPv6" \
      "$(timeout 60 "$BQ_CLIENT" stats -H "[::1]:$V6PORT" --health)" ok
  fi
  stop_daemon
  check_eq "exit status (IPv6)" "$BQ_RC" 0
else
  note "no IPv6 loopback here: IPv6 part skipped"
fi
