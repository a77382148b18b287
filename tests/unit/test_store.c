/*
 * test_store.c -- unit tests of the SQLite storage backend (server/store.h).
 *
 * Each test gets a fresh directory from mkdtemp() and removes it afterwards.
 * What the store wrote is checked through a second, independent sqlite3
 * connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "checkpoint.h"
#include "record.h"
#include "store.h"
#include "store_fixture.h"

/* ---- records ------------------------------------------------------------- */

static void add_open(struct batch *b, int64_t id, const char *peer,
                     int64_t ts) {
  batch_add(b, mkrec(BQ_REC_OPEN, id, 0, ts, peer, strlen(peer)));
}

/* An OPEN record as the loop makes it: peer '\0' listener. */
static void add_open_on(struct batch *b, int64_t id, const char *peer,
                        const char *listener, int64_t ts) {
  char data[256];
  size_t lp = strlen(peer), ll = strlen(listener);
  assert_true(lp + 1 + ll <= sizeof(data));
  memcpy(data, peer, lp + 1);
  memcpy(data + lp + 1, listener, ll);
  batch_add(b, mkrec(BQ_REC_OPEN, id, 0, ts, data, lp + 1 + ll));
}

/* An OPEN record with all three fields: peer, listener, TLS subject. */
static void add_open_tls(struct batch *b, int64_t id, const char *peer,
                         const char *listener, const char *subject,
                         int64_t ts) {
  char data[512];
  size_t lp = strlen(peer), ll = strlen(listener), ls = strlen(subject);
  assert_true(lp + ll + ls + 2 <= sizeof(data));
  memcpy(data, peer, lp + 1);
  memcpy(data + lp + 1, listener, ll + 1);
  memcpy(data + lp + ll + 2, subject, ls);
  batch_add(b, mkrec(BQ_REC_OPEN, id, 0, ts, data, lp + ll + 2 + ls));
}

static void add_msg(struct batch *b, int64_t id, int64_t seq, int64_t ts,
                    const void *data, size_t len) {
  batch_add(b, mkrec(BQ_REC_MSG, id, seq, ts, data, len));
}

static void add_close(struct batch *b, int64_t id, int64_t ts) {
  batch_add(b, mkrec(BQ_REC_CLOSE, id, 0, ts, NULL, 0));
}

/* ---- helpers ------------------------------------------------------------- */

static void append_ok(struct bq_store *s, const struct batch *b) {
  char err[512] = "";
  int r = bq_store_append(s, b->v[0], err, sizeof(err));
  if (r != 0) print_error("append: %d %s\n", r, err);
  assert_int_equal(r, 0);
}

/* ---- schema -------------------------------------------------------------- */

struct col {
  const char *name, *type;
  int notnull, pk;
};

static void check_columns(sqlite3 *db, const char *table,
                          const struct col *want, size_t n) {
  char sql[128];
  sqlite3_stmt *st;
  size_t i = 0;
  snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    assert_true(i < n);
    assert_int_equal(sqlite3_column_int(st, 0), (int)i);
    assert_string_equal((const char *)sqlite3_column_text(st, 1),
                        want[i].name);
    assert_string_equal((const char *)sqlite3_column_text(st, 2),
                        want[i].type);
    assert_int_equal(sqlite3_column_int(st, 3), want[i].notnull);
    assert_int_equal(sqlite3_column_int(st, 5), want[i].pk);
    i++;
  }
  sqlite3_finalize(st);
  assert_int_equal(i, n);
}

static void test_open_creates_schema(void **state) {
  static const struct col conns[] = {{"id", "INTEGER", 0, 1},
                                     {"peer", "TEXT", 1, 0},
                                     {"opened_at", "INTEGER", 1, 0},
                                     {"closed_at", "INTEGER", 0, 0},
                                     {"listener", "TEXT", 0, 0},
                                     {"tls_subject", "TEXT", 0, 0},
                                     {"producer", "INTEGER", 0, 0},
                                     {"pseq_base", "INTEGER", 0, 0}};
  static const struct col msgs[] = {{"id", "INTEGER", 0, 1},
                                    {"conn_id", "INTEGER", 1, 0},
                                    {"seq", "INTEGER", 1, 0},
                                    {"received_at", "INTEGER", 1, 0},
                                    {"payload", "BLOB", 1, 0},
                                    {"producer", "INTEGER", 0, 0},
                                    {"pseq", "INTEGER", 0, 0}};
  static const struct col prods[] = {{"id", "INTEGER", 0, 1},
                                     {"name", "TEXT", 1, 0},
                                     {"committed", "INTEGER", 1, 0},
                                     {"created_at", "INTEGER", 1, 0},
                                     {"updated_at", "INTEGER", 1, 0}};
  static const struct col hdrs[] = {{"message_id", "INTEGER", 0, 1},
                                    {"facility", "INTEGER", 0, 0},
                                    {"severity", "INTEGER", 0, 0},
                                    {"log_time", "TEXT", 0, 0},
                                    {"hostname", "TEXT", 0, 0},
                                    {"app_name", "TEXT", 0, 0},
                                    {"procid", "TEXT", 0, 0},
                                    {"msgid", "TEXT", 0, 0},
                                    {"truncated", "INTEGER", 1, 0}};
  struct fixture *fx = *state;
  struct bq_store *s;
  sqlite3 *db;
  char mode[32];

  assert_false(file_exists(fx->path));
  s = open_store(fx->path, BQ_SYNC_FULL);
  assert_int_equal(s->last_conn_id, 0);
  assert_true(file_exists(fx->path));

  /* while the store is open */
  db = peek_open(fx->path);
  q_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
  assert_string_equal(mode, "wal");
  assert_int_equal(q_int(db, "PRAGMA user_version"), 5);
  peek_close(db);
  close_store(s);

  /* and after it closed: all of it is in the file */
  db = peek_open(fx->path);
  q_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
  assert_string_equal(mode, "wal");
  assert_int_equal(q_int(db, "PRAGMA user_version"), 5);
  assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE "
                             "type = 'table'"),
                   4);
  assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE "
                             "type = 'view' AND name IN ('syslog_messages', "
                             "'producer_messages')"),
                   2);
  check_columns(db, "connections", conns, sizeof(conns) / sizeof(conns[0]));
  check_columns(db, "messages", msgs, sizeof(msgs) / sizeof(msgs[0]));
  check_columns(db, "syslog_headers", hdrs, sizeof(hdrs) / sizeof(hdrs[0]));
  check_columns(db, "producers", prods, sizeof(prods) / sizeof(prods[0]));
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections"), 0);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 0);
  peek_close(db);
}

