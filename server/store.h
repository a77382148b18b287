/*
 * store.h -- the storage interface: where batches of records become
 * durable.  Backends: SQLite (store_sqlite.c), PostgreSQL (store_pg.c).
 *
 * Design: a vtable (struct bq_store_ops) behind a handle (struct bq_store),
 * chosen by URI in bq_store_open (store.c): a plain path or "sqlite:PATH"
 * is SQLite, a postgresql:// or postgres:// URI (libpq's) PostgreSQL.  Nothing outside a backend's own files knows which database it
 * is: errors reach the workers, the metrics and /healthz as one small
 * neutral set (enum bq_store_err), translated at the backend's edge as
 * libuv translates errno, with the backend's own words in the message.
 *
 * Threads: check, open and close run on the main thread, before the workers
 * start and after they have exited.  append() runs on a worker.  A backend with
 * caps.concurrent_appends == 0 (SQLite: one writer per file) is used by one
 * worker at a time, the one holding the queue's writer token (queue.h); a
 * backend that sets it may be given batches by several workers at once and
 * must then keep each connection's records in order itself.  size() may be
 * called from any thread at any time.
 *
 * append() is all-or-nothing: either every record of the batch is durable
 * (to the level the sync mode promises) when it returns 0, or none is.  A
 * backend with caps.deferred_sync commits without making the commit
 * durable: the batch is committed (and will be stored whole, or not at
 * all) when append() returns 0, and durable once a sync() called after
 * that returns 0.  The pool calls sync() on a thread of its own, beside
 * the next append(), so that one flush covers every batch committed while
 * the last one ran (pool.h).
 *
 * Producers (exactly once, docs/protocol.md).  A backend keeps, per
 * producer id, a row (table producers in both backends) with its
 * committed count, and gives each stored producer message its producer
 * and pseq (the view producer_messages in both backends; SQLite derives
 * them from the connection's row, PostgreSQL stores them in the
 * message's).  Within the one transaction of append(), records are
 * applied in chain order, and:
 *  - a BQ_REC_HELLO record (data: the producer id) finds the producer's
 *    row, or creates it with committed 0, and writes exactly two fields of
 *    the record: producer = the row's id (> 0), pseq = its committed count
 *    as of this point of the batch, that is including every producer MSG
 *    record before it in the same batch.  Nothing else of the batch is
 *    written to.  A retried append() writes them again.
 *  - a BQ_REC_MSG record with producer != 0 is stored with its producer
 *    and pseq, and the producer's committed count becomes its pseq.  The
 *    loop guarantees pseq == committed + 1 (one live connection per
 *    producer, numbers contiguous), and that after a connection's HELLO
 *    every MSG record of that connection has its producer and
 *    pseq == the HELLO's pseq + seq (conn.c); a backend must check the
 *    first, and a record
 *    that breaks it fails the whole append() with -BQ_STORE_CONSTRAINT
 *    (never retried: the daemon stops rather than store a hole).
 * So the committed count is exactly as durable as the rows it counts, and
 * the stored pseqs of a producer are 1..committed, each once.  A backend
 * with concurrent_appends must still give a HELLO the count of every
 * record queued before it (the loop pushes a HELLO only once every earlier
 * connection of that producer has no record in flight).
 */
#ifndef BQ_STORE_H
#define BQ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

enum bq_sync { BQ_SYNC_OFF = 0, BQ_SYNC_NORMAL = 1, BQ_SYNC_FULL = 2 };

/* The page size of a SQLite database burstqd creates when
 * bq_store_opts.page_size is 0 (--page-size's default).  SQLite's own
 * default, 4096, is what databases of earlier releases have; a database
 * keeps the page size it was created with, and every page size works.  At
 * 16384 a 1 KB message shares a page with 14 others and a 16 KB one needs
 * one overflow page instead of four, so each costs fewer pages, WAL frames
 * and checkpoint writes.  65536 is faster still at 1 KB, as fast at 100
 * bytes and about as fast at 16 KB, but every commit writes each page it
 * touched whole, so at a low load (a message or two per commit) it writes
 * 3-4x the bytes 16384 does (docs/operations.md, "Choosing
 * --page-size"; docs/architecture.md, "Message sizes"). */
#define BQ_SQLITE_PAGE_SIZE 16384

/* What can go wrong, whatever the backend.  Returned negated (0 is
 * success); these are not errno values.  The first four may succeed when
 * retried later; the rest cannot. */
enum bq_store_err {
  BQ_STORE_BUSY = 1,        /* someone else holds the write lock */
  BQ_STORE_FULL = 2,        /* disk, quota or size cap reached */
  BQ_STORE_IO = 3,          /* I/O error, out of memory or descriptors */
  BQ_STORE_UNAVAILABLE = 4, /* the database cannot be reached right now */
  BQ_STORE_CORRUPT = 5,     /* the database is damaged */
  BQ_STORE_CONSTRAINT = 6,  /* rows written by someone else broke ours */
  BQ_STORE_INVALID = 7,     /* not a database this burstqd may use */
  BQ_STORE_FAILED = 8       /* anything else */
};
#define BQ_STORE_NERR 9 /* one more than the largest enum bq_store_err */

