/*
 * test_retention.c -- retention (retention.h) through the SQLite store:
 * what a pass deletes and keeps, checked through a second, independent
 * sqlite3 connection.
 *
 *  - --retain-rows: after every append at most the limit plus that batch's
 *    messages are stored, always the newest ids, contiguous; the counters
 *    add up to what went;
 *  - --retain-age: messages received before now - age go, with their
 *    syslog_headers rows, and the closed connection left without
 *    messages; open connections, connections with messages and producers
 *    rows stay; the newest message is never deleted (ids never restart);
 *  - --retain-size: the pages in use, and the file, stop growing near the
 *    limit;
 *  - with --max-db-size at the cap, a retained store makes room itself;
 *  - the budget: at most bq_retain_budget() rows per pass (lag reported);
 *  - PRAGMA integrity_check is "ok" after each.
 * Each test gets a fresh directory and removes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "record.h"
#include "retention.h"
#include "store.h"
#include "store_fixture.h"

#define PER_BATCH 20

/* Append PER_BATCH messages of conn (seqs from seq0, received at ts, each
 * at least len bytes, syslog-flagged when syslog) and check it went in.
 * Returns the payload bytes. */
static int64_t put(struct bq_store *s, int64_t conn, int64_t seq0,
                   int64_t ts, size_t len, int syslog) {
  static char payload[4096];
  struct batch b;
  char err[512] = "";
  int64_t bytes = 0;
  int r;
  memset(&b, 0, sizeof(b));
  assert_true(len <= sizeof(payload));
  for (int i = 0; i < PER_BATCH; i++) {
    struct bq_rec *rec;
    int n = snprintf(payload, sizeof(payload), "<13>1 - h a - - - c%lld s%lld",
                     (long long)conn, (long long)(seq0 + i));
    memset(payload + n, 'x', len > (size_t)n ? len - (size_t)n : 0);
    rec = mkrec(BQ_REC_MSG, conn, seq0 + i, ts, payload,
                len > (size_t)n ? len : (size_t)n);
    if (syslog) rec->flags |= BQ_REC_F_SYSLOG;
    bytes += rec->len;
    batch_add(&b, rec);
  }
  r = bq_store_append(s, b.v[0], err, sizeof(err));
  if (r != 0) print_error("append: %d %s\n", r, err);
  assert_int_equal(r, 0);
  batch_free(&b);
  return bytes;
}

/* One record alone (OPEN, CLOSE) appended. */
static void put1(struct bq_store *s, int type, int64_t conn, int64_t ts,
                 const char *data) {
  struct batch b;
  char err[512] = "";
  memset(&b, 0, sizeof(b));
  batch_add(&b, mkrec(type, conn, 0, ts, data, data ? strlen(data) : 0));
  assert_int_equal(bq_store_append(s, b.v[0], err, sizeof(err)), 0);
  batch_free(&b);
}

static void check_integrity(sqlite3 *db) {
  char buf[256];
  q_text(db, "PRAGMA integrity_check", buf, sizeof(buf));
  assert_string_equal(buf, "ok");
}

/* A retained store under test, and a second connection to check it. */
struct rt {
  struct bq_retain_stats st;
  struct bq_store *s;
  sqlite3 *db;
};

static void rt_open(struct rt *t, const struct fixture *fx,
                    const struct bq_retain_limits *l, uint64_t cap) {
  bq_retain_stats_init(&t->st);
  t->s = open_store_retained(fx->path, l, &t->st, cap);
  t->db = peek_open(fx->path);
}

/* Integrity checked, both closed. */
static void rt_close(struct rt *t) {
  check_integrity(t->db);
  peek_close(t->db);
  close_store(t->s);
}

