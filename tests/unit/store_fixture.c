/*
 * store_fixture.c -- the shared fixture of the store's unit tests; the
 * contracts are in store_fixture.h.  Test-thread only; no global state but
 * the placeholder connection every record points at.
 */
#include "store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tmpdir.h"

/* Records need a non-NULL conn; the store only carries it along. */
static char dummy_conn_obj;
#define DUMMY_CONN ((struct bq_conn *)(void *)&dummy_conn_obj)

int store_fx_setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));
  if (fx == NULL) return -1;
  if (tmpdir_make(fx->dir, sizeof(fx->dir), "store") != 0) {
    free(fx);
    return -1;
  }
  snprintf(fx->path, sizeof(fx->path), "%s/test.db", fx->dir);
  *state = fx;
  return 0;
}

int store_fx_teardown(void **state) {
  struct fixture *fx = *state;
  int r = tmpdir_remove(fx->dir);
  free(fx);
  return r;
}

struct bq_rec *mkrec(int type, int64_t conn_id, int64_t seq, int64_t ts,
                     const void *data, size_t len) {
  struct bq_rec *r = malloc(sizeof(*r) + len);
  assert_non_null(r);
  memset(r, 0, sizeof(*r));
  r->conn = DUMMY_CONN;
  r->type = (uint8_t)type;
  r->conn_id = conn_id;
  r->seq = seq;
  r->ts_us = ts;
  r->len = (uint32_t)len;
  if (len) memcpy(r->data, data, len);
  return r;
}

void batch_add(struct batch *b, struct bq_rec *r) {
  assert_true(b->n < BATCH_MAX);
  if (b->n > 0) b->v[b->n - 1]->next = r;
  b->v[b->n++] = r;
}

void batch_free(struct batch *b) {
  for (size_t i = 0; i < b->n; i++) free(b->v[i]);
  b->n = 0;
}

static struct bq_store *open_with(const char *path,
                                  const struct bq_store_opts *o) {
  struct bq_store *s = NULL;
  char err[512] = "";
  int r = bq_store_open(path, o, &s, err, sizeof(err));
  if (r != 0) print_error("open %s: %d %s\n", path, r, err);
  assert_int_equal(r, 0);
  assert_non_null(s);
  return s;
}

struct bq_store *open_store(const char *path, int sync) {
  struct bq_store_opts o = {.sync = sync};
  return open_with(path, &o);
}

struct bq_store *open_store_capped(const char *path, uint64_t max_db_bytes) {
  struct bq_store_opts o = {.sync = BQ_SYNC_FULL,
                            .max_db_bytes = max_db_bytes};
  return open_with(path, &o);
}

struct bq_store *open_store_retained(const char *path,
                                     const struct bq_retain_limits *l,
                                     struct bq_retain_stats *st,
                                     uint64_t max_db_bytes) {
  struct bq_store_opts o = {.sync = BQ_SYNC_NORMAL,
                            .max_db_bytes = max_db_bytes,
                            .retain = l,
                            .retain_stats = st};
  return open_with(path, &o);
}

void close_store(struct bq_store *s) {
  char err[512] = "";
  int r = bq_store_close(s, err, sizeof(err));
  if (r != 0) print_error("close: %d %s\n", r, err);
  assert_int_equal(r, 0);
}

sqlite3 *peek_open(const char *path) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                   SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  return db;
}

void peek_close(sqlite3 *db) { assert_int_equal(sqlite3_close(db), SQLITE_OK); }

int64_t q_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  int64_t v;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) print_error("%s: %s\n", sql, sqlite3_errmsg(db));
  assert_int_equal(rc, SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

void q_text(sqlite3 *db, const char *sql, char *buf, size_t len) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
}

void exec_ok(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) print_error("%s: %s\n", sql, msg ? msg : "?");
  sqlite3_free(msg);
  assert_int_equal(rc, SQLITE_OK);
}

int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}