static void test_open_every_sync_mode(void **state) {
  struct fixture *fx = *state;
  const int modes[] = {BQ_SYNC_OFF, BQ_SYNC_NORMAL, BQ_SYNC_FULL};
  for (size_t i = 0; i < 3; i++) {
    struct bq_store *s = open_store(fx->path, modes[i]);
    struct batch b = {{0}, 0};
    char err[256] = "";
    /* --sync full leaves the flush to sync() (store.h), the others have
     * none. */
    assert_int_equal(s->caps.deferred_sync, modes[i] == BQ_SYNC_FULL);
    assert_int_equal(s->ops->sync != NULL, modes[i] == BQ_SYNC_FULL);
    add_open(&b, (int64_t)i + 1, "p", 1);
    append_ok(s, &b);
    batch_free(&b);
    assert_int_equal(bq_store_sync(s, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    close_store(s);
  }
  {
    sqlite3 *db = peek_open(fx->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM connections"), 3);
    peek_close(db);
  }
}

/* ---- append -------------------------------------------------------------- */

static void test_append_batch(void **state) {
  struct fixture *fx = *state;
  static const char binary[] = "a\0b\xff\xfe\0\x01\xff";
  static const char peer1[] = "127.0.0.1:5555";
  static const char peer2[] = "[::1]:40000";
  char *big = malloc(65536);
  struct batch b = {{0}, 0};
  struct bq_store *s;
  sqlite3 *db;
  sqlite3_stmt *st;
  size_t nmsg = 0, row = 0;
  int64_t last_id = 0;

  assert_non_null(big);
  for (size_t i = 0; i < 65536; i++)
    big[i] = (char)(unsigned char)((i * 131u + 7u) ^ (i >> 8));

  add_open(&b, 1, peer1, 1700000000000001);
  add_msg(&b, 1, 1, 1700000000000010, "hello", 5);
  add_msg(&b, 1, 2, 1700000000000011, "", 0);
  add_msg(&b, 1, 3, 1700000000000012, binary, sizeof(binary) - 1);
  add_open(&b, 2, peer2, 1700000000000013);
  add_msg(&b, 2, 1, 1700000000000014, "other", 5);
  add_msg(&b, 1, 4, 1700000000000015, big, 65536);
  add_msg(&b, 1, 5, 1700000000000016, "\n\r", 2);
  add_close(&b, 1, 1700000000000099);

  s = open_store(fx->path, BQ_SYNC_NORMAL);
  append_ok(s, &b);

  db = peek_open(fx->path);
  /* messages: in batch order, ids increasing, byte-exact */
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT id, conn_id, seq, received_at, "
                                      "payload, typeof(payload) FROM messages "
                                      "ORDER BY id",
                                      -1, &st, NULL),
                   SQLITE_OK);
  for (size_t i = 0; i < b.n; i++) {
    const struct bq_rec *r = b.v[i];
    if (r->type != BQ_REC_MSG) continue;
    nmsg++;
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    row++;
    assert_true(sqlite3_column_int64(st, 0) > last_id);
    last_id = sqlite3_column_int64(st, 0);
    assert_int_equal(sqlite3_column_int64(st, 1), r->conn_id);
    assert_int_equal(sqlite3_column_int64(st, 2), r->seq);
    assert_int_equal(sqlite3_column_int64(st, 3), r->ts_us);
    /* an empty payload is an empty BLOB, not NULL */
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "blob");
    assert_int_equal(sqlite3_column_bytes(st, 4), (int)r->len);
    if (r->len > 0)
      assert_memory_equal(sqlite3_column_blob(st, 4), r->data, r->len);
  }
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  assert_int_equal(row, 6);
  assert_int_equal(nmsg, 6);

  /* connections */
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections"), 2);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT id, peer, typeof(peer), "
                                      "opened_at, closed_at FROM connections "
                                      "ORDER BY id",
                                      -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int64(st, 0), 1);
  assert_string_equal((const char *)sqlite3_column_text(st, 1), peer1);
  assert_string_equal((const char *)sqlite3_column_text(st, 2), "text");
  assert_int_equal(sqlite3_column_int64(st, 3), 1700000000000001);
  assert_int_equal(sqlite3_column_type(st, 4), SQLITE_INTEGER);
  assert_int_equal(sqlite3_column_int64(st, 4), 1700000000000099);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int64(st, 0), 2);
  assert_string_equal((const char *)sqlite3_column_text(st, 1), peer2);
  assert_int_equal(sqlite3_column_int64(st, 3), 1700000000000013);
  assert_int_equal(sqlite3_column_type(st, 4), SQLITE_NULL); /* still open */
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  peek_close(db);

  /* a second batch: ids keep growing, conn 2 gets closed */
  batch_free(&b);
  add_msg(&b, 2, 2, 1700000000000100, "x", 1);
  add_close(&b, 2, 1700000000000101);
  append_ok(s, &b);
  close_store(s);

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 7);
  assert_true(q_int(db, "SELECT id FROM messages WHERE conn_id = 2 AND "
                        "seq = 2") > last_id);
  assert_int_equal(q_int(db, "SELECT closed_at FROM connections WHERE id = 2"),
                   1700000000000101);
  peek_close(db);

  /* reopen: last_conn_id comes from the file */
  s = open_store(fx->path, BQ_SYNC_FULL);
  assert_int_equal(s->last_conn_id, 2);
  close_store(s);
  batch_free(&b);
  free(big);
}

static void test_last_conn_id_is_max(void **state) {
  struct fixture *fx = *state;
  struct batch b = {{0}, 0};
  struct bq_store *s = open_store(fx->path, BQ_SYNC_FULL);
  sqlite3 *db;
  add_open(&b, 7, "a", 1);
  add_open(&b, 3, "", 2); /* an empty peer is '', not NULL */
  add_close(&b, 7, 3);
  append_ok(s, &b);
  close_store(s);
  batch_free(&b);
  s = open_store(fx->path, BQ_SYNC_FULL);
  assert_int_equal(s->last_conn_id, 7);
  close_store(s);
  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT peer IS '' FROM connections WHERE id = 3"),
                   1);
  peek_close(db);
}

/* After close the database file stands alone: the WAL was folded in, even
 * while another (idle) connection keeps the WAL file itself alive. */
static void test_close_checkpoints(void **state) {
  struct fixture *fx = *state;
  char wal[320];
  struct stat sb;
  struct batch b = {{0}, 0};
  struct bq_store *s = open_store(fx->path, BQ_SYNC_FULL);
  sqlite3 *other;
  add_open(&b, 1, "a", 1);
  for (int i = 1; i <= 20; i++) add_msg(&b, 1, i, i, "payload", 7);
  append_ok(s, &b);
  other = peek_open(fx->path);
  assert_int_equal(q_int(other, "SELECT count(*) FROM messages"), 20);
  snprintf(wal, sizeof(wal), "%s-wal", fx->path);
  assert_int_equal(stat(wal, &sb), 0);
  assert_true(sb.st_size > 0);
  close_store(s);
  batch_free(&b);
  if (stat(wal, &sb) == 0) assert_int_equal(sb.st_size, 0);
  peek_close(other);
  if (stat(wal, &sb) == 0) assert_int_equal(sb.st_size, 0);
  {
    sqlite3 *db = peek_open(fx->path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 20);
    peek_close(db);
  }
}

/* ---- all or nothing -------------------------------------------------------- */

static void test_append_locked_then_retry(void **state) {
  struct fixture *fx = *state;
  struct batch b1 = {{0}, 0}, b2 = {{0}, 0};
  struct bq_store *s = open_store(fx->path, BQ_SYNC_FULL);
  sqlite3 *db;
  char err[512];
  int r;

  add_open(&b1, 1, "first", 10);
  add_msg(&b1, 1, 1, 11, "one", 3);
  append_ok(s, &b1);

  add_open(&b2, 2, "second", 20);
  add_msg(&b2, 2, 1, 21, "two", 3);
  add_msg(&b2, 1, 2, 22, "three", 5);
  add_close(&b2, 1, 23);

  db = peek_open(fx->path);
  exec_ok(db, "BEGIN IMMEDIATE");
  memset(err, 0, sizeof(err));
  r = bq_store_append(s, b2.v[0], err, sizeof(err));
  assert_int_equal(r, -BQ_STORE_BUSY); /* a lock clears: retry */
  assert_true(bq_store_retryable(r));
  if (strcasestr(err, "locked") == NULL && strcasestr(err, "busy") == NULL)
    print_error("err: '%s'\n", err);
  assert_true(strcasestr(err, "locked") != NULL ||
              strcasestr(err, "busy") != NULL);
  /* nothing of b2 is there (seen from inside the lock holder) */
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 1);
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections"), 1);
  exec_ok(db, "ROLLBACK");
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 1);
  assert_int_equal(q_int(db, "SELECT closed_at IS NULL FROM connections "
                             "WHERE id = 1"),
                   1);

  /* the very same batch goes through once the lock is gone */
  append_ok(s, &b2);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 3);
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections"), 2);
  assert_int_equal(q_int(db, "SELECT closed_at FROM connections WHERE id = 1"),
                   23);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages WHERE "
                             "payload = CAST('three' AS BLOB) AND seq = 2"),
                   1);
  peek_close(db);
  close_store(s);
  batch_free(&b1);
  batch_free(&b2);
}

