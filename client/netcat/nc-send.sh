#!/bin/sh
# nc-send.sh [HOST] [PORT] [FILE] -- send FILE (or stdin) to burstqd, one
# message per line, and print the daemon's acks.  Exits 0 when the last ack
# counts every line sent, 1 when it does not, 3 when nc cannot connect
# (connection refused, unknown host, ...).
set -eu
case "${1:-}" in -h|--help)
  echo "usage: nc-send.sh [HOST] [PORT] [FILE]   (defaults: 127.0.0.1 7070 stdin)"
  echo "exit status: 0 every line committed; 1 not all committed; 3 cannot connect"
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
# With -v, nc (netcat-openbsd) says "Connection to ... succeeded!" once
# connected, or why it could not connect (and then exits non-zero).
{ rc=0; nc -v -N "$host" "$port" < "$tmp/in" 2>"$tmp/err" || rc=$?
  echo "$rc" >"$tmp/rc"; } | tee "$tmp/out"
if [ "$(cat "$tmp/rc")" != 0 ] && ! grep -q ' succeeded!$' "$tmp/err"; then
  why=$(sed -n 's/^nc: .*: //p' "$tmp/err" | tail -n 1)
  echo "nc-send.sh: cannot connect to $host port $port: ${why:-nc exited $(cat "$tmp/rc")}; nothing sent" >&2
  exit 3
fi
grep -v ' succeeded!$' "$tmp/err" >&2 || :
last=$(grep '^OK ' "$tmp/out" | tail -n 1 | cut -d' ' -f2)
if [ "${last:-}" = "$lines" ]; then
  echo "sent $lines, committed $last" >&2
  exit 0
fi
echo "sent $lines, committed ${last:-0}: not all messages were acknowledged" >&2
exit 1
