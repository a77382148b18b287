/*
 * store_sqlite.c -- the SQLite backend of store.h.
 *
 * Owns one sqlite3 connection and its prepared statements, and the
 * checkpointer (checkpoint.h).  Threads: opened and closed on the main
 * thread; append() runs on whichever worker holds the queue's writer token,
 * one at a time (caps.concurrent_appends is 0), so the connection is opened
 * with SQLITE_OPEN_NOMUTEX and the process runs SQLite in multi-thread
 * mode.  size() stat()s the files and may run anywhere.  SQLite's result
 * codes never leave this file: translate() maps them onto enum
 * bq_store_err.
 *
 * Schema (user_version 1):
 *   connections(id INTEGER PRIMARY KEY, peer TEXT NOT NULL,
 *               opened_at INTEGER NOT NULL, closed_at INTEGER)
 *   messages(id INTEGER PRIMARY KEY, conn_id INTEGER NOT NULL,
 *            seq INTEGER NOT NULL, received_at INTEGER NOT NULL,
 *            payload BLOB NOT NULL)
 * messages.id is the rowid: each insert takes max(id) + 1, so ids grow in
 * commit order, and batches commit in queue order (queue.h).
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "log.h"

#define SCHEMA_VERSION 1

/* Messages per multi-row INSERT.  One statement execution carries this many
 * rows, which saves SQLite's per-statement work (step, cursor open, halt,
 * reset) on all but one of them: about a third of the instructions per row
 * measured with callgrind (tests/bench), with most of it gone by 32. */
#define MULTI_ROWS 32

/* How long SQLite itself sleeps-and-retries on a lock before reporting
 * SQLITE_BUSY to the worker, which then backs off on its own terms. */
#define BUSY_TIMEOUT_MS 100

struct sqlite_store {
  struct bq_store base; /* first: the generic handle */
  sqlite3 *db;
  int lock_fd;          /* holds the flock(); closed after the database */
  sqlite3_stmt *begin, *commit, *rollback;
  sqlite3_stmt *ins_msg, *ins_conn, *upd_conn;
  sqlite3_stmt *ins_msgs;  /* MULTI_ROWS messages in one INSERT */
  const struct bq_log *log; /* may be NULL */
  struct bq_ckpt ckpt;  /* background checkpoints (checkpoint.h) */
  int ckpt_running;     /* ckpt started and not yet stopped */
  uint64_t max_db_bytes; /* --max-db-size, 0 for none */
  char *path;           /* the database file; path + "-wal" is its WAL */
  char backend[48];     /* "sqlite VERSION" */
};

static const char schema_sql[] =
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
    " payload BLOB NOT NULL);"
    "PRAGMA user_version = 1;";

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

/* Process-wide SQLite setup, once, before the first connection (and so
 * before the workers start): memory statistics off (a global mutex on
 * every allocation otherwise) and multi-thread mode (connections are never
 * shared concurrently). */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init(void) {
  int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  if (rc == SQLITE_OK) rc = sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
  if (rc == SQLITE_OK) rc = sqlite3_initialize();
  global_rc = rc;
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
  s->begin = s->commit = s->rollback = NULL;
  s->ins_msg = s->ins_conn = s->upd_conn = s->ins_msgs = NULL;
}

static int sqlite_append(struct bq_store *base, const struct bq_rec *batch,
                         char *err, size_t errlen);
static uint64_t sqlite_size(struct bq_store *base);
static int sqlite_close(struct bq_store *base, char *err, size_t errlen);

static const struct bq_store_ops sqlite_ops = {sqlite_append, sqlite_size,
                                               sqlite_close};