/* A batch failing half-way (a duplicate connection id) leaves no rows, and
 * the store keeps working. */
static void test_append_fails_midway(void **state) {
  struct fixture *fx = *state;
  struct batch b1 = {{0}, 0}, b2 = {{0}, 0}, b3 = {{0}, 0};
  struct bq_store *s = open_store(fx->path, BQ_SYNC_FULL);
  sqlite3 *db;
  char err[512] = "";
  int r;

  add_open(&b1, 1, "first", 10);
  append_ok(s, &b1);

  add_msg(&b2, 1, 1, 11, "m1", 2);
  add_open(&b2, 2, "x", 12);
  add_msg(&b2, 2, 1, 13, "m2", 2);
  add_open(&b2, 1, "dup", 14); /* primary key violation */
  add_msg(&b2, 1, 2, 15, "m3", 2);
  r = bq_store_append(s, b2.v[0], err, sizeof(err));
  assert_true(r < 0);
  assert_false(bq_store_retryable(r)); /* retrying cannot help */
  assert_true(err[0] != '\0');

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 0);
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections"), 1);

  add_msg(&b3, 1, 1, 11, "m1", 2);
  add_close(&b3, 1, 16);
  append_ok(s, &b3);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 1);
  assert_int_equal(q_int(db, "SELECT closed_at FROM connections WHERE id = 1"),
                   16);
  peek_close(db);
  close_store(s);
  batch_free(&b1);
  batch_free(&b2);
  batch_free(&b3);
}

/* ---- refusing to open ------------------------------------------------------ */

static int open_fails(const char *path, char *err, size_t errlen) {
  struct bq_store_opts o = {.sync = BQ_SYNC_FULL};
  struct bq_store *s = NULL;
  int r;
  memset(err, 0, errlen);
  r = bq_store_open(path, &o, &s, err, errlen);
  if (r == 0) bq_store_close(s, err, errlen);
  assert_true(r < 0);
  assert_true(err[0] != '\0');
  return r;
}

static void test_open_not_a_database(void **state) {
  struct fixture *fx = *state;
  char content[8192], back[8192 + 1];
  char err[512];
  FILE *f;
  for (size_t i = 0; i < sizeof(content); i++)
    content[i] = "this is not a database\n"[i % 23];
  f = fopen(fx->path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(content, 1, sizeof(content), f), sizeof(content));
  assert_int_equal(fclose(f), 0);

  open_fails(fx->path, err, sizeof(err));
  assert_non_null(strstr(err, "database"));

  /* and the file was left alone */
  f = fopen(fx->path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(content));
  fclose(f);
  assert_memory_equal(back, content, sizeof(content));
}

static void test_open_newer_schema(void **state) {
  struct fixture *fx = *state;
  char err[512];
  sqlite3 *db;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  exec_ok(db, "CREATE TABLE connections(id INTEGER PRIMARY KEY);"
              "PRAGMA user_version = 99;");
  peek_close(db);

  open_fails(fx->path, err, sizeof(err));
  assert_non_null(strstr(err, "99"));

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "PRAGMA user_version"), 99);
  peek_close(db);
}

static void test_open_foreign_database(void **state) {
  struct fixture *fx = *state;
  char err[512];
  sqlite3 *db;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  exec_ok(db, "CREATE TABLE inventory(x); INSERT INTO inventory VALUES(1);");
  peek_close(db);

  open_fails(fx->path, err, sizeof(err));

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "PRAGMA user_version"), 0);
  assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE "
                             "name IN ('connections', 'messages')"),
                   0);
  peek_close(db);
}

static void test_open_missing_directory(void **state) {
  struct fixture *fx = *state;
  char path[400], sub[350];
  char err[512];
  snprintf(sub, sizeof(sub), "%s/no-such-dir", fx->dir);
  snprintf(path, sizeof(path), "%s/deeper/x.db", sub);
  open_fails(path, err, sizeof(err));
  assert_false(file_exists(sub));
}

/* The whole content of path (size in *len), or NULL when it is absent. */
static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  long n;
  if (f == NULL) return NULL;
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* The check reports what is at the path and creates nothing: no file for
 * a missing path, nothing beside a zero-length file or a closed store. */
static void test_check_verdicts(void **state) {
  struct fixture *fx = *state;
  struct bq_store_check c;
  char err[512], wal[320], shm[320];
  FILE *f;

  snprintf(wal, sizeof(wal), "%s-wal", fx->path);
  snprintf(shm, sizeof(shm), "%s-shm", fx->path);
  assert_int_equal(bq_store_sqlite_check(fx->path, &c, err, sizeof(err)), 0);
  assert_int_equal(c.found, BQ_STORE_NEW);
  assert_true(c.max_payload >= 65536);
  assert_false(file_exists(fx->path));

  f = fopen(fx->path, "wb");
  assert_non_null(f);
  fclose(f);
  assert_int_equal(bq_store_sqlite_check(fx->path, &c, err, sizeof(err)), 0);
  assert_int_equal(c.found, BQ_STORE_EMPTY);

  close_store(open_store(fx->path, BQ_SYNC_FULL));
  assert_false(file_exists(wal));
  assert_int_equal(bq_store_sqlite_check(fx->path, &c, err, sizeof(err)), 0);
  assert_int_equal(c.found, BQ_STORE_BURSTQ);
  assert_false(file_exists(wal));
  assert_false(file_exists(shm));
}

/* Files that are not burstq's are refused with their bytes unchanged and
 * nothing created beside them (rollback-journal files: a switch to WAL
 * would change the header). */
static void test_open_refused_unchanged(void **state) {
  static const struct {
    const char *sql, *says;
  } cases[] = {
      {"CREATE TABLE invoices(x); INSERT INTO invoices VALUES (1);",
       "invoices"},
      {"CREATE TABLE messages(id INTEGER PRIMARY KEY, conn_id, seq, "
       "received_at, payload);",
       "not a burstq database"},
      {"CREATE TABLE connections( id INTEGER PRIMARY KEY, peer TEXT NOT "
       "NULL, opened_at INTEGER NOT NULL, closed_at INTEGER);"
       "CREATE TABLE messages( id INTEGER PRIMARY KEY, conn_id INTEGER NOT "
       "NULL, seq INTEGER NOT NULL, received_at INTEGER NOT NULL, payload "
       "BLOB NOT NULL, extra TEXT NOT NULL); PRAGMA user_version = 1;",
       "table messages differs"},
      {"PRAGMA user_version = 7;", "schema version 7, newer"},
      {"PRAGMA application_id = 12345;", "application_id is 12345"},
  };
  struct fixture *fx = *state;
  char err[512], wal[320], shm[320];

  snprintf(wal, sizeof(wal), "%s-wal", fx->path);
  snprintf(shm, sizeof(shm), "%s-shm", fx->path);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    unsigned char *before, *after;
    size_t lb, la;
    sqlite3 *db;
    unlink(fx->path);
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    exec_ok(db, cases[i].sql);
    peek_close(db);
    before = slurp(fx->path, &lb);
    assert_non_null(before);

    open_fails(fx->path, err, sizeof(err));
    if (strstr(err, cases[i].says) == NULL)
      print_error("case %zu: '%s' lacks '%s'\n", i, err, cases[i].says);
    assert_non_null(strstr(err, cases[i].says));
    after = slurp(fx->path, &la);
    assert_non_null(after);
    assert_int_equal(la, lb);
    assert_memory_equal(after, before, lb);
    assert_false(file_exists(wal));
    assert_false(file_exists(shm));
    free(before);
    free(after);
  }
}

