#!/bin/sh
# nc-burst.sh -- the bursty producer of the producer-consumer problem: C
# parallel `nc` connections, each sending a burst of K lines every P ms for
# D seconds (D * 1000 / P bursts, at least one), then half-closing; prints
# what was sent and what the daemon committed (the sum of the final acks).
# POSIX sh; needs nc (netcat-openbsd, for -N), awk and a sleep that takes
# fractions of a second (GNU coreutils).
#
# Each line is "TAG:CONN:SEQ:" padded with 'x' to SIZE bytes; SEQ runs on
# across the bursts of a connection, TAG is unique to the run.
set -eu

usage() {
  echo "usage: nc-burst.sh [-c CONNS] [-k LINES_PER_BURST] [-p EVERY_MS] [-d SECONDS] [-s SIZE] [HOST] [PORT]   (defaults: 4 conns, bursts of 1000 every 100 ms for 5 s, 100 bytes, 127.0.0.1 7070)"
  echo "exit status: 0 every line committed; 1 not all committed; 2 usage; 3 a connection could not be made (connection refused, unknown host, ...)"
}
die_usage() {
  echo "nc-burst.sh: $1" >&2
  usage >&2
  exit 2
}
num() { # NAME VALUE MIN MAX
  case $2 in
    ''|*[!0-9]*) die_usage "$1: '$2' is not a whole number" ;;
  esac
  [ "${#2}" -le 9 ] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
    die_usage "$1: '$2' is out of range ($3 to $4)"
}

conns=4
burst=1000
every=100
secs=5
size=100
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -c) [ $# -ge 2 ] || die_usage "-c needs a value"; num -c "$2" 1 1000; conns=$2; shift 2 ;;
    -k) [ $# -ge 2 ] || die_usage "-k needs a value"; num -k "$2" 1 10000000; burst=$2; shift 2 ;;
    -p) [ $# -ge 2 ] || die_usage "-p needs a value"; num -p "$2" 1 3600000; every=$2; shift 2 ;;
    -d) [ $# -ge 2 ] || die_usage "-d needs a value"; num -d "$2" 1 86400; secs=$2; shift 2 ;;
    -s) [ $# -ge 2 ] || die_usage "-s needs a value"; num -s "$2" 1 1000000; size=$2; shift 2 ;;
    --) shift; break ;;
    -*) die_usage "unknown option '$1'" ;;
    *) break ;;
  esac
done
[ $# -le 2 ] || die_usage "too many arguments"
host=${1:-127.0.0.1}
port=${2:-7070}
num PORT "$port" 1 65535
[ -n "$host" ] || die_usage "HOST is empty"
command -v nc >/dev/null || { echo "nc-burst.sh: nc (netcat-openbsd) is not installed" >&2; exit 2; }

bursts=$((secs * 1000 / every))
[ "$bursts" -ge 1 ] || bursts=1
per=$((bursts * burst))
tag=b$(date +%s)$$
[ "$size" -ge $((${#tag} + ${#conns} + ${#per} + 3)) ] ||
  die_usage "-s: $size bytes cannot hold the line header '$tag:$conns:$per:'"
pause=$(awk -v p="$every" 'BEGIN { printf "%.3f", p / 1000 }')
. "$(dirname "$0")/nc-tally.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One producer: its bursts, each written in one go, P ms apart (the time to
# write a burst counts against the pause, so bursts start on the beat).
producer() { # CONN
  b=0
  next=$(date +%s%N)
  while [ "$b" -lt "$bursts" ]; do
    awk -v t="$tag" -v c="$1" -v first=$((b * burst + 1)) -v k="$burst" \
        -v w="$size" 'BEGIN {
      pad = sprintf("%*s", w, ""); gsub(/ /, "x", pad)
      for (s = first; s < first + k; s++) {
        h = t ":" c ":" s ":"
        printf "%s%s\n", h, substr(pad, 1, w - length(h))
      }
    }'
    b=$((b + 1))
    next=$((next + every * 1000000))
    now=$(date +%s%N)
    if [ "$b" -lt "$bursts" ] && [ "$now" -lt "$next" ]; then
      sleep "$(awk -v d=$((next - now)) 'BEGIN { printf "%.3f", d / 1e9 }')"
    fi
  done
}

echo "run $tag: $conns connections, $bursts bursts of $burst lines every $every ms ($pause s), $size bytes, to $host:$port"
t0=$(date +%s%N)
i=1
while [ "$i" -le "$conns" ]; do
  producer "$i" | nc -v -N "$host" "$port" >"$tmp/out.$i" 2>"$tmp/err.$i" &
  i=$((i + 1))
done
wait
t1=$(date +%s%N)

nc_tally nc-burst.sh "$conns" "$per"
[ "$unreached" = 0 ] ||
  echo "$unreached of $conns connections could not connect: ${why:-nc failed}"
echo "sent $sent, committed $committed in $(( (t1 - t0) / 1000000 )) ms"
[ "$unreached" = 0 ] || exit 3
[ "$committed" = "$sent" ]
