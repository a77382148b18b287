#define _POSIX_C_SOURCE 200809L
/*
 * raw_pg.c -- the PostgreSQL ceiling: how fast can one process with one
 * libpq connection write burstq's message rows on this machine, with
 * nothing else going on?
 *
 * Usage: raw_pg URI ROWS BATCH on|remote_write|off [PAYLOAD_BYTES]
 * Prints one line:
 *   "raw_pg rows=N batch=B sync=S seconds=T rows_per_s=R".
 *
 * The database at URI must hold burstq's schema (burstqd creates it: the
 * bench starts a daemon on it once), so the table, its identity column and
 * its index are the daemon's own.  Like store_pg.c, each batch is one
 * transaction: BEGIN, one binary COPY of BATCH rows into
 * messages(conn_id, seq, received_at, payload), COMMIT waited for, with
 * synchronous_commit as given (burstqd's --sync full, normal, off map to
 * on, remote_write, off).  It leaves out what burstqd adds per batch (the
 * batch number, connection records): this is the ceiling.  Payloads are
 * PAYLOAD_BYTES (default 100) of 'x'; conn_id cycles over 1..4.
 */
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(PGconn *c, const char *what) {
  fprintf(stderr, "raw_pg: %s: %s", what, PQerrorMessage(c));
  exit(1);
}

static void exec_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) die(c, sql);
  PQclear(r);
}

/* One batch's COPY data, in PostgreSQL's binary COPY format. */
static unsigned char *buf;
static size_t len;

static void put(const void *p, size_t n) {
  memcpy(buf + len, p, n);
  len += n;
}
static void put16(uint16_t v) { v = htons(v); put(&v, 2); }
static void put32(uint32_t v) { v = htonl(v); put(&v, 4); }
static void put64(uint64_t v) {
  put32((uint32_t)(v >> 32));
  put32((uint32_t)v);
}
static void field64(int64_t v) { put32(8); put64((uint64_t)v); }

int main(int argc, char **argv) {
  static const unsigned char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0";
  char payload[65536], sql[96];
  long rows, batch, size = 100;
  double t0, t1;
  PGconn *c;
  PGresult *r;

  if (argc < 5) {
    fprintf(stderr,
            "usage: raw_pg URI ROWS BATCH on|remote_write|off [BYTES]\n");
    return 2;
  }
  rows = atol(argv[2]);
  batch = atol(argv[3]);
  if (argc > 5) size = atol(argv[5]);
  if (rows < 1 || batch < 1 || size < 1 || size > (long)sizeof(payload) ||
      (strcmp(argv[4], "on") != 0 && strcmp(argv[4], "remote_write") != 0 &&
       strcmp(argv[4], "off") != 0))
    return 2;
  memset(payload, 'x', sizeof(payload));
  /* Header, then per row 2 + 3 * 12 + 4 + size bytes, then the trailer. */
  buf = malloc(sizeof(header) + (size_t)batch * (42 + (size_t)size) + 2);
  if (buf == NULL) return 1;

  c = PQconnectdb(argv[1]);
  if (PQstatus(c) != CONNECTION_OK) die(c, "connect");
  snprintf(sql, sizeof(sql), "SET synchronous_commit = %s", argv[4]);
  exec_ok(c, sql);
  r = PQexec(c, "SELECT value FROM burstq_meta WHERE key = 'schema_version'");
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
    die(c, "no burstq schema in this database (start burstqd on it once)");
  PQclear(r);

  t0 = now_s();
  for (long i = 0; i < rows; i += batch) {
    len = 0;
    put(header, sizeof(header));
    for (long j = i; j < i + batch && j < rows; j++) {
      put16(4);
      field64(1 + j % 4);
      field64(j + 1);
      field64((int64_t)(t0 * 1e6));
      put32((uint32_t)size);
      put(payload, (size_t)size);
    }
    put16(0xffff);
    exec_ok(c, "BEGIN");
    r = PQexec(c, "COPY messages(conn_id, seq, received_at, payload)"
                  " FROM STDIN (FORMAT binary)");
    if (PQresultStatus(r) != PGRES_COPY_IN) die(c, "copy");
    PQclear(r);
    if (PQputCopyData(c, (const char *)buf, (int)len) != 1 ||
        PQputCopyEnd(c, NULL) != 1)
      die(c, "copy data");
    r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(c, "copy end");
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL) PQclear(r);
    exec_ok(c, "COMMIT");
  }
  t1 = now_s();
  PQfinish(c);
  free(buf);
  printf("raw_pg rows=%ld batch=%ld sync=%s seconds=%.3f rows_per_s=%.0f\n",
         rows, batch, argv[4], t1 - t0, (double)rows / (t1 - t0));
  return 0;
}
