# tests/pg/lib.sh -- private PostgreSQL clusters for tests, soak and bench.
#
# Sourced by the PostgreSQL tests (after tests/integration/lib.sh, whose
# note/fail/die/poll it uses when they exist) and by scripts that stand
# alone (make bench: then it defines minimal ones):
#     . "$here/../integration/lib.sh" "$@"     # a test: BQ_T, fail, ...
#     . "$here/../pg/lib.sh"
#
# Every cluster is a directory DIR made by pg_start: DIR/data (PGDATA),
# DIR/log (the server log), DIR/port, and the unix socket in DIR.  The
# server runs as the `postgres` user when this shell is root (PostgreSQL
# refuses root), as this user otherwise; it listens on 127.0.0.1 only, on
# a free port; auth is trust on loopback except for the password user
# $PG_PW_USER (scram-sha-256, password $PG_PW_PASS: pg_passfile writes a
# PGPASSFILE for it).  Nothing here touches a system-wide cluster or
# service: each cluster is found and stopped by the PID in its
# postmaster.pid, and every process whose working directory is DIR/data
# (every PostgreSQL process of that cluster, orphans included) is gone
# when pg_stop or pg_kill9 returns.  An EXIT trap (chained before any
# trap already set, e.g. lib.sh's bq_cleanup) stops every cluster this
# shell started.
#
# Settings: fsync=on, synchronous_commit=on, wal_level=replica (a primary
# can take standbys), full_page_writes=on: durability as in production;
# only memory (shared_buffers 64MB, several clusters at once) and logging
# are tuned for tests.
#
# Binaries: $PG_BINDIR, else `pg_config --bindir`, else the newest
# /usr/lib/postgresql/*/bin, else PATH.  When initdb/postgres are absent a
# test skips (pg_need: exit 77, SKIP_RETURN_CODE in tests/pg/CMakeLists.txt);
# `make deps` installs them (Debian packages postgresql, libpq-dev).
#
# Functions (DIR is a cluster directory; DB a database name):
#   pg_need                   binaries present, else skip (77)
#   pg_start DIR [PORT [CONF...]]  initdb (if DIR/data is new) and start;
#                             CONF lines ("key = value") go into the config;
#                             creates database `burstq`; sets PG_PORT
#   pg_stop DIR               fast shutdown by PID, wait until no process left
#   pg_restart DIR            pg_stop, then start again on the same port
#   pg_kill9 DIR              SIGKILL the postmaster and all its processes
#                             at once (the machine died), wait until gone
#   pg_standby PRIMARY DIR [PORT]  pg_basebackup -R into DIR, start it, make
#                             it the primary's synchronous standby
#                             (synchronous_standby_names 'ANY 1 (...)'), wait
#                             until it streams with sync_state quorum
#   pg_promote DIR            pg_ctl promote; wait until it accepts writes
#   pg_psql DIR DB SQL...     psql -At, each SQL a -c, ON_ERROR_STOP; stdout
#   pg_port DIR               the port
#   pg_url DIR DB [USER]      postgresql://USER@127.0.0.1:PORT/DB
#   pg_url_multi DB DIR...    postgresql://postgres@127.0.0.1:P1,127.0.0.1:P2
#                             /DB?target_session_attrs=read-write
#   pg_passfile FILE DIR...   a 0600 PGPASSFILE with $PG_PW_USER's password
#   pg_procs DIR              PIDs of the processes of DIR's cluster
#   pg_stream_stats DIR DB W  stream_stats (integration/lib.sh) on PostgreSQL
#   pg_check_producer DIR DB WHAT ID N  producer ID holds lines 1..N once
#   pg_stop_all               pg_stop every cluster this shell started
#   pg_on_exit CMD            run CMD at exit, before the exit steps so far
#   gated_lines K NA NC W G1 G2  numbered lines that stream until file G2

# libpq reads these; a test must see only what it passes itself.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE \
  PGSERVICE PGSERVICEFILE PGOPTIONS PGTARGETSESSIONATTRS PGSSLMODE \
  PGCONNECT_TIMEOUT PGAPPNAME PGDATA 2>/dev/null

