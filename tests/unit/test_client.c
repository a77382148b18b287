/*
 * test_client.c -- unit tests of the burstq client's pieces: reading the
 * daemon's replies (client/session.h), option values (client/opts.h), the
 * bench message header and runs of messages (client/benchmsg.h), the
 * database check (client/dbcheck.h) on a database built here with
 * burstqd's schema; the TLS options (session.h: which combinations are
 * refused, the name to verify taken from -H, $BURSTQ_TLS_CA) and the host
 * part of -H; what `send --producer` does with each reply, and its backoff
 * (verdict.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "benchmsg.h"
#include "commands.h"
#include "dbcheck.h"
#include "frame.h"
#include "opts.h"
#include "pace.h"
#include "proto.h"
#include "session.h"
#include "verdict.h"

/* Feed one reply line to the tally, as the framer would. */
static int take(struct bq_session_replies *s, const char *line, uint64_t *n) {
  return bq_session_reply(s, BQ_FRAME_MSG, line, strlen(line), n);
}

static void test_session_replies(void **state) {
  struct bq_session_replies s;
  uint64_t n = 0;
  (void)state;
  memset(&s, 0, sizeof(s));
  assert_int_equal(take(&s, "OK 5", &n), BQ_SESSION_ACK);
  assert_true(n == 5);
  assert_int_equal(take(&s, "RESUME 7", &n), BQ_SESSION_RESUME);
  assert_true(n == 7);
  assert_int_equal(take(&s, "ERR too-long\r", &n), BQ_SESSION_REJECTED);
  assert_int_equal(take(&s, "ERR too-long", &n), BQ_SESSION_REJECTED);
  assert_true(s.rejected == 2 && s.refused == 0 && s.bad == 0);
  /* The first refusal is kept, by kind and as text. */
  assert_int_equal(take(&s, "ERR auth", &n), BQ_SESSION_REFUSED);
  assert_int_equal(take(&s, "ERR busy", &n), BQ_SESSION_REFUSED);
  assert_true(s.refused == 2);
  assert_int_equal(s.refusal, BQ_ERR_AUTH);
  assert_string_equal(s.refusal_text, "ERR auth");
  /* An over-long line counts as bad without a text; the text is that of
   * the first bad line only. */
  assert_int_equal(bq_session_reply(&s, BQ_FRAME_TOO_LONG, NULL, 0, &n),
                   BQ_SESSION_BAD);
  assert_int_equal(take(&s, "hello", &n), BQ_SESSION_BAD);
  assert_true(s.bad == 2);
  assert_string_equal(s.bad_text, "");
  memset(&s, 0, sizeof(s));
  assert_int_equal(take(&s, "HTTP/1.1 400 Bad Request", &n), BQ_SESSION_BAD);
  assert_int_equal(take(&s, "other", &n), BQ_SESSION_BAD);
  assert_string_equal(s.bad_text, "HTTP/1.1 400 Bad Request");
  assert_int_equal(take(&s, "ERR too-many-connections", &n),
                   BQ_SESSION_REFUSED);
  assert_int_equal(s.refusal, BQ_ERR_TOO_MANY);
  assert_string_equal(s.refusal_text, "ERR too-many-connections");
  assert_true(s.rejected == 0 && s.refused == 1 && s.bad == 2);
}