static void test_rows(void **state) {
  struct fixture *fx = *state;
  struct bq_retain_limits l = {.rows = 100};
  struct rt t;
  int64_t now = bq_unix_us(), total = 0;

  rt_open(&t, fx, &l, 0);
  put1(t.s, BQ_REC_OPEN, 1, now, "127.0.0.1:1");
  for (int i = 0; i < 40; i++) {
    int64_t n, lo, hi;
    total += put(t.s, 1, 1 + (int64_t)i * PER_BATCH, now, 10, 0);
    n = q_int(t.db, "SELECT count(*) FROM messages");
    lo = q_int(t.db, "SELECT min(id) FROM messages");
    hi = q_int(t.db, "SELECT max(id) FROM messages");
    /* never more than the limit plus one batch, the newest, contiguous */
    assert_true(n <= 100 + PER_BATCH);
    assert_int_equal(hi, (int64_t)(i + 1) * PER_BATCH);
    assert_int_equal(hi - lo + 1, n);
    assert_int_equal(q_int(t.db, "SELECT max(seq) FROM messages"), hi);
    assert_int_equal((int64_t)atomic_load(&t.st.rows), hi - n);
  }
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM messages"),
                   100 + PER_BATCH);
  assert_int_equal(atomic_load(&t.st.lag_rows), 0);
  assert_int_equal((int64_t)atomic_load(&t.st.bytes),
                   total - q_int(t.db, "SELECT sum(length(payload)) FROM "
                                     "messages"));
  /* the open connection stays */
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM connections"), 1);
  rt_close(&t);
}

static void test_age(void **state) {
  struct fixture *fx = *state;
  struct bq_retain_limits l = {.age_us = 60 * 1000000ll};
  struct rt t;
  int64_t now = bq_unix_us(), old = now - 3600 * 1000000ll;

  rt_open(&t, fx, &l, 0);
  /* an hour ago: connection 1 came, sent syslog messages, went;
   * connection 2 came with no messages and went; connection 3 came and is
   * still open; a producer was seen */
  put1(t.s, BQ_REC_OPEN, 1, old, "127.0.0.1:1");
  put1(t.s, BQ_REC_OPEN, 2, old, "127.0.0.1:2");
  put1(t.s, BQ_REC_OPEN, 3, old, "127.0.0.1:3");
  put(t.s, 1, 1, old, 10, 1);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM syslog_headers"),
                   PER_BATCH);
  put(t.s, 3, 1, old, 10, 0);
  put1(t.s, BQ_REC_CLOSE, 1, old + 1, NULL);
  put1(t.s, BQ_REC_CLOSE, 2, old + 1, NULL);
  exec_ok(t.db, "INSERT INTO producers(name, committed, created_at, "
              "updated_at) VALUES('p', 7, 1, 1)");
  /* now connection 4 sends: every old message goes (the newest one at
   * the pass after it stops being the newest) */
  put1(t.s, BQ_REC_OPEN, 4, now, "127.0.0.1:4");
  put(t.s, 4, 1, now, 10, 0);
  put(t.s, 4, 1 + PER_BATCH, now, 10, 0);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM messages"), 2 * PER_BATCH);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM messages WHERE conn_id "
                             "<> 4"),
                   0);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM syslog_headers"), 0);
  assert_int_equal(atomic_load(&t.st.rows), 2 * PER_BATCH);
  /* closed and without messages: gone; open (3) and newest (4): kept */
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM connections"), 2);
  assert_int_equal(q_int(t.db, "SELECT min(id) FROM connections"), 3);
  assert_int_equal(atomic_load(&t.st.conns), 2);
  assert_int_equal(q_int(t.db, "SELECT committed FROM producers"), 7);
  assert_true(atomic_load(&t.st.oldest_us) >= now);

  /* everything old, even the newest: all but the newest message go, so
   * the next id continues from it */
  exec_ok(t.db, "UPDATE messages SET received_at = 1");
  put1(t.s, BQ_REC_CLOSE, 3, now, NULL);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM messages"), 1);
  assert_int_equal(q_int(t.db, "SELECT max(id) FROM messages"),
                   4 * PER_BATCH);
  put(t.s, 4, 1 + 2 * PER_BATCH, now, 10, 0);
  assert_int_equal(q_int(t.db, "SELECT max(id) FROM messages"),
                   5 * PER_BATCH);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM messages"),
                   PER_BATCH + 1);
  rt_close(&t);
}

