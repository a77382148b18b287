/*
 * pool.c -- see pool.h.  Worker threads only, except bq_pool_take_done()
 * (loop thread) and start/join.
 */

#include "pool.h"
#include "metrics.h"
#include "slab.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 1000

/* Post a chain of completions (head .. *tailp == NULL), in order, with
 * one lock and one wake-up. */
static void post_chain(struct bq_pool *p, struct bq_done *head,
                       struct bq_done **tailp) {
  bq_mutex_lock(&p->mu);
  *p->done_tailp = head;
  p->done_tailp = tailp;
  bq_mutex_unlock(&p->mu);
  uv_async_send(p->wake);
}

static void post(struct bq_pool *p, struct bq_done *d) {
  d->next = NULL;
  d->posted_us = p->metrics ? bq_waits_now_us() : 0;
  post_chain(p, d, &d->next);
}

/* A worker's completion (or farewell): to the loop, or with a syncer to
 * the syncer first (pool.h). */
static void hand_on(struct bq_pool *p, struct bq_done *d) {
  int was_empty;
  if (!p->syncing) {
    post(p, d);
    return;
  }
  d->next = NULL;
  d->posted_us = p->metrics ? bq_waits_now_us() : 0;
  bq_mutex_lock(&p->smu);
  was_empty = p->sync_head == NULL;
  *p->sync_tailp = d;
  p->sync_tailp = &d->next;
  bq_mutex_unlock(&p->smu);
  if (was_empty) bq_cond_signal(&p->scv);
}

/* The syncer: take every completion waiting, flush once if any of them is
 * a batch, post them all; until every worker's farewell has passed. */
static void *syncer_main(void *arg) {
  struct bq_pool *p = arg;
  unsigned farewells = 0;
  char err[512];

  while (farewells < p->nworkers) {
    struct bq_done *head, **tailp, *d;
    int batches = 0;
    bq_mutex_lock(&p->smu);
    while (p->sync_head == NULL) bq_cond_wait(&p->scv, &p->smu);
    head = p->sync_head;
    tailp = p->sync_tailp;
    p->sync_head = NULL;
    p->sync_tailp = &p->sync_head;
    bq_cond_broadcast(&p->staken);
    bq_mutex_unlock(&p->smu);
    for (d = head; d != NULL; d = d->next) {
      if (d->exited) farewells++;
      else batches++;
    }
    if (batches > 0) {
      int r = bq_store_sync(p->store, err, sizeof(err));
      if (r != 0) {
        /* Nothing of these batches was acknowledged; what the flush left
         * on disk is what a crash now would leave (store.h, sync). */
        bq_log_error(p->log,
                     "flushing %d committed batches failed: %s; exiting "
                     "now without acknowledging them",
                     batches, err);
        _exit(1);
      }
      p->syncs++;
    }
    if (p->metrics) {
      uint64_t now = bq_waits_now_us();
      for (d = head; d != NULL; d = d->next) {
        if (!d->exited)
          bq_prom_hist_observe(&p->metrics->waits.sync_wait,
                               now > d->posted_us ? now - d->posted_us : 0);
        d->posted_us = now; /* completion_wait counts from here */
      }
    }
    post_chain(p, head, tailp);
  }
  return NULL;
}

/* With a syncer: return once no completion waits for a flush to begin.
 * A commit made while one already waits would be covered by the same
 * flush as that one, so the writer lets the records gather for it
 * instead, in the queue (pool.h). */
static void await_flush_start(struct bq_pool *p) {
  if (!p->syncing) return;
  bq_mutex_lock(&p->smu);
  while (p->sync_head != NULL) bq_cond_wait(&p->staken, &p->smu);
  bq_mutex_unlock(&p->smu);
}

struct bq_done *bq_pool_take_done(struct bq_pool *p) {
  struct bq_done *d;
  bq_mutex_lock(&p->mu);
  d = p->done_head;
  p->done_head = NULL;
  p->done_tailp = &p->done_head;
  bq_mutex_unlock(&p->mu);
  return d;
}

/* Summarise a committed batch per connection.  Records of one connection
 * usually come in runs (one run per socket read), so consecutive records of
 * the same connection share an entry.  Returns NULL only when out of
 * memory. */
static struct bq_done *summarise(const struct bq_rec *batch) {
  const struct bq_rec *r;
  const struct bq_conn *last = NULL;
  struct bq_done *d;
  size_t runs = 0, i = 0;

