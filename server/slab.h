/*
 * slab.h -- records carved out of shared blocks, not one malloc() each.
 *
 * Why: at a million messages a second, one malloc() per record on the loop
 * thread and one free() per record on the worker (a free into another
 * thread's arena, which takes that arena's lock) were measurable per-message
 * costs with nothing to show for them.  So were the page faults of memory
 * the allocator handed back to the kernel and took again: tens of thousands
 * per 512 MiB of messages, each a trap into the hypervisor on a VM.
 *
 * Design: the loop thread carves records one after another out of the
 * current slab, a BQ_SLAB_SIZE block (header included) mapped on a
 * BQ_SLAB_SIZE boundary and marked for transparent huge pages, so that a
 * fresh slab costs one page fault, not 512.  A slab carries an atomic count
 * of the records still alive in it, plus one while it is the current slab.
 * Records are released in chain order by whichever thread committed them
 * (bq_rec_free_chain), one atomic subtraction per run of records from the
 * same slab.  The last release hands the slab to the pool's depot, which
 * keeps up to `keep` emptied slabs for the loop to carve again and unmaps
 * the rest.  Because the queue is FIFO, slabs empty in the order they were
 * filled, so the slabs in use are about the queue's byte bound plus one;
 * with keep set from that bound, a daemon under steady load maps no new
 * memory at all.  Once the loop has taken no slab for a while, the server
 * trims the depot (bq_slab_pool_trim), so an idle daemon keeps only its
 * current slab.  A record too big to share a slab (over BQ_SLAB_SIZE / 8
 * bytes) gets its own malloc() (slab == NULL), as does one for which no
 * slab can be mapped, and records built outside the daemon (unit tests).
 *
 * The depot is shared by the loop (taking) and the releasing threads
 * (returning), under its mutex, once per slab, never per record.  It lives
 * until the pool is destroyed and the last slab is gone, whichever is later:
 * records may outlive the pool (a worker finishing a batch at shutdown).
 *
 * Threads: a struct bq_slab_pool belongs to the loop thread;
 * bq_rec_free_chain() may run on any thread.
 */
#ifndef BQ_SLAB_H
#define BQ_SLAB_H

#include <stdatomic.h>
#include <stddef.h>

#include "record.h"

/* Bytes of one slab, its header included: an x86-64 huge page. */
#define BQ_SLAB_SIZE ((size_t)2 * 1024 * 1024)

struct bq_slab_depot;

struct bq_slab {
  atomic_size_t refs;          /* live records, +1 while current */
  size_t used;                 /* bytes of mem carved so far (loop thread) */
  struct bq_slab_depot *depot; /* where it goes once empty */
  struct bq_slab *next;        /* link in the depot's stack, while kept */
  char mem[];                  /* records, each aligned for struct bq_rec */
};

/* Bytes of records one slab holds. */
#define BQ_SLAB_ROOM (BQ_SLAB_SIZE - offsetof(struct bq_slab, mem))

struct bq_slab_pool {
  struct bq_slab *cur;         /* the slab being carved, or NULL */
  struct bq_slab_depot *depot; /* made with the first slab, or NULL */
  size_t keep;                 /* emptied slabs the depot keeps */
  size_t slabs;                /* slabs mapped so far (statistics) */
  size_t reused;               /* slabs taken from the depot (statistics) */
  size_t trimmed;              /* slabs unmapped by a trim (statistics) */
  size_t unmapped;             /* records from malloc() because no slab
                                  could be mapped (statistics) */
};

/* An empty pool whose depot will keep up to keep emptied slabs for reuse
 * (0: unmap each one as it empties).  bq_slab_keep() gives the number that
 * covers a queue's byte bound. */
void bq_slab_pool_init(struct bq_slab_pool *p, size_t keep);

/* Slabs that hold queue_bytes of records, plus the current slab and the one
 * a worker is still releasing. */
size_t bq_slab_keep(size_t queue_bytes);

/* The most memory mappings a queue of queue_bytes and max_count records of
 * at most max_len data bytes each can take: bq_slab_keep(queue_bytes)
 * slabs, in use or kept, plus, when such a record is too big for a slab,
 * one mapping per big record at worst (malloc() may map a block that big
 * on its own: glibc does above its mmap threshold).  Each counts against
 * the kernel's vm.max_map_count (common/rlimit.h). */
size_t bq_slab_maps(size_t queue_bytes, size_t max_count, size_t max_len);

/* A record with room for len data bytes, its slab field set and every
 * other field uninitialised.  Loop thread.  When no slab can be had (no
 * memory, or no mapping left under vm.max_map_count) the record comes
 * from malloc() (slab == NULL), as a big one does.  Returns NULL when
 * that fails too. */
struct bq_rec *bq_rec_alloc(struct bq_slab_pool *p, size_t len);

/* Release every record of the chain (any thread). */
void bq_rec_free_chain(struct bq_rec *first);

/* Slabs mapped now, in use or kept (*mapped), and of those kept for reuse
 * (*kept).  Loop thread. */
void bq_slab_pool_usage(const struct bq_slab_pool *p, size_t *mapped,
                        size_t *kept);

/* Unmap every emptied slab the depot keeps, and return how many; slabs
 * that empty later are kept again, up to keep.  Loop thread.  The server
 * calls it once the loop has taken no slab for a while (server.c,
 * BQ_SLAB_TRIM_MS), so that an idle daemon gives a burst's memory back
 * while one under steady load, which takes slabs all the time, keeps
 * reusing them. */
size_t bq_slab_pool_trim(struct bq_slab_pool *p);

/* Drop the pool's hold on its current slab and unmap the slabs its depot
 * keeps; records still alive keep their slabs, which are unmapped as they
 * empty.  Loop thread, at the end. */
void bq_slab_pool_destroy(struct bq_slab_pool *p);

#endif /* BQ_SLAB_H */