static void test_size(void **state) {
  struct fixture *fx = *state;
  const int64_t limit = 512 * 1024;
  struct bq_retain_limits l = {.bytes = (uint64_t)limit};
  struct rt t;
  int64_t now = bq_unix_us(), pages_at_200 = 0;

  rt_open(&t, fx, &l, 0);
  for (int i = 0; i < 400; i++) {
    int64_t pages, free_pages, psz;
    put(t.s, 1, 1 + (int64_t)i * PER_BATCH, now, 1000, 0);
    pages = q_int(t.db, "PRAGMA page_count");
    free_pages = q_int(t.db, "PRAGMA freelist_count");
    psz = q_int(t.db, "PRAGMA page_size");
    /* in use: the limit plus this batch's pages, with room for the
     * estimate (a batch is about 20 KiB) */
    assert_true((pages - free_pages) * psz <= limit + 64 * 1024);
    if (i == 200) pages_at_200 = pages;
    /* the file stops growing once the limit is reached */
    if (i > 200) assert_true(pages <= pages_at_200 + 16);
  }
  assert_true(atomic_load(&t.st.rows) > 0);
  rt_close(&t);
}

static void test_full_makes_room(void **state) {
  struct fixture *fx = *state;
  const uint64_t cap = 512 * 1024;
  struct bq_retain_limits l = {.rows = 100};
  struct rt t;
  struct bq_store *s;
  char err[512];
  int64_t now = bq_unix_us(), seq = 1;
  int r = 0;

  /* filled to the cap without retention ... */
  s = open_store_capped(fx->path, cap);
  for (int i = 0; i < 10000 && r == 0; i++) {
    struct batch b;
    char p[1000];
    memset(&b, 0, sizeof(b));
    memset(p, 'y', sizeof(p));
    for (int j = 0; j < PER_BATCH; j++)
      batch_add(&b, mkrec(BQ_REC_MSG, 1, seq + j, now, p, sizeof(p)));
    r = bq_store_append(s, b.v[0], err, sizeof(err));
    if (r == 0) seq += PER_BATCH;
    batch_free(&b);
  }
  assert_int_equal(r, -BQ_STORE_FULL);
  close_store(s);
  /* ... then reopened with it: the appends go on, under the cap */
  rt_open(&t, fx, &l, cap);
  for (int i = 0; i < 100; i++) {
    put(t.s, 1, seq, now, 1000, 0);
    seq += PER_BATCH;
    assert_true((uint64_t)(q_int(t.db, "PRAGMA page_count") *
                           q_int(t.db, "PRAGMA page_size")) <= cap);
  }
  assert_true(q_int(t.db, "SELECT count(*) FROM messages") <= 100 + PER_BATCH);
  rt_close(&t);
}

static void test_budget(void **state) {
  struct fixture *fx = *state;
  struct bq_retain_limits l = {.rows = 10};
  struct rt t;
  struct bq_store *s;
  int64_t now = bq_unix_us();

  assert_int_equal(bq_retain_budget(0), BQ_RETAIN_MIN_BUDGET);
  assert_int_equal(bq_retain_budget(20), BQ_RETAIN_MIN_BUDGET);
  assert_int_equal(bq_retain_budget(8192), 16384);
  assert_int_equal(bq_retain_budget(UINT64_MAX), UINT64_MAX);
  /* 3000 rows stored without retention, then one pass may take 1024 */
  s = open_store(fx->path, BQ_SYNC_NORMAL);
  for (int i = 0; i < 150; i++)
    put(s, 1, 1 + (int64_t)i * PER_BATCH, now, 10, 0);
  close_store(s);
  rt_open(&t, fx, &l, 0);
  put(t.s, 1, 3001, now, 10, 0);
  assert_int_equal(atomic_load(&t.st.rows), BQ_RETAIN_MIN_BUDGET);
  assert_int_equal(atomic_load(&t.st.lag_rows),
                   3000 - 10 - BQ_RETAIN_MIN_BUDGET);
  assert_int_equal(q_int(t.db, "SELECT min(id) FROM messages"),
                   BQ_RETAIN_MIN_BUDGET + 1);
  /* and the next passes catch up */
  for (int i = 0; i < 3; i++) put(t.s, 1, 3021 + i * PER_BATCH, now, 10, 0);
  assert_int_equal(atomic_load(&t.st.lag_rows), 0);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM messages"),
                   10 + PER_BATCH);
  rt_close(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      STORE_TEST(test_rows), STORE_TEST(test_age), STORE_TEST(test_size),
      STORE_TEST(test_full_makes_room), STORE_TEST(test_budget)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
