/*
 * benchmsg.h -- the messages `burstq bench` sends: each one names its run,
 * its connection and its sequence number, so the database can be checked
 * afterwards (dbcheck.h).
 *
 * Format: "bq:RRRRRRRR:C:S:" then 'x' up to the message size, where R is the
 * run id in 8 lowercase hex digits and C (connection, from 1) and S
 * (sequence, from 1) are decimal.  Pure functions, any thread.
 */
#ifndef BQ_BENCHMSG_H
#define BQ_BENCHMSG_H

#include <stddef.h>
#include <stdint.h>

/* Bytes "bq:RRRRRRRR:" -- the prefix shared by every message of a run. */
#define BQ_BENCHMSG_PREFIX 12

/* Length of the header of message (conn, seq). */
size_t bq_benchmsg_header_len(uint32_t conn, uint64_t seq);

/* Write message (run, conn, seq) of exactly size bytes, then '\n', at dst
 * (size + 1 bytes).  Needs size >= bq_benchmsg_header_len(conn, seq). */
void bq_benchmsg_format(char *dst, size_t size, uint32_t run, uint32_t conn,
                        uint64_t seq);

/* Write messages (run, conn, seq) .. (run, conn, seq + count - 1), each
 * size bytes and '\n', one after another at dst (count * (size + 1)
 * bytes): the same bytes as count calls of bq_benchmsg_format, for less
 * work (each message after the first is the one before it with its
 * sequence number incremented in place).  Needs size >=
 * bq_benchmsg_header_len(conn, seq + count - 1). */
void bq_benchmsg_format_run(char *dst, size_t size, uint32_t run,
                            uint32_t conn, uint64_t seq, size_t count);

/* Write the run prefix (BQ_BENCHMSG_PREFIX bytes, no NUL) at dst. */
void bq_benchmsg_prefix(char *dst, uint32_t run);

/* Parse a payload (or its first bytes).  Returns 0 with *run, *conn, *seq
 * set, or -1 if it is not a bench message header. */
int bq_benchmsg_parse(const char *p, size_t len, uint32_t *run, uint32_t *conn,
                      uint64_t *seq);

/* The longest producer id of bench --producers, with its NUL. */
#define BQ_BENCHMSG_PRODUCER_MAX 32

/* The producer id of connection conn of run `run` with --producers:
 * "bench-RRRRRRRR-C" into dst (BQ_BENCHMSG_PRODUCER_MAX bytes), NUL
 * terminated. */
void bq_benchmsg_producer(char *dst, uint32_t run, uint32_t conn);

#endif /* BQ_BENCHMSG_H */
