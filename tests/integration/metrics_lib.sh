# metrics_lib.sh -- helpers for the tests of --metrics (source after lib.sh).
#
#   metrics_port            port of the current daemon's --metrics listener
#                           (from its "metrics on http://..." log line)
#   scrape FILE [PATH]      GET PATH (default /metrics) into FILE; the HTTP
#                           status goes to stdout
#   metric FILE NAME [LABELS]  value of the sample NAME{LABELS} in FILE, or
#                           "absent"
#   http_raw REQUEST_FILE OUT  send raw bytes with nc, response into OUT

metrics_port() {
  sed -n 's/.* metrics on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\)\/metrics .*/\1/p' \
    "$BQ_LOG" | tail -n1
}

# scrape FILE [PATH] [PORT]: prints the status code (000 if no response).
scrape() {
  curl -s -o "$1" -w '%{http_code}' --max-time $((10 * BQ_SLOW)) \
    "http://127.0.0.1:${3:-$BQ_MPORT}${2:-/metrics}" || true
}

metric() { # FILE NAME [LABELS]
  local sel=$2
  [ -n "${3:-}" ] && sel="$2{$3}"
  awk -v s="$sel" '$1 == s { print $2; found = 1; exit }
                   END { if (!found) print "absent" }' "$1"
}

http_raw() { # REQUEST_FILE OUT
  timeout $((20 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_MPORT" <"$1" >"$2" 2>&1 || true
}

# The status line of a raw response file.
http_status() { head -n1 "$1" | tr -d '\r' | awk '{ print $2 }'; }
