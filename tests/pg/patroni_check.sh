#!/usr/bin/env bash
# patroni_check.sh BURSTQD -- docs/scale-out.md's Patroni/etcd recipe, run
# for real on one machine (loopback, free ports, a temp dir): one etcd
# member, two Patroni nodes (synchronous_mode, synchronous_mode_strict),
# one burstqd on the multi-host URI with a password from PGPASSFILE, and
# `burstq send` streaming while the leader's machine "dies" (kill -9 of its
# Patroni and of every PostgreSQL process of its cluster).  Patroni
# promotes the synchronous standby by itself; the sender must exit 0 and
# every acknowledged message must be on the new leader once.
#
# Not part of make test (Patroni and etcd are not in make deps):
#   apt-get install patroni etcd-server etcd-client
#   BQ_CLIENT=build/burstq bash tests/pg/patroni_check.sh build/burstqd
# Exits 77 when patroni or etcd is missing.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh" "$@"
. "$here/lib.sh"
pg_need
need_client
command -v patroni >/dev/null && command -v etcd >/dev/null &&
  command -v patronictl >/dev/null ||
  bq_skip "patroni/etcd not installed (apt-get install patroni etcd-server etcd-client)"

W=60
NA=20000
NC=20000

port() { pg__free_port; }
etc_c=$(port) etc_p=$(port)
mkdir -p "$BQ_T/etcd"
bq_spawn /dev/null "$BQ_T/etcd.log" "&1" etcd --name e1 \
  --data-dir "$BQ_T/etcd" \
  --listen-client-urls "http://127.0.0.1:$etc_c" \
  --advertise-client-urls "http://127.0.0.1:$etc_c" \
  --listen-peer-urls "http://127.0.0.1:$etc_p" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etc_p" \
  --initial-cluster "e1=http://127.0.0.1:$etc_p"
etcd_pid=$BQ_SPAWNED
etcd_ok() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$etc_c" endpoint health >/dev/null 2>&1; }
poll 60 etcd_ok || die "etcd did not start: $(tail -n 5 "$BQ_T/etcd.log")"
note "etcd $etcd_pid on 127.0.0.1:$etc_c"

# node_conf NAME PGPORT RESTPORT: the recipe's patroni.yml for one node.
node_conf() {
  local n=$1 dir=$BQ_T/$1
  pg__own "$dir"
  cat >"$dir/patroni.yml" <<EOF
scope: burstq
namespace: /service/
name: $n
restapi:
  listen: 127.0.0.1:$3
  connect_address: 127.0.0.1:$3
etcd3:
  hosts: 127.0.0.1:$etc_c
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 5
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        synchronous_commit: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_log_hints: "on"
  initdb:
  - encoding: UTF8
  - locale: C
  - data-checksums
  pg_hba:
  - local all all trust
  - host replication replicator 127.0.0.1/32 scram-sha-256
  - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:$2
  connect_address: 127.0.0.1:$2
  data_dir: $dir/data
  bin_dir: $PG_BINDIR
  pgpass: $dir/pgpass.patroni
  authentication:
    superuser:
      username: postgres
      password: super-secret-test
    replication:
      username: replicator
      password: repl-secret-test
  parameters:
    unix_socket_directories: '$dir'
EOF
  chown postgres: "$dir/patroni.yml" 2>/dev/null
  chmod 0600 "$dir/patroni.yml"
  echo "$2" >"$dir/port"
}

# start_node NAME: Patroni as the postgres user (setpriv execs, so the
# spawned PID is Patroni's own).
declare -A PATRONI_PID
start_node() {
  local as=()
  [ "$(id -u)" = 0 ] && as=(setpriv --reuid=postgres --regid=postgres --init-groups)
  bq_spawn /dev/null "$BQ_T/$1/patroni.log" "&1" env HOME="$BQ_T/$1" \
    "${as[@]}" patroni "$BQ_T/$1/patroni.yml"
  PATRONI_PID[$1]=$BQ_SPAWNED
}
role_of() { # NAME RESTPORT: "primary", "replica", ... from Patroni's REST API
  curl -s "http://127.0.0.1:$2/patroni" 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("role",""), d.get("state",""))' 2>/dev/null
}
is_leader() { [ "$(role_of "$1" "$2")" = "master running" ] || [ "$(role_of "$1" "$2")" = "primary running" ]; }
is_sync() { curl -sf "http://127.0.0.1:$1/sync" >/dev/null 2>&1; }

