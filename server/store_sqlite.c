/*
 * store_sqlite.c -- the SQLite backend of store.h.
 *
 * Owns one sqlite3 connection and its prepared statements, and the
 * checkpointer (checkpoint.h).  Threads: checked, opened and closed on the
 * main thread; append() runs on whichever worker holds the queue's writer
 * token, one at a time (caps.concurrent_appends is 0), so the connection is
 * opened with SQLITE_OPEN_NOMUTEX and the process runs SQLite in
 * multi-thread mode.  size() stat()s the files and may run anywhere.
 * SQLite's result codes never leave this file: translate() maps them onto
 * enum bq_store_err.
 *
 * Durability at --sync full (caps.deferred_sync): the writing connection
 * runs at synchronous=NORMAL, so a COMMIT appends its frames to the WAL
 * and returns without a flush, and sync() (the pool's syncer thread)
 * fdatasync()s the WAL through a descriptor of its own, beside the next
 * transaction.  A flush covers every frame written before it began, so
 * once it returns every batch committed before it is as durable as
 * synchronous=FULL would have made it; one flush covers all the batches
 * committed while the previous one ran.  Frames a checkpoint has copied
 * may be overwritten when the WAL rewinds; SQLite rewinds only after the
 * checkpoint has flushed the database file, so a batch is durable in one
 * place or the other.  Until the flush, a power loss can take the batch
 * (never a part of it: recovery keeps the WAL's frames up to the last
 * whole commit whose checksums chain), and nothing acked.
 *
 * Writeback at --sync normal: COMMIT writes its frames into the page cache
 * and nothing flushes them until a checkpoint's first fsync of the WAL,
 * which then writes everything appended since the last one (tens of MB
 * at large messages) while the checkpoint, background or the writer's
 * inline copy, waits.  So each time the WAL has grown by
 * BQ_CKPT_WRITEBACK_BYTES since the last time, the writer asks the kernel
 * to start writing the WAL's dirty pages (sync_file_range
 * SYNC_FILE_RANGE_WRITE: it submits the writes and returns without
 * waiting for them), and the checkpoint's fsync finds them written or
 * under way.  The hint is owed work of settle() (store.h), so it runs
 * after the batch's completion is posted and never delays an ack.  A
 * hint, not a flush: it promises nothing about durability; the
 * checkpoint's fsync still reports a write error.  docs/architecture.md,
 * "Message sizes", has what it bought.  --sync full needs no hint (sync()
 * flushes after every commit), and off flushes nothing on purpose.
 *
 * Schema (user_version 5):
 *   connections(id INTEGER PRIMARY KEY, peer TEXT NOT NULL,
 *               opened_at INTEGER NOT NULL, closed_at INTEGER,
 *               listener TEXT, tls_subject TEXT, producer INTEGER,
 *               pseq_base INTEGER)
 *   messages(id INTEGER PRIMARY KEY, conn_id INTEGER NOT NULL,
 *            seq INTEGER NOT NULL, received_at INTEGER NOT NULL,
 *            payload BLOB NOT NULL, producer INTEGER, pseq INTEGER)
 *   producers(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
 *            committed INTEGER NOT NULL, created_at INTEGER NOT NULL,
 *            updated_at INTEGER NOT NULL)
 *   VIEW producer_messages: a producer's messages, with its name and pseq
 *   syslog_headers(message_id INTEGER PRIMARY KEY, facility INTEGER,
 *            severity INTEGER, log_time TEXT, hostname TEXT,
 *            app_name TEXT, procid TEXT, msgid TEXT,
 *            truncated INTEGER NOT NULL)
 *   VIEW syslog_messages: messages joined with their syslog_headers row
 * messages.id is the rowid: each insert takes max(id) + 1, so ids grow in
 * commit order, and batches commit in queue order (queue.h).  A message of
 * a syslog listener also gets a syslog_headers row (message_id = its id),
 * its header parsed here, on the worker, by common/syslog.h: NULL where a
 * field is absent.  The parsed fields live in a table of their own, not in
 * messages, so that rows of acked listeners carry no columns they never
 * use (eight NULL columns cost every message a tenth more SQLite work and
 * 6% more pages).  connections.tls_subject is the client certificate's
 * subject (RFC 2253) on a TLS listener with --tls-client-ca, NULL
 * otherwise.
 *
 * Producers (docs/protocol.md, "Producers"): a producer connection's row
 * holds its producer (producers.id) and pseq_base, the producer's
 * committed count when its HELLO was written; each of its stored messages
 * has pseq = pseq_base + seq (the loop numbers a producer connection's
 * stored lines from 1 on, after the duplicates it skips: conn.c), so
 * nothing producer-specific is stored per message and a producer message
 * costs SQLite what a plain one does (two bound columns more per row cost
 * the writer, the bottleneck, 8% of its instructions).  The view
 * producer_messages computes producer and pseq.  messages.producer and
 * messages.pseq are those of rows written by version 4, which stored them
 * per row; the view takes them where they are set, and rows written since
 * leave them NULL.  producers.committed is the producer's highest pseq,
 * updated in the transaction that stores the rows (store.h), so a HELLO
 * record reads the exact count back.  No index on (producer, pseq):
 * checking a producer for gaps scans messages (docs/operations.md), and
 * the index would cost every producer message its upkeep.
 *
 * Versions: version 1 is the first two tables without connections.listener.
 * Version v (2..5) is version v-1 plus the statements of migrate_sql[v],
 * in a new database as well as in a migrated one, so that both hold the
 * same CREATE text and the exact-schema comparison has one form per
 * version.  A database of an older version is accepted by the check and
 * migrated in place by open (one transaction, user_version included).
 *
 * Retention (retention.h): with a --retain-* limit, append() runs
 * retention_sqlite.c's pass right after BEGIN (so the batch reuses the
 * pages it frees), a batch refused as full commits a pass of its own
 * before the retry, and retain() is the idle pass.  No schema change: a
 * database of any version is retained as it is.
 *
 * Opening never writes to a file it has not first proven, read-only, to be
 * new, empty, or exactly this schema (bq_store_sqlite_check, store.h);
 * the check and the schema comparison are self-contained below.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "waits.h"
#include "log.h"
#include "retention.h"
#include "syslog.h"

#define SCHEMA_VERSION 5
#define BQ_STR_(x) #x
#define BQ_STR(x) BQ_STR_(x)

/* Messages per multi-row INSERT.  One statement execution carries this many
 * rows, so SQLite's per-statement work (step, cursor open, halt, reset) is
 * paid once for all of them instead of once per row.  That work is about a
 * third of the instructions spent on a row inserted alone (callgrind, with
 * tests/bench), and 32 rows already amortise most of it. */
#define MULTI_ROWS 32

/* How long SQLite itself sleeps-and-retries on a lock before reporting
 * SQLITE_BUSY to the worker, which then backs off on its own terms. */
#define BUSY_TIMEOUT_MS 100

/* How long the read-only check waits for a lock held by another program
 * (only files read through their -wal or -journal take locks at all). */
#define CHECK_BUSY_TIMEOUT_MS 5000

struct sqlite_store {
  struct bq_store base; /* first: the generic handle */
  sqlite3 *db;
  int lock_fd;          /* holds the flock(); closed after the database */
  sqlite3_stmt *begin, *commit, *rollback;
  sqlite3_stmt *ins_msg, *ins_conn, *upd_conn;
  sqlite3_stmt *ins_hdr;   /* its syslog_headers row, after ins_msg */
  sqlite3_stmt *ins_msgs;  /* MULTI_ROWS messages in one INSERT */
  sqlite3_stmt *ins_run;   /* the same for a run (run_insert) */
  sqlite3_stmt *ins_prod, *sel_prod;  /* a HELLO: find or create the row, */
  sqlite3_stmt *upd_cprod; /* and record it in the connection's row */
  sqlite3_stmt *upd_prod;  /* advance committed, checking contiguity */
  char detail[160];        /* a failure found here, not by SQLite */
  const struct bq_log *log; /* may be NULL */
  struct bq_ckpt ckpt;  /* background checkpoints (checkpoint.h) */
  int ckpt_running;     /* ckpt started and not yet stopped */
  uint64_t max_db_bytes; /* --max-db-size, 0 for none */
  struct bq_retain_sqlite *retain;     /* NULL: keep everything */
  struct bq_retain_stats *retain_stats; /* may be NULL */
  struct bq_waits *waits; /* may be NULL: txn_* (waits.h) not recorded */
  char *path;           /* the database file; path + "-wal" is its WAL */
  int wal_fd;           /* --sync full and normal: the WAL (open_wal),
                           or -1; between open and close the syncer's
                           alone at full, the writer's at normal */
  int writeback_pages;  /* --sync normal: BQ_CKPT_WRITEBACK_BYTES in
                           pages; 0 at off and full (no hints) */
  int wal_pages;        /* the WAL's frames after the last commit (the
                           wal hook); writer only */
  int hinted_pages;     /* wal_pages at the last writeback hint */
};