/* One daemon per database: a second store on the same file is refused
 * while the first is open, and allowed once it has closed. */
static void test_second_writer_refused(void **state) {
  struct fixture *fx = *state;
  char err[512];
  struct bq_store *s = open_store(fx->path, BQ_SYNC_FULL);
  assert_int_equal(open_fails(fx->path, err, sizeof(err)), -EBUSY);
  assert_non_null(strstr(err, "another burstqd"));
  assert_true(s->caps.max_payload >= 65536);
  close_store(s);
  s = open_store(fx->path, BQ_SYNC_FULL);
  close_store(s);
}

/* ---- schema versions ------------------------------------------------------ */

/* Version 1's DDL, exactly as the release that wrote version 1 ran it. */
static const char v1_sql[] =
    "CREATE TABLE IF NOT EXISTS connections("
    " id INTEGER PRIMARY KEY,"
    " peer TEXT NOT NULL,"
    " opened_at INTEGER NOT NULL,"
    " closed_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS messages("
    " id INTEGER PRIMARY KEY,"
    " conn_id INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " received_at INTEGER NOT NULL,"
    " payload BLOB NOT NULL);"
    "PRAGMA user_version = 1;";

/* A version-1 file at path, in WAL mode as version 1 left it, with two
 * connections and three messages. */
static void make_v1(const char *path) {
  sqlite3 *db;
  char mode[16];
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  exec_ok(db, v1_sql);
  q_text(db, "PRAGMA journal_mode=WAL", mode, sizeof(mode));
  assert_string_equal(mode, "wal");
  exec_ok(db,
          "INSERT INTO connections VALUES(1, '127.0.0.1:1000', 10, 20);"
          "INSERT INTO connections VALUES(2, '[::1]:2000', 30, NULL);"
          "INSERT INTO messages(conn_id, seq, received_at, payload) VALUES"
          " (1, 1, 11, x'6f6e65'), (1, 2, 12, x'74776f00'),"
          " (2, 1, 31, x'');");
  peek_close(db);
}

/* The text of db's schema objects, in name order, one per line. */
static void schema_text(sqlite3 *db, char *buf, size_t len) {
  q_text(db,
         "SELECT group_concat(type || ' ' || name || ': ' || sql, char(10)) "
         "FROM (SELECT * FROM sqlite_schema ORDER BY name)",
         buf, len);
}

/* A version-1 database is accepted by the check as it is (unchanged),
 * then migrated in place by open: its rows kept, the new columns NULL in
 * them, and the schema text exactly that of a new database. */
static void test_open_migrates_v1(void **state) {
  struct fixture *fx = *state;
  struct bq_store_check c;
  struct batch b = {0};
  struct bq_store *s;
  unsigned char *before, *after;
  size_t lb, la;
  char err[512], migrated[2048], fresh[2048], fresh_path[320];
  sqlite3 *db;

  make_v1(fx->path);
  before = slurp(fx->path, &lb);
  assert_non_null(before);
  assert_int_equal(bq_store_sqlite_check(fx->path, &c, err, sizeof(err)), 0);
  assert_int_equal(c.found, BQ_STORE_BURSTQ);
  assert_int_equal(c.version, 1);
  after = slurp(fx->path, &la);
  assert_non_null(after);
  assert_int_equal(la, lb);
  assert_memory_equal(after, before, lb); /* the check wrote nothing */
  free(before);
  free(after);

  s = open_store(fx->path, BQ_SYNC_FULL);
  assert_int_equal(s->last_conn_id, 2);
  add_open_on(&b, 3, "127.0.0.1:3000", "127.0.0.1:5514,syslog", 40);
  add_msg(&b, 3, 1, 41, "after", 5);
  append_ok(s, &b);
  batch_free(&b);
  close_store(s);

  assert_int_equal(bq_store_sqlite_check(fx->path, &c, err, sizeof(err)), 0);
  assert_int_equal(c.found, BQ_STORE_BURSTQ);
  assert_int_equal(c.version, 5);

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "PRAGMA user_version"), 5);
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections"), 3);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 4);
  /* the old rows, byte for byte, and no syslog header for any */
  assert_int_equal(
      q_int(db, "SELECT count(*) FROM messages WHERE "
                "(id, conn_id, seq, received_at, payload) IN (VALUES"
                " (1, 1, 1, 11, x'6f6e65'), (2, 1, 2, 12, x'74776f00'),"
                " (3, 2, 1, 31, x''))"),
      3);
  assert_int_equal(q_int(db, "SELECT count(*) FROM syslog_headers WHERE "
                             "message_id IN (1, 2, 3)"),
                   0);
  assert_int_equal(
      q_int(db, "SELECT count(*) FROM connections WHERE (id, peer, "
                "opened_at, coalesce(closed_at, -1)) IN (VALUES (1, "
                "'127.0.0.1:1000', 10, 20), (2, '[::1]:2000', 30, -1)) AND "
                "listener IS NULL AND tls_subject IS NULL"),
      2);
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections WHERE id = 3 "
                             "AND listener = '127.0.0.1:5514,syslog' AND "
                             "peer = '127.0.0.1:3000'"),
                   1);
  schema_text(db, migrated, sizeof(migrated));
  peek_close(db);

  /* One canonical form: a new database has the same text. */
  snprintf(fresh_path, sizeof(fresh_path), "%s/fresh.db", fx->dir);
  close_store(open_store(fresh_path, BQ_SYNC_FULL));
  db = peek_open(fresh_path);
  schema_text(db, fresh, sizeof(fresh));
  peek_close(db);
  assert_string_equal(migrated, fresh);
  assert_non_null(strstr(fresh, "listener TEXT"));
  assert_non_null(strstr(fresh, "truncated INTEGER NOT NULL"));
  assert_non_null(strstr(fresh, "tls_subject TEXT"));

  /* and the migrated file opens as it is from then on */
  s = open_store(fx->path, BQ_SYNC_FULL);
  assert_int_equal(s->last_conn_id, 3);
  close_store(s);
}

/* Version 2's additions to version 1, exactly as that release ran them. */
static const char v2_sql[] =
    "ALTER TABLE connections ADD COLUMN listener TEXT;"
    "CREATE TABLE syslog_headers("
    " message_id INTEGER PRIMARY KEY,"
    " facility INTEGER,"
    " severity INTEGER,"
    " log_time TEXT,"
    " hostname TEXT,"
    " app_name TEXT,"
    " procid TEXT,"
    " msgid TEXT,"
    " truncated INTEGER NOT NULL);"
    "CREATE VIEW syslog_messages AS"
    " SELECT m.id AS id, m.conn_id AS conn_id, m.seq AS seq,"
    " m.received_at AS received_at, m.payload AS payload,"
    " h.facility AS facility, h.severity AS severity,"
    " h.log_time AS log_time, h.hostname AS hostname,"
    " h.app_name AS app_name, h.procid AS procid, h.msgid AS msgid,"
    " h.truncated AS truncated"
    " FROM messages AS m JOIN syslog_headers AS h ON h.message_id = m.id;"
    "PRAGMA user_version = 2;";

/* A version-2 database is accepted by the check unchanged, then migrated
 * in place to version 3 by open: its rows kept byte for byte,
 * tls_subject NULL in them, the schema text exactly a new database's. */
