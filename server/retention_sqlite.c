/*
 * retention_sqlite.c -- the SQLite pass of retention.h.
 *
 * Owns the pass's prepared statements on store_sqlite.c's connection; runs
 * only inside store_sqlite.c's append transaction, on the writer-token
 * holder (one at a time).  With checkpoint.c and store_sqlite.c the only
 * daemon code that includes sqlite3.h.
 *
 * Messages are deleted by rowid range [lo, to), lo being the lowest id, so
 * each pass costs about what the rows it deletes cost to insert, and reads
 * only the rows it deletes (id, received_at and the payload's length,
 * which SQLite takes from the record header).  Free pages are reused by
 * the inserts that follow (no auto_vacuum: see docs/operations.md), so a
 * file whose deletions keep up with its inserts stops growing.
 */
#include "retention.h"

#include <assert.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdlib.h>

struct bq_retain_sqlite {
  const struct bq_retain_limits *lim;
  sqlite3_stmt *bounds; /* lowest and highest message id */
  sqlite3_stmt *pages;  /* page_count, freelist_count, page_size */
  sqlite3_stmt *walk;   /* id, received_at, length(payload) from ?1 on */
  sqlite3_stmt *next;   /* received_at of the first message from ?1 on */
  sqlite3_stmt *del_hdr, *del_msg, *del_conn;
};

void bq_retain_sqlite_close(struct bq_retain_sqlite *r) {
  if (r == NULL) return;
  sqlite3_finalize(r->bounds);
  sqlite3_finalize(r->pages);
  sqlite3_finalize(r->walk);
  sqlite3_finalize(r->next);
  sqlite3_finalize(r->del_hdr);
  sqlite3_finalize(r->del_msg);
  sqlite3_finalize(r->del_conn);
  free(r);
}

int bq_retain_sqlite_open(struct sqlite3 *db, const struct bq_retain_limits *l,
                          struct bq_retain_sqlite **out) {
  static const struct {
    size_t off;
    const char *sql;
  } stmts[] = {
      {offsetof(struct bq_retain_sqlite, bounds),
       "SELECT (SELECT min(id) FROM messages), (SELECT max(id) FROM "
       "messages)"},
      {offsetof(struct bq_retain_sqlite, pages),
       "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT "
       "freelist_count FROM pragma_freelist_count()), (SELECT page_size "
       "FROM pragma_page_size())"},
      {offsetof(struct bq_retain_sqlite, walk),
       "SELECT id, received_at, length(payload) FROM messages WHERE id >= ?1 "
       "AND id < ?2 ORDER BY id"},
      {offsetof(struct bq_retain_sqlite, next),
       "SELECT received_at FROM messages WHERE id >= ?1 ORDER BY id LIMIT 1"},
      {offsetof(struct bq_retain_sqlite, del_hdr),
       "DELETE FROM syslog_headers WHERE message_id >= ?1 AND message_id < "
       "?2"},
      {offsetof(struct bq_retain_sqlite, del_msg),
       "DELETE FROM messages WHERE id >= ?1 AND id < ?2"},
      /* closed before the oldest kept message arrived: none of its
       * messages is left (each was received before its close); never the
       * newest row, so that connection ids never start over */
      {offsetof(struct bq_retain_sqlite, del_conn),
       "DELETE FROM connections WHERE id IN (SELECT id FROM connections "
       "WHERE closed_at < ?1 AND id < (SELECT max(id) FROM connections) "
       "ORDER BY id LIMIT ?2)"},
  };
  struct bq_retain_sqlite *r = calloc(1, sizeof(*r));
  if (r == NULL) return SQLITE_NOMEM;
  r->lim = l;
  for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
    sqlite3_stmt **st = (sqlite3_stmt **)(void *)((char *)r + stmts[i].off);
    int rc = sqlite3_prepare_v3(db, stmts[i].sql, -1,
                                SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK) {
      bq_retain_sqlite_close(r);
      return rc;
    }
  }
  *out = r;
  return SQLITE_OK;
}

/* Step st to its one row (or none: *got = 0), leaving it to the caller to
 * read and reset.  Returns SQLITE_OK or an error (st reset). */
static int row(sqlite3_stmt *st, int *got) {
  int rc = sqlite3_step(st);
  *got = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return SQLITE_OK;
  sqlite3_reset(st);
  return rc;
}

/* Run a statement with two integer parameters that returns no row. */
static int run2(sqlite3_stmt *st, sqlite3_int64 a, sqlite3_int64 b,
                uint64_t *changes) {
  int rc = sqlite3_bind_int64(st, 1, a);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, b);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return rc == SQLITE_OK ? SQLITE_ERROR : rc;
  if (changes)
    *changes = (uint64_t)sqlite3_changes64(sqlite3_db_handle(st));
  return SQLITE_OK;
}

