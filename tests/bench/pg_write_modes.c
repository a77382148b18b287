/*
 * pg_write_modes.c -- how fast can one libpq connection write burstq's
 * messages rows, by each of the ways store_pg.c could write them?
 *
 *   pg_write_modes URI [ROWS [BATCH [PAYLOAD]]]
 *
 * Writes ROWS rows (default 200000) of PAYLOAD bytes (default 100) into a
 * scratch table shaped like messages (dropped afterwards), BATCH rows
 * (default 8000; rounded up to a multiple of 1000) per transaction, COMMIT waited for
 * each time, three ways:
 *   copy-binary  COPY FROM STDIN (FORMAT binary)   (what store_pg.c does)
 *   copy-text    COPY FROM STDIN, bytea as \\x hex
 *   insert-pipe  multi-row INSERTs of 1000 rows ($1..$4000), BEGIN to
 *                COMMIT sent in libpq pipeline mode, one round trip
 * and prints rows/s for each.  A measuring tool (docs/architecture.md
 * quotes it), not a test.
 */
#define _POSIX_C_SOURCE 200809L
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INSERT_ROWS 1000

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(PGconn *c, const char *what) {
  fprintf(stderr, "pg_write_modes: %s: %s", what, PQerrorMessage(c));
  exit(1);
}

static void exec_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK &&
      PQresultStatus(r) != PGRES_TUPLES_OK)
    die(c, sql);
  PQclear(r);
}

static char *buf;
static size_t len, cap;

static void put(const void *p, size_t n) {
  if (len + n > cap) {
    cap = (len + n) * 2;
    buf = realloc(buf, cap);
    if (buf == NULL) abort();
  }
  memcpy(buf + len, p, n);
  len += n;
}

static void put32(uint32_t v) {
  unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
  put(b, 4);
}

static void put64(int64_t v) {
  put32((uint32_t)((uint64_t)v >> 32));
  put32((uint32_t)v);
}

static void copy(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COPY_IN) die(c, sql);
  PQclear(r);
  if (PQputCopyData(c, buf, (int)len) != 1 || PQputCopyEnd(c, NULL) != 1)
    die(c, "copy data");
  r = PQgetResult(c);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) die(c, "copy end");
  PQclear(r);
  while ((r = PQgetResult(c)) != NULL) PQclear(r);
}

