/*
 * dbcheck.c -- see dbcheck.h.  Owns the read-only connection and the
 * bitmaps for the duration of one call.
 */
#include "dbcheck.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "benchmsg.h"

struct conn_state {
  uint8_t *seen;       /* bit per seq 1..sent */
  uint64_t last_seq;   /* highest seq seen so far (by id) */
  int64_t daemon_conn; /* conn_id of its first row, -1 before */
};

static void add_gap(struct bq_dbcheck *o, uint32_t conn, uint64_t lo,
                    uint64_t hi) {
  size_t used = strlen(o->gaps);
  if (used + 64 >= sizeof(o->gaps)) {
    if (used + 4 < sizeof(o->gaps) && strcmp(o->gaps + used - 3, "...") != 0)
      strcat(o->gaps, "...");
    return;
  }
  if (lo == hi)
    snprintf(o->gaps + used, sizeof(o->gaps) - used, "%sconn %" PRIu32
             ": seq %" PRIu64, used ? "; " : "", conn, lo);
  else
    snprintf(o->gaps + used, sizeof(o->gaps) - used, "%sconn %" PRIu32
             ": seq %" PRIu64 "..%" PRIu64, used ? "; " : "", conn, lo, hi);
}

static int check(const char *path, uint32_t run, uint32_t nconns,
                 const uint64_t *sent, size_t size, int producers,
                 struct bq_dbcheck *out, char *err, size_t errlen) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  struct conn_state *cs;
  char prefix[BQ_BENCHMSG_PREFIX];
  uint32_t i;
  int rc, ret = 0;

  memset(out, 0, sizeof(*out));
  cs = calloc(nconns, sizeof(*cs));
  if (cs == NULL) goto oom;
  for (i = 0; i < nconns; i++) {
    cs[i].daemon_conn = -1;
    cs[i].seen = calloc(sent[i] / 8 + 1, 1);
    if (cs[i].seen == NULL) goto oom;
    out->expected += sent[i];
  }
  bq_benchmsg_prefix(prefix, run);

  rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc != SQLITE_OK) goto sqlerr;
  sqlite3_busy_timeout(db, 30000);
  /* Rows in id order: the order the daemon committed them. */
  rc = sqlite3_prepare_v2(db, producers
      /* a row's producer and pseq as the view producer_messages derives
       * them (schema 5: docs/protocol.md), for every row, so that a row
       * without them is counted, not left out */
      ? "SELECT m.conn_id, m.seq, substr(m.payload, 1, 64), "
        "length(m.payload), p.name, coalesce(m.pseq, c.pseq_base + m.seq) "
        "FROM messages AS m LEFT JOIN connections AS c ON c.id = m.conn_id "
        "LEFT JOIN producers AS p ON p.id = coalesce(m.producer, c.producer) "
        "WHERE substr(m.payload, 1, ?2) = ?1 ORDER BY m.id"
      : "SELECT conn_id, seq, substr(payload, 1, 64), length(payload) "
        "FROM messages WHERE substr(payload, 1, ?2) = ?1 ORDER BY id",
      -1, &st, NULL);
  if (rc != SQLITE_OK && producers) {
    snprintf(err, errlen,
             "%s: cannot read producers (a database of burstqd's schema 5 or "
             "later is needed): %s", path, sqlite3_errmsg(db));
    ret = -EIO;
    goto done;
  }
  if (rc != SQLITE_OK) goto sqlerr;
  sqlite3_bind_blob(st, 1, prefix, BQ_BENCHMSG_PREFIX, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, BQ_BENCHMSG_PREFIX);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t dconn = sqlite3_column_int64(st, 0);
    int64_t dseq = sqlite3_column_int64(st, 1);
    const char *p = sqlite3_column_blob(st, 2);
    size_t len = (size_t)sqlite3_column_bytes(st, 2);
    int64_t plen = sqlite3_column_int64(st, 3);
    uint32_t r, c;
    uint64_t s;
    struct conn_state *k;

    out->rows++;
    if (p == NULL || bq_benchmsg_parse(p, len, &r, &c, &s) < 0 || r != run ||
        c < 1 || c > nconns || s < 1 || s > sent[c - 1] ||
        plen != (int64_t)size) {
      out->foreign++;
      continue;
    }
    k = &cs[c - 1];
    if (k->seen[(s - 1) / 8] & (1u << ((s - 1) % 8))) {
      out->duplicates++;
    } else {
      k->seen[(s - 1) / 8] |= (uint8_t)(1u << ((s - 1) % 8));
    }
    if (s < k->last_seq) out->misordered++;
    if (s > k->last_seq) k->last_seq = s;
    if (k->daemon_conn < 0) k->daemon_conn = dconn;
    else if (k->daemon_conn != dconn) out->split++;
    if (dseq != (int64_t)s) out->seq_mismatch++;
    if (producers) {
      char want[BQ_BENCHMSG_PRODUCER_MAX];
      const unsigned char *name = sqlite3_column_text(st, 4);
      bq_benchmsg_producer(want, run, c);
      if (name == NULL || strcmp((const char *)name, want) != 0 ||
          sqlite3_column_type(st, 5) == SQLITE_NULL ||
          sqlite3_column_int64(st, 5) != (int64_t)s)
        out->producer_mismatch++;
    }
  }
  if (rc != SQLITE_DONE) goto sqlerr;

  for (i = 0; i < nconns; i++) {
    uint64_t s, gap_lo = 0;
    for (s = 1; s <= sent[i] + 1; s++) {
      int have = s > sent[i] ||
                 (cs[i].seen[(s - 1) / 8] & (1u << ((s - 1) % 8)));
      if (!have) {
        out->missing++;
        if (gap_lo == 0) gap_lo = s;
      } else if (gap_lo != 0) {
        add_gap(out, i + 1, gap_lo, s - 1);
        gap_lo = 0;
      }
    }
  }
  out->ok = out->rows == out->expected && out->missing == 0 &&
            out->duplicates == 0 && out->misordered == 0 && out->split == 0 &&
            out->seq_mismatch == 0 && out->foreign == 0 &&
            out->producer_mismatch == 0;
  goto done;

sqlerr:
  snprintf(err, errlen, "%s: %s", path,
           db ? sqlite3_errmsg(db) : "cannot open");
  ret = -EIO;
  goto done;
oom:
  snprintf(err, errlen, "out of memory");
  ret = -ENOMEM;
done:
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (cs)
    for (i = 0; i < nconns; i++) free(cs[i].seen);
  free(cs);
  return ret;
}

int bq_dbcheck_run(const char *path, uint32_t run, uint32_t nconns,
                   const uint64_t *sent, size_t size, struct bq_dbcheck *out,
                   char *err, size_t errlen) {
  return check(path, run, nconns, sent, size, 0, out, err, errlen);
}

int bq_dbcheck_producer_run(const char *path, uint32_t run, uint32_t nconns,
                            const uint64_t *sent, size_t size,
                            struct bq_dbcheck *out, char *err, size_t errlen) {
  return check(path, run, nconns, sent, size, 1, out, err, errlen);
}