/* Version 1, exactly as that release created it. */
static const char schema_v1_sql[] =
    "CREATE TABLE IF NOT EXISTS connections("
    " id INTEGER PRIMARY KEY,"
    " peer TEXT NOT NULL,"
    " opened_at INTEGER NOT NULL,"
    " closed_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS messages("
    " id INTEGER PRIMARY KEY,"
    " conn_id INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " received_at INTEGER NOT NULL,"
    " payload BLOB NOT NULL);";

/* Version 1 -> 2: the listener of each connection, and the parsed headers
 * of syslog messages. */
static const char migrate_v2_sql[] =
    "ALTER TABLE connections ADD COLUMN listener TEXT;"
    "CREATE TABLE syslog_headers("
    " message_id INTEGER PRIMARY KEY,"
    " facility INTEGER,"
    " severity INTEGER,"
    " log_time TEXT,"
    " hostname TEXT,"
    " app_name TEXT,"
    " procid TEXT,"
    " msgid TEXT,"
    " truncated INTEGER NOT NULL);"
    "CREATE VIEW syslog_messages AS"
    " SELECT m.id AS id, m.conn_id AS conn_id, m.seq AS seq,"
    " m.received_at AS received_at, m.payload AS payload,"
    " h.facility AS facility, h.severity AS severity,"
    " h.log_time AS log_time, h.hostname AS hostname,"
    " h.app_name AS app_name, h.procid AS procid, h.msgid AS msgid,"
    " h.truncated AS truncated"
    " FROM messages AS m JOIN syslog_headers AS h ON h.message_id = m.id;";

/* Version 2 -> 3: the client certificate's subject (mutual TLS). */
static const char migrate_v3_sql[] =
    "ALTER TABLE connections ADD COLUMN tls_subject TEXT;";

/* Version 3 -> 4: producers (exactly once). */
static const char migrate_v4_sql[] =
    "CREATE TABLE producers("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " committed INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "ALTER TABLE messages ADD COLUMN producer INTEGER;"
    "ALTER TABLE messages ADD COLUMN pseq INTEGER;"
    "CREATE VIEW producer_messages AS"
    " SELECT p.name AS producer, m.pseq AS pseq, m.id AS id,"
    " m.conn_id AS conn_id, m.received_at AS received_at,"
    " m.payload AS payload"
    " FROM messages AS m JOIN producers AS p ON p.id = m.producer;";

/* Version 4 -> 5: a producer connection's producer and pseq_base in its
 * connections row instead of producer and pseq in each message's (see the
 * design block); rows of version 4 keep theirs, and the view takes them
 * where they are set.  messages is the view's outer table (a LEFT JOIN is
 * never reordered), so a query by producer scans messages once and looks
 * each row's connection and producer up by rowid. */
static const char migrate_v5_sql[] =
    "ALTER TABLE connections ADD COLUMN producer INTEGER;"
    "ALTER TABLE connections ADD COLUMN pseq_base INTEGER;"
    "DROP VIEW producer_messages;"
    "CREATE VIEW producer_messages AS"
    " SELECT p.name AS producer, coalesce(m.pseq, c.pseq_base + m.seq) AS pseq,"
    " m.id AS id, m.conn_id AS conn_id, m.received_at AS received_at,"
    " m.payload AS payload"
    " FROM messages AS m LEFT JOIN connections AS c ON c.id = m.conn_id"
    " JOIN producers AS p ON p.id = coalesce(m.producer, c.producer);";

/* migrate_sql[v] brings version v-1 to v (0: nothing, to version 1). */
static const char *const migrate_sql[SCHEMA_VERSION + 1] = {
    NULL,           schema_v1_sql,  migrate_v2_sql,
    migrate_v3_sql, migrate_v4_sql, migrate_v5_sql};

/* Bring a database at version from (0: empty) to version to, inside the
 * caller's transaction (or on a reference database).  The steps are the
 * same for a new database as for an old one (see the design block). */
static int upgrade_to(sqlite3 *db, int from, int to) {
  int rc = SQLITE_OK;
  assert(from >= 0 && to <= SCHEMA_VERSION);
  for (int v = from + 1; v <= to && rc == SQLITE_OK; v++)
    rc = sqlite3_exec(db, migrate_sql[v], NULL, NULL, NULL);
  return rc;
}

static int upgrade(sqlite3 *db, int v) {
  int rc = upgrade_to(db, v, SCHEMA_VERSION);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "PRAGMA user_version = " BQ_STR(SCHEMA_VERSION),
                      NULL, NULL, NULL);
  return rc;
}

/* SQLite's result code as the store's neutral error (store.h).  The
 * retryable ones are those that can clear up while the daemon waits: a lock
 * released, space freed, descriptors closed, permissions restored. */
static int translate(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:     /* another process holds the write lock */
    case SQLITE_LOCKED:
      return -BQ_STORE_BUSY;
    case SQLITE_FULL:     /* disk, quota or max_page_count */
      return -BQ_STORE_FULL;
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN: /* e.g. out of descriptors for the WAL */
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY: /* permissions changed under us */
    case SQLITE_INTERRUPT:
      return -BQ_STORE_IO;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return -BQ_STORE_CORRUPT;
    case SQLITE_CONSTRAINT:
      return -BQ_STORE_CONSTRAINT;
    default:              /* TOOBIG, MISMATCH, ... */
      return -BQ_STORE_FAILED;
  }
}

/* Describe a failure as "what: message", adding SQLite's generic text for
 * the code when the message is more specific.  Returns translate(rc). */
static int fail(sqlite3 *db, int rc, const char *what, char *err,
                size_t errlen) {
  const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const char *gen = sqlite3_errstr(rc);
  if (strcmp(msg, gen) == 0)
    snprintf(err, errlen, "%s: %s", what, msg);
  else
    snprintf(err, errlen, "%s: %s (%s)", what, msg, gen);
  return translate(rc);
}

/* Process-wide SQLite setup, once, before the first SQLite call (and so
 * before the workers start): memory statistics off (a global mutex on
 * every allocation otherwise) and multi-thread mode (connections are never
 * shared concurrently).  Returns 0 or a negated enum bq_store_err. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;
static char backend_name[48]; /* "sqlite VERSION" (struct bq_store.backend) */

static void global_init_once(void) {
  int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  if (rc == SQLITE_OK) rc = sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
  if (rc == SQLITE_OK) rc = sqlite3_initialize();
  snprintf(backend_name, sizeof(backend_name), "sqlite %s",
           sqlite3_libversion());
  global_rc = rc;
}

static int global_init(char *err, size_t errlen) {
  pthread_once(&global_once, global_init_once);
  if (global_rc == SQLITE_OK) return 0;
  return fail(NULL, global_rc, "cannot initialise SQLite", err, errlen);
}

static int exec(sqlite3 *db, const char *sql, const char *what, char *err,
                size_t errlen) {
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) return fail(db, rc, what, err, errlen);
  return 0;
}

/* Run a one-row, one-column query returning an integer or text into buf. */
static int query1(sqlite3 *db, const char *sql, sqlite3_int64 *iv, char *buf,
                  size_t buflen) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    if (iv) *iv = sqlite3_column_int64(st, 0);
    if (buf) {
      const unsigned char *t = sqlite3_column_text(st, 0);
      snprintf(buf, buflen, "%s", t ? (const char *)t : "");
    }
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return rc;
}

static void finalize_all(struct sqlite_store *s) {
  sqlite3_finalize(s->begin);
  sqlite3_finalize(s->commit);
  sqlite3_finalize(s->rollback);
  sqlite3_finalize(s->ins_msg);
  sqlite3_finalize(s->ins_conn);
  sqlite3_finalize(s->upd_conn);
  sqlite3_finalize(s->ins_msgs);
  sqlite3_finalize(s->ins_hdr);
  sqlite3_finalize(s->ins_prod);
  sqlite3_finalize(s->sel_prod);
  sqlite3_finalize(s->upd_cprod);
  sqlite3_finalize(s->upd_prod);
  sqlite3_finalize(s->ins_run);
  s->begin = s->commit = s->rollback = NULL;
  s->ins_msg = s->ins_conn = s->upd_conn = s->ins_msgs = s->ins_hdr = NULL;
  s->ins_run = s->ins_prod = s->sel_prod = s->upd_cprod = s->upd_prod = NULL;
  bq_retain_sqlite_close(s->retain);
  s->retain = NULL;
}

static int sqlite_append(struct bq_store *base, struct bq_rec *batch,
                         char *err, size_t errlen);
static uint64_t sqlite_size(struct bq_store *base);
static int sqlite_close(struct bq_store *base, char *err, size_t errlen);
static int sqlite_retain(struct bq_store *base, int *more, char *err,
                         size_t errlen);

static int sqlite_settle_owed(struct bq_store *base);
static void sqlite_settle(struct bq_store *base);
static int sqlite_sync(struct bq_store *base, char *err, size_t errlen);