static void batch_copy_binary(PGconn *c, int64_t first, int n,
                              const char *payload, int plen) {
  static const char hdr[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
  len = 0;
  put(hdr, 19);
  for (int i = 0; i < n; i++) {
    unsigned char nf[2] = {0, 4};
    put(nf, 2);
    put32(8), put64(1);
    put32(8), put64(first + i);
    put32(8), put64(first + i);
    put32((uint32_t)plen), put(payload, (size_t)plen);
  }
  put("\377\377", 2);
  exec_ok(c, "BEGIN");
  copy(c, "COPY wm(conn_id, seq, received_at, payload) FROM STDIN "
          "(FORMAT binary)");
  exec_ok(c, "COMMIT");
}

static void batch_copy_text(PGconn *c, int64_t first, int n,
                            const char *payload, int plen) {
  static const char hex[] = "0123456789abcdef";
  char num[64];
  len = 0;
  for (int i = 0; i < n; i++) {
    int k = snprintf(num, sizeof(num), "1\t%lld\t%lld\t\\\\x",
                     (long long)(first + i), (long long)(first + i));
    put(num, (size_t)k);
    for (int j = 0; j < plen; j++) {
      char h[2] = {hex[(unsigned char)payload[j] >> 4],
                   hex[(unsigned char)payload[j] & 15]};
      put(h, 2);
    }
    put("\n", 1);
  }
  exec_ok(c, "BEGIN");
  copy(c, "COPY wm(conn_id, seq, received_at, payload) FROM STDIN");
  exec_ok(c, "COMMIT");
}

static char *insert_sql;

static void batch_insert_pipe(PGconn *c, int64_t first, int n,
                              const char *payload, int plen) {
  static const char *vals[4 * INSERT_ROWS];
  static int lens[4 * INSERT_ROWS], fmts[4 * INSERT_ROWS];
  static int64_t nums[3 * INSERT_ROWS];
  int nstmt = 0;
  PGresult *r;
  if (PQenterPipelineMode(c) != 1) die(c, "pipeline");
  if (PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 1)
    die(c, "send");
  for (int at = 0; at < n; at += INSERT_ROWS) {
    int rows = n - at < INSERT_ROWS ? n - at : INSERT_ROWS;
    if (rows != INSERT_ROWS) {
      fprintf(stderr, "pg_write_modes: BATCH must be a multiple of %d\n",
              INSERT_ROWS);
      exit(2);
    }
    for (int i = 0; i < rows; i++) {
      int64_t v = first + at + i;
      /* binary int8: big-endian */
      for (int k = 0; k < 3; k++) {
        uint64_t x = k == 0 ? 1 : (uint64_t)v, be = 0;
        for (int b = 0; b < 8; b++) be = be << 8 | ((x >> (8 * b)) & 0xff);
        nums[3 * i + k] = (int64_t)be;
        vals[4 * i + k] = (const char *)&nums[3 * i + k];
        lens[4 * i + k] = 8;
        fmts[4 * i + k] = 1;
      }
      vals[4 * i + 3] = payload;
      lens[4 * i + 3] = plen;
      fmts[4 * i + 3] = 1;
    }
    if (PQsendQueryParams(c, insert_sql, 4 * rows, NULL, vals, lens, fmts,
                          0) != 1)
      die(c, "send insert");
    nstmt++;
    /* the parameters are copied into libpq's buffer: reuse is safe */
  }
  if (PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
      PQpipelineSync(c) != 1)
    die(c, "send commit");
  for (int i = 0; i < nstmt + 2; i++) {
    r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(c, "pipeline result");
    PQclear(r);
    if (PQgetResult(c) != NULL) die(c, "pipeline: extra result");
  }
  r = PQgetResult(c);
  if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) die(c, "sync");
  PQclear(r);
  if (PQexitPipelineMode(c) != 1) die(c, "exit pipeline");
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    void (*fn)(PGconn *, int64_t, int, const char *, int);
  } modes[] = {{"copy-binary", batch_copy_binary},
               {"copy-text", batch_copy_text},
               {"insert-pipe", batch_insert_pipe}};
  PGconn *c;
  long rows = argc > 2 ? atol(argv[2]) : 200000;
  int batch = argc > 3 ? atoi(argv[3]) : 8000;
  int plen = argc > 4 ? atoi(argv[4]) : 100;
  char *payload;
  size_t sl = 0;

  if (argc < 2 || rows < 1 || batch < 1 || plen < 0) {
    fprintf(stderr, "usage: pg_write_modes URI [ROWS [BATCH [PAYLOAD]]]\n");
    return 2;
  }
  batch = (batch + INSERT_ROWS - 1) / INSERT_ROWS * INSERT_ROWS;
  payload = malloc((size_t)plen + 1);
  for (int i = 0; i < plen; i++) payload[i] = (char)('a' + i % 26);
  insert_sql = malloc((size_t)INSERT_ROWS * 48 + 64);
  sl = (size_t)sprintf(insert_sql,
                       "INSERT INTO wm(conn_id, seq, received_at, payload) "
                       "VALUES ");
  for (int i = 0; i < INSERT_ROWS; i++)
    sl += (size_t)sprintf(insert_sql + sl, "%s($%d,$%d,$%d,$%d)",
                          i ? "," : "", 4 * i + 1, 4 * i + 2, 4 * i + 3,
                          4 * i + 4);
  c = PQconnectdb(argv[1]);
  if (PQstatus(c) != CONNECTION_OK) die(c, "connect");
  printf("%ld rows of %d bytes, %d per transaction\n", rows, plen, batch);
  for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
    double t0, t;
    exec_ok(c, "DROP TABLE IF EXISTS wm");
    exec_ok(c, "CREATE TABLE wm(id bigint GENERATED BY DEFAULT AS IDENTITY "
               "PRIMARY KEY, conn_id bigint NOT NULL, seq bigint NOT NULL, "
               "received_at bigint NOT NULL, payload bytea NOT NULL)");
    exec_ok(c, "CHECKPOINT");
    t0 = now_s();
    for (long done = 0; done < rows; done += batch)
      modes[m].fn(c, done, batch, payload, plen);
    t = now_s() - t0;
    printf("%-12s %9.0f rows/s\n", modes[m].name,
           (double)((rows + batch - 1) / batch * batch) / t);
  }
  exec_ok(c, "DROP TABLE IF EXISTS wm");
  PQfinish(c);
  free(payload);
  free(insert_sql);
  return 0;
}