PG_PW_USER=burstq_pw
PG_PW_PASS='pw-for-tests-only'
PG_DIRS=()       # clusters started by this shell (for pg_stop_all)
PG_PORT=         # the port of the last pg_start / pg_standby

# Minimal helpers when tests/integration/lib.sh is not loaded.
declare -F note >/dev/null || note() { echo "[pg] $*" >&2; }
declare -F fail >/dev/null || fail() { echo "FAIL [pg]: $*" >&2; }
declare -F die >/dev/null || die() { echo "FATAL [pg]: $*" >&2; exit 1; }
# poll LIMIT_S CMD...: as in tests/integration/lib.sh (bounded by SECONDS).
declare -F poll >/dev/null || poll() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do [ "$SECONDS" -lt "$end" ] || return 1; sleep 0.05; done
}

# --- binaries and the server user ------------------------------------------

pg__find_bindir() {
  local d
  if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
  if command -v pg_config >/dev/null; then
    d=$(pg_config --bindir 2>/dev/null)
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
  d=$(command -v initdb) && { dirname "$d"; return; }
  return 1
}
PG_BINDIR=$(pg__find_bindir) || PG_BINDIR=

# pg_need: initdb, postgres, pg_ctl, pg_basebackup, psql present and, as
# root, a `postgres` user to run them; else skip this test (exit 77).
pg_need() {
  local b
  for b in initdb postgres pg_ctl pg_basebackup psql; do
    if [ -z "$PG_BINDIR" ] || [ ! -x "$PG_BINDIR/$b" ]; then
      pg__skip "PostgreSQL's $b is not installed (make deps installs postgresql)"
    fi
  done
  if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
    pg__skip "running as root and there is no 'postgres' user to run the server"
  fi
}
pg__skip() {
  if declare -F bq_skip >/dev/null; then bq_skip "$*"; fi
  echo "SKIP: $*"
  exit 77
}

# pg__as CMD...: CMD as the server user (postgres when root), in /.
pg__as() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && exec runuser -u postgres -- "$@")
  else
    (cd / && exec "$@")
  fi
}

# pg__own DIR: DIR (made if missing) belongs to the server user, and the
# server user can reach it (a private test dir made by mktemp is 0700:
# its owner's dirs along the path get o+x, search only).
pg__own() {
  local d=$1 up
  mkdir -p "$d" || die "cannot make $d"
  d=$(realpath "$d")
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$d" && chmod 0700 "$d" || die "cannot hand $d to postgres"
    up=$(dirname "$d")
    while [ "$up" != / ]; do
      if ! runuser -u postgres -- test -x "$up" 2>/dev/null; then
        chmod o+x "$up" || die "cannot make $up searchable for postgres"
      fi
      up=$(dirname "$up")
    done
  fi
}

# --- finding a cluster's processes -------------------------------------------

pg_port() { cat "$1/port" 2>/dev/null; }

# pg__pm DIR: the postmaster's PID if it is running (a postgres process
# whose working directory is DIR/data), else nothing and 1.
pg__pm() {
  local pid data
  data=$(realpath "$1/data" 2>/dev/null) || return 1
  pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ] || return 1
  echo "$pid"
}

# pg_procs DIR: every live process whose working directory is DIR/data
# (each PostgreSQL server process chdirs there), one PID a line.
pg_procs() {
  local data
  data=$(realpath "$1/data" 2>/dev/null) || return 0
  # A zombie has no working directory: only live processes match.
  find /proc -mindepth 2 -maxdepth 2 -name cwd -lname "$data" 2>/dev/null |
    cut -d/ -f3
}

pg__gone() { [ -z "$(pg_procs "$1")" ]; }

