#!/bin/sh
# nc-send.sh [HOST] [PORT] [FILE] -- send FILE (or stdin) to burstqd, one
# message per line, and print the daemon's acks.  Exits 0 when the last ack
# counts every line sent.
set -eu
case "${1:-}" in -h|--help)
  echo "usage: nc-send.sh [HOST] [PORT] [FILE]   (defaults: 127.0.0.1 7070 stdin)"
  exit 0;;
esac
host=${1:-127.0.0.1}
port=${2:-7070}
file=${3:--}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$file" = - ]; then cat > "$tmp/in"; else cp "$file" "$tmp/in"; fi
# Lines, counting an unterminated last one as burstqd does.
lines=$(awk 'END { print NR }' "$tmp/in")
nc -N "$host" "$port" < "$tmp/in" | tee "$tmp/out"
last=$(grep '^OK ' "$tmp/out" | tail -n 1 | cut -d' ' -f2)
if [ "${last:-}" = "$lines" ]; then
  echo "sent $lines, committed $last" >&2
  exit 0
fi
echo "sent $lines, committed ${last:-0}: not all messages were acknowledged" >&2
exit 1