static const struct bq_store_ops sqlite_ops = {
    .append = sqlite_append,
    .size = sqlite_size,
    .close = sqlite_close,
    .retain = sqlite_retain,
    .settle_owed = sqlite_settle_owed,
    .settle = sqlite_settle};

/* --sync full: the same, and sync() makes the commits durable. */
static const struct bq_store_ops sqlite_ops_deferred = {
    .append = sqlite_append,
    .size = sqlite_size,
    .close = sqlite_close,
    .retain = sqlite_retain,
    .settle_owed = sqlite_settle_owed,
    .settle = sqlite_settle,
    .sync = sqlite_sync};

/* SQLite's wal hook on the writing connection: runs inside each commit
 * with the number of pages now in the WAL.  Hands checkpoints to the
 * checkpointer; past the hard bound, owes an inline copy to
 * sqlite_settle() (checkpoint.h says why). */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name,
                         int pages) {
  struct sqlite_store *s = arg;
  (void)db;
  (void)name;
  s->wal_pages = pages;
  bq_ckpt_on_commit(&s->ckpt, pages);
  return SQLITE_OK;
}

/* The WAL's path: s->path and "-wal" into out (size len).  Returns 0, or
 * -ENAMETOOLONG when it does not fit. */
static int wal_path(const struct sqlite_store *s, char *out, size_t len) {
  int n = snprintf(out, len, "%s-wal", s->path);
  return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Flush the directory that holds path, so that a file just created in it
 * stays named after a power loss.  Returns 0 or -errno. */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[PATH_MAX];
  int fd, r = 0;
  if (slash == NULL) {
    snprintf(dir, sizeof(dir), ".");
  } else if ((size_t)(slash - path) + 1 >= sizeof(dir)) {
    return -ENAMETOOLONG;
  } else {
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (fsync(fd) != 0) r = -errno;
  close(fd);
  return r;
}

/* Open the WAL into s->wal_fd and flush its directory (the WAL may be new
 * since the directory's last flush).  Returns 0, or a negated enum
 * bq_store_err with err; -BQ_STORE_IO with errno ENOENT when there is no
 * WAL yet. */
static int open_wal(struct sqlite_store *s, char *err, size_t errlen) {
  char wal[PATH_MAX + 8];
  int r;
  assert(s->wal_fd < 0);
  if (wal_path(s, wal, sizeof(wal)) < 0) {
    snprintf(err, errlen, "the WAL's path is too long");
    errno = ENAMETOOLONG;
    return -BQ_STORE_IO;
  }
  s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
  if (s->wal_fd < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot open %s to flush it: %s", wal,
             strerror(e));
    errno = e;
    return -BQ_STORE_IO;
  }
  r = sync_dir(s->path);
  if (r < 0) {
    snprintf(err, errlen, "cannot flush the database's directory: %s",
             strerror(-r));
    close(s->wal_fd);
    s->wal_fd = -1;
    errno = -r;
    return -BQ_STORE_IO;
  }
  return 0;
}

/* s->wal_fd, open on the WAL: returns 0, or what open_wal() returns.  The
 * WAL is opened with the store (open_wal), so that a flush or a hint
 * needs no new descriptor, and keeps its inode while the writing
 * connection is open (SQLite deletes it only when the last connection
 * closes); a WAL found unlinked all the same is opened again by name.
 * SQLite takes no locks on the -wal file, so this descriptor cannot drop
 * any of SQLite's POSIX locks when it closes. */
static int wal_ready(struct sqlite_store *s, char *err, size_t errlen) {
  struct stat st;

  if (s->wal_fd >= 0 && fstat(s->wal_fd, &st) == 0 && st.st_nlink == 0) {
    close(s->wal_fd);
    s->wal_fd = -1;
  }
  return s->wal_fd < 0 ? open_wal(s, err, errlen) : 0;
}

/* store.h, sync: fdatasync() of the WAL (wal_ready() above). */
static int sqlite_sync(struct bq_store *base, char *err, size_t errlen) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  int r = wal_ready(s, err, errlen);

  if (r < 0) return r;
  if (fdatasync(s->wal_fd) != 0) {
    int e = errno;
    snprintf(err, errlen, "cannot flush the WAL: %s", strerror(e));
    return e == ENOSPC || e == EDQUOT ? -BQ_STORE_FULL : -BQ_STORE_IO;
  }
  return 0;
}

/* Whether a writeback hint is owed (see the design block): at --sync
 * normal, the WAL has grown by writeback_pages since the last hint, or
 * holds that many since it rewound.  Writer only. */
static int writeback_owed(const struct sqlite_store *s) {
  int since = s->wal_pages >= s->hinted_pages
                  ? s->wal_pages - s->hinted_pages
                  : s->wal_pages; /* rewound: every frame is new */
  return s->writeback_pages > 0 && since >= s->writeback_pages;
}

/* Start writing the WAL's dirty pages.  Writer only.  A failure is
 * ignored: this is a hint, and the checkpoint's fsync of the WAL reports
 * a write error. */
static void writeback(struct sqlite_store *s) {
  char err[128];
  s->hinted_pages = s->wal_pages;
  if (wal_ready(s, err, sizeof(err)) == 0)
    (void)sync_file_range(s->wal_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

static int sqlite_settle_owed(struct bq_store *base) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  return writeback_owed(s) || (s->ckpt_running && bq_ckpt_owed(&s->ckpt));
}

/* The hint first: an inline copy begins with an fsync of the WAL. */
static void sqlite_settle(struct bq_store *base) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  if (writeback_owed(s)) writeback(s);
  if (s->ckpt_running) bq_ckpt_settle(&s->ckpt, s->db);
}

/* ---- what is at the path: the read-only check ---------------------------
 *
 * bq_store_sqlite_check() below decides whether burstqd may write to a
 * file at all, and bq_store_open_sqlite() runs it before its first write.
 * The schema test itself (classify()) runs three times: on the check's
 * read-only connection, on the writing connection once the file is locked
 * and before the switch to WAL, and inside the transaction that would
 * create the schema, so a file changed in between is still refused. */

enum { FOUND_EMPTY = BQ_STORE_EMPTY, FOUND_BURSTQ = BQ_STORE_BURSTQ };

/* The objects of each schema version this build knows, as SQLite records
 * them: ref[v] is an in-memory database holding version v (ref[0] unused),
 * to compare a file's against. */
struct refs {
  sqlite3 *v[SCHEMA_VERSION + 1];
};

static void close_refs(struct refs *ref) {
  for (int v = 0; v <= SCHEMA_VERSION; v++) sqlite3_close(ref->v[v]);
  memset(ref, 0, sizeof(*ref));
}

static int reference_schema(struct refs *ref, char *err, size_t errlen) {
  int rc = SQLITE_OK;
  memset(ref, 0, sizeof(*ref));
  for (int v = 1; v <= SCHEMA_VERSION && rc == SQLITE_OK; v++) {
    rc = sqlite3_open_v2(":memory:", &ref->v[v],
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) rc = upgrade_to(ref->v[v], 0, v);
    if (rc != SQLITE_OK)
      fail(ref->v[v], rc, "cannot build the reference schema", err, errlen);
  }
  if (rc != SQLITE_OK) close_refs(ref);
  return rc;
}

/* Statistics tables written by ANALYZE change no behaviour: ignored. */
#define SCHEMA_ROWS                                                      \
  "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT IN " \
  "('sqlite_stat1', 'sqlite_stat4') ORDER BY name"

static const char *col(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? (const char *)t : "";
}

/* Compare db's schema objects with ref's, row by row in name order: type,
 * name, table and the exact CREATE text.  Returns 0 when they are the
 * same, 1 with the first difference described in err, or a SQLite error
 * code from reading db. */