# pg__wait_gone DIR LIMIT_S WHAT: wait until DIR has no process; then
# remove a SysV shared memory segment a killed postmaster left.
pg__wait_gone() {
  local shmid
  if ! poll "$2" pg__gone "$1"; then
    fail "cluster $1: processes $(pg_procs "$1" | tr '\n' ' ')still running $2 s after $3; killing them"
    # shellcheck disable=SC2046
    kill -KILL $(pg_procs "$1") 2>/dev/null
    poll 10 pg__gone "$1" || die "cluster $1: processes survive SIGKILL"
  fi
  # postmaster.pid line 7: "KEY SHMID" of the interlock segment.
  # (No file after a clean stop; || true: callers may run under set -e.)
  shmid=$(sed -n '7s/^ *[0-9]* *\([0-9][0-9]*\).*/\1/p' \
    "$1/data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$shmid" ] && command -v ipcrm >/dev/null; then
    ipcrm -m "$shmid" 2>/dev/null || true
  fi
}

# --- start, stop -----------------------------------------------------------------

pg__free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# pg__node_conf DIR PORT: the per-node settings (DIR/data/node.conf,
# included by postgresql.conf; a standby gets a copy from pg_basebackup and
# rewrites it).  The unix socket goes into DIR, or into a short private
# dir when DIR's path is too long for a socket name.
pg__node_conf() {
  local dir=$1 port=$2 sock
  sock=$dir
  if [ $(( ${#dir} + 20 )) -gt 100 ]; then
    sock=$(mktemp -d /tmp/bq-pgsock.XXXXXX) || die "mktemp"
    pg__own "$sock"
    echo "$sock" >"$dir/sockdir"
  fi
  cat >"$dir/data/node.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
EOF
  chown --reference="$dir/data" "$dir/data/node.conf"
  echo "$port" >"$dir/port"
}

# pg__initdb DIR: a new cluster in DIR/data.
pg__initdb() {
  local dir=$1
  pg__as "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
    --locale=C >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb $dir failed"; }
  cat >>"$dir/data/postgresql.conf" <<EOF

# --- tests/pg/lib.sh -------------------------------------------------------
include_if_exists = 'node.conf'
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 512MB
hot_standby = on
max_connections = 100
shared_buffers = 64MB
checkpoint_timeout = 5min
max_wal_size = 1GB
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %a '
log_connections = off
log_disconnections = off
EOF
  cat >"$dir/data/pg_hba.conf" <<EOF
# tests/pg/lib.sh: loopback only; trust except the password user.
local   all          all                         trust
host    all          $PG_PW_USER  127.0.0.1/32   scram-sha-256
host    all          all          127.0.0.1/32   trust
local   replication  all                         trust
host    replication  all          127.0.0.1/32   trust
EOF
}

# pg__ctl_start DIR: pg_ctl start -w; 0 when the server accepts connections.
pg__ctl_start() {
  pg__as "$PG_BINDIR/pg_ctl" -D "$1/data" -l "$1/log" -w -t 120 start \
    >"$1/pg_ctl.out" 2>&1
}

pg__register() {
  local d
  for d in "${PG_DIRS[@]}"; do [ "$d" = "$1" ] && return; done
  PG_DIRS+=("$1")
}

pg_start() {
  local dir=$1 port=${2:-} fixed=${2:-} try new=0 line
  shift; [ $# -gt 0 ] && shift
  [ "$fixed" = 0 ] && fixed=
  pg_need
  pg__own "$dir"
  dir=$(realpath "$dir")
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    new=1
    pg__initdb "$dir"
    for line in "$@"; do echo "$line" >>"$dir/data/postgresql.conf"; done
  elif [ $# -gt 0 ]; then
    for line in "$@"; do echo "$line" >>"$dir/data/postgresql.conf"; done
  fi
  [ -z "$port" ] && port=$(pg_port "$dir") && fixed=$port
  pg__register "$dir"
  for try in 1 2 3 4 5; do
    [ -n "$port" ] && [ "$port" != 0 ] || port=$(pg__free_port)
    pg__node_conf "$dir" "$port"
    pg__ctl_start "$dir" && break
    # A port taken between the probe and the bind: another one.
    if grep -q 'could not bind\|Address already in use' "$dir/log" 2>/dev/null &&
       [ -z "$fixed" ]; then
      pg__wait_gone "$dir" 30 "a failed start"
      port=
      continue
    fi
    cat "$dir/pg_ctl.out" >&2; tail -n 30 "$dir/log" >&2
    die "cluster $dir did not start on port $port"
  done
  pg__pm "$dir" >/dev/null || die "cluster $dir: no postmaster after start"
  PG_PORT=$port
  if [ "$new" = 1 ]; then
    pg_psql "$dir" postgres "CREATE DATABASE burstq" \
      "CREATE ROLE $PG_PW_USER LOGIN PASSWORD '$PG_PW_PASS'" \
      "GRANT ALL ON DATABASE burstq TO $PG_PW_USER" \
      "ALTER DATABASE burstq OWNER TO $PG_PW_USER" >/dev/null ||
      die "cluster $dir: cannot create database burstq"
  fi
  note "postgres $dir: pid $(pg__pm "$dir") port $port"
}

pg_stop() {
  local dir pid
  dir=$(realpath "$1" 2>/dev/null) || return 0
  [ -d "$dir/data" ] || return 0
  if pid=$(pg__pm "$dir"); then
    kill -INT "$pid" 2>/dev/null   # fast shutdown
    if ! poll 60 pg__gone "$dir"; then
      kill -QUIT "$pid" 2>/dev/null  # immediate shutdown
    fi
  fi
  pg__wait_gone "$dir" 30 "pg_stop"
}

pg_restart() {
  pg_stop "$1"
  pg_start "$1" "$(pg_port "$1")"
}

pg_kill9() {
  local dir pid kids
  dir=$(realpath "$1")
  pid=$(pg__pm "$dir") || die "pg_kill9: cluster $dir is not running"
  # Frozen first, so it forks no backend between the listing and the kill;
  # every server process is the postmaster's child.
  kill -STOP "$pid"
  kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
  # shellcheck disable=SC2086
  kill -KILL "$pid" $kids 2>/dev/null
  pg__wait_gone "$dir" 30 "kill -9"
  note "postgres $dir: killed (-9)"
}

pg_stop_all() {
  local d
  for d in "${PG_DIRS[@]}"; do pg_stop "$d"; done
  for d in "${PG_DIRS[@]}"; do
    [ -f "$d/sockdir" ] && rm -rf "$(cat "$d/sockdir")"
  done
  return 0
}

# --- SQL and URIs ------------------------------------------------------------------

pg_psql() {
  local dir=$1 db=$2 a args=()
  shift 2
  for a in "$@"; do args+=(-c "$a"); done
  PGCONNECT_TIMEOUT=10 "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$(pg_port "$dir")" -U postgres -d "$db" "${args[@]}"
}

pg_url() { echo "postgresql://${3:-postgres}@127.0.0.1:$(pg_port "$1")/$2"; }

pg_url_multi() {
  local db=$1 hosts= d
  shift
  for d in "$@"; do hosts+="${hosts:+,}127.0.0.1:$(pg_port "$d")"; done
  echo "postgresql://postgres@$hosts/$db?target_session_attrs=read-write"
}

pg_passfile() {
  local f=$1 d
  shift
  : >"$f" && chmod 0600 "$f"
  for d in "$@"; do
    echo "127.0.0.1:$(pg_port "$d"):*:$PG_PW_USER:$PG_PW_PASS" >>"$f"
  done
}

# pg_stream_stats DIR DB WIDTH: stream_stats (tests/integration/lib.sh)
# for rows in PostgreSQL: the same S_* facts about the rows written by
# gen_lines clients, for check_stream_shape and check_streams.
pg_stream_stats() {
  local w=$3 out
  out=$(pg_psql "$1" "$2" "
    CREATE TEMP VIEW m AS
      SELECT id, conn_id, seq, p, substr(p, 2, strpos(p, '-') - 2) AS k
      FROM (SELECT id, conn_id, seq, convert_from(payload, 'UTF8') AS p
            FROM messages) r" "
    SELECT
      (SELECT count(*) FROM messages),
      (SELECT count(DISTINCT payload) FROM messages),
      (SELECT count(DISTINCT conn_id) FROM messages),
      (SELECT count(DISTINCT k) FROM m),
      (SELECT coalesce(min(k::bigint), 0) FROM m),
      (SELECT coalesce(max(k::bigint), 0) FROM m),
      (SELECT count(*) FROM (SELECT conn_id FROM m GROUP BY conn_id
                             HAVING count(DISTINCT k) != 1) x),
      (SELECT count(*) FROM (SELECT k FROM m GROUP BY k
                             HAVING count(DISTINCT conn_id) != 1) x),
      (SELECT count(*) FROM m WHERE p IS DISTINCT FROM
         ('c' || k || '-' || seq || '-' ||
          repeat('x', greatest(0, $w - length('c' || k || '-' || seq || '-'))))),
      (SELECT count(*) FROM (SELECT conn_id FROM messages GROUP BY conn_id
                             HAVING min(seq) != 1 OR max(seq) != count(*)
                                 OR count(DISTINCT seq) != count(*)) x),
      (SELECT count(*) FROM (SELECT seq, lag(seq) OVER
                               (PARTITION BY conn_id ORDER BY id) AS prev
                             FROM messages) x
         WHERE prev IS NOT NULL AND seq != prev + 1)") ||
    fail "pg_stream_stats: query failed on $1"
  IFS='|' read -r S_ROWS S_DISTINCT S_CONNS S_KS S_KMIN S_KMAX S_MIXED \
    S_SPLIT S_BAD S_GAPS S_MISORDER <<<"$out"
  note "rows=$S_ROWS distinct=$S_DISTINCT conns=$S_CONNS clients=$S_KS" \
    "[$S_KMIN..$S_KMAX] mixed=$S_MIXED split=$S_SPLIT bad=$S_BAD" \
    "gaps=$S_GAPS misordered=$S_MISORDER"
}

# pg_check_producer DIR DB WHAT ID N: producer ID's messages in DB are
# exactly its lines 1..N (pseq k carries the line "k"), once each, in
# order (ids increase with pseq), and producers.committed is N; WHAT
# names the checks.
pg_check_producer() {
  local dir=$1 db=$2 what=$3 id=$4 n=$5
  check_eq "$what: rows, distinct pseqs, first, last" \
    "$(pg_psql "$dir" "$db" "SELECT count(*), count(DISTINCT pseq), min(pseq),
        max(pseq) FROM producer_messages WHERE producer = '$id'")" "$n|$n|1|$n"
  check_eq "$what: pseq k carries line k" \
    "$(pg_psql "$dir" "$db" "SELECT count(*) FROM producer_messages
        WHERE producer = '$id' AND convert_from(payload, 'UTF8') <> pseq::text")" 0
  check_eq "$what: ids increase with pseq" \
    "$(pg_psql "$dir" "$db" "SELECT count(*) FROM (SELECT id, lag(id) OVER
        (ORDER BY pseq) AS p FROM producer_messages WHERE producer = '$id') x
        WHERE p > id")" 0
  check_eq "$what: producers.committed" \
    "$(pg_psql "$dir" "$db" "SELECT committed FROM producers WHERE name = '$id'")" "$n"
}

# gated_lines K NA NC WIDTH GATE1 GATE2: the lines of client K
# (gen_lines' format, tests/integration/lib.sh): 1..NA at once; after GATE1
# exists, more without end until GATE2 exists (checked every 1000 lines;
# TCP backpressure holds the stream while burstqd cannot commit); then NC
# more.  So a stream is flowing when a test kills its primary, whatever
# the speed.  For `bash -c "$(declare -f gated_lines)"...` pipelines.
gated_lines() { # K NA NC WIDTH GATE1 GATE2
  awk -v k="$1" -v na="$2" -v nc="$3" -v w="$4" -v g1="$5" -v g2="$6" '
    function line(i,  s) { s = "c" k "-" i "-"; return s substr(pad, 1, w - length(s)) }
    function gate(f,  x) { if ((getline x < f) >= 0) { close(f); return 1 } return 0 }
    BEGIN {
      pad = sprintf("%*s", w, ""); gsub(/ /, "x", pad)
      for (i = 1; i <= na; i++) print line(i)
      fflush()
      while (!gate(g1)) system("sleep 0.05")
      while (!gate(g2)) { for (j = 0; j < 1000; j++) print line(i++); fflush() }
      for (j = 0; j < nc; j++) print line(i++)
    }'
}

# --- replication --------------------------------------------------------------------

pg__sync_state() { # PRIMARY NAME
  pg_psql "$1" postgres "SELECT state || ',' || sync_state FROM pg_stat_replication
                         WHERE application_name = '$2'" 2>/dev/null
}
# A synchronous standby streams, sync_state "quorum" under
# ANY 1 (...) (what pg_standby sets), "sync" under a plain name list.
pg__is_sync() {
  case $(pg__sync_state "$1" "$2") in streaming,sync|streaming,quorum) ;; *) return 1 ;; esac
}

pg_standby() {
  local prim sdir port=${3:-} name names
  prim=$(realpath "$1")
  pg_need
  pg__own "$2"
  sdir=$(realpath "$2")
  name=s$(basename "$sdir" | tr -c 'a-zA-Z0-9_\n' _)
  pg__as "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$(pg_port "$prim")" \
    -U postgres -D "$sdir/data" -R -X stream -c fast \
    >"$sdir/basebackup.log" 2>&1 ||
    { cat "$sdir/basebackup.log" >&2; die "pg_basebackup into $sdir failed"; }
  # The standby names itself to the primary (application_name).
  echo "primary_conninfo = 'host=127.0.0.1 port=$(pg_port "$prim") user=postgres application_name=$name'" \
    >>"$sdir/data/postgresql.auto.conf"
  # Promoted, it must not wait for standbys of its old primary.
  echo "synchronous_standby_names = ''" >>"$sdir/data/postgresql.auto.conf"
  rm -f "$sdir/data/postmaster.pid" "$sdir/port"
  pg_start "$sdir" "$port"
  # Every standby of this primary counts: any one of them confirms.
  echo "$name" >>"$prim/standbys"
  names=$(sort -u "$prim/standbys" | paste -sd, -)
  pg_psql "$prim" postgres \
    "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 ($names)'" \
    "ALTER SYSTEM SET synchronous_commit = 'on'" \
    "SELECT pg_reload_conf()" >/dev/null || die "cannot make $name synchronous"
  poll 120 pg__is_sync "$prim" "$name" ||
    die "standby $sdir is not a streaming synchronous standby (state: '$(pg__sync_state "$prim" "$name")')"
  note "postgres $sdir: synchronous standby '$name' of $prim"
}

pg__writable() {
  [ "$(pg_psql "$1" postgres "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]
}

pg_promote() {
  local dir
  dir=$(realpath "$1")
  pg__as "$PG_BINDIR/pg_ctl" -D "$dir/data" -w -t 120 promote \
    >"$dir/promote.out" 2>&1 ||
    { cat "$dir/promote.out" >&2; die "pg_ctl promote $dir failed"; }
  poll 120 pg__writable "$dir" || die "$dir still in recovery after promote"
  note "postgres $dir: promoted"
}

# --- exit ---------------------------------------------------------------------------

# pg_on_exit CMD: at exit, run CMD, then the EXIT trap that was set before
# (lib.sh's bq_cleanup), with the exit status it would have seen.  This
# file registers pg_stop_all; a test may put its own step before that
# (e.g. stopping programs that would restart a cluster).
pg_on_exit() {
  local prev
  prev=$(trap -p EXIT)
  if [ -n "$prev" ]; then
    eval "set -- \"\$1\" ${prev#trap -- }"   # CMD 'PREV' EXIT
    prev=$2
  fi
  # shellcheck disable=SC2064
  trap "pg__rc=\$?; $1; (exit \$pg__rc); ${prev:-:}" EXIT
}
pg_on_exit pg_stop_all
