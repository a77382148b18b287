/*
 * record.h -- the unit that travels from the event loop to the database.
 *
 * Design: a record is this header followed by its bytes, carved out of a
 * shared block by slab.h (or, in tests, malloc()ed).  The loop thread
 * creates records and links them into a chain; the queue hands chains to a
 * worker, the storage backend writes them in order, and the worker releases
 * them (bq_rec_free_chain).  Records of one connection keep the order in
 * which the loop created them all the way into the database.
 *
 * conn is an opaque token naming the connection on the loop thread.  No
 * thread but the loop ever dereferences it; workers only compare it and hand
 * it back in completions (pool.h).  The loop keeps the connection alive while
 * any record points at it.
 */
#ifndef BQ_RECORD_H
#define BQ_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct bq_conn;
struct bq_slab;

enum bq_rec_type {
  BQ_REC_MSG = 0,   /* a message: seq, ts_us = received_at, data = payload */
  BQ_REC_OPEN = 1,  /* a connection opened: ts_us = opened_at, data = peer,
                       then '\0' and the listener's name when there is one,
                       then '\0' and the TLS client certificate's subject
                       (RFC 2253) when there is one (mutual TLS) */
  BQ_REC_CLOSE = 2, /* a connection closed: ts_us = closed_at, no data */
  BQ_REC_HELLO = 3  /* a producer's HELLO (docs/protocol.md): data = the
                       producer id, ts_us = received_at.  The store fills
                       in producer (producers.id) and pseq (how many of
                       the producer's messages are committed, n of
                       RESUME n): store.h */
};

/* Flags of a MSG record. */
enum {
  BQ_REC_F_SYSLOG = 1,   /* from a syslog listener: the store parses its
                            header into columns of their own */
  BQ_REC_F_TRUNCATED = 2 /* cut to --max-message: data is its first bytes */
};

struct bq_rec {
  struct bq_rec *next;   /* chain link, NULL at the end */
  struct bq_conn *conn;  /* owner token, never NULL, loop thread only */
  struct bq_slab *slab;  /* the block it was carved from (slab.h), or NULL
                            when it is a malloc() of its own */
  int64_t conn_id;       /* connections.id */
  int64_t seq;           /* 1-based per connection for MSG, else 0 */
  int64_t ts_us;         /* Unix microseconds */
  int64_t producer;      /* MSG: producers.id of a producer connection's
                            message, 0 for a plain one; HELLO: set by the
                            store; else 0 */
  int64_t pseq;          /* MSG of a producer: its number in the
                            producer's sequence (1-based); HELLO: set by
                            the store; else 0 */
  uint32_t len;          /* bytes in data */
  uint8_t type;          /* enum bq_rec_type */
  uint8_t flags;         /* BQ_REC_F_*: MSG only, else 0 */
  char data[];           /* payload or peer address, not NUL-terminated */
};

/* Bytes a record is charged against the queue's byte bound: its header plus
 * its data, so that many tiny messages are bounded as well as a few big
 * ones. */
static inline size_t bq_rec_cost(const struct bq_rec *r) {
  return sizeof(*r) + r->len;
}

#endif /* BQ_RECORD_H */
