/*
 * retention_pg.c -- the PostgreSQL pass of retention.h.
 *
 * Owns the pass's cached size estimate (struct bq_retain_pg); runs on
 * store_pg.c's connection, inside its transaction (a batch's, or an idle
 * pass's own), on the writer-token holder (one at a time in a daemon).
 * Several daemons may share the database: store_pg.c takes a
 * transaction-level advisory lock first and calls with may_delete = 0
 * when another daemon holds it, so exactly one deletes at a time and the
 * others never wait.  With store_pg.c the only daemon code that includes
 * libpq-fe.h; a failed statement's result goes back to store_pg.c, which
 * translates it.
 *
 * Chunked DELETE, not time partitions: messages is one plain table
 * (schema 4, shared with SQLite's queries), so no migration is needed,
 * and a pass deletes a prefix by id, the messages below some id "to",
 * through the primary key, so it costs about what its rows cost to
 * insert.  Every statement is bounded
 * by the budget or an index probe: min(id) and max(id); the first id from
 * max(lo, cut) on received at or after now - age (at most budget ids
 * read); one DELETE of the range.  Nothing counts the rows (no O(N)
 * scan): --retain-rows and --retain-size are turned into a cut in id
 * space, as on SQLite, so gaps in the ids (identity values burned by
 * rolled-back batches or by a server crash) count as rows.
 *
 * Ids come from one identity sequence that every daemon draws from, and
 * a batch's rows become visible at its COMMIT.  So --retain-rows and
 * --retain-size count down from the sequence's last value (ids other
 * daemons' batches in flight hold included, as if committed), not from
 * max(id); a batch in flight may still commit rows with ids below a cut
 * already applied, and the next pass deletes them (they are not among the
 * newest ids); the DELETE has no lower bound, so none is left below the
 * ones it deletes.
 *
 * Budget: with several daemons only one deletes at a time, and the
 * others' passes skip, so a pass deletes up to the larger of the budget it
 * is given (retention.h: twice its batch) and twice the ids the table took
 * since this daemon's previous deleting pass (all daemons' inserts), at most
 * BUDGET_GROWTH times the budget given: deletion outpaces the shared
 * ingest as long as some passes get the lock, and one pass stays within a
 * few batches' work.
 *
 * --retain-size: PostgreSQL never shrinks a table by DELETE (VACUUM makes
 * the space reusable), so the size is not the files' but an estimate of
 * the live data: the id span (max - min + 1) times the mean stored bytes
 * of the newest SAMPLE_ROWS messages (payload length, ROW_BYTES per row,
 * and their syslog_headers rows), sampled at most every SAMPLE_EVERY_MS.
 *
 * Connections: a pass deletes, per node whose messages it deleted, that
 * node's connections closed before the newest message of the node it
 * deleted (never the node's newest row, so that connection ids never start
 * over after a restart).  A node's messages are stored in its queue's
 * order, so all of such a connection's messages came before that one and
 * are gone: the SQLite rule, kept exact across daemons whose clocks or
 * commits differ.
 */
#include "retention.h"

#include <assert.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A pass's budget may grow up to this many times the one it is given. */
#define BUDGET_GROWTH 8

/* Messages the --retain-size estimate samples, and how often. */
#define SAMPLE_ROWS 1024
#define SAMPLE_EVERY_MS 2000

/* Stored bytes of a messages row besides its payload: tuple header (24),
 * five bigints (40), line pointer (4), primary-key index entry (20). */
#define ROW_BYTES 88
/* The same for a syslog_headers row besides its columns. */
#define HDR_BYTES 48

#define STR_(x) #x
#define STR(x) STR_(x)

struct bq_retain_pg {
  const struct bq_retain_limits *lim;
  int64_t last_hi;     /* max(id) at this daemon's previous deleting pass;
                          0: none yet */
  uint64_t row_bytes;  /* mean stored bytes of a message; 0: not sampled */
  uint64_t sampled_ms; /* when */
};

int bq_retain_pg_open(const struct bq_retain_limits *l,
                      struct bq_retain_pg **out) {
  struct bq_retain_pg *r = calloc(1, sizeof(*r));
  if (r == NULL) return -1;
  r->lim = l;
  *out = r;
  return 0;
}

