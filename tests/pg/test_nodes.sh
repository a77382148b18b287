#!/usr/bin/env bash
# test_nodes.sh BURSTQD -- many daemons, one database.  Ten daemons
# (different --node) start at the same moment against an empty database:
# all start, the schema is created once, each has its node.  Three of them
# then stream at once (two nc connections each): every message is stored
# once, no two connections share an id, and each connection's id is in
# its daemon's node range.  A daemon started with the --node of a running
# one is refused (exit 2) and writes nothing.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need

pg_start "$BQ_T/pg"
BQ_DB=$(pg_url "$BQ_T/pg" burstq)
psqlq() { pg_psql "$BQ_T/pg" burstq "$@"; }

# Ten at once: spawned back to back, then waited for.
dpids=() dlogs=() dports=()
for i in $(seq 1 10); do
  dlogs+=("$BQ_T/d$i.log")
  bq_spawn /dev/null "$BQ_T/d$i.log" "&1" \
    "$BQ_BIN" --listen 127.0.0.1:0 --db "$BQ_DB" --node "n$i"
  dpids+=("$BQ_SPAWNED")
done
BQ_LOGS+=("${dlogs[@]}")
port_of() { sed -n 's/.* listening on 127\.0\.0\.1:\([0-9][0-9]*\) (acked)$/\1/p' "$1"; }
up() { [ -n "$(port_of "$1")" ] || ! bq_is_running_child "$2"; }
for i in $(seq 0 9); do
  poll $((120 * BQ_SLOW)) up "${dlogs[$i]}" "${dpids[$i]}"
  p=$(port_of "${dlogs[$i]}")
  [ -n "$p" ] || { cat "${dlogs[$i]}" >&2; fail "daemon n$((i + 1)) did not start"; }
  dports+=("$p")
done
check_eq "nodes" "$(psqlq "SELECT string_agg(name, ',' ORDER BY name) FROM nodes")" \
  "n1,n10,n2,n3,n4,n5,n6,n7,n8,n9"
check_eq "one schema" "$(psqlq "SELECT count(*) FROM pg_class WHERE relname = 'messages'")" 1

# The same --node as a running daemon: refused.
"$BQ_BIN" --listen 127.0.0.1:0 --db "$BQ_DB" --node n1 >dup.log 2>&1
check_eq "duplicate --node: exit status" "$?" 2
check_grep "duplicate --node: the reason" dup.log "node 'n1' is in use"

# Three of them stream at once, two connections each.
N=$((20000 / BQ_DIV))
npids=()
for d in 0 1 2; do
  for c in 1 2; do
    seq -f "d$d-c$c-%.0f" 1 "$N" >in.$d.$c
    bq_spawn in.$d.$c out.$d.$c err.$d.$c \
      timeout $((120 * BQ_SLOW)) nc -N 127.0.0.1 "${dports[$d]}"
    npids+=("$BQ_SPAWNED")
  done
done
k=0
for d in 0 1 2; do
  for c in 1 2; do
    reap_or_kill "${npids[$k]}" $((150 * BQ_SLOW)) "nc $d.$c"
    k=$((k + 1))
    check_eq "daemon $d conn $c: final ack" "$(tail -n1 out.$d.$c)" "OK $N"
  done
done
# Each of the other seven takes one message.
for d in $(seq 3 9); do
  printf 'one\n' | timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "${dports[$d]}" >one.$d
  check_eq "daemon $d: acked" "$(cat one.$d)" "OK 1"
done
for i in $(seq 0 9); do
  kill -TERM "${dpids[$i]}"
  reap_or_kill "${dpids[$i]}" $((120 * BQ_SLOW)) "daemon n$((i + 1))"
  check_eq "daemon n$((i + 1)) exit status" "$BQ_RC" 0
  check_sanitizer_log "${dlogs[$i]}"
done

check_eq "rows" "$(psqlq "SELECT count(*) FROM messages")" $((6 * N + 7))
check_eq "distinct (conn_id, seq)" \
  "$(psqlq "SELECT count(DISTINCT (conn_id, seq)) FROM messages")" $((6 * N + 7))
check_eq "connections, all distinct" \
  "$(psqlq "SELECT count(*) || ',' || count(DISTINCT id) FROM connections")" "13,13"
check_eq "each connection's messages from one client" \
  "$(psqlq "SELECT count(*) FROM (SELECT conn_id FROM messages GROUP BY conn_id
            HAVING count(DISTINCT split_part(convert_from(payload, 'UTF8'), '-', 1) ||
                                  split_part(convert_from(payload, 'UTF8'), '-', 2)) = 1) x")" 13
check_eq "connections in their node's range (daemon d -> node n(d+1))" \
  "$(psqlq "SELECT count(*) FROM messages m JOIN nodes n ON n.id = m.conn_id >> 40
            WHERE convert_from(m.payload, 'UTF8') LIKE 'd%'
            AND n.name <> 'n' || (substr(split_part(convert_from(m.payload, 'UTF8'), '-', 1), 2)::int + 1)")" 0
check_eq "ids grow with seq within each connection" \
  "$(psqlq "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY conn_id ORDER BY id) AS p
            FROM messages) x WHERE p IS NOT NULL AND seq <> p + 1")" 0
