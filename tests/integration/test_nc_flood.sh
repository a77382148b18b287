#!/usr/bin/env bash
# test_nc_flood.sh BURSTQD -- client/netcat/nc-flood.sh: C parallel nc each
# send N lines; the acks add up, --db finds every row of the run once, and
# the script fails (exit 1) when the rows are not all there and exits 3
# when nothing listens; -h prints its usage line, bad input is refused with
# exit 2.
NC_FLOOD=$(realpath "$(dirname "$0")/../../client/netcat/nc-flood.sh")
. "$(dirname "$0")/lib.sh" "$@"

check_usage "$NC_FLOOD" "-c 0" "-c x" "-n -5" "-s 3" "--db /nonexistent.db" "-z" "127.0.0.1 99999" "a b c"

start_daemon
N=$((20000 / BQ_DIV))
sh "$NC_FLOOD" -c 4 -n "$N" -s 80 --db "$BQ_DB" 127.0.0.1 "$BQ_PORT" >flood.out 2>flood.err
check_eq "flood: exit status" "$?" 0
check_grep "flood: acks add up" flood.out "^sent $((4 * N)), committed $((4 * N)) in "
check_grep "flood: db row count checked" flood.out ": $((4 * N)) rows of this run, all distinct: ok$"
tag=$(sed -n 's/^run \([a-z0-9]*\):.*/\1/p' flood.out)
# Independently: each connection's lines are in order, seq column = line's
# sequence number, every payload 80 bytes.
check_eq "rows of the run" \
  "$(sql "SELECT count(*) FROM messages WHERE CAST(payload AS TEXT) LIKE '$tag:%'")" $((4 * N))
check_eq "payload sizes" \
  "$(sql "SELECT DISTINCT length(payload) FROM messages WHERE CAST(payload AS TEXT) LIKE '$tag:%'")" 80
check_eq "rows whose seq column differs from the line's own number" \
  "$(sql "WITH m AS (SELECT seq, substr(CAST(payload AS TEXT), $((${#tag} + 2))) AS rest
                    FROM messages WHERE CAST(payload AS TEXT) LIKE '$tag:%'),
               n AS (SELECT seq, substr(rest, instr(rest, ':') + 1) AS r2 FROM m)
          SELECT count(*) FROM n WHERE substr(r2, 1, instr(r2, ':') - 1) != CAST(seq AS TEXT)")" 0

# A database that lacks the rows: the check fails.
sqlite3 other.db 'CREATE TABLE messages(id INTEGER PRIMARY KEY, conn_id, seq, received_at, payload)'
sh "$NC_FLOOD" -c 2 -n 10 --db other.db 127.0.0.1 "$BQ_PORT" >other.out 2>&1
check_eq "--db without the rows: exit status" "$?" 1
check_grep "--db without the rows: says so" other.out ': 0 rows of this run .*FAILED$'

stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
check_eq "total rows" "$(msg_count)" $((4 * N + 20))

# Nothing listens: the script says the connection was refused and exits 3,
# claiming nothing sent.
check_grep "-h: documents exit status 3" help.out '3 a connection could not be made'
hold_refused_port
sh "$NC_FLOOD" -c 2 -n 10 127.0.0.1 "$BQ_REFUSED_PORT" >down.out 2>down.err
check_eq "nothing listening: exit status" "$?" 3
check_grep "nothing listening: says why" down.err \
  "^nc-flood\.sh: cannot connect to 127\.0\.0\.1 port $BQ_REFUSED_PORT: Connection refused; nothing sent$"
check_no_grep "nothing listening: no claim of messages sent" down.out '^sent '
