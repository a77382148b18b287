#!/bin/bash
# burstq-healthcheck [PORT] -- the image's HEALTHCHECK: GET /healthz from
# the daemon's metrics listener inside the container (127.0.0.1:PORT,
# default $BQ_METRICS_PORT or 9070).  Exit 0 on "200", 1 otherwise; prints
# the status line and body, which `docker inspect` shows under Health.
#
# Plain bash (/dev/tcp), so the runtime image needs no curl or wget.
set -u
port=${1:-${BQ_METRICS_PORT:-9070}}

if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
  echo "unhealthy: nothing listens on 127.0.0.1:$port (metrics)"
  exit 1
fi
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
# The reply is short and the server closes after it; the timeout bounds a
# server that does not.
reply=$(timeout 5 cat <&3 | head -c 4096 | tr -d '\r')
exec 3<&-
status=$(printf '%s\n' "$reply" | head -n1)
body=$(printf '%s\n' "$reply" | sed '1,/^$/d')
echo "$status${body:+: $body}"
case "$status" in
  "HTTP/1."[01]" 200"*) exit 0 ;;
  *) exit 1 ;;
esac
