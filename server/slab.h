/*
 * slab.h -- records carved out of shared blocks, not one malloc() each.
 *
 * Why: at a million messages a second, one malloc() per record on the loop
 * thread and one free() per record on the worker (a free into another
 * thread's arena, which takes that arena's lock) were measurable per-message
 * costs with nothing to show for them.
 *
 * Design: the loop thread carves records one after another out of the
 * current slab (BQ_SLAB_SIZE bytes); a slab carries an atomic count of the
 * records still alive in it, plus one while it is the current slab.
 * Records are released in chain order by whichever thread committed them
 * (bq_rec_free_chain), one atomic subtraction per run of records from the
 * same slab; the last release frees the slab.  Because the queue is FIFO,
 * slabs empty in the order they were filled, so the memory held beyond the
 * queue's own byte bound is about one slab.  A record too big to share a
 * slab (over BQ_SLAB_SIZE / 8 bytes) gets its own malloc() (slab == NULL),
 * as do records built outside the daemon (unit tests).
 *
 * Threads: a struct bq_slab_pool belongs to the loop thread;
 * bq_rec_free_chain() may run on any thread.
 */
#ifndef BQ_SLAB_H
#define BQ_SLAB_H

#include <stdatomic.h>
#include <stddef.h>

#include "record.h"

#define BQ_SLAB_SIZE (256 * 1024)

struct bq_slab {
  atomic_size_t refs; /* live records, +1 while current */
  size_t used;        /* bytes carved so far (loop thread) */
  char mem[];         /* records, each aligned for struct bq_rec */
};

struct bq_slab_pool {
  struct bq_slab *cur; /* the slab being carved, or NULL */
  size_t slabs;        /* slabs allocated so far (statistics) */
};

/* An empty pool. */
void bq_slab_pool_init(struct bq_slab_pool *p);

/* A record with room for len data bytes, its slab field set and every
 * other field uninitialised.  Loop thread.  Returns NULL when out of
 * memory. */
struct bq_rec *bq_rec_alloc(struct bq_slab_pool *p, size_t len);

/* Release every record of the chain (any thread). */
void bq_rec_free_chain(struct bq_rec *first);

/* Drop the pool's hold on its current slab; records still alive keep it.
 * Loop thread, at the end. */
void bq_slab_pool_destroy(struct bq_slab_pool *p);

#endif /* BQ_SLAB_H */