static int schema_diff(sqlite3 *db, sqlite3 *ref, char *err, size_t errlen) {
  sqlite3_stmt *a = NULL, *b = NULL;
  int ra, rb, rc, diff = 0;

  rc = sqlite3_prepare_v2(db, SCHEMA_ROWS, -1, &a, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(ref, SCHEMA_ROWS, -1, &b, NULL);
  if (rc != SQLITE_OK) goto out;
  ra = sqlite3_step(a);
  rb = sqlite3_step(b);
  while (!diff && (ra == SQLITE_ROW || rb == SQLITE_ROW)) {
    int c = ra != SQLITE_ROW ? 1 : rb != SQLITE_ROW ? -1
                                  : strcmp(col(a, 1), col(b, 1));
    if (c < 0) {
      snprintf(err, errlen, "%s %s%s%s is not part of burstq's schema",
               col(a, 0), col(a, 1), strcmp(col(a, 0), "table") ? " on " : "",
               strcmp(col(a, 0), "table") ? col(a, 2) : "");
      diff = 1;
    } else if (c > 0) {
      snprintf(err, errlen, "%s %s of burstq's schema is missing", col(b, 0),
               col(b, 1));
      diff = 1;
    } else if (strcmp(col(a, 0), col(b, 0)) != 0 ||
               strcmp(col(a, 2), col(b, 2)) != 0 ||
               strcmp(col(a, 3), col(b, 3)) != 0) {
      snprintf(err, errlen, "%s %s differs from burstq's: %s", col(a, 0),
               col(a, 1), col(a, 3));
      diff = 1;
    } else {
      ra = sqlite3_step(a);
      rb = sqlite3_step(b);
    }
  }
  if (!diff && ra != SQLITE_DONE) rc = ra;
out:
  sqlite3_finalize(a);
  sqlite3_finalize(b);
  return rc != SQLITE_OK ? rc : diff;
}

/* Name what failed to read, in terms an operator can act on. */
static int read_failed(sqlite3 *db, int rc, const char *path, char *err,
                       size_t errlen) {
  switch (rc) {
    case SQLITE_READONLY_ROLLBACK:
      snprintf(err, errlen,
               "has a hot rollback journal (%s-journal) left by a program "
               "that stopped in the middle of a write; burstqd does not roll "
               "back a file it has not proven to be its own (open it once "
               "with sqlite3 if the database is yours)",
               path);
      return -EPROTO;
    case SQLITE_NOTADB:
      snprintf(err, errlen, "is not an SQLite database (SQLite: %s)",
               sqlite3_errmsg(db));
      return -EPROTO;
    default:
      if ((rc & 0xff) == SQLITE_CORRUPT) {
        snprintf(err, errlen,
                 "is truncated or damaged (SQLite: %s); refusing to use it",
                 sqlite3_errmsg(db));
        return -EPROTO;
      }
      return fail(db, rc, "cannot read it", err, errlen);
  }
}

/* What the database open on db holds: FOUND_EMPTY (no schema objects, no
 * version, no application id), FOUND_BURSTQ (exactly burstq's schema at
 * one of the versions this build knows, set in *found_version), or a
 * negative value with what was found in err.  Only reads. */
static int classify(sqlite3 *db, const struct refs *ref, const char *path,
                    int *found_version, char *err, size_t errlen) {
  sqlite3_int64 version = 0, appid = 0, objects = 0;
  char names[160] = "";
  int rc;

  rc = query1(db, "PRAGMA user_version", &version, NULL, 0);
  if (rc == SQLITE_OK)
    rc = query1(db, "PRAGMA application_id", &appid, NULL, 0);
  if (rc == SQLITE_OK)
    rc = query1(db,
                "SELECT count(*) FROM sqlite_schema WHERE name NOT IN "
                "('sqlite_stat1', 'sqlite_stat4')",
                &objects, NULL, 0);
  if (rc == SQLITE_OK)
    rc = query1(db,
                "SELECT group_concat(type || ' ' || name, ', ') FROM "
                "(SELECT type, name FROM sqlite_schema ORDER BY type = "
                "'table' DESC, name LIMIT 4)",
                NULL, names, sizeof(names));
  if (rc != SQLITE_OK) return read_failed(db, rc, path, err, errlen);
  if (appid != 0) {
    snprintf(err, errlen,
             "is not a burstq database: its application_id is %lld (another "
             "application's file format)",
             (long long)appid);
    return -EPROTO;
  }
  if (version > SCHEMA_VERSION) {
    snprintf(err, errlen,
             "is a database of schema version %lld, newer than this burstqd "
             "understands (%d)",
             (long long)version, SCHEMA_VERSION);
    return -EPROTO;
  }
  *found_version = (int)version;
  if (version == 0 && objects == 0) return FOUND_EMPTY;
  if (version < 1) {
    snprintf(err, errlen,
             "is not a burstq database: it holds %s%s and its schema "
             "version (user_version) is %lld, not burstq's %d",
             names, objects > 4 ? ", ..." : "", (long long)version,
             SCHEMA_VERSION);
    return -EPROTO;
  }
  {
    char what[400];
    rc = schema_diff(db, ref->v[version], what, sizeof(what));
    if (rc == 1) {
      snprintf(err, errlen,
               "has burstq's schema version %lld but not its exact schema: %s",
               (long long)version, what);
      return -EPROTO;
    }
    if (rc != SQLITE_OK) return read_failed(db, rc, path, err, errlen);
  }
  /* The tables' last pages: a file cut short usually fails here, not
   * only on a later insert. */
  rc = query1(db, "SELECT max(id) FROM messages", NULL, NULL, 0);
  if (rc == SQLITE_OK)
    rc = query1(db, "SELECT max(id) FROM connections", NULL, NULL, 0);
  if (rc != SQLITE_OK) return read_failed(db, rc, path, err, errlen);
  return FOUND_BURSTQ;
}

/* dir gets the directory part of path ("." for a bare name). */
static void dir_of(const char *path, char *dir, size_t dirlen) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    snprintf(dir, dirlen, ".");
  else if (slash == path)
    snprintf(dir, dirlen, "/");
  else
    snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
}

static int exists(const char *path, const char *suffix, off_t *size) {
  char p[PATH_MAX + 16];
  struct stat sb;
  snprintf(p, sizeof(p), "%s%s", path, suffix);
  if (stat(p, &sb) != 0) return 0;
  if (size) *size = sb.st_size;
  return 1;
}

/* A file: URI for path with query (SQLite decodes %HH in the path). */
static void file_uri(char *out, size_t outlen, const char *path,
                     const char *query) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = (size_t)snprintf(out, outlen, path[0] == '/' ? "file://" : "file:");
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || strchr("/._-~", *p) != NULL;
    if (o + 4 >= outlen) break;
    if (plain) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  snprintf(out + o, outlen - o, "?%s", query);
}

int bq_store_sqlite_check(const char *path, struct bq_store_check *out,
                          char *err, size_t errlen) {
  char dir[PATH_MAX], uri[3 * PATH_MAX + 32];
  unsigned char hdr[100];
  struct stat sb;
  struct refs ref;
  sqlite3 *db = NULL;
  unsigned page;
  off_t wal = 0, journal = 0;
  int fd, rc, r, version = 0;

  memset(out, 0, sizeof(*out));
  r = global_init(err, errlen);
  if (r < 0) return r;
  out->backend = backend_name;
  if (strlen(path) >= PATH_MAX) {
    snprintf(err, errlen, "the path is too long");
    return -ENAMETOOLONG;
  }
  rc = reference_schema(&ref, err, errlen);
  if (rc != SQLITE_OK) return translate(rc);
  /* A payload shares the row with a few integers; leave them room.  The
   * limit is the same on every connection of this process. */
  {
    int lim = sqlite3_limit(ref.v[1], SQLITE_LIMIT_LENGTH, -1);
    out->max_payload = lim > 1024 ? (size_t)lim - 1024 : 0;
  }
  dir_of(path, dir, sizeof(dir));

  if (stat(path, &sb) != 0) {
    struct stat db_dir;
    r = -errno;
    if (r != -ENOENT && r != -ENOTDIR) {
      snprintf(err, errlen, "cannot look at the file: %s", strerror(-r));
      goto done;
    }
    if (stat(dir, &db_dir) != 0) {
      r = -errno;
      if (r == -ENOENT)
        snprintf(err, errlen, "directory %s does not exist", dir);
      else
        snprintf(err, errlen, "cannot look at directory %s: %s", dir,
                 strerror(-r));
      goto done;
    }
    if (!S_ISDIR(db_dir.st_mode)) {
      snprintf(err, errlen, "%s is not a directory", dir);
      r = -ENOTDIR;
      goto done;
    }
    if (access(dir, W_OK | X_OK) != 0) {
      r = -errno;
      snprintf(err, errlen, "cannot create the database in directory %s: %s",
               dir, strerror(-r));
      goto done;
    }
    out->found = BQ_STORE_NEW;
    r = 0;
    goto done;
  }
  if (S_ISDIR(sb.st_mode)) {
    snprintf(err, errlen, "is a directory, not a database file");
    r = -EISDIR;
    goto done;
  }
  if (!S_ISREG(sb.st_mode)) {
    snprintf(err, errlen, "is not a regular file");
    r = -EINVAL;
    goto done;
  }
  if (access(path, R_OK | W_OK) != 0) {
    r = -errno;
    snprintf(err, errlen, "cannot read and write the file: %s", strerror(-r));
    goto done;
  }
  if (access(dir, W_OK | X_OK) != 0) {
    r = -errno;
    snprintf(err, errlen,
             "cannot create files in directory %s (SQLite keeps its -wal and "
             "-shm files beside the database): %s",
             dir, strerror(-r));
    goto done;
  }
  /* A running burstqd holds LOCK_EX (bq_store_open_sqlite); a shared
   * probe lock does not disturb another checker. */
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r = -errno;
    snprintf(err, errlen, "cannot open the file: %s", strerror(-r));
    goto done;
  }
  if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
    r = errno == EWOULDBLOCK ? -EBUSY : -errno;
    if (r == -EBUSY)
      snprintf(err, errlen,
               "the database is in use by another burstqd (one daemon per "
               "database file)");
    else
      snprintf(err, errlen, "cannot lock the file: %s", strerror(-r));
    close(fd);
    goto done;
  }
  r = sb.st_size >= (off_t)sizeof(hdr)
          ? (pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) ? 0 : -EIO)
          : 0;
  close(fd); /* before SQLite opens the file: see bq_store_open_sqlite */
  if (r < 0) {
    snprintf(err, errlen, "cannot read the file header");
    goto done;
  }
  exists(path, "-wal", &wal);
  exists(path, "-journal", &journal);

  if (sb.st_size == 0) {
    /* SQLite treats a zero-length file as an empty database, and would
     * delete a -wal beside it (or roll a -journal back into it). */
    if (exists(path, "-wal", NULL) || journal > 0) {
      snprintf(err, errlen,
               "is a zero-length file with a leftover %s-%s beside it; "
               "remove one or the other",
               path, journal > 0 ? "journal" : "wal");
      r = -EPROTO;
      goto done;
    }
    out->found = BQ_STORE_EMPTY;
    r = 0;
    goto done;
  }
  if (sb.st_size < (off_t)sizeof(hdr)) {
    snprintf(err, errlen,
             "is %lld bytes, too short to be an SQLite database",
             (long long)sb.st_size);
    r = -EPROTO;
    goto done;
  }
  if (memcmp(hdr, "SQLite format 3", 16) != 0) {
    snprintf(err, errlen,
             "is not an SQLite database (it does not start with the SQLite "
             "header)");
    r = -EPROTO;
    goto done;
  }
  page = (unsigned)hdr[16] << 8 | hdr[17];
  if (page == 1) page = 65536;
  if (page < 512 || (page & (page - 1)) != 0) {
    snprintf(err, errlen,
             "is not a usable SQLite database (page size %u in its header)",
             page);
    r = -EPROTO;
    goto done;
  }
  if (sb.st_size % page != 0) {
    snprintf(err, errlen,
             "is truncated or damaged: %lld bytes is not a whole number of "
             "its %u-byte pages",
             (long long)sb.st_size, page);
    r = -EPROTO;
    goto done;
  }

  /* Read it without writing.  A WAL-mode file with no -wal (or an empty
   * one) and no -journal holds everything in the main file: read it as
   * immutable, which opens nothing beside it.  Otherwise SQLite must see
   * the -wal or the -journal: a read-only connection reads a -wal as is
   * (though it may create or rebuild the -shm index beside it, which holds
   * no data), and refuses a hot -journal rather than roll it back. */
  file_uri(uri, sizeof(uri), path,
           hdr[18] == 2 && hdr[19] == 2 && wal == 0 && journal == 0
               ? "immutable=1"
               : "mode=ro");
  rc = sqlite3_open_v2(uri, &db,
                       SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                           SQLITE_OPEN_NOMUTEX,
                       NULL);
  if (rc != SQLITE_OK) {
    r = fail(db, rc, "cannot open it read-only", err, errlen);
    goto done;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, CHECK_BUSY_TIMEOUT_MS);
  r = classify(db, &ref, path, &version, err, errlen);
  if (r >= 0) {
    out->found = r;
    if (r == FOUND_BURSTQ) out->version = version;
    r = 0;
  }