void bq_retain_pg_close(struct bq_retain_pg *r) { free(r); }

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run sql with up to three bigint parameters, expecting rows.  Returns
 * the result, or NULL with the failed one in *failed (the caller's). */
static PGresult *q(PGconn *c, const char *sql, int n, const int64_t *v,
                   PGresult **failed) {
  char buf[3][24];
  const char *params[3] = {NULL, NULL, NULL};
  PGresult *res;
  assert(n >= 0 && n <= 3);
  for (int i = 0; i < n; i++) {
    snprintf(buf[i], sizeof(buf[i]), "%" PRId64, v[i]);
    params[i] = buf[i];
  }
  res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) == PGRES_TUPLES_OK) return res;
  *failed = res;
  return NULL;
}

static int64_t col(const PGresult *res, int row, int column) {
  return PQgetisnull(res, row, column)
             ? 0
             : strtoll(PQgetvalue(res, row, column), NULL, 10);
}

/* The mean stored bytes of the newest messages (hi: the highest id), per
 * the design block; cached for SAMPLE_EVERY_MS. */
static int sample(struct bq_retain_pg *r, PGconn *c, int64_t hi,
                  PGresult **failed) {
  int64_t v[1] = {hi - SAMPLE_ROWS};
  uint64_t t = mono_ms();
  PGresult *res;
  int64_t n, bytes;
  if (r->row_bytes > 0 && t - r->sampled_ms < SAMPLE_EVERY_MS) return 0;
  res = q(c,
          "SELECT count(*), coalesce(sum(octet_length(m.payload)), 0)"
          " + count(*) * " STR(ROW_BYTES)
          " + coalesce(sum(pg_column_size(h.*) + " STR(HDR_BYTES)
          "), 0) FROM messages m LEFT JOIN syslog_headers h"
          " ON h.message_id = m.id WHERE m.id > $1",
          1, v, failed);
  if (res == NULL) return -1;
  n = col(res, 0, 0);
  bytes = col(res, 0, 1);
  PQclear(res);
  r->sampled_ms = t;
  r->row_bytes = n > 0 && bytes / n > 0 ? (uint64_t)(bytes / n) : ROW_BYTES;
  return 0;
}

/* The first id that --retain-rows and --retain-size let stay, at least lo
 * and never above hi (the highest id stored), counting down from top (the
 * highest id drawn, in flight included). */
static int size_rows_cut(struct bq_retain_pg *r, PGconn *c, int64_t lo,
                         int64_t hi, int64_t top, int64_t *cut,
                         PGresult **failed) {
  *cut = lo;
  if (r->lim->rows > 0 && (uint64_t)(top - lo + 1) > r->lim->rows)
    *cut = top - (int64_t)r->lim->rows + 1;
  if (r->lim->bytes > 0) {
    uint64_t keep;
    if (sample(r, c, hi, failed) < 0) return -1;
    keep = r->lim->bytes / r->row_bytes;
    if (keep < 1) keep = 1;
    if ((uint64_t)(top - lo + 1) > keep && top - (int64_t)keep + 1 > *cut)
      *cut = top - (int64_t)keep + 1;
  }
  if (*cut > hi) *cut = hi; /* never the newest */
  return 0;
}

