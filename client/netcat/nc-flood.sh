#!/bin/sh
# nc-flood.sh -- C parallel `nc` connections, each sending N lines as fast as
# the daemon takes them; then sums the final acks and, given --db, checks
# the row count in the database.  POSIX sh; needs nc (netcat-openbsd, for
# -N), awk, and sqlite3 for --db.
#
# Each line is "TAG:CONN:SEQ:" padded with 'x' to SIZE bytes, TAG unique to
# the run, so the rows of one flood can be told from any other rows.
set -eu

usage() {
  echo "usage: nc-flood.sh [-c CONNS] [-n LINES] [-s SIZE] [--db PATH] [HOST] [PORT]   (defaults: 4 conns, 10000 lines each, 100 bytes, 127.0.0.1 7070)"
  echo "exit status: 0 every line committed (and found with --db); 1 not all committed or found; 2 usage; 3 a connection could not be made (connection refused, unknown host, ...)"
}
die_usage() {
  echo "nc-flood.sh: $1" >&2
  usage >&2
  exit 2
}
# num NAME VALUE MIN MAX: VALUE must be a whole number in [MIN, MAX].
num() {
  case $2 in
    ''|*[!0-9]*) die_usage "$1: '$2' is not a whole number" ;;
  esac
  [ "${#2}" -le 9 ] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
    die_usage "$1: '$2' is out of range ($3 to $4)"
}

conns=4
lines=10000
size=100
db=
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -c) [ $# -ge 2 ] || die_usage "-c needs a value"; num -c "$2" 1 1000; conns=$2; shift 2 ;;
    -n) [ $# -ge 2 ] || die_usage "-n needs a value"; num -n "$2" 1 100000000; lines=$2; shift 2 ;;
    -s) [ $# -ge 2 ] || die_usage "-s needs a value"; num -s "$2" 1 1000000; size=$2; shift 2 ;;
    --db) [ $# -ge 2 ] || die_usage "--db needs a path"; db=$2; shift 2 ;;
    --db=*) db=${1#--db=}; shift ;;
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
if [ -n "$db" ]; then
  [ -f "$db" ] || die_usage "--db: no such file '$db'"
  command -v sqlite3 >/dev/null || die_usage "--db needs the sqlite3 command"
fi
command -v nc >/dev/null || { echo "nc-flood.sh: nc (netcat-openbsd) is not installed" >&2; exit 2; }

tag=f$(date +%s)$$
[ "$size" -ge $((${#tag} + ${#conns} + ${#lines} + 3)) ] ||
  die_usage "-s: $size bytes cannot hold the line header '$tag:$conns:$lines:'"
. "$(dirname "$0")/nc-tally.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

t0=$(date +%s%N)
i=1
while [ "$i" -le "$conns" ]; do
  awk -v t="$tag" -v c="$i" -v n="$lines" -v w="$size" 'BEGIN {
    pad = sprintf("%*s", w, ""); gsub(/ /, "x", pad)
    for (s = 1; s <= n; s++) {
      h = t ":" c ":" s ":"
      printf "%s%s\n", h, substr(pad, 1, w - length(h))
    }
  }' | nc -v -N "$host" "$port" >"$tmp/out.$i" 2>"$tmp/err.$i" &
  i=$((i + 1))
done
wait
t1=$(date +%s%N)

nc_tally nc-flood.sh "$conns" "$lines"
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -gt 0 ] || ms=1
echo "run $tag: $conns connections x $lines lines of $size bytes to $host:$port"
[ "$unreached" = 0 ] ||
  echo "$unreached of $conns connections could not connect: ${why:-nc failed}"
echo "sent $sent, committed $committed in $ms ms ($((committed * 1000 / ms)) msgs/s)"
status=0
[ "$committed" = "$sent" ] || status=1

if [ -n "$db" ]; then
  n=${#tag}
  rows=$(sqlite3 -batch -cmd '.timeout 30000' "$db" \
    "SELECT count(*), count(DISTINCT payload) FROM messages
     WHERE substr(CAST(payload AS TEXT), 1, $((n + 1))) = '$tag:'")
  total=${rows%%|*}
  distinct=${rows#*|}
  if [ "$total" = "$sent" ] && [ "$distinct" = "$sent" ]; then
    echo "db $db: $total rows of this run, all distinct: ok"
  else
    echo "db $db: $total rows of this run ($distinct distinct), expected $sent: FAILED"
    status=1
  fi
fi
[ "$unreached" = 0 ] || status=3
exit $status