static void test_open_migrates_v2(void **state) {
  struct fixture *fx = *state;
  struct bq_store_check c;
  struct batch b = {0};
  struct bq_store *s;
  char err[512], migrated[2048], fresh[2048], fresh_path[320];
  sqlite3 *db;

  make_v1(fx->path);
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  exec_ok(db, v2_sql);
  exec_ok(db, "UPDATE connections SET listener = '127.0.0.1:7070,acked' "
              "WHERE id = 1; INSERT INTO syslog_headers(message_id, "
              "facility, hostname, truncated) VALUES(1, 1, 'h', 0);");
  peek_close(db);
  assert_int_equal(bq_store_sqlite_check(fx->path, &c, err, sizeof(err)), 0);
  assert_int_equal(c.found, BQ_STORE_BURSTQ);
  assert_int_equal(c.version, 2);

  s = open_store(fx->path, BQ_SYNC_FULL);
  assert_int_equal(s->last_conn_id, 2);
  add_open_tls(&b, 3, "127.0.0.1:3000", "127.0.0.1:7443,acked,tls",
               "CN=client,O=burstq", 40);
  add_msg(&b, 3, 1, 41, "after", 5);
  append_ok(s, &b);
  batch_free(&b);
  close_store(s);

  assert_int_equal(bq_store_sqlite_check(fx->path, &c, err, sizeof(err)), 0);
  assert_int_equal(c.version, 5);
  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "PRAGMA user_version"), 5);
  assert_int_equal(
      q_int(db, "SELECT count(*) FROM messages WHERE "
                "(id, conn_id, seq, received_at, payload) IN (VALUES"
                " (1, 1, 1, 11, x'6f6e65'), (2, 1, 2, 12, x'74776f00'),"
                " (3, 2, 1, 31, x''))"),
      3);
  assert_int_equal(q_int(db, "SELECT count(*) FROM syslog_messages WHERE "
                             "id = 1 AND facility = 1 AND hostname = 'h' AND "
                             "truncated = 0"),
                   1);
  assert_int_equal(
      q_int(db, "SELECT count(*) FROM connections WHERE id <= 2 AND "
                "tls_subject IS NULL AND coalesce(listener, '-') IN "
                "('127.0.0.1:7070,acked', '-')"),
      2);
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections WHERE id = 3 "
                             "AND listener = '127.0.0.1:7443,acked,tls' AND "
                             "tls_subject = 'CN=client,O=burstq'"),
                   1);
  schema_text(db, migrated, sizeof(migrated));
  peek_close(db);
  snprintf(fresh_path, sizeof(fresh_path), "%s/fresh.db", fx->dir);
  close_store(open_store(fresh_path, BQ_SYNC_FULL));
  db = peek_open(fresh_path);
  schema_text(db, fresh, sizeof(fresh));
  peek_close(db);
  assert_string_equal(migrated, fresh);
}

/* connections.tls_subject: the third field of an OPEN record; NULL when
 * the record has two fields or one. */
static void test_append_tls_subject(void **state) {
  struct fixture *fx = *state;
  struct bq_store *s = open_store(fx->path, BQ_SYNC_FULL);
  struct batch b = {0};
  sqlite3 *db;
  char text[256];
  add_open_tls(&b, 1, "127.0.0.1:1", "127.0.0.1:7443,acked,tls",
               "CN=c\\,1,O=x", 1);
  add_open_on(&b, 2, "127.0.0.1:2", "127.0.0.1:7443,acked,tls", 2);
  add_open(&b, 3, "127.0.0.1:3", 3);
  append_ok(s, &b);
  batch_free(&b);
  close_store(s);
  db = peek_open(fx->path);
  q_text(db, "SELECT peer || '|' || listener || '|' || tls_subject FROM "
             "connections WHERE id = 1",
         text, sizeof(text));
  assert_string_equal(text, "127.0.0.1:1|127.0.0.1:7443,acked,tls|CN=c\\,1,O=x");
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections WHERE id IN "
                             "(2, 3) AND tls_subject IS NULL"),
                   2);
  peek_close(db);
}

/* A version-1 file whose schema is not exactly version 1's, and a file
 * that claims version 2 with version 1's tables, are refused, unchanged. */
static void test_open_refuses_inexact_versions(void **state) {
  struct fixture *fx = *state;
  char err[512];
  sqlite3 *db;

  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  exec_ok(db, v1_sql);
  exec_ok(db, "CREATE INDEX messages_conn ON messages(conn_id);");
  peek_close(db);
  open_fails(fx->path, err, sizeof(err));
  assert_non_null(strstr(err, "schema version 1 but not its exact schema"));
  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "PRAGMA user_version"), 1);
  assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_table_info("
                             "'messages')"),
                   5);
  peek_close(db);

  unlink(fx->path);
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  exec_ok(db, v1_sql);
  exec_ok(db, "PRAGMA user_version = 2;");
  peek_close(db);
  open_fails(fx->path, err, sizeof(err));
  assert_non_null(strstr(err, "schema version 2 but not its exact schema"));

  /* version 3 claimed with version 2's tables */
  unlink(fx->path);
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  exec_ok(db, v1_sql);
  exec_ok(db, v2_sql);
  exec_ok(db, "PRAGMA user_version = 3;");
  peek_close(db);
  open_fails(fx->path, err, sizeof(err));
  assert_non_null(strstr(err, "schema version 3 but not its exact schema"));
}

/* connections.listener: the name after the peer in an OPEN record; NULL
 * for an OPEN record with the peer alone. */
static void test_append_listener(void **state) {
  struct fixture *fx = *state;
  struct bq_store *s = open_store(fx->path, BQ_SYNC_FULL);
  struct batch b = {0};
  sqlite3 *db;
  char text[128];
  add_open_on(&b, 1, "127.0.0.1:1", "127.0.0.1:7070,acked", 1);
  add_open(&b, 2, "127.0.0.1:2", 2);
  add_open_on(&b, 3, "[::1]:3", "[::1]:5514,syslog", 3);
  append_ok(s, &b);
  batch_free(&b);
  close_store(s);
  db = peek_open(fx->path);
  q_text(db, "SELECT peer || '|' || listener FROM connections WHERE id = 1",
         text, sizeof(text));
  assert_string_equal(text, "127.0.0.1:1|127.0.0.1:7070,acked");
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections WHERE id = 2 "
                             "AND peer = '127.0.0.1:2' AND listener IS "
                             "NULL"),
                   1);
  q_text(db, "SELECT peer || '|' || listener FROM connections WHERE id = 3",
         text, sizeof(text));
  assert_string_equal(text, "[::1]:3|[::1]:5514,syslog");
  peek_close(db);
}

/* Messages of syslog listeners (BQ_REC_F_SYSLOG) get a syslog_headers row:
 * their header parsed, and truncated set; plain ones get none.  A run of plain messages longer than a multi-row INSERT with
 * syslog messages among them keeps chain order. */