/* 1 if retrying the same call later may succeed (err is a negated
 * enum bq_store_err). */
int bq_store_retryable(int err);

/* The short name of a negated enum bq_store_err ("busy", "full", ...), the
 * label of burstq_db_errors_total; "failed" for anything unknown. */
const char *bq_store_err_name(int err);

struct bq_log;
struct bq_retain_limits;
struct bq_retain_stats;
struct bq_waits;

struct bq_store_opts {
  int sync;                  /* enum bq_sync */
  const struct bq_log *log;  /* for background warnings; may be NULL */
  /* Cap on the stored data in bytes, 0 for none.  At the cap append()
   * fails with -BQ_STORE_FULL, which is retryable: rows deleted by anyone
   * make room. */
  uint64_t max_db_bytes;
  /* This daemon's node name (--node): PostgreSQL keeps connection ids
   * unique across the daemons sharing a database by it.  SQLite ignores
   * it. */
  const char *node;
  /* SQLite: the page size of a database it creates, a power of two from
   * 4096 to 65536, or 0 for BQ_SQLITE_PAGE_SIZE; an existing database
   * keeps its own (logged at info when it differs).  PostgreSQL refuses
   * any but 0 (its page size is fixed when the server is built). */
  size_t page_size;
  /* Retention (retention.h): limits (NULL or all 0: keep everything) and
   * where committed passes are counted (NULL: nowhere).  With limits,
   * append() deletes the oldest messages in the batch's transaction, and
   * a batch refused as full first commits a deletion of its own (which
   * frees room on SQLite; on PostgreSQL only once VACUUM gives pages
   * back, docs/operations.md). */
  const struct bq_retain_limits *retain;
  struct bq_retain_stats *retain_stats;
  /* Where the transaction and the checkpoints spend their time (waits.h:
   * txn_*, ckpt_*); NULL: not recorded.  SQLite only. */
  struct bq_waits *waits;
};

struct bq_store;

struct bq_store_ops {
  /* Write the chain batch (in order) in one transaction, filling in the
   * output fields of its HELLO records (see the design block).  Returns 0;
   * or, after rolling back, a negated enum bq_store_err with the reason in
   * err (size errlen). */
  int (*append)(struct bq_store *s, struct bq_rec *batch, char *err,
                size_t errlen);
  /* Bytes the stored data takes now (for SQLite: the database file and its
   * WAL).  Any thread; 0 if unknown. */
  uint64_t (*size)(struct bq_store *s);
  /* Flush, release and free s.  Returns 0, or a negated enum bq_store_err
   * with a message in err; s is freed either way. */
  int (*close)(struct bq_store *s, char *err, size_t errlen);
  /* Optional (NULL: nothing to do).  Retention while no batch comes: one
   * pass (retention.h) in a transaction of its own, by the worker holding
   * the writer token without a batch (queue.h, bq_queue_take_idle).
   * Returns 0 with *more = 1 when the limits call for more deletion right
   * away, else *more = 0; or a negated enum bq_store_err with err. */
  int (*retain)(struct bq_store *s, int *more, char *err, size_t errlen);
  /* Optional (both NULL: never anything).  Work a commit (append, or
   * retain's) left owed that must not delay the acks of its batch (SQLite:
   * the WAL's inline checkpoint, checkpoint.h).  settle_owed says whether
   * there is any (cheap); settle does it, by the worker still holding the
   * writer token once the batch's completion has been posted, before the
   * next append.  It never fails the batch: a failure is the store's to
   * log and retry. */
  int (*settle_owed)(struct bq_store *s);
  void (*settle)(struct bq_store *s);
  /* Required with caps.deferred_sync, else NULL.  Make every commit that
   * append() or retain() returned from before this call durable.  Runs on
   * one thread (the pool's syncer), concurrently with append(), retain()
   * and settle on the writer's.  Returns 0, or a negated enum
   * bq_store_err with the reason in err.  A failure is never retried: a
   * failed flush may have dropped the data it was to write (the kernel
   * marks the pages clean), so a second flush that succeeds proves
   * nothing (the pool stops the daemon, as a crash would). */
  int (*sync)(struct bq_store *s, char *err, size_t errlen);
};

struct bq_store_caps {
  int concurrent_appends; /* 1: append() may run on several workers at
                             once (see the design block) */
  size_t max_payload;     /* largest payload one row can hold */
  size_t batch_bytes;     /* most bq_rec_cost() bytes one append() should
                             take (a batch stops short of it, at least one
                             record), 0: no bound */
  int deferred_sync;      /* 1: a commit is durable only once a later
                             sync() returns (see the design block) */
};