done:
  sqlite3_close(db);
  close_refs(&ref);
  return r;
}

/* Remove what a failed open created at path (it was not there before:
 * BQ_STORE_NEW).  Runs while the flock is still held, so no other burstqd
 * is using the new file. */
static void remove_created(const char *path) {
  static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
  char p[PATH_MAX + 16];
  for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
    snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
    unlink(p);
  }
}

/* Create the schema in an empty database, or check once more, now under
 * the write lock, that an existing one is exactly ours, and migrate it to
 * the current version if it is an older one; the migration, user_version
 * included, is one transaction, so a crash leaves either version. */
static int setup_schema(struct sqlite_store *s, const char *path, char *err,
                        size_t errlen) {
  sqlite3_int64 last = 0;
  struct refs ref;
  int rc, r, version = 0, from = 0;

  rc = reference_schema(&ref, err, errlen);
  if (rc != SQLITE_OK) return translate(rc);
  r = exec(s->db, "BEGIN IMMEDIATE", "cannot lock the database", err, errlen);
  if (r < 0) goto out;
  r = classify(s->db, &ref, path, &version, err, errlen);
  if (r == FOUND_EMPTY) version = 0;
  from = version;
  if (r >= 0 && version < SCHEMA_VERSION) {
    rc = upgrade(s->db, version);
    if (rc != SQLITE_OK)
      r = fail(s->db, rc,
               version == 0 ? "cannot create the schema"
                            : "cannot migrate the schema",
               err, errlen);
    /* The result must be exactly the current schema. */
    if (r >= 0) r = classify(s->db, &ref, path, &version, err, errlen);
    if (r >= 0 && version != SCHEMA_VERSION) {
      snprintf(err, errlen, "schema version %d after the upgrade", version);
      r = -BQ_STORE_FAILED;
    }
  }
  if (r >= 0)
    r = exec(s->db, "COMMIT", "cannot commit the schema", err, errlen);
  if (r < 0) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    goto out;
  }
  if (from > 0 && from < SCHEMA_VERSION && s->log)
    bq_log_info(s->log,
                "database %s migrated from schema version %d to %d (rows "
                "kept; the new columns are NULL in them)",
                path, from, SCHEMA_VERSION);
  rc = query1(s->db, "SELECT coalesce(max(id), 0) FROM connections", &last,
              NULL, 0);
  if (rc != SQLITE_OK) {
    r = fail(s->db, rc, "cannot read the connections table", err, errlen);
    goto out;
  }
  s->base.last_conn_id = (int64_t)last;
  r = 0;
out:
  close_refs(&ref);
  return r;
}

/* Cap the database at max_bytes (0: leave
 * SQLite's default, which is no practical cap).  max_page_count is a
 * property of the connection, not of the file, so it is set on every open;
 * it covers the logical database (pages in the WAL included), not the WAL
 * file itself.  SQLite never sets it below the current page count; a file
 * already at the cap is not an error (rows deleted later make room), but
 * the operator is told that intake will pause at once. */
static int set_max_size(struct sqlite_store *s, uint64_t max_bytes,
                        char *err, size_t errlen) {
  sqlite3_int64 page_size = 0, pages = 0, got = 0, want;
  char sql[64];
  int rc;

  s->max_db_bytes = max_bytes;
  if (max_bytes == 0) return 0;
  rc = query1(s->db, "PRAGMA page_size", &page_size, NULL, 0);
  if (rc == SQLITE_OK) rc = query1(s->db, "PRAGMA page_count", &pages, NULL, 0);
  if (rc != SQLITE_OK)
    return fail(s->db, rc, "cannot read the database size", err, errlen);
  assert(page_size > 0);
  want = (sqlite3_int64)(max_bytes / (uint64_t)page_size);
  if (want < 1) want = 1;
  snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld", (long long)want);
  rc = query1(s->db, sql, &got, NULL, 0);
  if (rc != SQLITE_OK)
    return fail(s->db, rc, "cannot set max_page_count", err, errlen);
  if (s->log && pages >= got)
    bq_log_warn(s->log,
                "the database is already %lld bytes, at --max-db-size %llu; "
                "intake pauses until rows are deleted or the cap is raised",
                (long long)(pages * page_size),
                (unsigned long long)max_bytes);
  return 0;
}

/* The multi-row INSERT of MULTI_ROWS messages into buf (size cap): the
 * four columns every message has, four parameters per row.
 *
 * OR FAIL, here and in run_insert: a statement that writes many rows and
 * may abort (NOT NULL, ABORT by default) makes SQLite keep a statement
 * journal, a copy of every page the statement changes for the first time,
 * so that it can undo the statement alone; each INSERT here appends to the
 * last leaf page, so each copied a 16 KiB page, and the writer spent an
 * eighth of its CPU on it.  FAIL needs no journal, and no statement is
 * ever undone alone: any failure fails the batch, which append() rolls
 * back whole (SQLite may have done so already: append() checks). */
static void multi_insert(char *buf, size_t cap) {
  size_t o = (size_t)snprintf(buf, cap,
                              "INSERT OR FAIL INTO messages(conn_id, seq, "
                              "received_at, payload) VALUES");
  for (int i = 0; i < MULTI_ROWS; i++) {
    assert(o + 20 < cap);
    o += (size_t)snprintf(buf + o, cap - o, "%s(?,?,?,?)", i ? "," : "");
  }
  assert(o < cap);
}

/* The multi-row INSERT of a run into buf (size cap): MULTI_ROWS messages
 * of one connection with consecutive seq.  What the rows share is bound
 * once: ?1 conn_id and ?2 the first seq, and row i computes seq ?2 + i;
 * each row binds only its received_at and payload, at RUN_ROW0 + 2i and
 * RUN_ROW0 + 2i + 1.  Half the binds, and a bind costs more than SQLite's
 * addition. */