static void test_append_syslog(void **state) {
  static const char m5424[] =
      "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - hi";
  static const char m3164[] = "<34>Oct 11 22:14:15 mymachine su[230]: x";
  struct fixture *fx = *state;
  struct bq_store *s = open_store(fx->path, BQ_SYNC_NORMAL);
  struct batch b = {0};
  char text[256];
  int64_t seq = 0;
  sqlite3 *db;

  add_open_on(&b, 1, "127.0.0.1:9", "127.0.0.1:5514,syslog", 1);
  add_msg(&b, 1, ++seq, 2, m5424, strlen(m5424));
  b.v[b.n - 1]->flags = BQ_REC_F_SYSLOG;
  add_msg(&b, 1, ++seq, 2, m3164, strlen(m3164));
  b.v[b.n - 1]->flags = BQ_REC_F_SYSLOG | BQ_REC_F_TRUNCATED;
  add_msg(&b, 1, ++seq, 2, "no header", 9);
  b.v[b.n - 1]->flags = BQ_REC_F_SYSLOG;
  for (int i = 0; i < 40; i++) {
    char p[16];
    snprintf(p, sizeof(p), "plain-%d", i);
    add_msg(&b, 1, ++seq, 3, p, strlen(p));
    /* one syslog message in the middle of the plain ones */
    if (i == 20) {
      add_msg(&b, 1, ++seq, 3, m3164, strlen(m3164));
      b.v[b.n - 1]->flags = BQ_REC_F_SYSLOG;
    }
  }
  append_ok(s, &b);
  batch_free(&b);
  close_store(s);

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 44);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages WHERE id != seq"),
                   0);
  q_text(db,
         "SELECT facility || '|' || severity || '|' || log_time || '|' || "
         "hostname || '|' || app_name || '|' || procid || '|' || "
         "coalesce(msgid, 'N') || '|' || truncated FROM syslog_messages "
         "WHERE id = 1",
         text, sizeof(text));
  assert_string_equal(text, "20|5|2003-08-24T05:14:15.000003-07:00|"
                            "192.0.2.1|myproc|8710|N|0");
  q_text(db,
         "SELECT facility || '|' || severity || '|' || log_time || '|' || "
         "hostname || '|' || app_name || '|' || procid || '|' || "
         "coalesce(msgid, 'N') || '|' || truncated FROM syslog_messages "
         "WHERE id = 2",
         text, sizeof(text));
  assert_string_equal(text, "4|2|Oct 11 22:14:15|mymachine|su|230|N|1");
  assert_int_equal(q_int(db, "SELECT count(*) FROM syslog_messages WHERE "
                             "id = 3 AND "
                             "truncated = 0 AND coalesce(facility, severity, "
                             "log_time, hostname, app_name, procid, msgid) "
                             "IS NULL"),
                   1);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages WHERE CAST("
                             "payload AS TEXT) LIKE 'plain-%' AND id NOT IN "
                             "(SELECT message_id FROM syslog_headers)"),
                   40);
  assert_int_equal(q_int(db, "SELECT count(*) FROM syslog_headers"), 4);
  assert_int_equal(q_int(db, "SELECT count(*) FROM syslog_messages WHERE "
                             "id = 25 AND facility = 4 AND truncated = 0"),
                   1);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages WHERE id = 24 "
                             "AND CAST(payload AS TEXT) = 'plain-20'"),
                   1);
  peek_close(db);
}

/* An existing burstq database is reopened as is and appended to. */
static void test_reopen_keeps_data(void **state) {
  struct fixture *fx = *state;
  struct batch b = {{0}, 0};
  struct bq_store *s = open_store(fx->path, BQ_SYNC_FULL);
  sqlite3 *db;
  add_open(&b, 1, "a", 1);
  add_msg(&b, 1, 1, 2, "first", 5);
  append_ok(s, &b);
  close_store(s);
  batch_free(&b);

  s = open_store(fx->path, BQ_SYNC_FULL);
  assert_int_equal(s->last_conn_id, 1);
  add_msg(&b, 1, 2, 3, "second", 6);
  append_ok(s, &b);
  close_store(s);
  batch_free(&b);

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 2);
  assert_int_equal(q_int(db, "SELECT seq FROM messages ORDER BY id DESC "
                             "LIMIT 1"),
                   2);
  assert_int_equal(q_int(db, "PRAGMA user_version"), 5);
  peek_close(db);
}

/* Multi-row INSERTs (32 messages per statement) keep chain order: a batch
 * whose messages are split by connection events into runs longer and
 * shorter than 32 stores every message once, with ids in chain order and
 * each payload (including an empty one) intact. */
static void test_append_multi_row_order(void **state) {
  struct fixture *fx = *state;
  enum { N = 150 };
  struct bq_store *s = open_store(fx->path, BQ_SYNC_NORMAL);
  struct bq_rec *v[N + 3];
  size_t n = 0;
  char buf[32];
  sqlite3 *db;
  sqlite3_stmt *st;
  int64_t seq = 0;

  v[n++] = mkrec(BQ_REC_OPEN, 7, 0, 1, "peer", 4);
  for (int i = 1; i <= N; i++) {
    int len = snprintf(buf, sizeof(buf), "msg-%d", i);
    if (i == 40) len = 0; /* an empty message inside a multi-row run */
    v[n++] = mkrec(BQ_REC_MSG, 7, i, 100 + i, buf, (size_t)len);
    if (i == 70) v[n++] = mkrec(BQ_REC_OPEN, 8, 0, 2, "other", 5);
  }
  v[n++] = mkrec(BQ_REC_CLOSE, 7, 0, 999, NULL, 0);
  for (size_t i = 1; i < n; i++) v[i - 1]->next = v[i];
  {
    char err[512] = "";
    int r = bq_store_append(s, v[0], err, sizeof(err));
    if (r != 0) print_error("append: %d %s\n", r, err);
    assert_int_equal(r, 0);
  }
  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), N);
  assert_int_equal(q_int(db, "SELECT count(*) FROM connections"), 2);
  assert_int_equal(q_int(db, "SELECT closed_at FROM connections WHERE id=7"),
                   999);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT seq, received_at, payload, "
                                      "typeof(payload) FROM messages "
                                      "ORDER BY id",
                                      -1, &st, NULL),
                   SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    int len;
    seq++;
    assert_int_equal(sqlite3_column_int64(st, 0), seq);
    assert_int_equal(sqlite3_column_int64(st, 1), 100 + seq);
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "blob");
    len = seq == 40 ? 0 : snprintf(buf, sizeof(buf), "msg-%d", (int)seq);
    assert_int_equal(sqlite3_column_bytes(st, 2), len);
    if (len) assert_memory_equal(sqlite3_column_blob(st, 2), buf, (size_t)len);
  }
  assert_int_equal(seq, N);
  sqlite3_finalize(st);
  peek_close(db);
  close_store(s);
  for (size_t i = 0; i < n; i++) free(v[i]);
}

/* Background checkpoints (checkpoint.h): while a store stays open under a
 * steady stream of commits, the database file itself grows (someone is
 * copying the WAL into it) and the WAL stays within its hard bound instead
 * of holding every page ever written; the inline copy past the hard bound
 * is owed by the commit and made by bq_store_settle(), not inside the
 * append, whose COMMIT it must not lengthen. */