struct bq_store {
  const struct bq_store_ops *ops;
  struct bq_store_caps caps;
  const char *backend;    /* "sqlite 3.40.1": name and library version, in
                             static storage */
  int64_t last_conn_id;   /* highest connection id already stored */
};

/* What bq_store_check() found. */
enum bq_store_found {
  BQ_STORE_NEW = 1, /* nothing: open creates it */
  BQ_STORE_EMPTY,   /* an empty database (for SQLite: a zero-length file, or
                       one with no schema objects, user_version 0 and
                       application_id 0) */
  BQ_STORE_BURSTQ   /* exactly the schema burstqd creates, at a schema
                       version this build knows (open migrates an older one
                       to the current version, in place) */
};

struct bq_store_check {
  int found;           /* enum bq_store_found */
  int version;         /* BQ_STORE_BURSTQ: its schema version, else 0 */
  size_t max_payload;  /* as bq_store_caps.max_payload */
  const char *backend; /* as bq_store.backend (static storage) */
};

/* Copy uri into out (size outlen, truncated if need be) with any password
 * in it (user:PASSWORD@ or password=...) replaced by "***", for logs. */
void bq_store_uri_redact(const char *uri, char *out, size_t outlen);

/* Decide, without writing, whether burstqd may use the store uri names
 * (uri: a file path, or "sqlite:" and a path).  Reads only: nothing is
 * created, changed or removed (for SQLite, one exception: a file read
 * through an existing, non-empty -wal makes SQLite create or rebuild the
 * -shm index beside it, which holds no data).  Returns 0 with *out filled
 * when the store is new, empty, or a burstq store this build knows;
 * otherwise a negative value with what was found in err, phrased to follow
 * the name ("is a directory, not a database file"): -EINVAL for a URI no
 * backend takes, -ENOENT (directory missing), -EACCES, -EISDIR, -EBUSY (in
 * use by another burstqd), -EPROTO (not a burstq database or not a version
 * this build knows, truncated, damaged, a hot journal), -ECONNREFUSED
 * (a database server that cannot be reached or refuses the login). */
int bq_store_check(const char *uri, struct bq_store_check *out, char *err,
                   size_t errlen);

/* Open the store uri names, creating it only when bq_store_check() finds
 * nothing there, and hold it for this process alone (a second burstqd is
 * refused with -EBUSY).  Nothing is written before the check has accepted
 * it; a store it refuses is left as it was, with the same error; a failed
 * open removes what it created.  With opts->max_db_bytes the stored data
 * is capped (for SQLite: whole pages, at least those it already has; a
 * warning is logged when it is already at the cap).  Returns 0 and *out,
 * or a negative value (as bq_store_check, or a negated enum bq_store_err)
 * with a one-line reason in err. */
int bq_store_open(const char *uri, const struct bq_store_opts *opts,
                  struct bq_store **out, char *err, size_t errlen);

static inline int bq_store_append(struct bq_store *s, struct bq_rec *batch,
                                  char *err,
                                  size_t errlen) {
  return s->ops->append(s, batch, err, errlen);
}

static inline uint64_t bq_store_size(struct bq_store *s) {
  return s->ops->size(s);
}

static inline int bq_store_retain(struct bq_store *s, int *more, char *err,
                                  size_t errlen) {
  *more = 0;
  return s->ops->retain != NULL ? s->ops->retain(s, more, err, errlen) : 0;
}

static inline int bq_store_settle_owed(struct bq_store *s) {
  return s->ops->settle_owed != NULL && s->ops->settle_owed(s);
}

static inline void bq_store_settle(struct bq_store *s) {
  if (s->ops->settle != NULL) s->ops->settle(s);
}

static inline int bq_store_sync(struct bq_store *s, char *err,
                                size_t errlen) {
  return s->ops->sync != NULL ? s->ops->sync(s, err, errlen) : 0;
}

static inline int bq_store_close(struct bq_store *s, char *err,
                                 size_t errlen) {
  return s->ops->close(s, err, errlen);
}

/* --- backends (store.c dispatches to them) --- */

/* SQLite (store_sqlite.c): path is a file name; contracts as above. */
int bq_store_sqlite_check(const char *path, struct bq_store_check *out,
                          char *err, size_t errlen);
int bq_store_sqlite_open(const char *path, const struct bq_store_opts *opts,
                         struct bq_store **out, char *err, size_t errlen);

/* PostgreSQL (store_pg.c): uri is a libpq URI (bq_store_pg_uri says
 * which); contracts as above, with opts->node required. */
int bq_store_pg_uri(const char *uri);
int bq_store_pg_check(const char *uri, struct bq_store_check *out,
                      char *err, size_t errlen);
int bq_store_pg_open(const char *uri, const struct bq_store_opts *opts,
                     struct bq_store **out, char *err, size_t errlen);

#endif /* BQ_STORE_H */
