#!/usr/bin/env bash
# test_startfail.sh BURSTQD -- a start that fails creates nothing: when an
# address (any of several --listen) cannot be listened on, or the --db directory is missing or not
# writable, burstqd exits 2 with a message that says why, and leaves no
# database file (nor -wal, -shm, -journal) behind.  A start that succeeds on
# the same path afterwards creates the database as usual.
. "$(dirname "$0")/lib.sh" "$@"

n=0
# fails WHAT ERE DB ARGS...: burstqd --db DB ARGS... exits 2 before
# listening, its message matches ERE, and nothing named DB* exists after.
fails() {
  local what=$1 re=$2 db=$3 rc
  shift 3
  n=$((n + 1))
  timeout $((60 * BQ_SLOW)) "$BQ_BIN" --db "$db" "$@" >"fail$n.log" 2>&1
  rc=$?
  check_eq "$what: exit status" "$rc" 2
  check_grep "$what: says why" "fail$n.log" "$re"
  check_no_grep "$what: never listened" "fail$n.log" 'listening on'
  check_sanitizer_log "fail$n.log"
  check_eq "$what: files created" "$(ls -d "$db"* 2>/dev/null | tr '\n' ' ')" ""
}

# The port is taken (by a burstqd on another database).
mkdir first
BQ_DB=$BQ_T/first/bq.db
start_daemon
fails "port in use" 'cannot listen on 127\.0\.0\.1:[0-9]+: address already in use' \
  "$BQ_T/new.db" --listen "127.0.0.1:$BQ_PORT"
# Several listeners, the last one's port taken: the others were bound
# first and are let go; still nothing is created.
fails "third of three listeners in use" \
  "cannot listen on 127\\.0\\.0\\.1:$BQ_PORT,syslog: address already in use" \
  "$BQ_T/new.db" --listen 127.0.0.1:0 --listen 127.0.0.1:0,syslog \
  --listen "127.0.0.1:$BQ_PORT,syslog"
# The metrics port is taken: the HTTP listener fails after the TCP one.
fails "metrics port in use" 'address already in use' \
  "$BQ_T/new.db" --listen 127.0.0.1:0 --metrics "127.0.0.1:$BQ_PORT"
stop_daemon
check_eq "first daemon: exit status" "$BQ_RC" 0

# An address that is not local (TEST-NET-1).
fails "address not local" 'cannot listen on 192\.0\.2\.1:7070' \
  "$BQ_T/new.db" --listen 192.0.2.1:7070

# The directory does not exist: said so, and no directory is made either.
fails "missing directory" \
  "--db $BQ_T/nonexistent/dir/x\\.db: directory $BQ_T/nonexistent/dir does not exist" \
  "$BQ_T/nonexistent/dir/x.db" --listen 127.0.0.1:0
check_eq "missing directory: not created" "$(ls -d "$BQ_T/nonexistent" 2>/dev/null)" ""
# A path through a regular file.
: >plainfile
fails "directory is a file" "--db $BQ_T/plainfile/x\\.db: $BQ_T/plainfile is not a directory" \
  "$BQ_T/plainfile/x.db" --listen 127.0.0.1:0

# A directory this user cannot write to.  root may write anywhere, so as
# root burstqd runs as nobody (setpriv), in a directory nobody can reach.
mkdir -p ro
chmod 755 "$BQ_T" ro
chmod 555 ro
as_user=()
if [ "$(id -u)" = 0 ]; then
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
n=$((n + 1))
timeout $((60 * BQ_SLOW)) "${as_user[@]}" "$BQ_BIN" --db "$BQ_T/ro/x.db" \
  --listen 127.0.0.1:0 >"fail$n.log" 2>&1
check_eq "read-only directory: exit status" "$?" 2
check_grep "read-only directory: says why" "fail$n.log" \
  "--db $BQ_T/ro/x\\.db: cannot create the database in directory $BQ_T/ro: Permission denied"
check_no_grep "read-only directory: never listened" "fail$n.log" 'listening on'
check_eq "read-only directory: files created" "$(ls -A ro | wc -l)" 0
chmod 755 ro

# The same path works once the address is usable, and the file is created.
BQ_DB=$BQ_T/new.db
start_daemon
printf 'hello\n' | timeout 60 nc -N 127.0.0.1 "$BQ_PORT" >ok.out
check_eq "new database: ack" "$(cat ok.out)" "OK 1"
stop_daemon
check_eq "new database: exit status" "$BQ_RC" 0
check_eq "new database: rows" "$(msg_count)" 1