/* The first id that --retain-rows and --retain-size let stay, at least lo
 * (both count from the ids, so gaps left by deletions of someone else's
 * count as rows). */
static int size_rows_cut(struct bq_retain_sqlite *r, sqlite3_int64 lo,
                         sqlite3_int64 hi, sqlite3_int64 *cut) {
  *cut = lo;
  if (r->lim->rows > 0 && (uint64_t)(hi - lo + 1) > r->lim->rows)
    *cut = hi - (sqlite3_int64)r->lim->rows + 1;
  if (r->lim->bytes > 0) {
    int got, rc = row(r->pages, &got);
    sqlite3_int64 used = 0;
    if (rc != SQLITE_OK) return rc;
    if (got)
      used = (sqlite3_column_int64(r->pages, 0) -
              sqlite3_column_int64(r->pages, 1)) *
             sqlite3_column_int64(r->pages, 2);
    sqlite3_reset(r->pages);
    if (used > 0 && (uint64_t)used > r->lim->bytes) {
      /* rows to go: the excess over the average bytes per row, rounded
       * up; the pass after the next corrects the estimate */
      sqlite3_int64 n = hi - lo + 1;
      sqlite3_int64 avg = used / n > 0 ? used / n : 1;
      sqlite3_int64 over = used - (sqlite3_int64)r->lim->bytes;
      sqlite3_int64 c = lo + (over + avg - 1) / avg;
      if (c > *cut) *cut = c;
    }
  }
  if (*cut > hi) *cut = hi; /* never the newest */
  return SQLITE_OK;
}

int bq_retain_sqlite_pass(struct bq_retain_sqlite *r, uint64_t budget,
                          int64_t now_us, struct bq_retain_pass *p) {
  sqlite3_int64 lo, hi, cut, limit, to;
  int64_t age_cut = r->lim->age_us > 0 ? now_us - (int64_t)r->lim->age_us
                                       : INT64_MIN;
  int rc, got, kept = 0;

  assert(budget >= 1 && budget < (uint64_t)INT64_MAX / 2);
  p->rows = p->bytes = p->conns = p->lag_rows = 0;
  p->oldest_us = 0;
  rc = row(r->bounds, &got);
  if (rc != SQLITE_OK) return rc;
  if (sqlite3_column_type(r->bounds, 0) == SQLITE_NULL) {
    sqlite3_reset(r->bounds);
    return SQLITE_OK; /* no messages */
  }
  lo = sqlite3_column_int64(r->bounds, 0);
  hi = sqlite3_column_int64(r->bounds, 1);
  sqlite3_reset(r->bounds);
  assert(lo <= hi);
  rc = size_rows_cut(r, lo, hi, &cut);
  if (rc != SQLITE_OK) return rc;
  limit = hi - lo > (sqlite3_int64)budget ? lo + (sqlite3_int64)budget : hi;
  /* The prefix to delete: ids below cut, then while older than age. */
  to = lo;
  rc = sqlite3_bind_int64(r->walk, 1, lo);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(r->walk, 2, limit);
  while (rc == SQLITE_OK && (rc = sqlite3_step(r->walk)) == SQLITE_ROW) {
    sqlite3_int64 id = sqlite3_column_int64(r->walk, 0);
    int64_t at = sqlite3_column_int64(r->walk, 1);
    if (id >= cut && at >= age_cut) {
      p->oldest_us = at;
      kept = 1;
      break;
    }
    p->rows++;
    p->bytes += (uint64_t)sqlite3_column_int64(r->walk, 2);
    to = id + 1;
    rc = SQLITE_OK;
  }
  sqlite3_reset(r->walk);
  if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
  if (p->rows > 0) {
    rc = run2(r->del_hdr, lo, to, NULL);
    if (rc == SQLITE_OK) rc = run2(r->del_msg, lo, to, NULL);
    if (rc != SQLITE_OK) return rc;
  }
  if (!kept) { /* the walk ended at its limit: the next kept message */
    rc = sqlite3_bind_int64(r->next, 1, to);
    if (rc == SQLITE_OK) rc = row(r->next, &got);
    if (rc != SQLITE_OK) return rc;
    if (got) p->oldest_us = sqlite3_column_int64(r->next, 0);
    sqlite3_reset(r->next);
  }
  if (cut > to) p->lag_rows = (uint64_t)(cut - to);
  if (p->rows > 0 && p->oldest_us > 0) {
    rc = run2(r->del_conn, p->oldest_us, (sqlite3_int64)budget, &p->conns);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}
