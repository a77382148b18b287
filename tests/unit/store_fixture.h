/*
 * store_fixture.h -- what the unit tests of the SQLite store
 * (test_store.c, test_store_full.c) share: a private directory per test,
 * records and batches to append, the store opened and closed with every
 * failure asserted, and a second, independent sqlite3 connection ("peek")
 * through which the tests check what the store wrote.
 *
 * Every helper runs on the test's own thread and fails the current cmocka
 * test (assert_*) when a step it promises does not succeed; none returns
 * an error code the caller has to check.
 */
#ifndef BQ_TEST_STORE_FIXTURE_H
#define BQ_TEST_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "record.h"
#include "store.h"

/* The state cmocka hands each test: a fresh directory and the database
 * path inside it (not created). */
struct fixture {
  char dir[256];
  char path[300];
};

/* cmocka setup: a new directory (tmpdir_make) and path = dir/test.db.
 * 0, or -1 when no directory could be made. */
int store_fx_setup(void **state);

/* cmocka teardown: removes the directory and all it holds
 * (tmpdir_remove), frees the state.  0, or -1 when that failed. */
int store_fx_teardown(void **state);

/* A cmocka test entry for TEST run between store_fx_setup and
 * store_fx_teardown. */
#define STORE_TEST(test) \
  cmocka_unit_test_setup_teardown(test, store_fx_setup, store_fx_teardown)

/* A malloc()ed record of TYPE with a copy of DATA[0..LEN), a placeholder
 * connection (the store never dereferences it) and no next.  The caller
 * frees it. */
struct bq_rec *mkrec(int type, int64_t conn_id, int64_t seq, int64_t ts,
                     const void *data, size_t len);

/* A batch under construction: the chain from v[0], and the records in an
 * array for checking and freeing.  Zero-initialise before use. */
#define BATCH_MAX 512
struct batch {
  struct bq_rec *v[BATCH_MAX];
  size_t n;
};

/* Appends R to the end of B's chain (at most BATCH_MAX records). */
void batch_add(struct batch *b, struct bq_rec *r);

/* Frees every record of B and empties it for reuse. */
void batch_free(struct batch *b);

/* The store at PATH opened with sync mode SYNC (enum bq_sync) and no size
 * cap; the open must succeed. */
struct bq_store *open_store(const char *path, int sync);

/* The store at PATH opened with synchronous=FULL and --max-db-size
 * MAX_DB_BYTES (0: none); the open must succeed. */
struct bq_store *open_store_capped(const char *path, uint64_t max_db_bytes);

/* The store at PATH opened with synchronous=NORMAL, retention limits L
 * counted in ST, and --max-db-size MAX_DB_BYTES (0: none). */
struct bq_retain_limits;
struct bq_retain_stats;
struct bq_store *open_store_retained(const char *path,
                                     const struct bq_retain_limits *l,
                                     struct bq_retain_stats *st,
                                     uint64_t max_db_bytes);

/* Closes S; the close must succeed. */
void close_store(struct bq_store *s);

/* A read-write sqlite3 connection of the test's own to PATH, waiting up to
 * 10 s for a lock the store holds (a commit or background checkpoint) and
 * opening the file whether or not the store has it open. */
sqlite3 *peek_open(const char *path);

/* Closes a connection from peek_open (or sqlite3_open); must succeed. */
void peek_close(sqlite3 *db);

/* The first column of the first row of SQL, which must return a row. */
int64_t q_int(sqlite3 *db, const char *sql);

/* The first column of the first row of SQL as text, into BUF (truncated
 * to LEN - 1 bytes); SQL must return a row. */
void q_text(sqlite3 *db, const char *sql, char *buf, size_t len);

/* Runs SQL (one or more statements); it must succeed. */
void exec_ok(sqlite3 *db, const char *sql);

/* 1 when something exists at P (stat() succeeds), else 0. */
int file_exists(const char *p);

#endif