# At exit, Patroni first (it would restart a PostgreSQL stopped under
# it), then lib.sh stops what is left of the clusters, then the rest.
stop_patronis() {
  local n
  for n in "${!PATRONI_PID[@]}"; do
    bq_is_running_child "${PATRONI_PID[$n]}" && kill -TERM "${PATRONI_PID[$n]}"
  done
  for n in "${!PATRONI_PID[@]}"; do
    reap "${PATRONI_PID[$n]}" 60 || { kill -KILL "${PATRONI_PID[$n]}"; reap "${PATRONI_PID[$n]}" 5; }
  done
  return 0
}
pg_on_exit stop_patronis

declare -A PGP REST
for n in n1 n2 n3; do
  PGP[$n]=$(port) REST[$n]=$(port)
  node_conf "$n" "${PGP[$n]}" "${REST[$n]}"
  PG_DIRS+=("$BQ_T/$n")
done
start_node n1
poll 120 is_leader n1 "${REST[n1]}" || die "n1 never became the leader: $(tail -n 20 "$BQ_T/n1/patroni.log")"
note "n1 leads (postgres port ${PGP[n1]})"
start_node n2
start_node n3
poll 180 is_sync "${REST[n2]}" || poll 60 is_sync "${REST[n3]}" ||
  die "no synchronous standby: $(tail -n 20 "$BQ_T/n2/patroni.log")"
patronictl -c "$BQ_T/n1/patroni.yml" list >&2 || true
p1=${PGP[n1]} p2=${PGP[n2]} p3=${PGP[n3]}

# The role and database burstqd writes with; its password only in a
# PGPASSFILE (burstqd refuses one in the URI).
printf '127.0.0.1:*:*:postgres:super-secret-test\n127.0.0.1:*:*:burstq:burstq-secret-test\n' >"$BQ_T/pgpass"
chmod 0600 "$BQ_T/pgpass"
export PGPASSFILE=$BQ_T/pgpass
"$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$p1" -U postgres -d postgres \
  -v ON_ERROR_STOP=1 -c "CREATE ROLE burstq LOGIN PASSWORD 'burstq-secret-test'" \
  -c "CREATE DATABASE burstq OWNER burstq" || die "cannot create the burstq role and database"

url="postgresql://burstq@127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3/burstq?target_session_attrs=read-write&connect_timeout=5"
start_daemon --db "$url" --node patroni-check --sync full

bq_spawn /dev/null "$BQ_T/out.1" "$BQ_T/err.1" \
  timeout 900 bash -c "$(declare -f gated_lines)"'
    gated_lines 1 "$1" "$2" "$3" "$4/gate1" "$4/gate2" |
      "$5" send -H "127.0.0.1:$6" --timeout 300' _ \
  "$NA" "$NC" "$W" "$BQ_T" "$BQ_CLIENT" "$BQ_PORT"
sender=$BQ_SPAWNED

rows1() { pg_psql "$BQ_T/n1" burstq "SELECT count(*) FROM messages" 2>/dev/null; }
rows1_ge() { local n; n=$(rows1); [ -n "$n" ] && [ "$n" -ge "$1" ]; }
poll 120 rows1_ge "$NA" || die "part A never reached n1"
touch "$BQ_T/gate1"
poll 120 rows1_ge $((NA + 1)) || die "part B never reached n1"
# n1's machine dies: its Patroni and all of its PostgreSQL, at once.
kill -KILL "${PATRONI_PID[n1]}"
pg_kill9 "$BQ_T/n1"
reap "${PATRONI_PID[n1]}" 10
unset 'PATRONI_PID[n1]'
note "n1 killed at $(date -u +%T.%3N); waiting for Patroni to promote a standby"
leader=
new_leader() {
  local n
  for n in n2 n3; do is_leader "$n" "${REST[$n]}" && { leader=$n; return 0; }; done
  return 1
}
poll 120 new_leader || die "no standby was promoted: $(tail -n 20 "$BQ_T/n2/patroni.log")"
note "$leader leads at $(date -u +%T.%3N)"
touch "$BQ_T/gate2"

reap_or_kill "$sender" 600 "burstq send"
check_eq "burstq send exit status" "$BQ_RC" 0
n=$(sed -n 's/^sent \([0-9]*\), committed \1$/\1/p' "$BQ_T/out.1")
[ -n "$n" ] || fail "burstq send said '$(cat "$BQ_T/out.1") $(cat "$BQ_T/err.1")'"
patronictl -c "$BQ_T/n2/patroni.yml" list >&2 || true
pg_stream_stats "$BQ_T/$leader" burstq "$W"
check_stream_shape
check_eq "rows on the new leader" "$S_ROWS" "${n:-0}"
echo "SUMMARY patroni failover: acked=${n:-0} stored=$S_ROWS duplicates=$((S_ROWS - S_DISTINCT))"
stop_daemon
check_eq "daemon exit status" "$BQ_RC" 0