static void test_opt_count(void **state) {
  char err[256];
  uint64_t v;
  (void)state;
  assert_int_equal(bq_opt_count("n", "2M", 1, UINT64_MAX, &v, err, sizeof(err)), 0);
  assert_true(v == 2000000);
  assert_int_equal(bq_opt_count("n", "5k", 1, UINT64_MAX, &v, err, sizeof(err)), 0);
  assert_true(v == 5000);
  assert_int_equal(bq_opt_count("n", "3G", 1, UINT64_MAX, &v, err, sizeof(err)), 0);
  assert_true(v == 3000000000u);
  assert_int_equal(bq_opt_count("n", "64", 1, 64, &v, err, sizeof(err)), 0);
  assert_true(v == 64);
  assert_int_equal(bq_opt_count("conns", "65", 1, 64, &v, err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "--conns: '65' is out of range (1 to 64)");
  assert_int_equal(bq_opt_count("conns", "0", 1, 64, &v, err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_count("conns", "x", 1, 64, &v, err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "--conns: 'x' is not a number");
  assert_int_equal(bq_opt_count("n", "-1", 0, 9, &v, err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_count("n", "1.5", 0, 9, &v, err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_count("n", "1m", 0, 9, &v, err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_count("n", "", 0, 9, &v, err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_count("n", "99999999999999999999", 0, UINT64_MAX, &v,
                                err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_count("n", "99999999999G", 0, UINT64_MAX, &v, err,
                                sizeof(err)), -EINVAL);
}

/* Sizes in bytes are 1024-based, unlike counts (common/units.h). */
/* The --rate schedule (pace.h): bq_pace_tick_of is the least grid point
 * at which bq_pace_due reaches seq, the schedule never runs ahead of the
 * rate, and it never drifts from it over a long run. */
static void test_pace_schedule(void **state) {
  static const struct {
    uint64_t rate;
    uint32_t conns;
  } cases[] = {{1, 1}, {7, 3}, {999, 4}, {1000, 4}, {20000, 2},
               {150000, 4}, {1234567, 7}, {100000000, 64}};
  size_t i;
  uint64_t seq, k;
  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint64_t rate = cases[i].rate;
    uint32_t conns = cases[i].conns;
    assert_int_equal(bq_pace_due(rate, conns, 0), 1);
    assert_int_equal(bq_pace_tick_of(rate, conns, 1), 0);
    for (seq = 1; seq <= 3000; seq++) {
      k = bq_pace_tick_of(rate, conns, seq);
      assert_true(bq_pace_due(rate, conns, k) >= seq);
      if (k > 0) assert_true(bq_pace_due(rate, conns, k - 1) < seq);
    }
    for (k = 0; k <= 5000; k += 7) { /* never ahead: due - 1 <= rate * t */
      uint64_t due = bq_pace_due(rate, conns, k);
      assert_true((due - 1) * conns * BQ_PACE_PER_S <= rate * k);
      assert_true(due * conns * BQ_PACE_PER_S > rate * k); /* nor behind */
    }
    /* A day in: exactly rate * 86400 / conns, give or take one. */
    k = 86400 * BQ_PACE_PER_S;
    assert_true(bq_pace_due(rate, conns, k) - 1 <= rate * 86400 / conns);
    assert_true(bq_pace_due(rate, conns, k) >= rate * 86400 / conns);
  }
}

static void test_opt_size(void **state) {
  char err[256];
  uint64_t v = 0;
  (void)state;
  assert_int_equal(bq_opt_size("size", "1K", 1, 64u << 20, &v, err, sizeof(err)), 0);
  assert_true(v == 1024);
  assert_int_equal(bq_opt_size("size", "2MiB", 1, 64u << 20, &v, err, sizeof(err)), 0);
  assert_true(v == 2u << 20);
  assert_int_equal(bq_opt_size("size", "65M", 1, 64u << 20, &v, err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "--size: '65M' is out of range (1 to 67108864)");
  assert_int_equal(bq_opt_size("size", "1X", 1, 64u << 20, &v, err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "--size: '1X' is not a number");
  assert_true(v == 2u << 20); /* untouched on error */
}

static void test_opt_seconds(void **state) {
  char err[256];
  double v;
  (void)state;
  assert_int_equal(bq_opt_seconds("timeout", "0.5", 60, &v, err, sizeof(err)), 0);
  assert_true(v == 0.5);
  assert_int_equal(bq_opt_seconds("timeout", "60", 60, &v, err, sizeof(err)), 0);
  assert_int_equal(bq_opt_seconds("timeout", "61", 60, &v, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "out of range"));
  assert_int_equal(bq_opt_seconds("timeout", "0", 60, &v, err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_seconds("timeout", "-1", 60, &v, err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_seconds("timeout", "1s", 60, &v, err, sizeof(err)), -EINVAL);
  assert_string_equal(err, "--timeout: '1s' is not a number of seconds");
  assert_int_equal(bq_opt_seconds("timeout", "nan", 60, &v, err, sizeof(err)), -EINVAL);
  assert_int_equal(bq_opt_seconds("timeout", "inf", 60, &v, err, sizeof(err)), -EINVAL);
}

static void test_opt_host(void **state) {
  struct sockaddr_storage ss;
  char err[256];
  (void)state;
  unsetenv("BURSTQ_HOST");
  assert_int_equal(bq_opt_host(NULL, &ss, err, sizeof(err)), 0);
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7070);
  setenv("BURSTQ_HOST", "[::1]:7171", 1);
  assert_int_equal(bq_opt_host(NULL, &ss, err, sizeof(err)), 0);
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 7171);
  /* -H wins over the environment; a bare host gets port 7070 */
  assert_int_equal(bq_opt_host("127.0.0.1", &ss, err, sizeof(err)), 0);
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7070);
  assert_int_equal(bq_opt_host("1.2.3.4:99999", &ss, err, sizeof(err)), -ERANGE);
  assert_string_equal(err, "the port in '1.2.3.4:99999' is out of range "
                           "(1 to 65535)");
  /* port 0 is for listening: nothing can be reached there */
  assert_int_equal(bq_opt_host("127.0.0.1:0", &ss, err, sizeof(err)), -ERANGE);
  assert_string_equal(err, "the port in '127.0.0.1:0' is out of range "
                           "(1 to 65535)");
  assert_int_equal(bq_opt_host("1.2.3.4:9x", &ss, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "is not HOST:PORT"));
  unsetenv("BURSTQ_HOST");
}

static void test_benchmsg_roundtrip(void **state) {
  char buf[256];
  uint32_t run, conn;
  uint64_t seq;
  (void)state;
  assert_int_equal(bq_benchmsg_header_len(1, 1), 16);
  assert_int_equal(bq_benchmsg_header_len(64, 1000000), 12 + 2 + 1 + 7 + 1);
  bq_benchmsg_format(buf, 40, 0xdeadbeefu, 7, 123456);
  assert_memory_equal(buf, "bq:deadbeef:7:123456:xxxxxxxxxxxxxxxxxxx\n", 41);
  assert_int_equal(bq_benchmsg_parse(buf, 40, &run, &conn, &seq), 0);
  assert_true(run == 0xdeadbeefu && conn == 7 && seq == 123456);
  /* exactly the header, no padding */
  bq_benchmsg_format(buf, 16, 1, 1, 1);
  assert_memory_equal(buf, "bq:00000001:1:1:\n", 17);
  assert_int_equal(bq_benchmsg_parse(buf, 16, &run, &conn, &seq), 0);
  assert_true(run == 1 && conn == 1 && seq == 1);
  /* not headers */
  assert_int_equal(bq_benchmsg_parse("bq:deadbeef:7:12", 16, &run, &conn, &seq), -1);
  assert_int_equal(bq_benchmsg_parse("bq:deadbeeg:7:1:", 17, &run, &conn, &seq), -1);
  assert_int_equal(bq_benchmsg_parse("bq:deadbeef:0:1:", 17, &run, &conn, &seq), -1);
  assert_int_equal(bq_benchmsg_parse("bq:deadbeef:1:01:", 17, &run, &conn, &seq), -1);
  assert_int_equal(bq_benchmsg_parse("hello", 5, &run, &conn, &seq), -1);
}

/* A run of messages is byte for byte what one format call each gives,
 * across the sequence numbers that gain a digit, at the smallest size
 * (no padding: the longer number takes the whole message). */
static void test_benchmsg_run(void **state) {
  static const uint64_t starts[] = {1, 5, 95, 990, 99995, 999999990ull,
                                    9999999999999999990ull};
  enum { COUNT = 20, SIZE_MAX_ = 60 };
  char run[COUNT * (SIZE_MAX_ + 1)], one[COUNT * (SIZE_MAX_ + 1)];
  (void)state;
  for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
    uint64_t last = starts[s] + COUNT - 1;
    size_t sizes[2] = {bq_benchmsg_header_len(12, last), SIZE_MAX_};
    for (size_t k = 0; k < 2; k++) {
      size_t size = sizes[k];
      memset(run, '?', sizeof(run));
      memset(one, '?', sizeof(one));
      bq_benchmsg_format_run(run, size, 0xdeadbeefu, 12, starts[s], COUNT);
      for (size_t i = 0; i < COUNT; i++)
        bq_benchmsg_format(one + i * (size + 1), size, 0xdeadbeefu, 12,
                           starts[s] + i);
      assert_memory_equal(run, one, sizeof(run));
    }
  }
  /* count 0 writes nothing; count 1 is one message */
  memset(run, '?', sizeof(run));
  bq_benchmsg_format_run(run, 20, 1, 1, 1, 0);
  assert_true(run[0] == '?');
  bq_benchmsg_format_run(run, 16, 1, 1, 1, 1);
  assert_memory_equal(run, "bq:00000001:1:1:\n?", 18);
}

/* --- the database check, on a database made here ---------------------- */

static sqlite3 *make_db(const char *path) {
  sqlite3 *db;
  unlink(path);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
      "CREATE TABLE messages(id INTEGER PRIMARY KEY, conn_id INTEGER NOT NULL,"
      " seq INTEGER NOT NULL, received_at INTEGER NOT NULL,"
      " payload BLOB NOT NULL)", NULL, NULL, NULL), SQLITE_OK);
  return db;
}

static void put(sqlite3 *db, int64_t conn_id, uint32_t run, uint32_t conn,
                uint64_t seq, size_t size) {
  char buf[128];
  sqlite3_stmt *st;
  bq_benchmsg_format(buf, size, run, conn, seq);
  assert_int_equal(sqlite3_prepare_v2(db,
      "INSERT INTO messages(conn_id, seq, received_at, payload) "
      "VALUES(?1, ?2, 0, ?3)", -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_int64(st, 1, conn_id);
  sqlite3_bind_int64(st, 2, (int64_t)seq);
  sqlite3_bind_blob(st, 3, buf, (int)size, SQLITE_TRANSIENT);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

static void test_dbcheck(void **state) {
  char path[64], err[256];
  const uint64_t sent[2] = {5, 4};
  struct bq_dbcheck c;
  sqlite3 *db;
  uint64_t s;
  (void)state;
  snprintf(path, sizeof(path), "/tmp/bq-test-client-%d.db", (int)getpid());
  db = make_db(path);
  /* another run and a stranger's row are ignored */
  put(db, 9, 0x1234, 1, 1, 40);
  sqlite3_exec(db, "INSERT INTO messages VALUES(NULL, 9, 1, 0, 'hello')", NULL,
               NULL, NULL);
  for (s = 1; s <= 4; s++) { /* interleaved, as the daemon commits */
    put(db, 1, 0xabc, 1, s, 40);
    put(db, 2, 0xabc, 2, s, 40);
  }
  put(db, 1, 0xabc, 1, 5, 40);
  assert_int_equal(bq_dbcheck_run(path, 0xabc, 2, sent, 40, &c, err, sizeof(err)), 0);
  assert_true(c.ok);
  assert_true(c.rows == 9 && c.expected == 9 && c.missing == 0);

  /* a deleted row is a gap, named */
  sqlite3_exec(db, "DELETE FROM messages WHERE conn_id = 2 AND seq IN (2, 3)",
               NULL, NULL, NULL);
  assert_int_equal(bq_dbcheck_run(path, 0xabc, 2, sent, 40, &c, err, sizeof(err)), 0);
  assert_false(c.ok);
  assert_true(c.missing == 2 && c.rows == 7 && c.duplicates == 0);
  assert_string_equal(c.gaps, "conn 2: seq 2..3");

  /* a repeated row is a duplicate and out of order */
  put(db, 2, 0xabc, 2, 2, 40);
  put(db, 2, 0xabc, 2, 3, 40);
  put(db, 1, 0xabc, 1, 2, 40);
  assert_int_equal(bq_dbcheck_run(path, 0xabc, 2, sent, 40, &c, err, sizeof(err)), 0);
  assert_false(c.ok);
  assert_true(c.missing == 0 && c.duplicates == 1);
  assert_true(c.misordered == 3); /* 2 and 3 after 4 on conn 2; 2 after 5 */

  /* rows of one bench conn under two daemon conns; wrong size; seq */
  sqlite3_close(db);
  db = make_db(path);
  put(db, 1, 0xabc, 1, 1, 40);
  put(db, 3, 0xabc, 1, 2, 40);
  put(db, 1, 0xabc, 1, 3, 41);
  assert_int_equal(bq_dbcheck_run(path, 0xabc, 1, sent, 40, &c, err, sizeof(err)), 0);
  assert_true(c.split == 1 && c.foreign == 1 && c.missing == 3);
  assert_string_equal(c.gaps, "conn 1: seq 3..5");
  sqlite3_exec(db, "UPDATE messages SET seq = 7 WHERE conn_id = 3", NULL, NULL,
               NULL);
  assert_int_equal(bq_dbcheck_run(path, 0xabc, 1, sent, 40, &c, err, sizeof(err)), 0);
  assert_true(c.seq_mismatch == 1);
  sqlite3_close(db);
  unlink(path);

  /* no such database: an error, not a crash */
  assert_true(bq_dbcheck_run("/nonexistent/dir/x.db", 1, 2, sent, 40, &c, err,
                             sizeof(err)) < 0);
  assert_non_null(strstr(err, "/nonexistent/dir/x.db"));
}

/* bench --producers: a row's (producer, pseq) as burstqd's schema 5 gives
 * them, either in the row (as version 4 stored them; producer 0 and pseq 0
 * leave them NULL) or from its connection's producer and pseq_base. */
static void put_p(sqlite3 *db, int64_t conn_id, uint32_t run, uint32_t conn,
                  uint64_t seq, int64_t producer, int64_t pseq) {
  char buf[128];
  sqlite3_stmt *st;
  bq_benchmsg_format(buf, 40, run, conn, seq);
  assert_int_equal(sqlite3_prepare_v2(db,
      "INSERT INTO messages(conn_id, seq, received_at, payload, producer, "
      "pseq) VALUES(?1, ?2, 0, ?3, ?4, ?5)", -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_int64(st, 1, conn_id);
  sqlite3_bind_int64(st, 2, (int64_t)seq);
  sqlite3_bind_blob(st, 3, buf, 40, SQLITE_TRANSIENT);
  if (producer > 0) sqlite3_bind_int64(st, 4, producer);
  if (pseq > 0) sqlite3_bind_int64(st, 5, pseq);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

static void test_dbcheck_producers(void **state) {
  char path[64], err[256], name[BQ_BENCHMSG_PRODUCER_MAX], sql[256];
  const uint64_t sent[2] = {3, 3};
  struct bq_dbcheck c;
  sqlite3 *db;
  uint64_t s;
  (void)state;
  bq_benchmsg_producer(name, 0xabc, 2);
  assert_string_equal(name, "bench-00000abc-2");
  snprintf(path, sizeof(path), "/tmp/bq-test-client-p-%d.db", (int)getpid());
  db = make_db(path);
  /* Before version 5: no producer columns, a clear error. */
  assert_true(bq_dbcheck_producer_run(path, 0xabc, 2, sent, 40, &c, err,
                                      sizeof(err)) < 0);
  assert_non_null(strstr(err, "producer"));
  assert_int_equal(sqlite3_exec(db,
      "ALTER TABLE messages ADD COLUMN producer INTEGER;"
      "ALTER TABLE messages ADD COLUMN pseq INTEGER;"
      "CREATE TABLE producers(id INTEGER PRIMARY KEY, name TEXT NOT NULL "
      " UNIQUE, committed INTEGER NOT NULL, created_at INTEGER NOT NULL,"
      " updated_at INTEGER NOT NULL);"
      "INSERT INTO producers VALUES(5, 'bench-00000abc-1', 3, 0, 0);"
      "INSERT INTO producers VALUES(6, 'bench-00000abc-2', 3, 0, 0);"
      "INSERT INTO producers VALUES(7, 'other', 3, 0, 0);"
      "CREATE TABLE connections(id INTEGER PRIMARY KEY, producer INTEGER,"
      " pseq_base INTEGER);"
      "INSERT INTO connections VALUES(1, NULL, NULL);"
      "INSERT INTO connections VALUES(2, 6, 0);",
      NULL, NULL, NULL), SQLITE_OK);
  for (s = 1; s <= 3; s++) {
    put_p(db, 1, 0xabc, 1, s, 5, (int64_t)s); /* in the row (version 4) */
    put_p(db, 2, 0xabc, 2, s, 0, 0);          /* from the connection */
  }
  assert_int_equal(bq_dbcheck_producer_run(path, 0xabc, 2, sent, 40, &c, err,
                                           sizeof(err)), 0);
  assert_true(c.ok && c.rows == 6 && c.producer_mismatch == 0);
  /* The plain check does not look at producers. */
  assert_int_equal(bq_dbcheck_run(path, 0xabc, 2, sent, 40, &c, err,
                                  sizeof(err)), 0);
  assert_true(c.ok);
  /* In rows: a wrong pseq, another producer, none at all. */
  snprintf(sql, sizeof(sql), "UPDATE messages SET pseq = 9 WHERE conn_id = 1 "
           "AND seq = 2");
  sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_exec(db, "UPDATE messages SET producer = 7 WHERE conn_id = 1 AND "
               "seq = 1", NULL, NULL, NULL);
  sqlite3_exec(db, "UPDATE messages SET producer = NULL, pseq = NULL WHERE "
               "conn_id = 1 AND seq = 3", NULL, NULL, NULL);
  assert_int_equal(bq_dbcheck_producer_run(path, 0xabc, 2, sent, 40, &c, err,
                                           sizeof(err)), 0);
  assert_false(c.ok);
  assert_true(c.producer_mismatch == 3 && c.missing == 0 && c.rows == 6);
  /* From the connection: a base that shifts every pseq. */
  sqlite3_exec(db, "UPDATE connections SET pseq_base = 1 WHERE id = 2", NULL,
               NULL, NULL);
  assert_int_equal(bq_dbcheck_producer_run(path, 0xabc, 2, sent, 40, &c, err,
                                           sizeof(err)), 0);
  assert_true(c.producer_mismatch == 6 && c.missing == 0 && c.rows == 6);
  sqlite3_close(db);
  unlink(path);
}

/* --- exit statuses ------------------------------------------------------ */

static struct bq_send_outcome send_ok(void) {
  struct bq_send_outcome o;
  memset(&o, 0, sizeof(o));
  o.sent = o.committed = 10;
  o.all_sent = o.got_ok = 1;
  return o;
}

static void test_send_verdict(void **state) {
  struct bq_send_outcome o = send_ok();
  (void)state;
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_OK);
  o.sent = o.committed = 0; /* no input: the daemon's "OK 0" */
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_OK);
  o = send_ok();
  o.got_ok = 0; /* EOF without any ack */
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_LOST);
  o = send_ok();
  o.committed = 9; /* final ack short of what was sent */
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_LOST);
  o.rejected = 1; /* ... accounted for by one rejected line */
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_REJECTED);
  o = send_ok();
  o.all_sent = 0; /* the daemon stopped; some input never went out */
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_LOST);
  o = send_ok();
  o.io_error = 1; /* all acked, but a reset: still not a clean end */
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_LOST);
  o = send_ok();
  o.committed = 0;
  o.timed_out = 1;
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_TIMEOUT);
  o.refused = 1; /* the daemon's reason wins over what followed */
  o.io_error = 1;
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_REFUSED);
  o = send_ok();
  o.bad_reply = 1; /* not burstqd: whatever it acked means nothing */
  assert_int_equal(bq_send_verdict(&o), BQ_EXIT_LOST);
}

/* The action of `send --producer` on one reply line (NULL: no reply). */
static int pact(const char *line, int awaiting, int *code) {
  struct bq_proto_reply r;
  if (line == NULL) return bq_producer_action(NULL, awaiting, code);
  bq_proto_parse_reply(line, strlen(line), &r);
  return bq_producer_action(&r, awaiting, code);
}

static void test_producer_action(void **state) {
  static const struct {
    const char *line; /* NULL: an over-long line */
    int awaiting, action, code;
  } cases[] = {
      {"RESUME 0", 1, BQ_PRODUCER_RESUME, BQ_EXIT_OK},
      {"RESUME 42", 1, BQ_PRODUCER_RESUME, BQ_EXIT_OK},
      {"OK 43", 0, BQ_PRODUCER_ACK, BQ_EXIT_OK},
      /* OK before RESUME: the HELLO line was stored as a message. */
      {"OK 1", 1, BQ_PRODUCER_STOP, BQ_EXIT_REFUSED},
      {"RESUME 3", 0, BQ_PRODUCER_STOP, BQ_EXIT_LOST},
      /* Transient: connect again. */
      {"ERR too-many-connections", 1, BQ_PRODUCER_RETRY, BQ_EXIT_REFUSED},
      {"ERR idle", 0, BQ_PRODUCER_RETRY, BQ_EXIT_LOST},
      /* Final. */
      {"ERR fenced", 0, BQ_PRODUCER_STOP, BQ_EXIT_REFUSED},
      {"ERR fenced", 1, BQ_PRODUCER_STOP, BQ_EXIT_REFUSED},
      {"ERR auth", 1, BQ_PRODUCER_STOP, BQ_EXIT_REFUSED},
      {"ERR denied", 1, BQ_PRODUCER_STOP, BQ_EXIT_REFUSED},
      {"ERR hello", 1, BQ_PRODUCER_STOP, BQ_EXIT_REFUSED},
      {"ERR something-new", 0, BQ_PRODUCER_STOP, BQ_EXIT_REFUSED},
      {"ERR gap 7", 1, BQ_PRODUCER_STOP, BQ_EXIT_LOST},
      {"ERR too-long", 0, BQ_PRODUCER_STOP, BQ_EXIT_REJECTED},
      {"HTTP/1.1 400 Bad Request", 1, BQ_PRODUCER_STOP, BQ_EXIT_LOST},
      {NULL, 0, BQ_PRODUCER_STOP, BQ_EXIT_LOST},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int code = -1;
    assert_int_equal(pact(cases[i].line, cases[i].awaiting, &code),
                     cases[i].action);
    assert_int_equal(code, cases[i].code);
  }
}

static void test_producer_backoff(void **state) {
  unsigned ms = 0, i;
  (void)state;
  ms = bq_producer_backoff(ms);
  assert_int_equal(ms, 20);
  assert_int_equal(bq_producer_backoff(ms), 40);
  for (i = 0; i < 20; i++) {
    unsigned next = bq_producer_backoff(ms);
    assert_true(next >= ms && next <= 1000);
    ms = next;
  }
  assert_int_equal(ms, 1000);
}

static void test_bench_verdict(void **state) {
  struct bq_bench_outcome o;
  (void)state;
  memset(&o, 0, sizeof(o));
  o.sent = o.committed = 1000;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_OK);
  o.db_checked = 1;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_REJECTED); /* check failed */
  o.db_ok = 1;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_OK);
  o.committed = 999;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_REJECTED);
  o.sink = 1; /* a sink acks nothing: not a failure */
  o.committed = 0;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_OK);
  o.sink = 0;
  o.committed = 1000;
  o.rejected = 3;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_REJECTED);
  o.lost = 1;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_LOST);
  o.timed_out = 1;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_TIMEOUT);
  o.refused = 2;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_REFUSED);
  o.connect_errors = 1;
  assert_int_equal(bq_bench_verdict(&o), BQ_EXIT_CONNECT);
}

