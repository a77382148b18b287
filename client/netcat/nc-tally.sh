# nc-tally.sh -- sourced by nc-flood.sh and nc-burst.sh (POSIX sh): the
# tally of C parallel `nc -v -N` runs, whose stdout (the acks) is in
# $tmp/out.I and stderr in $tmp/err.I for I = 1..C.
#
# nc_tally SCRIPT CONNS PER: sets
#   unreached  connections that never connected (nc -v prints
#              "Connection to ... succeeded!" once connected)
#   why        the first reason nc gave for not connecting
#   committed  the sum of each connection's last "OK n"
#   sent       PER lines for each connection that connected
# and reports, on stderr, each connection that committed fewer than PER.
# When no connection could connect it says so and exits 3 (nothing sent).
nc_tally() {
  _script=$1 _conns=$2 _per=$3
  unreached=0 why= committed=0
  _i=1
  while [ "$_i" -le "$_conns" ]; do
    if ! grep -q ' succeeded!$' "$tmp/err.$_i"; then
      unreached=$((unreached + 1))
      [ -n "$why" ] || why=$(sed -n 's/^nc: .*: //p' "$tmp/err.$_i" | tail -n 1)
    fi
    _i=$((_i + 1))
  done
  if [ "$unreached" = "$_conns" ]; then
    echo "$_script: cannot connect to $host port $port: ${why:-nc failed}; nothing sent" >&2
    exit 3
  fi
  _i=1
  while [ "$_i" -le "$_conns" ]; do
    if ! grep -q ' succeeded!$' "$tmp/err.$_i"; then
      echo "conn $_i: cannot connect: $(sed -n 's/^nc: .*: //p' "$tmp/err.$_i" | tail -n 1)" >&2
      _i=$((_i + 1))
      continue
    fi
    _last=$(sed -n 's/^OK \([0-9][0-9]*\)$/\1/p' "$tmp/out.$_i" | tail -n 1)
    _last=${_last:-0}
    committed=$((committed + _last))
    [ "$_last" = "$_per" ] ||
      echo "conn $_i: committed $_last of $_per$(grep -m1 '^ERR' "$tmp/out.$_i" | sed 's/^/ (/; s/$/)/')$(grep -v ' succeeded!$' "$tmp/err.$_i" | head -c 200 | tr '\n' ' ' | sed 's/^\(..*\)$/: \1/')" >&2
    _i=$((_i + 1))
  done
  sent=$(((_conns - unreached) * _per))
}