#define RUN_ROW0 3
static void run_insert(char *buf, size_t cap) {
  size_t o = (size_t)snprintf(buf, cap,
                              "INSERT OR FAIL INTO messages(conn_id, seq, "
                              "received_at, payload) VALUES");
  for (int i = 0; i < MULTI_ROWS; i++) {
    int p = RUN_ROW0 + 2 * i;
    assert(o + 40 < cap);
    o += (size_t)snprintf(buf + o, cap - o, "%s(?1,?2+%d,?%d,?%d)",
                          i ? "," : "", i, p, p + 1);
  }
  assert(o < cap);
}

int bq_store_sqlite_open(const char *path, const struct bq_store_opts *opts,
                         struct bq_store **out, char *err, size_t errlen) {
  struct sqlite_store *s;
  struct bq_store_check found;
  char mode[32] = "";
  char sql[64];
  int rc, r, created = 0;
  size_t want_page =
      opts->page_size != 0 ? opts->page_size : BQ_SQLITE_PAGE_SIZE;

  assert(opts->sync >= BQ_SYNC_OFF && opts->sync <= BQ_SYNC_FULL);
  if (want_page < 4096 || want_page > 65536 ||
      (want_page & (want_page - 1)) != 0) {
    snprintf(err, errlen,
             "a page size of %zu bytes is not a power of two from 4096 to "
             "65536", want_page);
    return -EINVAL;
  }
  /* Nothing is written before the file is proven new, empty or ours. */
  r = bq_store_sqlite_check(path, &found, err, errlen);
  if (r < 0) return r;
  s = calloc(1, sizeof(*s));
  if (s == NULL || (s->path = strdup(path)) == NULL) {
    free(s);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  s->base.ops = opts->sync == BQ_SYNC_FULL ? &sqlite_ops_deferred
                                            : &sqlite_ops;
  s->base.caps.deferred_sync = opts->sync == BQ_SYNC_FULL;
  s->base.backend = backend_name;
  s->log = opts->log;
  s->lock_fd = -1;
  s->wal_fd = -1;
  /* One writer per database file, locked before the first write.  flock()
   * locks are separate from the POSIX locks SQLite uses, and this
   * descriptor is closed only after sqlite3_close(), so it cannot disturb
   * them (closing any descriptor of the file drops the process's POSIX
   * locks on it, which is why the check closes its own before SQLite
   * opens the file).  A new file is created here, exclusively, so that a
   * failed open removes only a file it made. */
  if (found.found == BQ_STORE_NEW) {
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                      0644);
    created = s->lock_fd >= 0;
  } else {
    s->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
  }
  if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK)
      snprintf(err, errlen,
               "the database is in use by another burstqd (one daemon per "
               "database file)");
    else if (e == EEXIST)
      snprintf(err, errlen,
               "the file was created by someone else while burstqd started");
    else
      snprintf(err, errlen, "cannot lock the database file: %s",
               strerror(e));
    r = e == EWOULDBLOCK ? -EBUSY : -e;
    created = 0; /* not locked: someone else's to remove */
    goto error;
  }
  rc = sqlite3_open_v2(path, &s->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    r = fail(s->db, rc, "cannot open the database", err, errlen);
    goto error;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  /* Still the file the check accepted, now that it is locked (the check
   * ran before; this only reads). */
  {
    struct refs ref;
    int version;
    rc = reference_schema(&ref, err, errlen);
    r = rc == SQLITE_OK ? classify(s->db, &ref, path, &version, err, errlen)
                        : translate(rc);
    close_refs(&ref);
    if (r < 0) goto error;
    /* A file with no page yet takes the page size asked; any other keeps
     * its own (SQLite ignores the pragma then, and says which below). */
    if (r == FOUND_EMPTY) {
      snprintf(sql, sizeof(sql), "PRAGMA page_size = %zu", want_page);
      r = exec(s->db, sql, "cannot set the page size", err, errlen);
      if (r < 0) goto error;
    }
  }
  rc = query1(s->db, "PRAGMA journal_mode=WAL", NULL, mode, sizeof(mode));
  if (rc != SQLITE_OK) {
    r = fail(s->db, rc, "cannot open the database", err, errlen);
    goto error;
  }
  if (strcmp(mode, "wal") != 0) {
    snprintf(err, errlen,
             "cannot switch the database to WAL mode (journal_mode is '%s')",
             mode);
    r = -ENOTSUP;
    goto error;
  }
  {
    sqlite3_int64 page = 0;
    rc = query1(s->db, "PRAGMA page_size", &page, NULL, 0);
    if (rc != SQLITE_OK) {
      r = fail(s->db, rc, "cannot read the page size", err, errlen);
      goto error;
    }
    if ((size_t)page != want_page && s->log)
      bq_log_info(s->log,
                  "the database has %lld-byte pages, kept (--page-size %zu "
                  "applies to new databases only)",
                  (long long)page, want_page);
    assert(page >= 512 && page <= 65536);
    if (opts->sync == BQ_SYNC_NORMAL)
      s->writeback_pages = (int)(BQ_CKPT_WRITEBACK_BYTES / page);
  }
  /* --sync full flushes in sync(), not in COMMIT (see the design
   * block). */
  snprintf(sql, sizeof(sql), "PRAGMA synchronous=%d",
           opts->sync == BQ_SYNC_FULL ? BQ_SYNC_NORMAL : opts->sync);
  r = exec(s->db, sql, "cannot set synchronous", err, errlen);
  if (r < 0) goto error;
  r = setup_schema(s, path, err, errlen);
  if (r < 0) goto error;
  r = set_max_size(s, opts->max_db_bytes, err, errlen);
  if (r < 0) goto error;
  s->waits = opts->waits;
  r = bq_ckpt_start(&s->ckpt, path, opts->log, opts->waits, err, errlen);
  if (r < 0) goto error;
  s->ckpt_running = 1;
  sqlite3_wal_hook(s->db, on_wal_commit, s); /* replaces auto-checkpoint */
  /* SQLite has made the WAL by now (the first read does); else the first
   * sync() or writeback hint opens it. */
  if (s->base.caps.deferred_sync || s->writeback_pages > 0) {
    r = open_wal(s, err, errlen);
    if (r < 0 && errno != ENOENT) goto error;
    r = 0;
  }

#define PREP(field, text)                                                 \
  rc = sqlite3_prepare_v3(s->db, text, -1, SQLITE_PREPARE_PERSISTENT,     \
                          &s->field, NULL);                               \
  if (rc != SQLITE_OK) {                                                  \
    r = fail(s->db, rc, "cannot prepare statements", err, errlen);        \
    goto error;                                                           \
  }
  PREP(begin, "BEGIN IMMEDIATE")
  PREP(commit, "COMMIT")
  PREP(rollback, "ROLLBACK")
  PREP(ins_msg,
       "INSERT INTO messages(conn_id, seq, received_at, payload) "
       "VALUES(?1, ?2, ?3, ?4)")
  PREP(ins_conn,
       "INSERT INTO connections(id, peer, opened_at, listener, tls_subject) "
       "VALUES(?1, ?2, ?3, ?4, ?5)")
  PREP(upd_conn, "UPDATE connections SET closed_at = ?2 WHERE id = ?1")
  PREP(ins_prod,
       "INSERT OR IGNORE INTO producers(name, committed, created_at, "
       "updated_at) VALUES(?1, 0, ?2, ?2)")
  PREP(sel_prod, "SELECT id, committed FROM producers WHERE name = ?1")
  PREP(upd_cprod,
       "UPDATE connections SET producer = ?2, pseq_base = ?3 WHERE id = ?1")
  PREP(upd_prod,
       "UPDATE producers SET committed = ?2, updated_at = ?3 "
       "WHERE id = ?1 AND committed = ?4")
  PREP(ins_hdr,
       "INSERT INTO syslog_headers(message_id, facility, severity, log_time, "
       "hostname, app_name, procid, msgid, truncated) "
       "VALUES(last_insert_rowid(), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
  {
    char multi[128 + MULTI_ROWS * 16];
    multi_insert(multi, sizeof(multi));
    PREP(ins_msgs, multi)
  }
  {
    char run[128 + MULTI_ROWS * 40];
    run_insert(run, sizeof(run));
    PREP(ins_run, run)
  }
#undef PREP
  if (bq_retain_on(opts->retain)) {
    rc = bq_retain_sqlite_open(s->db, opts->retain, &s->retain);
    if (rc != SQLITE_OK) {
      r = fail(s->db, rc, "cannot prepare the retention statements", err,
               errlen);
      goto error;
    }
    s->retain_stats = opts->retain_stats;
  }
  s->base.caps.max_payload = found.max_payload;
  /* A batch of about BQ_CKPT_BYTES: each commit then hands the
   * checkpointer about one batch to copy, and a transaction never fills
   * the WAL's hard bound by itself, so the writer rarely waits for a
   * checkpoint (docs/architecture.md, "Message sizes"). */
  s->base.caps.batch_bytes = BQ_CKPT_BYTES;
  *out = &s->base;
  return 0;

error:
  if (s->ckpt_running) bq_ckpt_stop(&s->ckpt);
  finalize_all(s);
  sqlite3_close(s->db);
  if (created) remove_created(path); /* a failed open creates nothing */
  if (s->wal_fd >= 0) close(s->wal_fd);
  if (s->lock_fd >= 0) close(s->lock_fd);
  free(s->path);
  free(s);
  return r;
}

/* Step a statement that returns no row, then reset it. */
static int step_reset(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Bind one message's four values at parameters base+1..base+4. */
static int bind_msg(sqlite3_stmt *st, int base, const struct bq_rec *r) {
  int rc = sqlite3_bind_int64(st, base + 1, r->conn_id);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, base + 2, r->seq);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, base + 3, r->ts_us);
  /* A zero-length blob must still be a blob, not NULL. */
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_blob(st, base + 4, r->len ? (const void *)r->data : "",
                           (int)r->len, SQLITE_STATIC);
  return rc;
}

