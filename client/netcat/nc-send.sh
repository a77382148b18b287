#!/bin/sh
# nc-send.sh [-p ID] [HOST] [PORT] [FILE] -- send FILE (or stdin) to
# burstqd, one message per line, and print the daemon's acks.  Exits 0 when
# the last ack counts every line sent, 1 when it does not, 3 when nc cannot
# connect (connection refused, unknown host, ...).
#
# With -p ID the first line is "HELLO ID" (docs/protocol.md, "Producers:
# exactly once"): line k of FILE is producer ID's message k, stored once
# however many times the script is run (or cut short), and the acks count
# in the producer's numbering, so the last one covers every line once it is
# at least the file's line count.  The daemon's "RESUME n" says how many
# were already stored.
set -eu
producer=
case "${1:-}" in
  -h|--help)
  echo "usage: nc-send.sh [-p ID] [HOST] [PORT] [FILE]   (defaults: 127.0.0.1 7070 stdin)"
  echo "  -p ID  send as producer ID (HELLO ID first): resending is safe, nothing is stored twice"
  echo "exit status: 0 every line committed; 1 not all committed; 2 usage; 3 cannot connect"
  exit 0;;
  -p)
  [ $# -ge 2 ] || { echo "nc-send.sh: -p needs a producer ID" >&2; exit 2; }
  producer=$2
  shift 2;;
  -p*)
  producer=${1#-p}
  shift;;
esac
if [ -n "$producer" ]; then
  # The daemon's syntax: 1-128 bytes of A-Z a-z 0-9 . _ : -
  if [ "${#producer}" -gt 128 ] ||
     printf '%s' "$producer" | LC_ALL=C grep -q '[^A-Za-z0-9._:-]'; then
    echo "nc-send.sh: -p: '$producer' is not a producer ID (1-128 bytes of A-Z a-z 0-9 . _ : -)" >&2
    exit 2
  fi
fi
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
if [ -n "$producer" ]; then
  # The daemon drops a producer's unterminated last line (a torn line is
  # never stored): end it.
  { printf 'HELLO %s\n' "$producer"; cat "$tmp/in"
    [ ! -s "$tmp/in" ] || [ "$(tail -c 1 "$tmp/in" | od -An -c | tr -d ' ')" = '\n' ] ||
      echo; } >"$tmp/send"
else
  ln -s "$tmp/in" "$tmp/send"
fi
{ rc=0; nc -v -N "$host" "$port" < "$tmp/send" 2>"$tmp/err" || rc=$?
  echo "$rc" >"$tmp/rc"; } | tee "$tmp/out"
if [ "$(cat "$tmp/rc")" != 0 ] && ! grep -q ' succeeded!$' "$tmp/err"; then
  why=$(sed -n 's/^nc: .*: //p' "$tmp/err" | tail -n 1)
  echo "nc-send.sh: cannot connect to $host port $port: ${why:-nc exited $(cat "$tmp/rc")}; nothing sent" >&2
  exit 3
fi
grep -v ' succeeded!$' "$tmp/err" >&2 || :
last=$(grep '^OK ' "$tmp/out" | tail -n 1 | cut -d' ' -f2)
if [ -n "$producer" ] && ! grep -q '^RESUME ' "$tmp/out" && [ -n "${last:-}" ]; then
  echo "nc-send.sh: the daemon acked without a RESUME: it does not take producers (burstqd --producers off?) and stored the HELLO line as a message" >&2
  exit 1
fi
if [ -n "$producer" ] && [ -n "${last:-}" ] && [ "$last" -ge "$lines" ]; then
  echo "sent $lines, committed $lines (producer $producer at $last)" >&2
  exit 0
fi
if [ -z "$producer" ] && [ "${last:-}" = "$lines" ]; then
  echo "sent $lines, committed $last" >&2
  exit 0
fi
echo "sent $lines, committed ${last:-0}: not all messages were acknowledged" >&2
exit 1