  for (r = batch; r != NULL; r = r->next) {
    if (r->conn != last) runs++;
    last = r->conn;
  }
  d = malloc(sizeof(*d) + runs * sizeof(d->e[0]));
  if (d == NULL) return NULL;
  d->exited = 0;
  d->n = runs;
  last = NULL;
  for (r = batch; r != NULL; r = r->next) {
    struct bq_done_entry *e;
    if (r->conn != last) {
      e = &d->e[i++];
      e->conn = r->conn;
      e->seq = 0;
      e->nrec = 0;
      e->nmsg = 0;
      e->producer = 0;
      e->hello_n = 0;
      e->first_ts_us = 0;
      last = r->conn;
    }
    e = &d->e[i - 1];
    e->nrec++;
    if (r->type == BQ_REC_MSG) {
      assert(r->seq > e->seq);
      if (e->nmsg == 0) e->first_ts_us = r->ts_us;
      e->seq = r->seq;
      e->nmsg++;
    } else if (r->type == BQ_REC_HELLO) {
      /* one HELLO per connection, never two in flight */
      assert(e->producer == 0 && r->producer > 0 && r->pseq >= 0);
      e->producer = r->producer;
      e->hello_n = r->pseq;
    }
  }
  assert(i == runs);
  return d;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Write a batch, retrying transient failures until it is durable.  Runs
 * with the writer token, so the store and the fields it touches are ours
 * alone.  A permanent failure (corrupt database, a constraint broken by
 * rows someone else wrote) cannot be retried and must not be skipped, so
 * the daemon stops at once, as a crash would: nothing in the queue was
 * acknowledged, and the rolled-back transaction left no trace. */
static void write_batch(struct bq_pool *p, struct bq_rec *batch,
                        size_t n) {
  char err[512];
  unsigned backoff = BACKOFF_MIN_MS;
  unsigned attempts = 0;
  uint64_t suppressed;
  uint64_t first_ms = 0;
  uint64_t start_ns = uv_hrtime();
  int r;

  if (p->metrics) {
    /* Queue wait: the batch's first message (else its first record) was
     * read at ts_us, on the wall clock (record.h); a clock stepped back
     * counts as no wait. */
    const struct bq_rec *m = batch;
    int64_t now = bq_unix_us();
    while (m != NULL && m->type != BQ_REC_MSG) m = m->next;
    if (m == NULL) m = batch;
    bq_prom_hist_observe(&p->metrics->waits.queue_wait,
                         now > m->ts_us ? (uint64_t)(now - m->ts_us) : 0);
  }

  while ((r = bq_store_append(p->store, batch, err, sizeof(err))) != 0) {
    if (!bq_store_retryable(r)) {
      size_t count;
      bq_queue_stats(p->queue, &count, NULL);
      bq_log_error(p->log,
                   "commit of %zu records failed and cannot be retried: %s; "
                   "exiting now with %zu queued records not written (none "
                   "of them was acknowledged)",
                   n, err, count);
      _exit(1);
    }
    attempts++;
    p->failures++;
    if (p->metrics) bq_metrics_db_error(p->metrics, r, err);
    if (attempts == 1) first_ms = bq_now_ms();
    if (bq_ratelimit_allow(&p->fail_rl, bq_now_ms(), &suppressed))
      bq_log_warn(p->log,
                  "commit of %zu records failed: %s; retrying in %u ms "
                  "(attempt %u, %llu similar lines suppressed)",
                  n, err, backoff, attempts, (unsigned long long)suppressed);
    sleep_ms(backoff);
    backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
  }
  if (attempts > 0)
    bq_log_warn(p->log,
                "database writable again: batch of %zu records committed "
                "after %u failed attempts over %llu ms",
                n, attempts, (unsigned long long)(bq_now_ms() - first_ms));
  p->batches++;
  if (p->metrics)
    bq_metrics_batch(p->metrics, n, (uv_hrtime() - start_ns) / 1000u);
}

/* With the writer token and no batch: the store's retention pass.  A
 * failure is logged (rate-limited) and left to the next pass; *more says
 * whether to run again as soon as the queue stays empty. */
static void idle_work(struct bq_pool *p, int *more) {
  char err[512];
  uint64_t suppressed;
  int r = bq_store_retain(p->store, more, err, sizeof(err));
  if (r == 0) return;
  *more = 0; /* not a failed commit of messages: /healthz is unchanged */
  if (bq_ratelimit_allow(&p->fail_rl, bq_now_ms(), &suppressed))
    bq_log_warn(p->log,
                "retention pass failed: %s; trying again later (%llu "
                "similar lines suppressed)",
                err, (unsigned long long)suppressed);
}

static void *worker_main(void *arg) {
  struct bq_pool *p = arg;
  struct bq_done *d;
  int more = 0;

  for (;;) {
    struct bq_rec *batch;
    size_t bytes;
    int idle, owed;
    uint64_t token_us;
    size_t n;
    await_flush_start(p);
    /* while retention has more to do, an empty queue is idle at once */
    n = bq_queue_take_idle(p->queue, p->batch_max, p->batch_bytes,
                           p->idle_ms > 0 && more ? 1 : p->idle_ms, &batch,
                           &bytes, &idle, &token_us);
    if (idle) {
      idle_work(p, &more);
      bq_store_settle(p->store);
      bq_queue_finish(p->queue, 0, 0);
      continue;
    }
    if (n == 0) break;
    if (p->metrics && p->token_waits)
      bq_prom_hist_observe(&p->metrics->waits.token_wait, token_us);
    write_batch(p, batch, n);
    /* Durable: hand the token to the next worker first, then do the
     * bookkeeping while it writes; unless the store owes work after this
     * commit (store.h, settle): then the completion goes first, so that
     * the acks do not wait for that work, which needs the token. */
    owed = bq_store_settle_owed(p->store);
    if (!owed) bq_queue_finish(p->queue, n, bytes);
    d = summarise(batch);
    if (d == NULL) {
      /* Cannot tell the loop; it would keep these connections forever.
       * This is out-of-memory in a tiny allocation: stop hard. */
      bq_log_error(p->log, "out of memory posting a completion; aborting");
      abort();
    }
    hand_on(p, d);
    if (owed) {
      bq_store_settle(p->store);
      bq_queue_finish(p->queue, n, bytes);
      /* The loop took the completion while the batch still counted in the
       * queue: wake it again, so that it sees the room now made (a paused
       * intake resumes on a wake-up, server.c). */
      uv_async_send(p->wake);
    }
    bq_rec_free_chain(batch);
  }
  d = malloc(sizeof(*d));
  if (d == NULL) abort();
  d->exited = 1;
  d->n = 0;
  hand_on(p, d);
  return NULL;
}

int bq_pool_start(struct bq_pool *p, const struct bq_pool_deps *deps) {
  unsigned nworkers = deps->nworkers;
  struct bq_queue *queue = deps->queue;
  unsigned i;
  int r;

  assert(nworkers >= 1 && deps->batch_max >= 1);
  p->queue = queue;
  p->store = deps->store;
  p->log = deps->log;
  p->wake = deps->wake;
  p->metrics = deps->metrics;
  p->batch_max = deps->batch_max;
  p->batch_bytes = deps->store->caps.batch_bytes > 0
                       ? deps->store->caps.batch_bytes
                       : SIZE_MAX;
  p->idle_ms = deps->idle_ms;
  p->nworkers = 0;
  p->token_waits = nworkers > 1;
  p->done_head = NULL;
  p->done_tailp = &p->done_head;
  p->syncing = deps->store->caps.deferred_sync;
  p->sync_head = NULL;
  p->sync_tailp = &p->sync_head;
  p->syncs = 0;
  p->batches = 0;
  p->failures = 0;
  assert(!p->syncing || deps->store->ops->sync != NULL);
  bq_ratelimit_init(&p->fail_rl, 5000);
  r = bq_mutex_init(&p->mu);
  if (r != 0) return r;
  r = bq_mutex_init(&p->smu);
  if (r != 0) {
    bq_mutex_destroy(&p->mu);
    return r;
  }
  r = bq_cond_init(&p->scv);
  if (r != 0) {
    bq_mutex_destroy(&p->smu);
    bq_mutex_destroy(&p->mu);
    return r;
  }
  r = bq_cond_init(&p->staken);
  if (r != 0) {
    bq_cond_destroy(&p->scv);
    bq_mutex_destroy(&p->smu);
    bq_mutex_destroy(&p->mu);
    return r;
  }
  p->threads = calloc(nworkers, sizeof(*p->threads));
  if (p->threads == NULL) {
    bq_cond_destroy(&p->staken);
    bq_cond_destroy(&p->scv);
    bq_mutex_destroy(&p->smu);
    bq_mutex_destroy(&p->mu);
    return -ENOMEM;
  }
  for (i = 0; i < nworkers; i++) {
    char name[16]; /* the kernel's limit, NUL included */
    r = pthread_create(&p->threads[i], NULL, worker_main, p);
    if (r != 0) break;
    snprintf(name, sizeof(name), "bq-writer-%u", i % 10000u);
    (void)pthread_setname_np(p->threads[i], name); /* a name is a nicety */
    p->nworkers++;
  }
  /* The syncer counts farewells up to p->nworkers, final from here on. */
  if (r == 0 && p->syncing) {
    r = pthread_create(&p->syncer, NULL, syncer_main, p);
    if (r == 0) (void)pthread_setname_np(p->syncer, "bq-syncer");
  }
  if (r != 0) {
    /* Let the ones that started drain an empty queue and leave. */
    bq_queue_close(queue);
    for (unsigned j = 0; j < p->nworkers; j++)
      bq_thread_join(p->threads[j]);
    for (struct bq_done *d = bq_pool_take_done(p), *nx; d; d = nx) {
      nx = d->next; /* only farewells: nothing was pushed yet */
      free(d);
    }
    for (struct bq_done *d = p->sync_head, *nx; d; d = nx) {
      nx = d->next; /* the same, handed to a syncer never started */
      free(d);
    }
    free(p->threads);
    bq_cond_destroy(&p->staken);
    bq_cond_destroy(&p->scv);
    bq_mutex_destroy(&p->smu);
    bq_mutex_destroy(&p->mu);
    return -r;
  }
  return 0;
}

void bq_pool_join(struct bq_pool *p) {
  for (unsigned i = 0; i < p->nworkers; i++)
    bq_thread_join(p->threads[i]);
  if (p->syncing) bq_thread_join(p->syncer);
  free(p->threads);
  p->threads = NULL;
  bq_cond_destroy(&p->staken);
  bq_cond_destroy(&p->scv);
  bq_mutex_destroy(&p->smu);
  bq_mutex_destroy(&p->mu);
}