static void test_opt_host_name(void **state) {
  char n[16];
  (void)state;
  assert_int_equal(bq_opt_host_name("127.0.0.1:7070", n, sizeof(n)), 0);
  assert_string_equal(n, "127.0.0.1");
  assert_int_equal(bq_opt_host_name("[::1]:7070", n, sizeof(n)), 0);
  assert_string_equal(n, "::1");
  assert_int_equal(bq_opt_host_name("[::1]", n, sizeof(n)), 0);
  assert_string_equal(n, "::1");
  assert_int_equal(bq_opt_host_name("db1.example", n, sizeof(n)), 0);
  assert_string_equal(n, "db1.example");
  assert_int_equal(bq_opt_host_name("localhost:7443", n, sizeof(n)), 0);
  assert_string_equal(n, "localhost");
  assert_int_equal(bq_opt_host_name(":7070", n, sizeof(n)), 0);
  assert_string_equal(n, "");
  assert_int_equal(bq_opt_host_name("fe80::1", n, sizeof(n)), 0);
  assert_string_equal(n, "fe80::1");
  /* 16 bytes with its NUL fit; one more does not. */
  assert_int_equal(bq_opt_host_name("abcdefghijklmno:1", n, sizeof(n)), 0);
  assert_string_equal(n, "abcdefghijklmno");
  assert_int_equal(bq_opt_host_name("abcdefghijklmnop:1", n, sizeof(n)),
                   -ENAMETOOLONG);
  assert_string_equal(n, "");
}