int bq_retain_pg_pass(struct bq_retain_pg *r, struct pg_conn *c,
                      uint64_t budget, int64_t now_us, int may_delete,
                      struct bq_retain_pass *p, struct pg_result **failed) {
  int64_t lo, hi, top, cut, limit, to, from;
  int64_t age_cut = r->lim->age_us > 0 ? now_us - (int64_t)r->lim->age_us
                                       : INT64_MIN;
  PGresult *res;
  int kept = 0;

  assert(budget >= 1 && budget < (uint64_t)INT64_MAX / 2);
  *failed = NULL;
  p->rows = p->bytes = p->conns = p->lag_rows = 0;
  p->oldest_us = 0;
  res = q(c,
          "SELECT min(id), max(id), (SELECT last_value FROM messages_id_seq)"
          " FROM messages",
          0, NULL, failed);
  if (res == NULL) return -1;
  if (PQgetisnull(res, 0, 0)) {
    PQclear(res);
    return 0; /* no messages */
  }
  lo = col(res, 0, 0);
  hi = col(res, 0, 1);
  top = col(res, 0, 2);
  PQclear(res);
  assert(lo <= hi);
  if (top < hi) top = hi;
  /* Other daemons insert too: twice what the table took since this
   * daemon last deleted, up to BUDGET_GROWTH budgets (the design block). */
  if (may_delete && r->last_hi > 0 && hi > r->last_hi) {
    uint64_t took = (uint64_t)(hi - r->last_hi);
    uint64_t most = budget * BUDGET_GROWTH;
    uint64_t want = took < most / 2 ? 2 * took : most;
    if (want > budget) budget = want;
  }
  if (may_delete) r->last_hi = hi;
  if (size_rows_cut(r, c, lo, hi, top, &cut, failed) < 0) return -1;
  limit = hi - lo > (int64_t)budget ? lo + (int64_t)budget : hi;
  if (!may_delete) limit = lo; /* another daemon deletes: look only */
  /* The prefix to delete ends at the first message from max(lo, cut) on
   * that is young enough, or at limit. */
  from = cut > lo ? cut : lo;
  to = limit;
  if (from < limit) {
    int64_t v[3] = {from, limit, age_cut};
    res = q(c,
            "SELECT id, received_at FROM messages WHERE id >= $1 AND id < $2"
            " AND received_at >= $3 ORDER BY id LIMIT 1",
            3, v, failed);
    if (res == NULL) return -1;
    if (PQntuples(res) == 1) {
      to = col(res, 0, 0);
      p->oldest_us = col(res, 0, 1);
      kept = 1;
    }
    PQclear(res);
  }
  if (to > lo) {
    /* The messages below to, oldest first (lo was read in an earlier
     * snapshot: rows with lower ids may have been committed since; the
     * LIMIT, twice the ids in the budget, is a bound, and whatever it
     * deletes is still a prefix by id), their headers, and per node the
     * connections closed before the newest of its messages deleted (the
     * design block).  ORDER BY id LIMIT keeps the plan on the primary
     * key whatever the statistics say. */
    int64_t v[3] = {to, (int64_t)budget, 2 * (int64_t)budget};
    res = q(c,
            "WITH d AS (DELETE FROM messages WHERE id IN (SELECT id"
            "  FROM messages WHERE id < $1 ORDER BY id LIMIT $3)"
            "  RETURNING id, conn_id, received_at,"
            "  octet_length(payload) AS n),"
            " h AS (DELETE FROM syslog_headers"
            "  WHERE message_id IN (SELECT id FROM d)),"
            " w AS (SELECT conn_id >> 40 AS node, max(received_at) AS t"
            "  FROM d GROUP BY 1),"
            " x AS (DELETE FROM connections WHERE id IN ("
            "  SELECT k.id FROM w JOIN connections k"
            "   ON k.id >= w.node << 40 AND k.id < (w.node + 1) << 40"
            "  WHERE k.closed_at < w.t AND k.id < (SELECT max(y.id)"
            "   FROM connections y WHERE y.id >= w.node << 40"
            "   AND y.id < (w.node + 1) << 40)"
            "  ORDER BY k.id LIMIT $2) RETURNING 1)"
            " SELECT (SELECT count(*) FROM d),"
            " (SELECT coalesce(sum(n), 0) FROM d), (SELECT count(*) FROM x)",
            3, v, failed);
    if (res == NULL) return -1;
    p->rows = (uint64_t)col(res, 0, 0);
    p->bytes = (uint64_t)col(res, 0, 1);
    p->conns = (uint64_t)col(res, 0, 2);
    PQclear(res);
  }
  if (!kept) { /* the oldest message left */
    int64_t v[1] = {to};
    res = q(c,
            "SELECT received_at FROM messages WHERE id >= $1 ORDER BY id"
            " LIMIT 1",
            1, v, failed);
    if (res == NULL) return -1;
    if (PQntuples(res) == 1) p->oldest_us = col(res, 0, 0);
    PQclear(res);
  }
  if (cut > to) p->lag_rows = (uint64_t)(cut - to);
  return 0;
}
