#!/usr/bin/env bash
# metrics_overhead.sh BUILD_DIR [OTHER_BURSTQD] -- what --metrics costs the
# daemon: CPU time (user + system, from /proc/PID/stat) and wall-clock
# committed msgs/s for MSGS 100-byte messages over 4 connections
# (burstq bench), in three modes, interleaved RUNS times:
#   off      no --metrics
#   idle     --metrics, never scraped
#   scraped  --metrics, scraped 10 times a second over one keep-alive
#            connection (python3)
# and, given OTHER_BURSTQD (e.g. a build of main), that binary without
# --metrics as a baseline.  Prints each figure's median and min..max.  On a
# shared machine only differences well outside the ranges mean anything.
# Environment: MSGS (1000000), RUNS (5), SYNC (normal).
set -euo pipefail
build=${1:?usage: metrics_overhead.sh BUILD_DIR [OTHER_BURSTQD]}
other=${2:-}
MSGS=${MSGS:-1000000}
RUNS=${RUNS:-5}
SYNC=${SYNC:-normal}
burstqd=$build/burstqd
burstq=$build/burstq
tmp=$(mktemp -d)
daemon= scraper=
cleanup() {
  [ -n "$scraper" ] && kill "$scraper" 2>/dev/null || true
  [ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ms() { # PID: utime + stime in ms
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"
}

run() { # MODE BINARY
  local mode=$1 bin=$2 port mport args rate cpu
  rm -f "$tmp"/b.db*
  port=$(free_port)
  args=(--db "$tmp/b.db" --listen "127.0.0.1:$port" --sync "$SYNC")
  if [ "$mode" = idle ] || [ "$mode" = scraped ]; then
    mport=$(free_port)
    args+=(--metrics "127.0.0.1:$mport")
  fi
  "$bin" "${args[@]}" 2>"$tmp/log" &
  daemon=$!
  for _ in $(seq 100); do grep -q 'listening on' "$tmp/log" && break; sleep 0.05; done
  if [ "$mode" = scraped ]; then
    python3 - "$mport" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
while True:
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            sys.exit(0)
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    while len(rest) < n:
        rest += s.recv(65536)
    time.sleep(0.1)
PY
    scraper=$!
  fi
  rate=$("$burstq" bench -H "127.0.0.1:$port" -c 4 -n "$MSGS" -s 100 |
         awk '/^committed/ { print $7 }')
  cpu=$(cpu_ms "$daemon")
  [ -n "$scraper" ] && { kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true; scraper=; }
  kill -TERM "$daemon"; wait "$daemon"; daemon=
  echo "$mode $cpu $rate"
}

for ((i = 1; i <= RUNS; i++)); do
  [ -n "$other" ] && run baseline "$other"
  run off "$burstqd"
  run idle "$burstqd"
  run scraped "$burstqd"
done | awk '
  { cpu[$1] = cpu[$1] " " $2; rate[$1] = rate[$1] " " $3; if (!($1 in seen)) { seen[$1]; order[++n] = $1 } }
  function stats(s,   a, k, i, j, t) {
    k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return sprintf("%9.0f  (%s..%s)", a[int((k + 1) / 2)], a[1], a[k])
  }
  END {
    printf "%-9s %-28s %s\n", "mode", "daemon CPU ms, median (min..max)", "committed msgs/s, median (min..max)"
    for (i = 1; i <= n; i++) printf "%-9s %-28s %s\n", order[i], stats(cpu[order[i]]), stats(rate[order[i]])
  }'
