#!/usr/bin/env bash
# test_dbcheck.sh BURSTQD -- burstqd writes to a database file only after it
# has proven, without writing, that the file is new, empty, or a burstq
# database of a schema version it knows.  Every other file (another
# application's database, a newer or look-alike schema, random bytes, a
# truncated burstq database, a directory, a hot journal) is refused with
# exit status 2 before listening, with a message that says what was found,
# and the file's bytes are left exactly as they were (sha256 before and
# after), with no new file beside it.  The one allowed side effect: when a
# -wal file with committed transactions is present, SQLite's -shm index
# beside it may be created (docs/operations.md).
. "$(dirname "$0")/lib.sh" "$@"

sha() { sha256sum "$1" | cut -d' ' -f1; }

# A burstq database with some messages in it, written by burstqd itself
# and closed cleanly (so it is complete in the main file, in WAL mode).
mkdir real
BQ_DB=$BQ_T/real/bq.db
start_daemon
gen_lines 1 3000 100 >in.real
timeout $((120 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT" <in.real >out.real
stop_daemon
check_eq "seed database: exit status" "$BQ_RC" 0
check_eq "seed database: rows" "$(msg_count)" 3000
check_eq "seed database: no -wal left" "$(ls real | tr '\n' ' ')" "bq.db "
REAL=$BQ_T/real/bq.db

n=0
# refused WHAT FILE ERE: burstqd on FILE (alone in its directory, perhaps
# with a -wal/-journal beside it) exits 2 before listening, says ERE and
# names FILE, and FILE (and a -wal or -journal beside it) is byte for byte
# unchanged; no file appears beside it (a -shm may when a -wal is there).
refused() {
  local what=$1 file=$2 re=$3 dir before after f rc
  n=$((n + 1))
  dir=$(dirname "$file")
  before=$(cd "$dir" && for f in $(ls -A); do
             [ -f "$f" ] && echo "$f $(sha "$f")" || echo "$f (dir)"; done)
  timeout $((60 * BQ_SLOW)) "$BQ_BIN" --listen 127.0.0.1:0 --db "$file" \
    >"refused$n.log" 2>&1
  rc=$?
  check_eq "$what: exit status" "$rc" 2
  check_grep "$what: the message names the file" "refused$n.log" \
    "$(printf '%s' "$file" | sed 's/[.[\*^$]/\\&/g')"
  check_grep "$what: the message says what was found" "refused$n.log" "$re"
  check_no_grep "$what: never listened" "refused$n.log" 'listening on'
  check_sanitizer_log "refused$n.log"
  after=$(cd "$dir" && for f in $(ls -A); do
            case $f in *-shm) [ -e "${f%-shm}-wal" ] && continue ;; esac
            [ -f "$f" ] && echo "$f $(sha "$f")" || echo "$f (dir)"; done)
  before=$(printf '%s\n' "$before" | grep -v -- '-shm ' || true)
  check_eq "$what: the files in its directory and their sha256" \
    "$after" "$before"
}

# 1. Another application's database (rollback journal mode: switching it
#    to WAL would change header bytes 18-19).
mkdir foreign
sqlite3 foreign/other.db 'CREATE TABLE invoices(x); INSERT INTO invoices VALUES (1);'
refused "another application's database" "$BQ_T/foreign/other.db" \
  'not a burstq database.*invoices'

# 2. A newer schema version: a real burstq database, and a bare one.
mkdir newer newer2
cp "$REAL" newer/bq.db
sqlite3 newer/bq.db 'PRAGMA user_version = 6'
refused "a burstq database of a newer schema version" "$BQ_T/newer/bq.db" \
  'schema version 6, newer than this burstqd'
sqlite3 newer2/bq.db 'CREATE TABLE connections(id INTEGER PRIMARY KEY); PRAGMA user_version = 99;'
refused "a rollback-mode database with user_version 99" "$BQ_T/newer2/bq.db" \
  'schema version 99, newer than this burstqd'

# 3. Some other `messages` table alone: refused, and refused again on the
#    next start (nothing was added to it the first time).
mkdir lookalike
sqlite3 lookalike/m.db 'CREATE TABLE messages(id INTEGER PRIMARY KEY, conn_id, seq, received_at, payload)'
refused "another application's messages table" "$BQ_T/lookalike/m.db" \
  'not a burstq database.*messages'
refused "another application's messages table, second start" \
  "$BQ_T/lookalike/m.db" 'not a burstq database.*messages'

# 4. burstq's tables and version, but messages has an extra NOT NULL
#    column (every insert by burstqd would fail).
mkdir extracol
sqlite3 extracol/x.db "$(sql "SELECT sql || ';' FROM sqlite_schema WHERE name = 'connections'" "$REAL")
  CREATE TABLE messages( id INTEGER PRIMARY KEY, conn_id INTEGER NOT NULL, seq INTEGER NOT NULL, received_at INTEGER NOT NULL, payload BLOB NOT NULL, tag TEXT NOT NULL);
  PRAGMA user_version = 5;"
refused "messages with an extra NOT NULL column" "$BQ_T/extracol/x.db" \
  'table messages .*differs from burstq'

# 5. A burstq database with an index added by hand: not the exact schema.
mkdir extraidx
cp "$REAL" extraidx/bq.db
sqlite3 extraidx/bq.db 'CREATE INDEX by_time ON messages(received_at)'
refused "a burstq database with an extra index" "$BQ_T/extraidx/bq.db" \
  'index by_time .*not part of burstq'

# 6. Random bytes, and a file too short to be a database.
mkdir random short
head -c 65536 /dev/urandom >random/r.db
refused "random bytes" "$BQ_T/random/r.db" 'not an SQLite database'
printf 'SQLite format 3\0abc' >short/s.db
refused "a 19-byte file" "$BQ_T/short/s.db" 'too short'

# 7. A real burstq database cut to half its size, and cut mid-page.
mkdir trunc trunc2
size=$(stat -c %s "$REAL")
head -c $((size / 2)) "$REAL" >trunc/bq.db
refused "a burstq database cut to half" "$BQ_T/trunc/bq.db" \
  'is truncated or damaged'
head -c $((size / 2 + 1000)) "$REAL" >trunc2/bq.db
refused "a burstq database cut mid-page" "$BQ_T/trunc2/bq.db" \
  'is truncated or damaged: [0-9]+ bytes is not a whole number'

# 8. A directory.
mkdir -p dir/d.db
refused "a directory" "$BQ_T/dir/d.db" 'is a directory'
check_eq "a directory: nothing created in it" "$(ls -A dir/d.db | wc -l)" 0

# 9. Another application's WAL-mode database whose table exists only in
#    the -wal (its writer died): main file and -wal unchanged.
mkdir hotwal
python3 - hotwal/w.db <<'EOF'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('PRAGMA journal_mode=WAL')
c.execute('PRAGMA wal_autocheckpoint=0')
c.execute('CREATE TABLE ledger(x)')
c.execute('INSERT INTO ledger VALUES (1)')
os._exit(0)  # no checkpoint, no cleanup: the table is only in the -wal
EOF
check_num "hot WAL: the -wal holds the table" "$(stat -c %s hotwal/w.db-wal)" -gt 0
refused "another application's database with a hot WAL" "$BQ_T/hotwal/w.db" \
  'not a burstq database.*ledger'

# 10. A database with a hot rollback journal: proving what it holds would
#     mean rolling the journal back, which is a write.
mkdir hotjournal
python3 - hotjournal/j.db <<'EOF'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('CREATE TABLE t(x)')
c.execute('BEGIN')
c.execute("INSERT INTO t SELECT 'x' FROM (SELECT 1 UNION SELECT 2)")
c.execute('PRAGMA cache_size=1')
c.execute("INSERT INTO t SELECT hex(randomblob(3000)) FROM t, t AS u, t AS v")
os._exit(0)  # mid-transaction: the -journal is hot
EOF
if [ -s hotjournal/j.db-journal ]; then
  refused "a database with a hot rollback journal" "$BQ_T/hotjournal/j.db" \
    'hot rollback journal'
else
  fail "setup: no hot journal was left ($(ls -l hotjournal))"
fi

# 11. A zero-length file beside a leftover -wal: SQLite would delete the
#     -wal, so it is refused too.
mkdir zerowal
: >zerowal/z.db
cp hotwal/w.db-wal zerowal/z.db-wal
refused "a zero-length file with a -wal beside it" "$BQ_T/zerowal/z.db" \
  'zero-length .*-wal'

# --- accepted: these are new, empty or burstq's own ------------------------

# A zero-length file is an empty SQLite database: burstqd adopts it.
mkdir zero
: >zero/z.db
BQ_DB=$BQ_T/zero/z.db
start_daemon
printf 'into the empty file\n' | send zero.out
check_eq "zero-length file: ack" "$(cat zero.out)" "OK 1"
stop_daemon
check_eq "zero-length file: exit status" "$BQ_RC" 0
check_eq "zero-length file: the row" \
  "$(sql 'SELECT CAST(payload AS TEXT) FROM messages')" "into the empty file"
check_eq "zero-length file: schema version" "$(sql 'PRAGMA user_version')" 5

# An empty SQLite database (WAL mode, no schema) is adopted too.
mkdir empty
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA journal_mode=WAL"); c.close()' empty/e.db
check_num "empty database: one page" "$(stat -c %s empty/e.db)" -gt 0
BQ_DB=$BQ_T/empty/e.db
start_daemon
stop_daemon
check_eq "empty database: exit status" "$BQ_RC" 0
check_eq "empty database: schema version" "$(sql 'PRAGMA user_version')" 5

# The real database is still accepted, after all of that, and keeps its rows.
BQ_DB=$REAL
start_daemon
stop_daemon
check_eq "burstq database: exit status" "$BQ_RC" 0
check_eq "burstq database: rows" "$(msg_count)" 3000
