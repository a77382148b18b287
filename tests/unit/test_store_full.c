/*
 * test_store_full.c -- the SQLite store when the disk is full: a full
 * database is a transient failure, and nothing acknowledged is lost.
 *
 * What is checked, through a second, independent sqlite3 connection:
 *  - at the --max-db-size cap (PRAGMA max_page_count) append() fails with
 *    -BQ_STORE_FULL (retryable) and a "full" message, the failed batch leaves no row, the
 *    very same batch goes through once rows deleted by another connection
 *    have freed pages, and the file never grows past the cap;
 *  - a database already over the cap opens (intake will just pause) and
 *    refuses appends until it is reopened without the cap;
 *  - a real short write (the file-size limit, RLIMIT_FSIZE, with SIGXFSZ
 *    ignored: the kernel then fails writes past it with EFBIG, as a full
 *    disk fails them with ENOSPC) is transient too, and the same batch is
 *    committed once the limit is lifted;
 *  - after all of it PRAGMA integrity_check is "ok".
 *
 * Each test gets a fresh directory from mkdtemp() and removes it.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "record.h"
#include "store.h"
#include "store_fixture.h"

#define PAYLOAD 3000   /* bytes per message: a few per 4 KiB page */
#define PER_BATCH 20   /* messages per batch */
#define CAP (512 * 1024)

static void fill_payload(char *p, int64_t conn_id, int64_t seq) {
  int n = snprintf(p, PAYLOAD, "c%lld-s%lld-", (long long)conn_id,
                   (long long)seq);
  for (int i = n; i < PAYLOAD; i++) p[i] = (char)('a' + (seq + i) % 26);
}

/* *b := PER_BATCH messages of connection conn_id with seqs from seq0, each
 * PAYLOAD bytes that spell out (conn_id, seq). */
static void batch_make(struct batch *b, int64_t conn_id, int64_t seq0) {
  char p[PAYLOAD];
  b->n = 0;
  for (int i = 0; i < PER_BATCH; i++) {
    fill_payload(p, conn_id, seq0 + i);
    batch_add(b, mkrec(BQ_REC_MSG, conn_id, seq0 + i, 1, p, PAYLOAD));
  }
}

static int append(struct bq_store *s, struct batch *b, char *err,
                  size_t errlen) {
  err[0] = '\0';
  return bq_store_append(s, b->v[0], err, errlen);
}

/* Every stored row is byte-exact: the payload its (conn_id, seq) names. */
static void check_rows_exact(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  char want[PAYLOAD];
  long rows = 0;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT conn_id, seq, payload FROM "
                                      "messages",
                                      -1, &st, NULL),
                   SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    fill_payload(want, sqlite3_column_int64(st, 0),
                 sqlite3_column_int64(st, 1));
    assert_int_equal(sqlite3_column_bytes(st, 2), PAYLOAD);
    assert_memory_equal(sqlite3_column_blob(st, 2), want, PAYLOAD);
    rows++;
  }
  sqlite3_finalize(st);
  assert_true(rows > 0);
}

static void check_integrity(sqlite3 *db) {
  char buf[256];
  q_text(db, "PRAGMA integrity_check", buf, sizeof(buf));
  assert_string_equal(buf, "ok");
}

/* Append batches of connection conn_id until one fails; return how many
 * went in, leaving the failed one in *failed (seqs after them). */
static int fill_until_full(struct bq_store *s, int64_t conn_id,
                           struct batch *failed, char *err, size_t errlen) {
  for (int n = 0; n < 10000; n++) {
    struct batch b;
    int r;
    batch_make(&b, conn_id, 1 + (int64_t)n * PER_BATCH);
    r = append(s, &b, err, errlen);
    if (r != 0) {
      if (!bq_store_retryable(r)) print_error("append: %d %s\n", r, err);
      assert_true(bq_store_retryable(r)); /* full is transient */
      *failed = b;
      return n;
    }
    batch_free(&b);
  }
  fail_msg("the database never filled up");
  return -1;
}