/* bq_session_tls_check on options given as (opt, value) pairs. */
static int tls_check(struct bq_session_tls *t, const char *host, char *err,
                     size_t errlen, int n, ...) {
  va_list ap;
  int i;
  memset(t, 0, sizeof(*t));
  va_start(ap, n);
  for (i = 0; i < n; i++) {
    int opt = va_arg(ap, int);
    const char *v = va_arg(ap, const char *);
    assert_int_equal(bq_session_tls_opt(t, opt, v), 1);
  }
  va_end(ap);
  err[0] = '\0';
  return bq_session_tls_check(t, host, err, errlen);
}

static void test_session_tls_options(void **state) {
  struct bq_session_tls t;
  char err[256];
  (void)state;
  unsetenv("BURSTQ_TLS_CA");
  unsetenv("BURSTQ_HOST");
  assert_int_equal(bq_session_tls_opt(&t, 'H', "x"), 0);
  /* No TLS: nothing to check, no name. */
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 0), 0);
  assert_false(t.on);
  /* A --tls-* option without --tls would be ignored: refused. */
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 1,
                             BQ_SESSION_OPT_TLS_CA, "ca.pem"), -EINVAL);
  assert_string_equal(err, "--tls-ca needs --tls");
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 1,
                             BQ_SESSION_OPT_TLS_KEY, "k.pem"), -EINVAL);
  assert_string_equal(err, "--tls-key needs --tls");
  /* A certificate without its key, and the converse. */
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 2,
                             BQ_SESSION_OPT_TLS, NULL,
                             BQ_SESSION_OPT_TLS_CERT, "c.pem"), -EINVAL);
  assert_non_null(strstr(err, "--tls-cert needs --tls-key"));
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 2,
                             BQ_SESSION_OPT_TLS, NULL,
                             BQ_SESSION_OPT_TLS_KEY, "k.pem"), -EINVAL);
  assert_non_null(strstr(err, "--tls-key needs --tls-cert"));
  /* The name to verify is the host of -H, else of $BURSTQ_HOST, else the
   * default's. */
  assert_int_equal(tls_check(&t, "ingest.example:7443", err, sizeof(err), 1,
                             BQ_SESSION_OPT_TLS, NULL), 0);
  assert_true(t.on);
  assert_string_equal(t.name, "ingest.example");
  assert_null(t.ca);
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 1,
                             BQ_SESSION_OPT_TLS, NULL), 0);
  assert_string_equal(t.name, "127.0.0.1");
  setenv("BURSTQ_HOST", "[::1]:7443", 1);
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 1,
                             BQ_SESSION_OPT_TLS, NULL), 0);
  assert_string_equal(t.name, "::1");
  unsetenv("BURSTQ_HOST");
  /* ":PORT" names no host to verify. */
  assert_int_equal(tls_check(&t, ":7443", err, sizeof(err), 1,
                             BQ_SESSION_OPT_TLS, NULL), -EINVAL);
  assert_non_null(strstr(err, "names no host"));
  /* $BURSTQ_TLS_CA: taken with --tls and no --tls-ca; --tls-ca wins; and
   * without --tls it turns nothing on. */
  setenv("BURSTQ_TLS_CA", "/etc/env-ca.pem", 1);
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 1,
                             BQ_SESSION_OPT_TLS, NULL), 0);
  assert_string_equal(t.ca, "/etc/env-ca.pem");
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 2,
                             BQ_SESSION_OPT_TLS, NULL,
                             BQ_SESSION_OPT_TLS_CA, "mine.pem"), 0);
  assert_string_equal(t.ca, "mine.pem");
  assert_int_equal(tls_check(&t, NULL, err, sizeof(err), 0), 0);
  assert_false(t.on);
  assert_null(t.ca);
  unsetenv("BURSTQ_TLS_CA");
  /* Mutual TLS: both given. */
  assert_int_equal(tls_check(&t, "localhost:1", err, sizeof(err), 3,
                             BQ_SESSION_OPT_TLS, NULL,
                             BQ_SESSION_OPT_TLS_CERT, "c.pem",
                             BQ_SESSION_OPT_TLS_KEY, "k.pem"), 0);
  assert_string_equal(t.cert, "c.pem");
  assert_string_equal(t.key, "k.pem");
  assert_string_equal(t.name, "localhost");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_session_replies),
      cmocka_unit_test(test_opt_count),
      cmocka_unit_test(test_opt_size),
      cmocka_unit_test(test_pace_schedule),
      cmocka_unit_test(test_opt_seconds),
      cmocka_unit_test(test_opt_host),
      cmocka_unit_test(test_opt_host_name),
      cmocka_unit_test(test_session_tls_options),
      cmocka_unit_test(test_benchmsg_roundtrip),
      cmocka_unit_test(test_benchmsg_run),
      cmocka_unit_test(test_dbcheck),
      cmocka_unit_test(test_dbcheck_producers),
      cmocka_unit_test(test_send_verdict),
      cmocka_unit_test(test_bench_verdict),
      cmocka_unit_test(test_producer_action),
      cmocka_unit_test(test_producer_backoff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
