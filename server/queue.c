/*
 * queue.c -- see queue.h.  Every field is guarded by q->mu (a struct
 * bq_mutex, thread.h); the loop thread pushes, worker threads take and
 * finish.  Helpers named *_locked read fields and expect the caller to hold
 * q->mu: they assert it (debug builds).
 */
#include "queue.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in microseconds, never 0 (the "not started" mark). */
static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u + 1u;
}

int bq_queue_init(struct bq_queue *q, size_t cap_count, size_t cap_bytes) {
  int r;
  assert(cap_count >= 1 && cap_bytes >= 1);
  r = bq_mutex_init(&q->mu);
  if (r != 0) return r;
  r = bq_cond_init(&q->cv);
  if (r != 0) {
    bq_mutex_destroy(&q->mu);
    return r;
  }
  q->head = NULL;
  q->tailp = &q->head;
  q->waiting = 0;
  q->waiting_bytes = 0;
  q->count = 0;
  q->bytes = 0;
  q->cap_count = cap_count;
  q->cap_bytes = cap_bytes;
  q->low_count = cap_count / 2;
  q->low_bytes = cap_bytes / 2;
  q->sleepers = 0;
  q->writer_busy = 0;
  q->closed = 0;
  return 0;
}

void bq_queue_destroy(struct bq_queue *q) {
  assert(q->count == 0 && q->head == NULL && !q->writer_busy);
  bq_cond_destroy(&q->cv);
  bq_mutex_destroy(&q->mu);
}

static int full_locked(const struct bq_queue *q) {
  assert(bq_mutex_held(&q->mu));
  return q->count >= q->cap_count || q->bytes >= q->cap_bytes;
}

static int low_locked(const struct bq_queue *q) {
  assert(bq_mutex_held(&q->mu));
  return q->count <= q->low_count && q->bytes <= q->low_bytes;
}

int bq_queue_push(struct bq_queue *q, struct bq_rec *first,
                  struct bq_rec *last, size_t n, size_t bytes) {
  int full, wake;
  assert(first != NULL && last != NULL && n >= 1);
  assert(last->next == NULL);
  bq_mutex_lock(&q->mu);
  *q->tailp = first;
  q->tailp = &last->next;
  q->waiting += n;
  q->waiting_bytes += bytes;
  q->count += n;
  q->bytes += bytes;
  full = (q->count >= q->cap_count ? BQ_QUEUE_FULL_RECORDS : 0) |
         (q->bytes >= q->cap_bytes ? BQ_QUEUE_FULL_BYTES : 0);
  assert((full != 0) == full_locked(q));
  /* Only a consumer that could take now needs waking; the token holder
   * re-checks for work when it finishes. */
  wake = q->sleepers > 0 && !q->writer_busy;
  bq_mutex_unlock(&q->mu);
  if (wake) bq_cond_signal(&q->cv);
  return full;
}

size_t bq_queue_take(struct bq_queue *q, size_t max, struct bq_rec **out,
                     size_t *bytes) {
  int idle;
  return bq_queue_take_idle(q, max, SIZE_MAX, 0, out, bytes, &idle, NULL);
}

size_t bq_queue_take_idle(struct bq_queue *q, size_t max, size_t max_bytes,
                          unsigned idle_ms, struct bq_rec **out,
                          size_t *bytes, int *idle, uint64_t *token_wait_us) {
  struct bq_rec *r, *prev = NULL;
  size_t n = 0, b = 0;
  uint64_t waited_us = 0;
  struct timespec until;
  int timed_out = 0;
  assert(max >= 1 && max_bytes >= 1);
  *idle = 0;
  if (token_wait_us != NULL) *token_wait_us = 0;
  if (idle_ms > 0) {
    clock_gettime(CLOCK_REALTIME, &until); /* the condvar's clock */
    until.tv_sec += (time_t)(idle_ms / 1000);
    until.tv_nsec += (long)(idle_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
  }
  bq_mutex_lock(&q->mu);
  while (q->writer_busy || (q->waiting == 0 && !q->closed)) {
    if (timed_out && !q->writer_busy) { /* idle: the token alone */
      q->writer_busy = 1;
      bq_mutex_unlock(&q->mu);
      *idle = 1;
      *out = NULL;
      *bytes = 0;
      return 0;
    }
    uint64_t t0 = token_wait_us != NULL && q->writer_busy ? now_us() : 0;
    q->sleepers++;
    if (idle_ms > 0)
      timed_out = bq_cond_timedwait(&q->cv, &q->mu, &until);
    else
      bq_cond_wait(&q->cv, &q->mu);
    q->sleepers--;
    if (t0 != 0) waited_us += now_us() - t0;
  }
  if (token_wait_us != NULL) *token_wait_us = waited_us;
  if (q->waiting == 0) { /* closed and drained */
    bq_mutex_unlock(&q->mu);
    bq_cond_broadcast(&q->cv); /* let the other consumers see it */
    *out = NULL;
    *bytes = 0;
    return 0;
  }
  *out = q->head;
  if (q->waiting <= max && q->waiting_bytes <= max_bytes) {
    /* the whole chain: no walk */
    n = q->waiting;
    b = q->waiting_bytes;
    q->head = NULL;
    q->tailp = &q->head;
  } else {
    r = q->head;
    while (r != NULL && n < max &&
           (n == 0 || (b <= max_bytes && bq_rec_cost(r) <= max_bytes - b))) {
      b += bq_rec_cost(r);
      prev = r;
      r = r->next;
      n++;
    }
    assert(n >= 1 && n <= q->waiting && b <= q->waiting_bytes);
    prev->next = NULL;
    q->head = r;
    if (r == NULL) q->tailp = &q->head;
  }
  q->waiting -= n;
  q->waiting_bytes -= b;
  q->writer_busy = 1;
  bq_mutex_unlock(&q->mu);
  *bytes = b;
  return n;
}

int bq_queue_finish(struct bq_queue *q, size_t n, size_t bytes) {
  int low, wake;
  bq_mutex_lock(&q->mu);
  assert(q->writer_busy);
  assert(q->count >= n + q->waiting && q->bytes >= bytes);
  q->writer_busy = 0;
  q->count -= n;
  q->bytes -= bytes;
  low = low_locked(q);
  wake = q->sleepers > 0 && (q->waiting > 0 || q->closed);
  bq_mutex_unlock(&q->mu);
  if (wake) bq_cond_signal(&q->cv);
  return low;
}

int bq_queue_full(struct bq_queue *q) {
  int r;
  bq_mutex_lock(&q->mu);
  r = full_locked(q);
  bq_mutex_unlock(&q->mu);
  return r;
}

int bq_queue_low(struct bq_queue *q) {
  int r;
  bq_mutex_lock(&q->mu);
  r = low_locked(q);
  bq_mutex_unlock(&q->mu);
  return r;
}

void bq_queue_stats(struct bq_queue *q, size_t *count, size_t *bytes) {
  bq_mutex_lock(&q->mu);
  if (count) *count = q->count;
  if (bytes) *bytes = q->bytes;
  bq_mutex_unlock(&q->mu);
}

void bq_queue_close(struct bq_queue *q) {
  bq_mutex_lock(&q->mu);
  q->closed = 1;
  bq_mutex_unlock(&q->mu);
  bq_cond_broadcast(&q->cv);
}