static void test_cap_full_then_delete_frees(void **state) {
  struct fixture *fx = *state;
  struct bq_store *s = open_store_capped(fx->path, CAP);
  struct batch failed;
  char err[512];
  sqlite3 *db;
  int ok;

  ok = fill_until_full(s, 1, &failed, err, sizeof(err));
  assert_true(ok > 0);
  if (strcasestr(err, "full") == NULL) print_error("err: '%s'\n", err);
  assert_non_null(strcasestr(err, "full"));
  assert_non_null(strstr(err, "--max-db-size cap of 524288 bytes"));

  db = peek_open(fx->path);
  /* exactly the committed batches, nothing of the failed one */
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"),
                   (sqlite3_int64)ok * PER_BATCH);
  assert_true(q_int(db, "PRAGMA page_count") *
                  q_int(db, "PRAGMA page_size") <= CAP);
  /* still full: the same batch fails the same way, and again leaves
   * nothing */
  assert_int_equal(append(s, &failed, err, sizeof(err)), -BQ_STORE_FULL);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"),
                   (sqlite3_int64)ok * PER_BATCH);

  /* an operator deletes the oldest half: those pages become free ... */
  exec_ok(db, "DELETE FROM messages WHERE seq <= (SELECT max(seq) / 2 FROM "
              "messages)");
  /* ... and the very same batch now goes through */
  {
    int r = append(s, &failed, err, sizeof(err));
    if (r != 0) print_error("append after the delete: %d %s\n", r, err);
    assert_int_equal(r, 0);
  }
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages WHERE seq > "
                             "(SELECT max(seq) FROM messages) - 20"),
                   PER_BATCH);
  check_rows_exact(db);
  assert_true(q_int(db, "PRAGMA page_count") *
                  q_int(db, "PRAGMA page_size") <= CAP);
  check_integrity(db);
  sqlite3_close(db);
  batch_free(&failed);
  close_store(s);
}

static void test_open_over_cap_pauses(void **state) {
  struct fixture *fx = *state;
  struct bq_store *s = open_store_capped(fx->path, 0);
  struct batch b;
  char err[512];
  sqlite3 *db;

  for (int n = 0; n < 20; n++) { /* about 1.2 MB, over the cap */
    batch_make(&b, 1, 1 + (int64_t)n * PER_BATCH);
    assert_int_equal(append(s, &b, err, sizeof(err)), 0);
    batch_free(&b);
  }
  close_store(s);

  s = open_store_capped(fx->path, CAP); /* opens: intake will pause, no exit */
  batch_make(&b, 2, 1);
  assert_int_equal(append(s, &b, err, sizeof(err)), -BQ_STORE_FULL);
  assert_non_null(strcasestr(err, "full"));
  close_store(s);

  s = open_store_capped(fx->path, 0); /* the cap is per open, not in the file */
  assert_int_equal(append(s, &b, err, sizeof(err)), 0);
  close_store(s);
  batch_free(&b);

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"),
                   21 * PER_BATCH);
  check_rows_exact(db);
  check_integrity(db);
  sqlite3_close(db);
}

static void test_short_write_is_transient(void **state) {
  struct fixture *fx = *state;
  struct bq_store *s = open_store_capped(fx->path, 0);
  struct rlimit old, lim;
  struct batch failed;
  char err[512];
  sqlite3 *db;
  int ok, r;

  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, SIG_IGN);
  lim = old;
  lim.rlim_cur = 1024 * 1024; /* the WAL hits it first */
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  ok = fill_until_full(s, 1, &failed, err, sizeof(err));
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, SIG_DFL);
  assert_true(ok > 0);

  r = append(s, &failed, err, sizeof(err)); /* room again: same batch */
  if (r != 0) print_error("append after the limit was lifted: %s\n", err);
  assert_int_equal(r, 0);
  close_store(s);

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"),
                   (sqlite3_int64)(ok + 1) * PER_BATCH);
  assert_int_equal(q_int(db, "SELECT count(DISTINCT seq) FROM messages"),
                   (sqlite3_int64)(ok + 1) * PER_BATCH);
  check_rows_exact(db);
  check_integrity(db);
  sqlite3_close(db);
  batch_free(&failed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      STORE_TEST(test_cap_full_then_delete_frees),
      STORE_TEST(test_open_over_cap_pauses),
      STORE_TEST(test_short_write_is_transient),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