/* SQLite's wal hook on the writing connection: runs after each commit with
 * the number of pages now in the WAL.  Hands checkpoints to the
 * checkpointer; past the hard bound, checkpoints here (checkpoint.h says
 * why).  A failure of that inline checkpoint is not the commit's failure:
 * the WAL only grows until the next one succeeds. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name,
                         int pages) {
  struct sqlite_store *s = arg;
  (void)name;
  if (pages >= BQ_CKPT_HARD_PAGES)
    bq_ckpt_inline(&s->ckpt, db);
  else if (pages >= BQ_CKPT_PAGES)
    bq_ckpt_kick(&s->ckpt);
  return SQLITE_OK;
}

/* Create the schema, or check that an existing one is ours. */
static int setup_schema(struct sqlite_store *s, char *err, size_t errlen) {
  sqlite3_int64 version = 0;
  int rc, r;

  r = exec(s->db, "BEGIN IMMEDIATE", "cannot lock the database", err, errlen);
  if (r < 0) return r;
  rc = query1(s->db, "PRAGMA user_version", &version, NULL, 0);
  if (rc != SQLITE_OK) {
    r = fail(s->db, rc, "cannot read the schema version", err, errlen);
    goto rollback;
  }
  if (version > SCHEMA_VERSION) {
    snprintf(err, errlen,
             "database schema version %lld is newer than this burstqd "
             "understands (%d)",
             (long long)version, SCHEMA_VERSION);
    r = -BQ_STORE_INVALID;
    goto rollback;
  }
  if (version == 0) {
    sqlite3_int64 tables = 0;
    rc = query1(s->db,
                "SELECT count(*) FROM sqlite_schema WHERE type='table' AND "
                "name NOT IN ('connections','messages')",
                &tables, NULL, 0);
    if (rc == SQLITE_OK && tables > 0) {
      snprintf(err, errlen,
               "database holds other tables and no burstq schema version; "
               "refusing to use it");
      r = -BQ_STORE_INVALID;
      goto rollback;
    }
    r = exec(s->db, schema_sql, "cannot create the schema", err, errlen);
    if (r < 0) goto rollback;
  }
  r = exec(s->db, "COMMIT", "cannot commit the schema", err, errlen);
  if (r < 0) goto rollback;
  rc = query1(s->db, "SELECT coalesce(max(id), 0) FROM connections",
              &version, NULL, 0);
  if (rc != SQLITE_OK)
    return fail(s->db, rc, "cannot read the connections table", err, errlen);
  s->base.last_conn_id = (int64_t)version;
  return 0;

rollback:
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
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

int bq_store_sqlite_open(const char *path, const struct bq_store_opts *opts,
                         struct bq_store **out, char *err, size_t errlen) {
  struct sqlite_store *s;
  char mode[32] = "";
  char sql[64];
  int rc, r;

  assert(opts->sync >= BQ_SYNC_OFF && opts->sync <= BQ_SYNC_FULL);
  pthread_once(&global_once, global_init);
  if (global_rc != SQLITE_OK) return fail(NULL, global_rc, "cannot initialise SQLite", err, errlen);
  s = calloc(1, sizeof(*s));
  if (s == NULL || (s->path = strdup(path)) == NULL) {
    free(s);
    snprintf(err, errlen, "out of memory");
    return -BQ_STORE_IO;
  }
  s->base.ops = &sqlite_ops;
  snprintf(s->backend, sizeof(s->backend), "sqlite %s", sqlite3_libversion());
  s->base.backend = s->backend;
  s->log = opts->log;
  s->lock_fd = -1;
  rc = sqlite3_open_v2(path, &s->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX,
                       NULL);
  if (rc != SQLITE_OK) {
    r = fail(s->db, rc, "cannot open the database", err, errlen);
    goto error;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  /* journal_mode is the first statement that touches the file, so an
   * unreadable or non-database file is reported here. */
  rc = query1(s->db, "PRAGMA journal_mode=WAL", NULL, mode, sizeof(mode));
  if (rc != SQLITE_OK) {
    r = fail(s->db, rc, "cannot open the database", err, errlen);
    goto error;
  }
  if (strcmp(mode, "wal") != 0) {
    snprintf(err, errlen,
             "cannot switch the database to WAL mode (journal_mode is '%s')",
             mode);
    r = -BQ_STORE_FAILED;
    goto error;
  }
  /* One writer per database file.  flock() locks are separate from the
   * POSIX locks SQLite uses, and this descriptor is closed only after
   * sqlite3_close(), so it cannot disturb them. */
  s->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK)
      snprintf(err, errlen,
               "the database is in use by another burstqd (one daemon per "
               "database file)");
    else
      snprintf(err, errlen, "cannot lock the database file: %s",
               strerror(e));
    r = e == EWOULDBLOCK ? -EBUSY : -BQ_STORE_IO;
    goto error;
  }
  snprintf(sql, sizeof(sql), "PRAGMA synchronous=%d", opts->sync);
  r = exec(s->db, sql, "cannot set synchronous", err, errlen);
  if (r < 0) goto error;
  r = setup_schema(s, err, errlen);
  if (r < 0) goto error;
  r = set_max_size(s, opts->max_db_bytes, err, errlen);
  if (r < 0) goto error;
  r = bq_ckpt_start(&s->ckpt, path, opts->log, err, errlen);
  if (r < 0) goto error;
  s->ckpt_running = 1;
  sqlite3_wal_hook(s->db, on_wal_commit, s); /* replaces auto-checkpoint */

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
       "INSERT INTO connections(id, peer, opened_at) VALUES(?1, ?2, ?3)")
  PREP(upd_conn, "UPDATE connections SET closed_at = ?2 WHERE id = ?1")
  {
    char multi[64 + MULTI_ROWS * 12];
    size_t o = (size_t)snprintf(
        multi, sizeof(multi),
        "INSERT INTO messages(conn_id, seq, received_at, payload) VALUES");
    for (int i = 0; i < MULTI_ROWS; i++) {
      assert(o < sizeof(multi));
      o += (size_t)snprintf(multi + o, sizeof(multi) - o, "%s(?,?,?,?)",
                            i ? "," : "");
    }
    assert(o < sizeof(multi));
    PREP(ins_msgs, multi)
  }
