/*
 * producer.h -- the loop's map from producer id to the connections that
 * speak for it (exactly once, docs/protocol.md "Producers").
 *
 * Design: a chained hash table of entries, one per producer id that has a
 * connection now: the latest connection whose HELLO named it (cur), and a
 * count of earlier ones whose records are still in flight (draining: a
 * fenced connection until its last record is committed, a closed one
 * until it is freed).  The loop pushes cur's HELLO record only when
 * draining is 0, so the count the store reads back is final (store.h).
 * What the entries mean for a connection (fencing, holding lines, RESUME)
 * is conn.c's; this module only finds, creates and drops them.  An entry
 * lives while it has a connection (cur != NULL or draining > 0), so the
 * table holds at most one entry per live connection.  Lookup is O(id
 * length) expected; the table doubles at load 1.
 *
 * Threads: the loop thread only.
 */
#ifndef BQ_PRODUCER_H
#define BQ_PRODUCER_H

#include <stddef.h>

struct bq_conn;

struct bq_producer {
  struct bq_producer *hnext; /* hash chain */
  struct bq_conn *cur;       /* the latest HELLO's connection, or NULL */
  size_t draining;           /* earlier connections with records in flight */
  size_t len;                /* of name */
  char name[];               /* the id, not NUL-terminated */
};

struct bq_producers {
  struct bq_producer **tab; /* cap chains */
  size_t cap;               /* a power of two, or 0 before the first get */
  size_t n;                 /* entries */
};

/* An empty map (allocates nothing). */
void bq_producers_init(struct bq_producers *m);

/* Free the table (after the loop: every connection, and so every entry,
 * is gone; an entry a connection still holds stays its). */
void bq_producers_free(struct bq_producers *m);

/* The entry of id (len bytes, 1..BQ_PROTO_PRODUCER_MAX), created empty
 * (cur NULL, draining 0) when there is none; NULL when out of memory. */
struct bq_producer *bq_producers_get(struct bq_producers *m, const char *id,
                                     size_t len);

/* Drop p from the map and free it if it has no connection left (cur NULL,
 * draining 0); otherwise nothing. */
void bq_producers_put(struct bq_producers *m, struct bq_producer *p);

#endif /* BQ_PRODUCER_H */