/* Bind a text slice at parameter i, or NULL when there is none. */
static int bind_slice(sqlite3_stmt *st, int i, const char *p, size_t len) {
  if (p == NULL) return sqlite3_bind_null(st, i);
  return sqlite3_bind_text(st, i, p, (int)len, SQLITE_STATIC);
}

/* Bind the syslog_headers row of a syslog listener's message, just
 * inserted: its header parsed here (on the worker), NULL where the header
 * lacks the field or is neither RFC 5424 nor RFC 3164, and whether it was
 * truncated. */
static int bind_hdr(sqlite3_stmt *st, const struct bq_rec *r) {
  struct bq_syslog_hdr h;
  int rc;
  bq_syslog_parse(r->data, r->len, &h);
  rc = h.facility >= 0 ? sqlite3_bind_int(st, 1, h.facility)
                       : sqlite3_bind_null(st, 1);
  if (rc == SQLITE_OK)
    rc = h.severity >= 0 ? sqlite3_bind_int(st, 2, h.severity)
                         : sqlite3_bind_null(st, 2);
  if (rc == SQLITE_OK) rc = bind_slice(st, 3, h.log_time, h.log_time_len);
  if (rc == SQLITE_OK) rc = bind_slice(st, 4, h.hostname, h.hostname_len);
  if (rc == SQLITE_OK) rc = bind_slice(st, 5, h.app_name, h.app_name_len);
  if (rc == SQLITE_OK) rc = bind_slice(st, 6, h.procid, h.procid_len);
  if (rc == SQLITE_OK) rc = bind_slice(st, 7, h.msgid, h.msgid_len);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int(st, 8, (r->flags & BQ_REC_F_TRUNCATED) ? 1 : 0);
  return rc;
}

/* Whether r goes into the multi-row INSERTs: a message of an acked
 * listener, plain or of a producer (whose rows are plain rows: the design
 * block); a syslog message is written one by one, with its syslog_headers
 * row, as are OPEN, CLOSE and HELLO. */
static int multi_ok(const struct bq_rec *r) {
  return r->type == BQ_REC_MSG && !(r->flags & BQ_REC_F_SYSLOG);
}

/* A producer's run of messages in a batch (a connection's records come in
 * runs): its committed count is advanced with one UPDATE per run, which
 * also checks that the run follows it (store.h). */
struct prun {
  int64_t producer; /* producers.id; 0: no run open */
  int64_t from, to; /* its first and last pseq */
  int64_t ts;       /* received_at of the last */
};

/* Write the open run's UPDATE, if any, and close it. */
static int prun_flush(struct sqlite_store *s, struct prun *p) {
  sqlite3_stmt *st = s->upd_prod;
  int rc;
  if (p->producer == 0) return SQLITE_OK;
  rc = sqlite3_bind_int64(st, 1, p->producer);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, p->to);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, p->ts);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 4, p->from - 1);
  if (rc == SQLITE_OK) rc = step_reset(st);
  if (rc == SQLITE_OK && sqlite3_changes(s->db) != 1) {
    snprintf(s->detail, sizeof(s->detail),
             "producer %lld: messages %lld..%lld do not follow its committed "
             "count (a hole or a duplicate; nothing of the batch stored)",
             (long long)p->producer, (long long)p->from, (long long)p->to);
    rc = SQLITE_CONSTRAINT;
  }
  p->producer = 0;
  return rc;
}

/* Add producer message r to the run, or start a new run with it. */
static int prun_add(struct sqlite_store *s, struct prun *p,
                    const struct bq_rec *r) {
  int rc;
  assert(r->producer > 0 && r->pseq > 0);
  if (p->producer == r->producer && r->pseq == p->to + 1) {
    p->to = r->pseq;
    p->ts = r->ts_us;
    return SQLITE_OK;
  }
  rc = prun_flush(s, p);
  p->producer = r->producer;
  p->from = p->to = r->pseq;
  p->ts = r->ts_us;
  return rc;
}

/* Insert the run of MULTI_ROWS messages of one connection with
 * consecutive seq from *rp on (write_multi checked it is one) with ins_run,
 * add a producer connection's to its producer's run, and advance *rp past
 * it. */
static int write_run(struct sqlite_store *s, struct bq_rec **rp,
                     struct prun *run) {
  struct bq_rec *r = *rp;
  const struct bq_rec *last = r;
  sqlite3_stmt *st = s->ins_run;
  int i, rc = sqlite3_bind_int64(st, 1, r->conn_id);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, r->seq);
  for (i = 0; i < MULTI_ROWS && rc == SQLITE_OK; i++, r = r->next) {
    int p = RUN_ROW0 + 2 * i;
    last = r;
    rc = sqlite3_bind_int64(st, p, r->ts_us);
    if (rc == SQLITE_OK)
      rc = sqlite3_bind_blob(st, p + 1, r->len ? (const void *)r->data : "",
                             (int)r->len, SQLITE_STATIC);
    if (rc == SQLITE_OK && i == 0 && r->producer != 0)
      rc = prun_add(s, run, r);
  }
  if (rc == SQLITE_OK && (*rp)->producer != 0) {
    /* one connection, hence one producer and pseq = pseq_base + seq: the
     * rest of the run follows its first */
    assert(run->producer == (*rp)->producer && run->to == (*rp)->pseq &&
           last->producer == run->producer &&
           last->pseq == run->to + MULTI_ROWS - 1);
    run->to = last->pseq;
    run->ts = last->ts_us;
  }
  if (rc != SQLITE_OK) return rc;
  rc = step_reset(st);
  if (rc == SQLITE_OK) *rp = r;
  return rc;
}

/* If the MULTI_ROWS records from *rp on are all messages multi_ok takes,
 * insert them with one multi-row INSERT (rows, hence ids, in chain order),
 * advance *rp past them and return SQLITE_OK; return SQLITE_DONE, doing
 * nothing, when they are not (too few left, or another record among
 * them). */
static int write_multi(struct sqlite_store *s, struct bq_rec **rp,
                       struct prun *run) {
  struct bq_rec *r = *rp, *first = *rp;
  sqlite3_stmt *st = s->ins_msgs;
  int i, rc = SQLITE_OK, is_run = 1;
  for (i = 0; i < MULTI_ROWS && r != NULL && multi_ok(r); i++) {
    is_run = is_run && r->conn_id == first->conn_id &&
             r->seq == first->seq + i;
    r = r->next;
  }
  if (i < MULTI_ROWS) return SQLITE_DONE;
  if (is_run) return write_run(s, rp, run);
  r = *rp;
  for (i = 0; i < MULTI_ROWS && rc == SQLITE_OK; i++, r = r->next) {
    rc = bind_msg(st, 4 * i, r);
    if (rc == SQLITE_OK && r->producer != 0) rc = prun_add(s, run, r);
  }
  if (rc != SQLITE_OK) return rc;
  rc = step_reset(st);
  if (rc == SQLITE_OK) *rp = r;
  return rc;
}

/* A HELLO: find or create the producer's row (store.h), after the open
 * run's UPDATE so that the count includes it, fill in r's producer
 * (producers.id) and pseq (its committed count), and record both in the
 * connection's row as its producer and pseq_base (the design block). */
