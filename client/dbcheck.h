/*
 * dbcheck.h -- did every message of a bench run land in the database
 * exactly once, in order?
 *
 * Design: reads the daemon's SQLite file read-only (WAL readers never block
 * the writer) in id order, picks the rows of one run by their payload
 * header (benchmsg.h), and keeps one bitmap of seen sequence numbers per
 * bench connection; with --producers, also each row's (producer, pseq).
 * Main thread, after the run.
 */
#ifndef BQ_DBCHECK_H
#define BQ_DBCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bq_dbcheck {
  uint64_t expected;   /* messages the run sent */
  uint64_t rows;       /* rows of the run found */
  uint64_t missing;    /* expected messages with no row */
  uint64_t duplicates; /* rows repeating an already seen message */
  uint64_t misordered; /* rows whose seq is below an earlier row's of the same
                          connection (by id) */
  uint64_t split;      /* rows whose daemon connection (conn_id) differs from
                          the first row of the same bench connection */
  uint64_t seq_mismatch; /* rows whose daemon seq column differs from the
                            sequence number in the payload */
  uint64_t foreign;    /* rows with the run's prefix but a bad header, a
                          connection or seq out of range, or a wrong size */
  uint64_t producer_mismatch; /* (--producers only) rows whose producer or
                                 pseq is not (bench-RUN-CONN, seq) */
  char gaps[512];      /* the first missing ranges, "conn 2: 17..20; ..." */
  int ok;              /* every count above is zero, rows == expected */
};

/* Check database path for run `run` whose connection i (1..nconns) sent
 * sent[i-1] messages of `size` bytes.  Returns 0 with *out filled, or a
 * negative value with a message in err (cannot open or read the file). */
int bq_dbcheck_run(const char *path, uint32_t run, uint32_t nconns,
                   const uint64_t *sent, size_t size, struct bq_dbcheck *out,
                   char *err, size_t errlen);

/* The same for a run of bench --producers: also every row of connection
 * C must carry producer bench-RUN-C (benchmsg.h) with pseq = its seq, so
 * each (producer, pseq) is there exactly once (needs schema v4). */
int bq_dbcheck_producer_run(const char *path, uint32_t run, uint32_t nconns,
                            const uint64_t *sent, size_t size,
                            struct bq_dbcheck *out, char *err, size_t errlen);

#endif /* BQ_DBCHECK_H */
