#!/usr/bin/env bash
# test_nc_burst.sh BURSTQD -- client/netcat/nc-burst.sh: C connections send
# bursts of K lines every P ms for D seconds; every line is committed, once,
# in order per connection, even into a small queue that must pause intake;
# -h prints its usage line, bad input is refused with exit 2, and a port
# where nothing listens is reported as refused (exit 3).
NC_BURST=$(realpath "$(dirname "$0")/../../client/netcat/nc-burst.sh")
. "$(dirname "$0")/lib.sh" "$@"

check_usage "$NC_BURST" "-c 0" "-k x" "-p 0" "-d -1" "-s 2" "-q" "127.0.0.1 0" "a b c"

# A queue far smaller than one round of bursts: intake pauses, nothing lost.
start_daemon --queue-capacity 256 --queue-bytes 64K
K=$((2000 / BQ_DIV))
sh "$NC_BURST" -c 3 -k "$K" -p 250 -d 1 -s 64 127.0.0.1 "$BQ_PORT" >burst.out 2>burst.err
check_eq "bursts: exit status" "$?" 0
check_grep "bursts: 4 bursts per connection" burst.out ': 3 connections, 4 bursts of '"$K"' lines every 250 ms'
check_grep "bursts: acks add up" burst.out "^sent $((3 * 4 * K)), committed $((3 * 4 * K)) in "
tag=$(sed -n 's/^run \([a-z0-9]*\):.*/\1/p' burst.out)
check_eq "rows of the run" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE '$tag:%'")" $((3 * 4 * K))
check_eq "distinct payloads" \
  "$(sql "SELECT count(DISTINCT payload) FROM messages WHERE CAST(payload AS TEXT) LIKE '$tag:%'")" $((3 * 4 * K))
check_eq "connections" \
  "$(sql "SELECT count(DISTINCT conn_id) FROM messages WHERE CAST(payload AS TEXT) LIKE '$tag:%'")" 3
check_eq "rows whose seq column differs from the line's own number" \
  "$(sql "WITH m AS (SELECT seq, substr(CAST(payload AS TEXT), $((${#tag} + 2))) AS rest
                    FROM messages WHERE CAST(payload AS TEXT) LIKE '$tag:%'),
               n AS (SELECT seq, substr(rest, instr(rest, ':') + 1) AS r2 FROM m)
          SELECT count(*) FROM n WHERE substr(r2, 1, instr(r2, ':') - 1) != CAST(seq AS TEXT)")" 0
check_eq "rows out of order within their connection" \
  "$(sql "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY conn_id ORDER BY id) AS prev
          FROM messages WHERE CAST(payload AS TEXT) LIKE '$tag:%') WHERE prev IS NOT NULL AND seq != prev + 1")" 0
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0

# Nothing listens: the script says the connection was refused and exits 3.
check_grep "-h: documents exit status 3" help.out '3 a connection could not be made'
hold_refused_port
sh "$NC_BURST" -c 2 -k 10 -p 100 -d 1 127.0.0.1 "$BQ_REFUSED_PORT" >down.out 2>down.err
check_eq "nothing listening: exit status" "$?" 3
check_grep "nothing listening: says why" down.err \
  "^nc-burst\.sh: cannot connect to 127\.0\.0\.1 port $BQ_REFUSED_PORT: Connection refused; nothing sent$"
check_no_grep "nothing listening: no claim of messages sent" down.out '^sent '
