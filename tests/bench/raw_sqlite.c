#define _POSIX_C_SOURCE 200809L
/*
 * raw_sqlite.c -- the ceiling: how fast can this machine insert burstq's
 * rows with burstq's pragmas, in one thread, with nothing else going on?
 *
 * Usage: raw_sqlite DB ROWS BATCH off|normal|full [PAYLOAD_BYTES]
 * Prints one line: "raw_sqlite rows=N batch=B sync=S seconds=T rows_per_s=R".
 * Same schema, same prepared INSERT, same WAL + synchronous setting as
 * burstqd's store_sqlite.c; payloads are PAYLOAD_BYTES (default 100).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "raw_sqlite: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
  }
}

int main(int argc, char **argv) {
  sqlite3 *db;
  sqlite3_stmt *ins;
  char sql[128], payload[65536];
  long rows, batch, size = 100;
  int sync;
  double t0, t1;

  if (argc < 5) {
    fprintf(stderr, "usage: raw_sqlite DB ROWS BATCH off|normal|full [BYTES]\n");
    return 2;
  }
  rows = atol(argv[2]);
  batch = atol(argv[3]);
  sync = strcmp(argv[4], "off") == 0 ? 0 : strcmp(argv[4], "normal") == 0 ? 1 : 2;
  if (argc > 5) size = atol(argv[5]);
  if (rows < 1 || batch < 1 || size < 1 || size > (long)sizeof(payload)) return 2;
  memset(payload, 'x', sizeof(payload));

  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
  check(NULL, sqlite3_open(argv[1], &db), "open");
  check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), "wal");
  snprintf(sql, sizeof(sql), "PRAGMA synchronous=%d", sync);
  check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), "sync");
  check(db, sqlite3_exec(db,
      "CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY,"
      " conn_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
      " received_at INTEGER NOT NULL, payload BLOB NOT NULL)",
      NULL, NULL, NULL), "schema");
  check(db, sqlite3_prepare_v2(db,
      "INSERT INTO messages(conn_id, seq, received_at, payload) VALUES(?1,?2,?3,?4)",
      -1, &ins, NULL), "prepare");

  t0 = now_s();
  for (long i = 0; i < rows; i += batch) {
    check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
    for (long j = i; j < i + batch && j < rows; j++) {
      sqlite3_bind_int64(ins, 1, 1 + j % 4);
      sqlite3_bind_int64(ins, 2, j + 1);
      sqlite3_bind_int64(ins, 3, (sqlite3_int64)(t0 * 1e6));
      sqlite3_bind_blob(ins, 4, payload, (int)size, SQLITE_STATIC);
      check(db, sqlite3_step(ins), "insert");
      sqlite3_reset(ins);
    }
    check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
  }
  t1 = now_s();
  sqlite3_finalize(ins);
  sqlite3_close(db);
  printf("raw_sqlite rows=%ld batch=%ld sync=%s seconds=%.3f rows_per_s=%.0f\n",
         rows, batch, argv[4], t1 - t0, (double)rows / (t1 - t0));
  return 0;
}