static int write_hello(struct sqlite_store *s, struct bq_rec *r,
                       struct prun *run) {
  sqlite3_stmt *st = s->ins_prod;
  int rc = prun_flush(s, run);
  assert(r->len > 0);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, r->data, (int)r->len, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, r->ts_us);
  if (rc == SQLITE_OK) rc = step_reset(st);
  if (rc != SQLITE_OK) return rc;
  st = s->sel_prod;
  rc = sqlite3_bind_text(st, 1, r->data, (int)r->len, SQLITE_STATIC);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    r->producer = sqlite3_column_int64(st, 0);
    r->pseq = sqlite3_column_int64(st, 1);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_CORRUPT; /* inserted or there, yet not found */
  }
  sqlite3_reset(st);
  if (rc != SQLITE_OK) return rc;
  /* The connection's stored messages will be pseq_base + seq: its OPEN
   * record came before, in this batch or an earlier one. */
  st = s->upd_cprod;
  rc = sqlite3_bind_int64(st, 1, r->conn_id);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, r->producer);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, r->pseq);
  if (rc == SQLITE_OK) rc = step_reset(st);
  if (rc == SQLITE_OK && sqlite3_changes(s->db) != 1) {
    snprintf(s->detail, sizeof(s->detail),
             "connection %lld has no row for its producer's HELLO",
             (long long)r->conn_id);
    rc = SQLITE_CORRUPT;
  }
  return rc;
}

/* Bind a record's values and insert it.  Every bind is checked: a failed
 * bind leaves the parameter NULL, which must never be stored. */
static int write_rec(struct sqlite_store *s, struct bq_rec *r,
                     struct prun *run) {
  sqlite3_stmt *st;
  int rc;
  switch (r->type) {
    case BQ_REC_MSG:
      st = s->ins_msg;
      rc = bind_msg(st, 0, r);
      if (rc == SQLITE_OK && r->producer != 0) rc = prun_add(s, run, r);
      if (rc == SQLITE_OK && (r->flags & BQ_REC_F_SYSLOG)) {
        rc = step_reset(st);
        if (rc != SQLITE_OK) return rc;
        st = s->ins_hdr;
        rc = bind_hdr(st, r);
      }
      break;
    case BQ_REC_HELLO:
      return write_hello(s, r, run);
    case BQ_REC_OPEN: {
      /* data: the peer, then optionally '\0' and the listener's name,
       * then optionally '\0' and the TLS client's subject (record.h). */
      const char *f[3] = {NULL, NULL, NULL};
      int flen[3] = {0, 0, 0}, nf = 0;
      const char *p = r->data, *end = r->data + r->len;
      while (nf < 3) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        const char *fe = nul != NULL && nf < 2 ? nul : end;
        f[nf] = p;
        flen[nf++] = (int)(fe - p);
        if (fe == end) break;
        p = fe + 1;
      }
      st = s->ins_conn;
      rc = sqlite3_bind_int64(st, 1, r->conn_id);
      if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, f[0], flen[0], SQLITE_STATIC);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, r->ts_us);
      for (int i = 1; i < 3 && rc == SQLITE_OK; i++)
        rc = f[i] != NULL
                 ? sqlite3_bind_text(st, 3 + i, f[i], flen[i], SQLITE_STATIC)
                 : sqlite3_bind_null(st, 3 + i);
      break;
    }
    case BQ_REC_CLOSE:
      st = s->upd_conn;
      rc = sqlite3_bind_int64(st, 1, r->conn_id);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, r->ts_us);
      break;
    default:
      assert(0 && "unknown record type");
      return SQLITE_MISUSE;
  }
  if (rc != SQLITE_OK) return rc;
  return step_reset(st);
}

/* Messages in the chain batch (retention's budget follows them). */
static uint64_t batch_msgs(const struct bq_rec *batch) {
  uint64_t n = 0;
  for (const struct bq_rec *r = batch; r != NULL; r = r->next)
    n += r->type == BQ_REC_MSG;
  return n;
}

/* One retention pass in a transaction of its own, with the budget of a
 * batch of msgs messages.  Returns SQLITE_OK (*more: the limits still call
 * for deletion) or the failed step's code, rolled back. */
static int retain_alone(struct sqlite_store *s, uint64_t msgs, int *more) {
  struct bq_retain_pass pass;
  uint64_t budget = bq_retain_budget(msgs);
  int rc = step_reset(s->begin);
  *more = 0;
  if (rc == SQLITE_OK)
    rc = bq_retain_sqlite_pass(s->retain, budget, bq_unix_us(), &pass);
  if (rc == SQLITE_OK) rc = step_reset(s->commit);
  if (rc == SQLITE_OK) {
    if (s->retain_stats) bq_retain_record(s->retain_stats, &pass);
    *more = pass.lag_rows > 0 || pass.rows >= budget;
  } else if (!sqlite3_get_autocommit(s->db)) {
    step_reset(s->rollback);
  }
  return rc;
}

static int sqlite_retain(struct bq_store *base, int *more, char *err,
                         size_t errlen) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  int rc;
  *more = 0;
  if (s->retain == NULL) return 0;
  rc = retain_alone(s, BQ_RETAIN_IDLE_MSGS, more);
  return rc == SQLITE_OK ? 0 : fail(s->db, rc, "retention", err, errlen);
}

static int sqlite_append(struct bq_store *base, struct bq_rec *batch,
                         char *err, size_t errlen) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  const char *what = "cannot begin a transaction";
  struct prun run = {0, 0, 0, 0};
  struct bq_retain_pass pass;
  int rc, ret;
  uint64_t t_begin = s->waits ? bq_waits_now_us() : 0, t_commit = 0;

  assert(batch != NULL);
  s->detail[0] = '\0';
  rc = step_reset(s->begin);
  if (rc == SQLITE_OK && s->retain != NULL) {
    /* before the inserts, so that they reuse the pages it frees */
    what = "cannot delete old messages (retention)";
    rc = bq_retain_sqlite_pass(s->retain, bq_retain_budget(batch_msgs(batch)),
                               bq_unix_us(), &pass);
  }
  if (rc == SQLITE_OK) {
    struct bq_rec *r = batch;
    what = "cannot insert";
    while (r != NULL) {
      rc = write_multi(s, &r, &run);
      if (rc == SQLITE_DONE) {
        rc = write_rec(s, r, &run);
        r = r->next;
      }
      if (rc != SQLITE_OK) break;
    }
    if (rc == SQLITE_OK) rc = prun_flush(s, &run);
  }
  if (rc == SQLITE_OK) {
    what = "cannot commit";
    if (s->waits) t_commit = bq_waits_now_us();
    rc = step_reset(s->commit); /* the wal hook runs in here */
  }
  if (rc == SQLITE_OK) {
    if (s->retain != NULL && s->retain_stats != NULL)
      bq_retain_record(s->retain_stats, &pass);
    if (s->waits) {
      bq_prom_hist_observe(&s->waits->txn_insert, t_commit - t_begin);
      bq_prom_hist_observe(&s->waits->txn_commit,
                           bq_waits_now_us() - t_commit);
    }
    return 0;
  }
  if (s->detail[0] != '\0')
    ret = (snprintf(err, errlen, "%s", s->detail), -BQ_STORE_CONSTRAINT);
  else
    ret = fail(s->db, rc, what, err, errlen);
  if ((rc & 0xff) == SQLITE_FULL && s->max_db_bytes > 0) {
    /* Tell the operator which of the two limits may be the one. */
    size_t l = strlen(err);
    snprintf(err + l, errlen - l,
             " [full disk, or the --max-db-size cap of %llu bytes: delete "
             "rows or free space]",
             (unsigned long long)s->max_db_bytes);
  }
  if (!sqlite3_get_autocommit(s->db)) step_reset(s->rollback);
  if ((rc & 0xff) == SQLITE_FULL && s->retain != NULL) {
    /* In the batch's transaction the deletion rolled back with it: commit
     * a pass of its own, so that the retry finds the room the limits free
     * (a failure here is left to the retry). */
    int more;
    retain_alone(s, batch_msgs(batch), &more);
  }
  return ret;
}

/* Bytes of a file, 0 if it does not exist. */
static uint64_t file_bytes(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static uint64_t sqlite_size(struct bq_store *base) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  char wal[PATH_MAX + 8];
  if (wal_path(s, wal, sizeof(wal)) < 0) return file_bytes(s->path);
  return file_bytes(s->path) + file_bytes(wal);
}

static int sqlite_close(struct bq_store *base, char *err, size_t errlen) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  int r = 0, rc;

  if (s->ckpt_running) {
    uint64_t runs, inl, fails;
    bq_ckpt_stats(&s->ckpt, &runs, &inl, &fails);
    if (s->log)
      bq_log_debug(s->log,
                   "checkpoints: %llu in the background (%llu failed), %llu "
                   "by the writer",
                   (unsigned long long)runs, (unsigned long long)fails,
                   (unsigned long long)inl);
    bq_ckpt_stop(&s->ckpt);
  }
  s->ckpt_running = 0;
  finalize_all(s);
  /* Fold the WAL back into the database so that the file stands alone. */
  rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                 NULL, NULL);
  if (rc != SQLITE_OK) r = fail(s->db, rc, "checkpoint", err, errlen);
  rc = sqlite3_close(s->db);
  if (rc != SQLITE_OK && r == 0) r = fail(NULL, rc, "close", err, errlen);
  if (s->wal_fd >= 0) close(s->wal_fd);
  if (s->lock_fd >= 0) close(s->lock_fd);
  free(s->path);
  free(s);
  return r;
}