#undef PREP
  /* A payload shares the row with a few integers; leave them room. */
  {
    int lim = sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, -1);
    s->base.caps.max_payload = lim > 1024 ? (size_t)lim - 1024 : 0;
  }
  *out = &s->base;
  return 0;

error:
  if (s->ckpt_running) bq_ckpt_stop(&s->ckpt);
  finalize_all(s);
  sqlite3_close(s->db);
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

/* If the MULTI_ROWS records from *rp on are all messages, insert them with
 * one multi-row INSERT (rows, hence ids, in chain order), advance *rp past
 * them and return SQLITE_OK; return SQLITE_DONE, doing nothing, when they
 * are not (too few left, or an OPEN/CLOSE among them). */
static int write_multi(struct sqlite_store *s, const struct bq_rec **rp) {
  const struct bq_rec *r = *rp;
  int i, rc = SQLITE_OK;
  for (i = 0; i < MULTI_ROWS && r != NULL && r->type == BQ_REC_MSG; i++)
    r = r->next;
  if (i < MULTI_ROWS) return SQLITE_DONE;
  r = *rp;
  for (i = 0; i < MULTI_ROWS && rc == SQLITE_OK; i++, r = r->next)
    rc = bind_msg(s->ins_msgs, 4 * i, r);
  if (rc != SQLITE_OK) return rc;
  rc = step_reset(s->ins_msgs);
  if (rc == SQLITE_OK) *rp = r;
  return rc;
}

/* Bind a record's values and insert it.  Every bind is checked: a failed
 * bind leaves the parameter NULL, which must never be stored. */
static int write_rec(struct sqlite_store *s, const struct bq_rec *r) {
  sqlite3_stmt *st;
  int rc;
  switch (r->type) {
    case BQ_REC_MSG:
      st = s->ins_msg;
      rc = bind_msg(st, 0, r);
      break;
    case BQ_REC_OPEN:
      st = s->ins_conn;
      rc = sqlite3_bind_int64(st, 1, r->conn_id);
      if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, r->data, (int)r->len, SQLITE_STATIC);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, r->ts_us);
      break;
    case BQ_REC_CLOSE:
      st = s->upd_conn;
      rc = sqlite3_bind_int64(st, 1, r->conn_id);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, r->ts_us);
      break;
    default:
      assert(!"unknown record type");
      return SQLITE_MISUSE;
  }
  if (rc != SQLITE_OK) return rc;
  return step_reset(st);
}

static int sqlite_append(struct bq_store *base, const struct bq_rec *batch,
                         char *err, size_t errlen) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  const char *what = "cannot begin a transaction";
  int rc, ret;

  assert(batch != NULL);
  rc = step_reset(s->begin);
  if (rc == SQLITE_OK) {
    const struct bq_rec *r = batch;
    what = "cannot insert";
    while (r != NULL) {
      rc = write_multi(s, &r);
      if (rc == SQLITE_DONE) {
        rc = write_rec(s, r);
        r = r->next;
      }
      if (rc != SQLITE_OK) break;
    }
  }
  if (rc == SQLITE_OK) {
    what = "cannot commit";
    rc = step_reset(s->commit);
  }
  if (rc == SQLITE_OK) return 0;
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
  return ret;
}

/* Bytes of a file, 0 if it does not exist. */
static uint64_t file_bytes(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static uint64_t sqlite_size(struct bq_store *base) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  char wal[4096];
  if (snprintf(wal, sizeof(wal), "%s-wal", s->path) >= (int)sizeof(wal))
    return file_bytes(s->path);
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
  if (s->lock_fd >= 0) close(s->lock_fd);
  free(s->path);
  free(s);
  return r;
}