static void test_wal_stays_bounded(void **state) {
  struct fixture *fx = *state;
  enum { NREC = 1000, ROUNDS = 300, PAYLOAD = 200 };
  struct bq_store *s = open_store(fx->path, BQ_SYNC_NORMAL);
  struct bq_rec **v = calloc(NREC, sizeof(*v));
  char payload[PAYLOAD], wal[320], err[512];
  off_t max_wal = 0, per_batch, bound, page;
  struct stat st;
  sqlite3 *peek;
  memset(payload, 'p', sizeof(payload));
  assert_non_null(v);
  for (int i = 0; i < NREC; i++) {
    v[i] = mkrec(BQ_REC_MSG, 1, i + 1, 1000, payload, sizeof(payload));
    if (i > 0) v[i - 1]->next = v[i];
  }
  snprintf(wal, sizeof(wal), "%s-wal", fx->path);
  for (int round = 0; round < ROUNDS; round++) {
    int r = bq_store_append(s, v[0], err, sizeof(err));
    if (r != 0) print_error("append: %d %s\n", r, err);
    assert_int_equal(r, 0);
    bq_store_settle(s); /* as the pool does after posting the batch */
    assert_int_equal(stat(wal, &st), 0);
    if (st.st_size > max_wal) max_wal = st.st_size;
  }
  /* Pages per batch, generously: rows of ~230 bytes, plus interior pages
   * and the WAL header; each page in the WAL has a 24-byte frame header. */
  peek = peek_open(fx->path);
  page = q_int(peek, "PRAGMA page_size");
  peek_close(peek);
  assert_true(page >= 512);
  per_batch = (off_t)NREC * (PAYLOAD + 64) / page + 16;
  bound = ((off_t)BQ_CKPT_LIMIT_BYTES / page + 2 * per_batch) * (page + 24) +
          32;
  if (max_wal > bound)
    print_error("WAL reached %lld bytes, bound %lld\n", (long long)max_wal,
                (long long)bound);
  assert_true(max_wal <= bound);
  /* The rows reach the database file, not only the WAL, before any
   * close-time checkpoint: at least half of what was written, once the
   * checkpointer has had its turn (a run may be held for its gap, or wait
   * for a core: poll, up to a minute). */
  for (int i = 0; i < 60000; i++) {
    assert_int_equal(stat(fx->path, &st), 0);
    if (st.st_size >= (off_t)ROUNDS * NREC * PAYLOAD / 2) break;
    usleep(1000);
  }
  assert_true(st.st_size >= (off_t)ROUNDS * NREC * PAYLOAD / 2);
  close_store(s);
  peek = peek_open(fx->path);
  assert_int_equal(q_int(peek, "SELECT count(*) FROM messages"),
                   ROUNDS * NREC);
  peek_close(peek);
  for (int i = 0; i < NREC; i++) free(v[i]);
  free(v);
}

/* PostgreSQL URIs go to store_pg.c; one with a password is refused before
 * any connection, and logs show it redacted. */
static void test_pg_uri_password(void **state) {
  struct bq_store_check found;
  char err[256] = "", out[128];
  (void)state;
  assert_true(bq_store_pg_uri("postgresql://h/db"));
  assert_true(bq_store_pg_uri("postgres://h/db"));
  assert_false(bq_store_pg_uri("postgresql:db"));
  assert_false(bq_store_pg_uri("./postgresql://x"));
  assert_int_equal(bq_store_check("postgresql://u:pw@127.0.0.1:1/db", &found,
                                  err, sizeof(err)),
                   -EINVAL);
  assert_non_null(strstr(err, "holds a password"));
  assert_null(strstr(err, "pw@"));
  assert_int_equal(bq_store_check("postgres://u@127.0.0.1:1/db?password=pw",
                                  &found, err, sizeof(err)),
                   -EINVAL);
  bq_store_uri_redact("postgresql://u:pw@h1:5432,h2/db?x=1", out,
                      sizeof(out));
  assert_string_equal(out, "postgresql://u:***@h1:5432,h2/db?x=1");
  bq_store_uri_redact("postgres://u@h/db?sslmode=disable&password=pw&a=b",
                      out, sizeof(out));
  assert_string_equal(out, "postgres://u@h/db?sslmode=disable&password=***&a=b");
  bq_store_uri_redact("postgresql://h/db", out, sizeof(out));
  assert_string_equal(out, "postgresql://h/db");
  bq_store_uri_redact("./a:b@c/password=x.db", out, sizeof(out));
  assert_string_equal(out, "./a:b@c/password=x.db"); /* a file: as it is */
  bq_store_uri_redact("postgresql://u:pw@h/db", out, 8);
  assert_string_equal(out, "postgre");
  /* Nothing listens on port 1: refused, not a crash. */
  assert_int_equal(bq_store_check("postgresql://u@127.0.0.1:1/db", &found,
                                  err, sizeof(err)),
                   -ECONNREFUSED);
  assert_non_null(strstr(err, "cannot connect"));
}

/* ---- producers (store.h: HELLO records and producer messages) ---------- */

static struct bq_rec *add_hello(struct batch *b, int64_t conn,
                                const char *name, int64_t ts) {
  struct bq_rec *r = mkrec(BQ_REC_HELLO, conn, 0, ts, name, strlen(name));
  batch_add(b, r);
  return r;
}

static void add_pmsg(struct batch *b, int64_t conn, int64_t seq,
                     int64_t producer, int64_t pseq) {
  char data[32];
  int n = snprintf(data, sizeof(data), "p%lld-%lld", (long long)producer,
                   (long long)pseq);
  struct bq_rec *r = mkrec(BQ_REC_MSG, conn, seq, 100 + pseq, data,
                           (size_t)n);
  r->producer = producer;
  r->pseq = pseq;
  batch_add(b, r);
}

/* A HELLO finds or creates the producer's row, reads back its committed
 * count, including producer messages earlier in its own batch, and records
 * producer and count in the connection's row; producer messages are found
 * in producer_messages with their producer and pseq (pseq_base + seq, on a
 * connection whose HELLO came at 0 and one whose came at 40), and advance
 * the count in the same transaction; one that does not follow the count
 * fails the whole batch (nothing stored); the count survives a reopen. */
static void test_append_producers(void **state) {
  struct fixture *fx = *state;
  struct batch b = {0};
  struct bq_store *s;
  struct bq_rec *h1, *h2, *h3;
  int64_t p1, p2;
  char err[512];
  sqlite3 *db;
  int r;

  s = open_store(fx->path, BQ_SYNC_FULL);
  add_open(&b, 1, "a", 1);
  add_open(&b, 2, "b", 1);
  add_open(&b, 4, "d", 1);
  h1 = add_hello(&b, 1, "web1-access", 2);
  h2 = add_hello(&b, 2, "p:2", 3);
  append_ok(s, &b);
  p1 = h1->producer;
  p2 = h2->producer;
  assert_true(p1 > 0 && p2 > 0 && p1 != p2);
  assert_true(h1->pseq == 0 && h2->pseq == 0);
  batch_free(&b);

  /* 40 messages of p1 (a multi-row INSERT and single rows), 3 plain ones,
   * 2 of p2, then another connection's HELLO for p1 in the same batch. */
  for (int64_t i = 1; i <= 40; i++) add_pmsg(&b, 1, i, p1, i);
  add_msg(&b, 4, 1, 5, "plain", 5);
  add_pmsg(&b, 2, 1, p2, 1);
  add_pmsg(&b, 2, 2, p2, 2);
  add_open(&b, 3, "c", 6);
  h3 = add_hello(&b, 3, "web1-access", 7);
  append_ok(s, &b);
  assert_true(h3->producer == p1);
  assert_true(h3->pseq == 40);
  batch_free(&b);

  /* A hole (41 is missing) and a duplicate (40 again): refused whole. */
  add_msg(&b, 4, 2, 8, "plain2", 6);
  add_pmsg(&b, 3, 1, p1, 42);
  r = bq_store_append(s, b.v[0], err, sizeof(err));
  assert_int_equal(r, -BQ_STORE_CONSTRAINT);
  assert_non_null(strstr(err, "do not follow its committed count"));
  assert_false(bq_store_retryable(r));
  batch_free(&b);
  add_pmsg(&b, 3, 1, p1, 40);
  assert_int_equal(bq_store_append(s, b.v[0], err, sizeof(err)),
                   -BQ_STORE_CONSTRAINT);
  batch_free(&b);
  add_pmsg(&b, 3, 1, p1, 41);
  append_ok(s, &b);
  batch_free(&b);
  close_store(s);

  db = peek_open(fx->path);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages"), 44);
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages WHERE "
                             "producer IS NULL AND pseq IS NULL"),
                   44); /* version 4's columns, left NULL */
  assert_int_equal(q_int(db, "SELECT count(*) FROM messages WHERE id NOT IN "
                             "(SELECT id FROM producer_messages)"),
                   1);
  {
    char conns[128], want[128];
    q_text(db, "SELECT group_concat(id || ':' || coalesce(producer, '-') || "
               "':' || coalesce(pseq_base, '-'), ',') FROM connections",
           conns, sizeof(conns));
    snprintf(want, sizeof(want), "1:%lld:0,2:%lld:0,3:%lld:40,4:-:-",
             (long long)p1, (long long)p2, (long long)p1);
    assert_string_equal(conns, want);
  }
  assert_int_equal(q_int(db, "SELECT committed FROM producers WHERE "
                             "name = 'web1-access'"),
                   41);
  assert_int_equal(q_int(db, "SELECT committed FROM producers WHERE "
                             "name = 'p:2'"),
                   2);
  assert_int_equal(q_int(db, "SELECT count(DISTINCT pseq) || '' || min(pseq) "
                             "|| max(pseq) FROM producer_messages WHERE "
                             "producer = 'web1-access'"),
                   41141);
  assert_int_equal(q_int(db, "SELECT count(*) FROM producer_messages WHERE "
                             "producer = 'web1-access' AND CAST(payload AS "
                             "TEXT) = 'p' || " "(SELECT id FROM producers "
                             "WHERE name = 'web1-access') || '-' || pseq"),
                   41);
  assert_int_equal(q_int(db, "SELECT updated_at FROM producers WHERE "
                             "name = 'web1-access'"),
                   141);
  peek_close(db);

  /* Durable: a new store reads the same count. */
  s = open_store(fx->path, BQ_SYNC_FULL);
  h1 = add_hello(&b, 4, "web1-access", 9);
  append_ok(s, &b);
  assert_true(h1->producer == p1 && h1->pseq == 41);
  batch_free(&b);
  close_store(s);
}

