/*
 * pool.h -- the consumers: a pool of worker threads that drain the queue
 * into the store, and the completion list that tells the loop what is safe.
 *
 * Design: each worker repeatedly takes a batch (and with it the writer
 * token, queue.h), appends it to the store in one transaction (group commit:
 * a batch is whatever has accumulated, up to batch_max records and the
 * store's caps.batch_bytes, so batches grow under load and a lone message
 * is written at once), retries a failed
 * transaction with backoff until it succeeds, returns the token and the
 * capacity, and then -- while the next worker already writes -- summarises
 * the batch per connection into a completion, posts it, wakes the loop with
 * uv_async_send(), and frees the records.  With idle_ms, a worker that
 * finds no work for that long takes the token alone and runs the store's
 * retention pass (bq_store_retain), again at once while it says there is
 * more.
 *
 * A store with caps.deferred_sync (SQLite at --sync full) commits without
 * flushing.  Its completions then go to a syncer thread instead of the
 * loop: the syncer takes every completion waiting, flushes once
 * (bq_store_sync), and posts them in the order they came, so that the
 * writer starts its next transaction while the last one is flushed, and
 * one flush covers every batch committed while the previous flush ran.
 * A completion is posted only after a flush that began after its commit,
 * so an ack still never precedes durability.  A worker takes its next
 * batch only once no completion waits for a flush to begin: a commit made
 * while one waits would be covered by the same flush, so the records
 * gather in the queue for one larger commit instead of costing the WAL
 * another set of pages (fewer commits for the same acks).  A flush that
 * fails stops the daemon (store.h, sync).  Workers' farewells take the
 * same path, so the loop sees them after every completion.
 *
 * Threads: workers run the loop above, and the syncer (when there is one)
 * the flushes.  The completion list is guarded by pool->mu; the loop
 * thread takes the whole list at once (bq_pool_take_done).  The list
 * waiting for a flush is guarded by pool->smu: workers append, the syncer
 * takes it whole.  Connection tokens in completions are never
 * dereferenced here.
 */
#ifndef BQ_POOL_H
#define BQ_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "log.h"

struct bq_metrics;
#include "queue.h"
#include "store.h"
#include "thread.h"

/* What one batch did for one connection: records of conn up to seq (the
 * highest message seq in the batch, or 0 if it held none) are durable. */
struct bq_done_entry {
  struct bq_conn *conn;
  int64_t seq;   /* highest MSG seq of conn in the batch, 0 if none */
  uint32_t nrec; /* records of conn in the batch */
  uint32_t nmsg; /* of which messages */
  int64_t producer; /* a HELLO of conn in the batch: producers.id (> 0) as
                       the store gave it; else 0 */
  int64_t hello_n;  /* with it: the producer's committed count */
  int64_t first_ts_us; /* ts_us (its read) of conn's first MSG in the
                          batch, 0 if none: the loop's ack delay (waits.h) */
};

/* A completion: one per committed batch, or a worker's farewell. */
struct bq_done {
  struct bq_done *next;
  int exited;    /* 1: the worker has left its loop (n == 0) */
  uint64_t posted_us; /* bq_waits_now_us() when posted (metrics on);
                         with a syncer, first when handed to it */
  size_t n;      /* entries */
  struct bq_done_entry e[];
};

struct bq_pool_deps {
  struct bq_queue *queue;     /* batches come from here */
  struct bq_store *store;     /* and are appended here */
  const struct bq_log *log;
  uv_async_t *wake;           /* the loop's wake-up handle */
  struct bq_metrics *metrics; /* per-batch numbers (metrics.h); NULL: none */
  unsigned nworkers;          /* threads, >= 1 */
  size_t batch_max;           /* records per transaction, >= 1 */
  unsigned idle_ms;           /* > 0: after this long without work, a
                                 worker runs the store's retention
                                 (bq_store_retain); 0: never */
};

struct bq_pool {
  struct bq_queue *queue;
  struct bq_store *store;
  const struct bq_log *log;
  uv_async_t *wake;
  struct bq_metrics *metrics;
  size_t batch_max;
  size_t batch_bytes;      /* the store's caps.batch_bytes, SIZE_MAX for
                              none: a batch's most bq_rec_cost() bytes */
  unsigned idle_ms;        /* as in struct bq_pool_deps */
  unsigned nworkers;       /* threads started */
  unsigned token_waits;    /* more than one worker asked for: record the
                              writer-token wait (waits.h); set before the
                              threads start, read-only after */
  pthread_t *threads;
  struct bq_mutex mu;      /* guards done_head/done_tailp */
  struct bq_done *done_head, **done_tailp;
  /* With caps.deferred_sync (see the design block): */
  int syncing;             /* 1: a syncer runs; set before the threads */
  pthread_t syncer;
  struct bq_mutex smu;     /* guards sync_head/sync_tailp */
  pthread_cond_t scv;      /* signalled when sync_head becomes non-NULL */
  pthread_cond_t staken;   /* broadcast when the syncer takes the list */
  struct bq_done *sync_head, **sync_tailp;
  uint64_t syncs;          /* flushes; syncer thread, read after join */
  /* Touched only by the writer-token holder; read by the loop thread only
   * after bq_pool_join(): */
  struct bq_ratelimit fail_rl;
  uint64_t batches;        /* transactions committed */
  uint64_t failures;       /* failed attempts, each retried */
};

/* Start deps->nworkers threads draining the queue into the store.  The
 * wake handle is signalled after every completion.  Returns 0 or a negative
 * errno (no thread left running). */
int bq_pool_start(struct bq_pool *p, const struct bq_pool_deps *deps);

/* Detach and return every posted completion, oldest first (NULL if none).
 * The caller frees each with free(). */
struct bq_done *bq_pool_take_done(struct bq_pool *p);

/* Join every worker (after each has posted its farewell) and the syncer,
 * and free the pool's resources. */
void bq_pool_join(struct bq_pool *p);

#endif /* BQ_POOL_H */
