/*
 * store.h -- the storage interface: open, append a batch, close.
 *
 * Design: a tiny vtable so that a second backend can sit beside SQLite
 * (store_sqlite.c) without touching the workers.  A store is used by one
 * thread at a time: the worker that holds the queue's writer token
 * (queue.h), whose mutex orders those uses.  open and close run on the main
 * thread before the workers start and after they have exited.
 *
 * append() is all-or-nothing: either every record of the batch is durable
 * (to the level the sync mode promises) when it returns 0, or none is.  A
 * failure says whether retrying the same batch later can succeed
 * (-EAGAIN: locked, disk full, I/O error) or not (any other value: a
 * corrupt database, a constraint broken by someone else's rows).
 */
#ifndef BQ_STORE_H
#define BQ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

enum bq_sync { BQ_SYNC_OFF = 0, BQ_SYNC_NORMAL = 1, BQ_SYNC_FULL = 2 };

struct bq_store;

struct bq_store_ops {
  /* Write the chain batch (in order) in one transaction.  Returns 0; or,
   * after rolling back, -EAGAIN when the same batch may be retried, or
   * another negative value when retrying cannot help; err (size errlen)
   * then holds the reason. */
  int (*append)(struct bq_store *s, const struct bq_rec *batch, char *err,
                size_t errlen);
  /* Flush, release and free s.  Returns 0, or a negative value with a
   * message in err; s is freed either way. */
  int (*close)(struct bq_store *s, char *err, size_t errlen);
};

struct bq_store {
  const struct bq_store_ops *ops;
  int64_t last_conn_id; /* highest connection id already stored */
  size_t max_payload;   /* largest payload the backend can store */
  int last_code;        /* after a failed append: the backend's error code
                           (SQLite primary result code, > 0) for metrics */
};

struct bq_log;

struct bq_store_opts {
  const char *path;          /* database file */
  int sync;                  /* enum bq_sync */
  const struct bq_log *log;  /* for background warnings; may be NULL */
  /* fault: disk-full handling.  Cap on the database file in bytes
   * (PRAGMA max_page_count), 0 for none.  At the cap append() fails with
   * SQLITE_FULL, which is transient (-EAGAIN): rows deleted by anyone free
   * pages that later appends reuse. */
  uint64_t max_db_bytes;
};

/* What bq_store_sqlite_check() found at a path. */
enum bq_store_found {
  BQ_STORE_NEW = 1, /* nothing: open creates the file */
  BQ_STORE_EMPTY,   /* a zero-length file, or an SQLite database with no
                       schema objects, user_version 0, application_id 0 */
  BQ_STORE_BURSTQ,  /* exactly the schema burstqd creates, at the schema
                       version this build writes */
};

struct bq_store_check {
  int found;          /* enum bq_store_found */
  size_t max_payload; /* as bq_store.max_payload */
};

/* Decide, without writing, whether burstqd may use the file at path.
 *
 * Contract: reads only.  Creates, changes and removes nothing at path or
 * beside it, with one exception: a file read through an existing, non-empty
 * -wal (a writer stopped without a checkpoint) makes SQLite create or
 * rebuild the -shm index beside it, which holds no data.  A hot -journal is
 * never rolled back: such a file is refused.  The verdict is about the file
 * as it was while being read; bq_store_open_sqlite() runs this check
 * itself and repeats the schema comparison once the file is locked.
 *
 * Returns 0 with *out filled when the path is usable: no file (and its
 * directory exists and is writable), a zero-length file with no -wal or
 * -journal beside it, an empty SQLite database, or a burstq database whose
 * sqlite_schema (type, name, table and exact CREATE text of every object,
 * ANALYZE's statistics tables aside) is what this build creates.
 * Otherwise a negative errno-style value (-ENOENT: directory missing,
 * -EACCES, -EISDIR, -EBUSY: in use by another burstqd, -EPROTO: not a
 * burstq database or not a version this build knows, truncated, damaged,
 * hot journal) with what was found in err, phrased to follow the path
 * ("is a directory, not a database file"). */
int bq_store_sqlite_check(const char *path, struct bq_store_check *out,
                          char *err, size_t errlen);

/* Open the SQLite database at opts->path, creating it only when the check
 * above found nothing there: WAL mode, synchronous from opts->sync, schema
 * created in an empty database, and an exclusive flock() on the file for as
 * long as the store is open, so that a second burstqd on the same database
 * is refused (-EBUSY) instead of fighting over connection ids.  Nothing is
 * written before bq_store_sqlite_check() has accepted the file; a file it
 * refuses is left as it was, with the same error.  A failed open removes
 * the file it created.  With opts->max_db_bytes, the file is
 * capped at that many bytes rounded down to whole pages (at least the
 * pages it already has: a warning is logged when it is already at or over
 * the cap).  Returns 0 and *out, or a negative value with a message in
 * err. */
int bq_store_open_sqlite(struct bq_store **out,
                         const struct bq_store_opts *opts, char *err,
                         size_t errlen);

/* Process-wide SQLite setup, called once before any other SQLite call and
 * before threads start: memory statistics off (a global mutex on every
 * allocation otherwise) and multi-thread mode (connections are never shared
 * concurrently).  Returns 0 or a negative SQLite code. */
int bq_store_sqlite_global_init(void);

static inline int bq_store_append(struct bq_store *s,
                                  const struct bq_rec *batch, char *err,
                                  size_t errlen) {
  return s->ops->append(s, batch, err, errlen);
}

static inline int bq_store_close(struct bq_store *s, char *err,
                                 size_t errlen) {
  return s->ops->close(s, err, errlen);
}

#endif /* BQ_STORE_H */