/* Multi-row INSERTs of a run (one connection's consecutive messages: the
 * connection and the first seq bound once) and of mixed windows
 * (connections interleaved, a gap in seq: every column bound per row) store
 * the same rows: every message in chain order with its own conn_id, seq,
 * received_at and payload, and in producer_messages its producer and pseq;
 * the producers' counts advance over runs and mixed windows alike. */
static void test_append_runs_and_mixed_windows(void **state) {
  struct fixture *fx = *state;
  struct batch b = {0};
  struct bq_store *s = open_store(fx->path, BQ_SYNC_NORMAL);
  struct bq_rec *h1, *h2;
  int64_t p1, p2, i, rows = 0;
  sqlite3 *db;
  sqlite3_stmt *st;
  const struct bq_rec *r;

  add_open(&b, 1, "a", 1);
  add_open(&b, 2, "b", 1);
  add_open(&b, 3, "c", 1);
  add_open(&b, 4, "d", 1);
  h1 = add_hello(&b, 3, "run-1", 2);
  h2 = add_hello(&b, 4, "run-2", 2);
  append_ok(s, &b);
  p1 = h1->producer;
  p2 = h2->producer;
  batch_free(&b);

  for (i = 1; i <= 40; i++) add_pmsg(&b, 3, i, p1, i); /* a run, then 8 */
  for (i = 1; i <= 40; i++) { /* plain: a run of conn 1, then 8 */
    char d[32];
    int n = snprintf(d, sizeof(d), "m1-%lld", (long long)i);
    add_msg(&b, 1, i, 1000 + i, d, (size_t)n);
  }
  for (i = 41; i <= 80; i++) { /* plain, conns 1 and 2 interleaved */
    char d[32];
    int n = snprintf(d, sizeof(d), "m1-%lld", (long long)i);
    add_msg(&b, 1, i, 1000 + i, d, (size_t)n);
    n = snprintf(d, sizeof(d), "m2-%lld", (long long)i);
    add_msg(&b, 2, i - 40, 2000 + i, d, (size_t)n);
  }
  for (i = 81; i <= 130; i++) { /* conn 1 alone, seq 101..104 missing */
    char d[32];
    int n;
    if (i > 100 && i <= 104) continue;
    n = snprintf(d, sizeof(d), "m1-%lld", (long long)i);
    add_msg(&b, 1, i, 1000 + i, d, (size_t)n);
  }
  for (i = 41; i <= 72; i++) { /* producers interleaved */
    add_pmsg(&b, 3, i, p1, i);
    add_pmsg(&b, 4, i - 40, p2, i - 40);
  }
  for (i = 73; i <= 104; i++) add_pmsg(&b, 3, i, p1, i); /* a run again */
  append_ok(s, &b);
  close_store(s);

  db = peek_open(fx->path);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT m.conn_id, m.seq, "
                                      "m.received_at, m.payload, p.id, "
                                      "pm.pseq FROM messages AS m LEFT JOIN "
                                      "producer_messages AS pm ON pm.id = "
                                      "m.id LEFT JOIN producers AS p ON "
                                      "p.name = pm.producer ORDER BY m.id",
                                      -1, &st, NULL),
                   SQLITE_OK);
  for (r = b.v[0]; r != NULL; r = r->next) {
    if (r->type != BQ_REC_MSG) continue;
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    rows++;
    assert_int_equal(sqlite3_column_int64(st, 0), r->conn_id);
    assert_int_equal(sqlite3_column_int64(st, 1), r->seq);
    assert_int_equal(sqlite3_column_int64(st, 2), r->ts_us);
    assert_int_equal(sqlite3_column_bytes(st, 3), (int)r->len);
    assert_memory_equal(sqlite3_column_blob(st, 3), r->data, r->len);
    if (r->producer == 0) {
      assert_int_equal(sqlite3_column_type(st, 4), SQLITE_NULL);
      assert_int_equal(sqlite3_column_type(st, 5), SQLITE_NULL);
    } else {
      assert_int_equal(sqlite3_column_int64(st, 4), r->producer);
      assert_int_equal(sqlite3_column_int64(st, 5), r->pseq);
    }
  }
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  assert_int_equal(rows, 40 + 40 + 80 + 46 + 64 + 32);
  assert_int_equal(q_int(db, "SELECT committed FROM producers WHERE "
                             "name = 'run-1'"),
                   104);
  assert_int_equal(q_int(db, "SELECT committed FROM producers WHERE "
                             "name = 'run-2'"),
                   32);
  peek_close(db);
  batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pg_uri_password),
      STORE_TEST(test_open_creates_schema),
      STORE_TEST(test_open_every_sync_mode),
      STORE_TEST(test_append_batch),
      STORE_TEST(test_last_conn_id_is_max),
      STORE_TEST(test_close_checkpoints),
      STORE_TEST(test_append_locked_then_retry),
      STORE_TEST(test_append_fails_midway),
      STORE_TEST(test_open_not_a_database),
      STORE_TEST(test_open_newer_schema),
      STORE_TEST(test_open_foreign_database),
      STORE_TEST(test_check_verdicts),
      STORE_TEST(test_open_refused_unchanged),
      STORE_TEST(test_open_missing_directory),
      STORE_TEST(test_second_writer_refused),
      STORE_TEST(test_append_multi_row_order),
      STORE_TEST(test_append_runs_and_mixed_windows),
      STORE_TEST(test_wal_stays_bounded),
      STORE_TEST(test_open_migrates_v1),
      STORE_TEST(test_open_migrates_v2),
      STORE_TEST(test_append_tls_subject),
      STORE_TEST(test_open_refuses_inexact_versions),
      STORE_TEST(test_append_listener),
      STORE_TEST(test_append_syslog),
      STORE_TEST(test_reopen_keeps_data),
      STORE_TEST(test_append_producers),
  };
  /* BQ_UNIT_FILTER=test_x* runs only the matching tests. */
  if (getenv("BQ_UNIT_FILTER") != NULL)
    cmocka_set_test_filter(getenv("BQ_UNIT_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
