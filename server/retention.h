/*
 * retention.h -- deleting the oldest messages to keep the stored data
 * within --retain-age, --retain-size and --retain-rows (issue 17;
 * docs/operations.md "Retention").
 *
 * Design: the limits (struct bq_retain_limits) and what the passes did
 * (struct bq_retain_stats) are backend-neutral and live in retention.c; a
 * backend runs the pass itself, inside its own transactions, because only
 * it knows its tables (SQLite: retention_sqlite.c, called by
 * store_sqlite.c's append; PostgreSQL: retention_pg.c, called by
 * store_pg.c's).  A pass deletes a prefix of the messages in id
 * order (oldest first): every message whose id is below the newest
 * --retain-rows ids, whose received_at is older than --retain-age, or,
 * while the pages in use exceed --retain-size, the oldest ones estimated to
 * free the excess; at most bq_retain_budget() rows per pass, never the
 * newest message (so ids never start over), with their syslog_headers rows,
 * and closed connections that closed before the oldest kept message was
 * received.  producers rows are never deleted.
 *
 * Threads: limits are set at start-up and read-only after.  The stats are
 * written by the writer-token holder after a committed pass (relaxed C11
 * atomics, one writer at a time) and read by the loop thread when it
 * renders /metrics.
 */
#ifndef BQ_RETENTION_H
#define BQ_RETENTION_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"

/* Rows a pass may delete at least, whatever the batch. */
#define BQ_RETAIN_MIN_BUDGET 1024

/* An idle pass (store.h's retain) has the budget of a batch of this many
 * messages. */
#define BQ_RETAIN_IDLE_MSGS 4096

struct bq_retain_limits {
  uint64_t age_us; /* delete messages received longer ago; 0: no limit */
  uint64_t bytes;  /* stored data (pages in use) to stay under; 0: none */
  uint64_t rows;   /* newest ids to keep; 0: no limit */
};

/* What one committed pass did and saw. */
struct bq_retain_pass {
  uint64_t rows;        /* messages deleted */
  uint64_t bytes;       /* their payload bytes */
  uint64_t conns;       /* connections rows deleted */
  int64_t oldest_us;    /* received_at of the oldest message kept; 0: none */
  uint64_t lag_rows;    /* rows over --retain-rows/--retain-size still
                           stored because of the per-pass budget */
};

struct bq_retain_stats {
  _Atomic uint64_t passes;      /* committed passes that deleted something */
  _Atomic uint64_t rows;        /* totals of struct bq_retain_pass */
  _Atomic uint64_t bytes;
  _Atomic uint64_t conns;
  _Atomic int64_t oldest_us;    /* as of the last pass; 0: unknown/none */
  _Atomic uint64_t lag_rows;    /* as of the last pass */
};

/* 1 when any limit is set. */
int bq_retain_on(const struct bq_retain_limits *l);

/* The most rows one pass may delete when the transaction writes batch_msgs
 * messages: twice the batch, at least BQ_RETAIN_MIN_BUDGET, so that
 * deletion outpaces ingest and converges without making one transaction
 * much longer than its batch. */
uint64_t bq_retain_budget(uint64_t batch_msgs);

/* Zero s (before the workers start). */
void bq_retain_stats_init(struct bq_retain_stats *s);

/* Add a committed pass to s (writer-token holder only). */
void bq_retain_record(struct bq_retain_stats *s,
                      const struct bq_retain_pass *p);

/* Append the burstq_retention_* metrics of s and l to out, now_us being
 * the wall clock (for the oldest message's age).  Nothing when no limit is
 * set.  Loop thread. */
void bq_retain_render(const struct bq_retain_stats *s,
                      const struct bq_retain_limits *l, int64_t now_us,
                      struct bq_buf *out);

/* --- the SQLite pass (retention_sqlite.c) --- */

struct sqlite3;
struct bq_retain_sqlite;

/* Prepare the pass's statements on db (schema version 4) for limits l,
 * which must outlive it.  Returns SQLITE_OK with *out, or an SQLite error
 * code (nothing allocated). */
int bq_retain_sqlite_open(struct sqlite3 *db, const struct bq_retain_limits *l,
                          struct bq_retain_sqlite **out);

/* Inside the caller's write transaction: delete at most budget rows as the
 * design block says, now_us being the wall clock, and fill *p.  Returns
 * SQLITE_OK or an SQLite error code (the caller rolls back). */
int bq_retain_sqlite_pass(struct bq_retain_sqlite *r, uint64_t budget,
                          int64_t now_us, struct bq_retain_pass *p);

/* Finalize the statements and free r (NULL: nothing). */
void bq_retain_sqlite_close(struct bq_retain_sqlite *r);

/* --- the PostgreSQL pass (retention_pg.c) --- */

struct pg_conn;   /* libpq's PGconn */
struct pg_result; /* libpq's PGresult */
struct bq_retain_pg;

/* A pass's state for limits l, which must outlive it.  Returns 0 with
 * *out, or -1 (out of memory). */
int bq_retain_pg_open(const struct bq_retain_limits *l,
                      struct bq_retain_pg **out);

/* Inside the caller's transaction on c (schema version 4): with may_delete,
 * delete at most budget ids' worth of the oldest messages as the design
 * block says (with their syslog_headers rows and the connections left
 * without messages); without it (another daemon holds the retention
 * lock), only look.  now_us is the wall clock.  Fills *p (lag_rows: what
 * the limits call for and this pass did not delete).  Returns 0, or -1
 * with the failed statement's result in *failed (NULL: the connection
 * failed), for the caller to translate, clear and roll back. */
int bq_retain_pg_pass(struct bq_retain_pg *r, struct pg_conn *c,
                      uint64_t budget, int64_t now_us, int may_delete,
                      struct bq_retain_pass *p, struct pg_result **failed);

/* Free r (NULL: nothing). */
void bq_retain_pg_close(struct bq_retain_pg *r);

#endif /* BQ_RETENTION_H */
