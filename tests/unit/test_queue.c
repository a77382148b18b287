/*
 * test_queue.c -- unit tests of the bounded queue (server/queue.h).
 *
 * No test relies on timing: a thread's progress is observed through the
 * queue's own sleepers counter (read under the queue's mutex) or through
 * joins, and ordering claims are checked with flags set under the protocol
 * being tested.  Assertions run on the main thread only; worker threads
 * record problems in counters that the main thread checks after joining.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "queue.h"
#include "record.h"

static char dummy_conn_obj;
#define DUMMY_CONN ((struct bq_conn *)(void *)&dummy_conn_obj)

/* ---- records ------------------------------------------------------------- */

static struct bq_rec *mkrec(int64_t conn_id, int64_t seq, int64_t idx,
                            uint32_t len) {
  struct bq_rec *r = malloc(sizeof(*r) + len);
  if (r == NULL) abort(); /* also called from the producer thread */
  memset(r, 0, sizeof(*r));
  r->conn = DUMMY_CONN;
  r->conn_id = conn_id;
  r->seq = seq;
  r->ts_us = idx; /* the tests keep a global push index here */
  r->len = len;
  r->type = BQ_REC_MSG;
  for (uint32_t k = 0; k < len; k++)
    r->data[k] = (char)(unsigned char)((uint64_t)idx * 31u + k);
  return r;
}

static int data_ok(const struct bq_rec *r) {
  for (uint32_t k = 0; k < r->len; k++)
    if (r->data[k] != (char)(unsigned char)((uint64_t)r->ts_us * 31u + k))
      return 0;
  return 1;
}

static void free_chain(struct bq_rec *r) {
  while (r != NULL) {
    struct bq_rec *next = r->next;
    free(r);
    r = next;
  }
}

static size_t chain_cost(const struct bq_rec *r, size_t *n) {
  size_t bytes = 0, k = 0;
  for (; r != NULL; r = r->next) {
    bytes += bq_rec_cost(r);
    k++;
  }
  if (n) *n = k;
  return bytes;
}

/* Push one record; returns push's result. */
static int push1(struct bq_queue *q, int64_t idx, uint32_t len) {
  struct bq_rec *r = mkrec(1, idx + 1, idx, len);
  return bq_queue_push(q, r, r, 1, bq_rec_cost(r));
}

/* Push records idx0..idx0+n-1 as one chain. */
static int push_chain(struct bq_queue *q, int64_t idx0, size_t n,
                      uint32_t len) {
  struct bq_rec *first = NULL, *last = NULL;
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    struct bq_rec *r = mkrec(1, idx0 + (int64_t)i + 1, idx0 + (int64_t)i, len);
    bytes += bq_rec_cost(r);
    if (last) last->next = r;
    else first = r;
    last = r;
  }
  return bq_queue_push(q, first, last, n, bytes);
}

/* Take up to max, check the chain (count, order from idx0, termination),
 * finish, free; returns finish's result. */
static int take_check_finish(struct bq_queue *q, size_t max, size_t want,
                             int64_t idx0) {
  struct bq_rec *b = NULL;
  size_t n, k;
  size_t bytes, taken_bytes;
  int64_t idx = idx0;
  n = bq_queue_take(q, max, &b, &taken_bytes);
  assert_int_equal(n, want);
  assert_non_null(b);
  bytes = chain_cost(b, &k);
  assert_int_equal(k, n); /* the chain is cut after n records */
  assert_int_equal(taken_bytes, bytes); /* take reports the batch's cost */
  for (const struct bq_rec *r = b; r != NULL; r = r->next) {
    assert_int_equal(r->ts_us, idx);
    assert_true(data_ok(r));
    idx++;
  }
  {
    int low = bq_queue_finish(q, n, bytes);
    free_chain(b);
    return low;
  }
}

static void stats(struct bq_queue *q, size_t *count, size_t *bytes) {
  bq_queue_stats(q, count, bytes);
}

static size_t sleepers(struct bq_queue *q) {
  size_t s;
  bq_mutex_lock(&q->mu);
  s = q->sleepers;
  bq_mutex_unlock(&q->mu);
  return s;
}

/* Wait (without any time limit) until n consumers are blocked in take(). */
static void wait_sleepers(struct bq_queue *q, size_t n) {
  while (sleepers(q) < n) sched_yield();
}

static uint64_t rng_next_q(uint64_t *st) {
  uint64_t x = *st;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *st = x;
  return x;
}

#define COST(len) (sizeof(struct bq_rec) + (len))

/* ---- bounds -------------------------------------------------------------- */

static void test_count_bound(void **state) {
  struct bq_queue q;
  size_t count, bytes;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 4, 1u << 30), 0);
  assert_int_equal(bq_queue_full(&q), 0);
  assert_int_equal(push1(&q, 0, 5), 0);
  assert_int_equal(push1(&q, 1, 5), 0);
  assert_int_equal(push1(&q, 2, 5), 0);
  assert_int_equal(bq_queue_full(&q), 0);
  assert_int_equal(push1(&q, 3, 5), BQ_QUEUE_FULL_RECORDS); /* at the bound */
  assert_int_equal(bq_queue_full(&q), 1);
  assert_int_equal(push1(&q, 4, 5), BQ_QUEUE_FULL_RECORDS); /* over: kept */
  stats(&q, &count, &bytes);
  assert_int_equal(count, 5);
  assert_int_equal(bytes, 5 * COST(5));
  assert_int_equal(take_check_finish(&q, 100, 5, 0), 1);
  stats(&q, &count, &bytes);
  assert_int_equal(count, 0);
  assert_int_equal(bytes, 0);
  bq_queue_destroy(&q);
}

static void test_count_bound_chain(void **state) {
  struct bq_queue q;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 4, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 3, 0), 0);
  assert_int_equal(push_chain(&q, 3, 3, 0), BQ_QUEUE_FULL_RECORDS); /* 6 > 4 */
  assert_int_equal(take_check_finish(&q, 6, 6, 0), 1);
  bq_queue_destroy(&q);
  assert_int_equal(bq_queue_init(&q, 4, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 4, 0), BQ_QUEUE_FULL_RECORDS); /* 4 at once */
  assert_int_equal(take_check_finish(&q, 6, 4, 0), 1);
  bq_queue_destroy(&q);
}

static void test_byte_bound(void **state) {
  struct bq_queue q;
  size_t count, bytes;
  (void)state;
  /* room for exactly three 10-byte records */
  assert_int_equal(bq_queue_init(&q, 1000, 3 * COST(10)), 0);
  assert_int_equal(push1(&q, 0, 10), 0);
  assert_int_equal(push1(&q, 1, 10), 0);
  stats(&q, NULL, &bytes);
  assert_int_equal(bytes, 2 * COST(10));
  assert_int_equal(push1(&q, 2, 9), 0); /* one byte short of the bound */
  assert_int_equal(bq_queue_full(&q), 0);
  /* low is half the bound, 1.5 records' cost */
  assert_int_equal(take_check_finish(&q, 1, 1, 0), 0); /* 2 records held */
  assert_int_equal(take_check_finish(&q, 1, 1, 1), 1); /* 1 record held */
  assert_int_equal(take_check_finish(&q, 1, 1, 2), 1);

  assert_int_equal(push1(&q, 0, 10), 0);
  assert_int_equal(push1(&q, 1, 10), 0);
  assert_int_equal(push1(&q, 2, 10), BQ_QUEUE_FULL_BYTES); /* at the bound */
  assert_int_equal(bq_queue_full(&q), 1);
  assert_int_equal(push1(&q, 3, 0), BQ_QUEUE_FULL_BYTES);
  stats(&q, &count, &bytes);
  assert_int_equal(count, 4);
  assert_int_equal(bytes, 3 * COST(10) + COST(0));
  assert_int_equal(take_check_finish(&q, 4, 4, 0), 1);

  /* one big record over the byte bound on its own */
  assert_int_equal(push1(&q, 0, 4 * COST(10)), BQ_QUEUE_FULL_BYTES);
  assert_int_equal(take_check_finish(&q, 4, 1, 0), 1);
  bq_queue_destroy(&q);
}

/* push() names every bound reached: both at once when both are. */
static void test_full_both(void **state) {
  struct bq_queue q;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 2, 2 * COST(10)), 0);
  assert_int_equal(push1(&q, 0, 10), 0);
  assert_int_equal(push1(&q, 1, 10),
                   BQ_QUEUE_FULL_RECORDS | BQ_QUEUE_FULL_BYTES);
  assert_int_equal(take_check_finish(&q, 2, 2, 0), 1);
  bq_queue_destroy(&q);
}

/* The low-water mark is half of each bound, and both must be met. */
static void test_low_hysteresis(void **state) {
  struct bq_queue q;
  (void)state;

  /* count dimension: bound 10, low at <= 5 */
  assert_int_equal(bq_queue_init(&q, 10, 1u << 30), 0);
  assert_int_equal(bq_queue_low(&q), 1);
  assert_int_equal(push_chain(&q, 0, 9, 1), 0);
  assert_int_equal(bq_queue_low(&q), 0);
  assert_int_equal(push1(&q, 9, 1), BQ_QUEUE_FULL_RECORDS);
  assert_int_equal(take_check_finish(&q, 3, 3, 0), 0); /* 7 held */
  assert_int_equal(bq_queue_full(&q), 0); /* below the bound ... */
  assert_int_equal(bq_queue_low(&q), 0);  /* ... but not low yet */
  assert_int_equal(take_check_finish(&q, 1, 1, 3), 0); /* 6 held */
  assert_int_equal(bq_queue_low(&q), 0);
  assert_int_equal(take_check_finish(&q, 1, 1, 4), 1); /* 5 held: low */
  assert_int_equal(bq_queue_low(&q), 1);
  assert_int_equal(take_check_finish(&q, 5, 5, 5), 1);
  bq_queue_destroy(&q);

  /* byte dimension: bound 8 records' cost, low at <= 4 */
  assert_int_equal(bq_queue_init(&q, 1000, 8 * COST(20)), 0);
  assert_int_equal(push_chain(&q, 0, 8, 20), BQ_QUEUE_FULL_BYTES);
  assert_int_equal(bq_queue_low(&q), 0);
  assert_int_equal(take_check_finish(&q, 3, 3, 0), 0); /* 5 held */
  assert_int_equal(bq_queue_low(&q), 0);
  assert_int_equal(take_check_finish(&q, 1, 1, 3), 1); /* 4 held */
  assert_int_equal(bq_queue_low(&q), 1);
  assert_int_equal(take_check_finish(&q, 4, 4, 4), 1);
  bq_queue_destroy(&q);

  /* both: few records but many bytes is not low */
  assert_int_equal(bq_queue_init(&q, 10, 10 * COST(0)), 0);
  assert_int_equal(push1(&q, 0, 6 * COST(0)), 0); /* 1 record, 7 costs */
  assert_int_equal(bq_queue_low(&q), 0);
  assert_int_equal(take_check_finish(&q, 1, 1, 0), 1);
  bq_queue_destroy(&q);
  /* many records but few bytes is not low either */
  assert_int_equal(bq_queue_init(&q, 10, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 6, 0), 0);
  assert_int_equal(bq_queue_low(&q), 0);
  assert_int_equal(take_check_finish(&q, 6, 6, 0), 1);
  bq_queue_destroy(&q);
}

/* take() does not release capacity; only finish() does. */
static void test_capacity_returned_by_finish(void **state) {
  size_t tb = 0; /* cost of the batch taken */
  struct bq_queue q;
  struct bq_rec *b;
  size_t count, bytes, n, cost, k;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 4, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 4, 7), 1);
  n = bq_queue_take(&q, 10, &b, &tb);
  assert_int_equal(n, 4);
  cost = chain_cost(b, &k);
  assert_int_equal(k, 4);
  stats(&q, &count, &bytes);
  assert_int_equal(count, 4);
  assert_int_equal(bytes, 4 * COST(7));
  assert_int_equal(bq_queue_full(&q), 1);
  assert_int_equal(bq_queue_low(&q), 0);
  /* a push while the batch is out still counts it */
  assert_int_equal(push1(&q, 4, 7), 1);
  assert_int_equal(bq_queue_finish(&q, n, cost), 1); /* 1 of 4 held */
  free_chain(b);
  stats(&q, &count, &bytes);
  assert_int_equal(count, 1);
  assert_int_equal(bytes, COST(7));
  assert_int_equal(bq_queue_full(&q), 0);
  assert_int_equal(take_check_finish(&q, 10, 1, 4), 1);
  stats(&q, &count, &bytes);
  assert_int_equal(count, 0);
  assert_int_equal(bytes, 0);
  bq_queue_destroy(&q);
}

static void test_take_max_fifo(void **state) {
  struct bq_queue q;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 1000, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 4, 3), 0);
  assert_int_equal(push1(&q, 4, 0), 0);
  assert_int_equal(push_chain(&q, 5, 5, 1), 0);
  assert_int_equal(take_check_finish(&q, 3, 3, 0), 1);  /* within a chain */
  assert_int_equal(take_check_finish(&q, 1, 1, 3), 1);  /* a chain's end */
  assert_int_equal(take_check_finish(&q, 3, 3, 4), 1);  /* across chains */
  /* pushing after a partial take links after what is left */
  assert_int_equal(push_chain(&q, 10, 2, 2), 0);
  assert_int_equal(take_check_finish(&q, 100, 5, 7), 1); /* all the rest */
  /* and the queue works again from empty */
  assert_int_equal(push1(&q, 12, 2), 0);
  assert_int_equal(take_check_finish(&q, 1, 1, 12), 1);
  bq_queue_destroy(&q);
}

/* bq_queue_take_idle: an empty queue hands out the token alone after the
 * wait, work waiting is taken as usual, and a closed queue ends. */
static void test_take_idle(void **state) {
  struct bq_queue q;
  struct bq_rec *b = (struct bq_rec *)&q; /* must become NULL */
  size_t bytes = 99, n, count;
  uint64_t tw;
  int idle = -1;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 100, 1u << 30), 0);
  n = bq_queue_take_idle(&q, 10, SIZE_MAX, 1, &b, &bytes, &idle, NULL);
  assert_int_equal(n, 0);
  assert_int_equal(idle, 1);
  assert_null(b);
  assert_int_equal(bytes, 0);
  /* the token is held: pushes are queued, not taken, until finish */
  assert_int_equal(push_chain(&q, 0, 3, 1), 0);
  assert_int_equal(bq_queue_finish(&q, 0, 0), 1); /* low: 3 of 100 */
  stats(&q, &count, &bytes);
  assert_int_equal(count, 3);
  /* work waiting: taken as bq_queue_take() would, with no token wait */
  tw = 12345;
  n = bq_queue_take_idle(&q, 10, SIZE_MAX, 1, &b, &bytes, &idle, &tw);
  assert_int_equal(tw, 0);
  assert_int_equal(n, 3);
  assert_int_equal(idle, 0);
  assert_int_equal(b->ts_us, 0); /* the first pushed */
  bq_queue_finish(&q, n, bytes);
  free_chain(b);
  /* closed and empty: 0, not idle */
  bq_queue_close(&q);
  n = bq_queue_take_idle(&q, 10, SIZE_MAX, 1, &b, &bytes, &idle, NULL);
  assert_int_equal(n, 0);
  assert_int_equal(idle, 0);
  assert_null(b);
  bq_queue_destroy(&q);
}

/* take_bytes_check: take with max 100 records and max_bytes, check the
 * count, order from idx0, the chain's cost, then finish and free. */
static void take_bytes_check(struct bq_queue *q, size_t max_bytes,
                             size_t want, int64_t idx0) {
  struct bq_rec *b = NULL;
  size_t bytes = 0, n, k, cost;
  int idle = -1;
  n = bq_queue_take_idle(q, 100, max_bytes, 0, &b, &bytes, &idle, NULL);
  assert_int_equal(n, want);
  assert_int_equal(idle, 0);
  cost = chain_cost(b, &k);
  assert_int_equal(k, want);
  assert_int_equal(cost, bytes);
  assert_true(want == 1 || bytes <= max_bytes);
  for (const struct bq_rec *r = b; r != NULL; r = r->next)
    assert_int_equal(r->ts_us, idx0++);
  bq_queue_finish(q, n, bytes);
  free_chain(b);
}

/* bq_queue_take_idle's byte bound: a batch stops before the record that
 * would take it past max_bytes, within a chain and at the whole chain; a
 * record bigger than the bound is still taken, alone; nothing is lost or
 * reordered, and the queue's accounting returns to empty. */
static void test_take_byte_bound(void **state) {
  struct bq_queue q;
  size_t count, bytes, one;
  struct bq_rec *probe = mkrec(1, 1, 0, 1000);
  (void)state;
  one = bq_rec_cost(probe);
  free(probe);
  assert_int_equal(bq_queue_init(&q, 1000, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 10, 1000), 0);
  take_bytes_check(&q, 3 * one, 3, 0);      /* exactly three fit */
  take_bytes_check(&q, 3 * one + one / 2, 3, 3); /* a fourth does not */
  take_bytes_check(&q, 1, 1, 6);            /* over the bound: one alone */
  take_bytes_check(&q, 3 * one, 3, 7);      /* the whole rest, by bytes */
  stats(&q, &count, &bytes);
  assert_int_equal(count, 0);
  assert_int_equal(bytes, 0);
  /* one record bigger than the bound, alone in the queue; then the queue
   * links new pushes again */
  assert_int_equal(push1(&q, 20, 5000), 0);
  take_bytes_check(&q, one, 1, 20);
  assert_int_equal(push_chain(&q, 21, 2, 10), 0);
  take_bytes_check(&q, SIZE_MAX, 2, 21);
  stats(&q, &count, &bytes);
  assert_int_equal(count, 0);
  assert_int_equal(bytes, 0);
  bq_queue_destroy(&q);
}

/* ---- threads ------------------------------------------------------------- */

struct taker {
  pthread_t th;
  struct bq_queue *q;
  size_t max;
  size_t n;
  struct bq_rec *out;
  size_t out_bytes;
  atomic_int *flag;     /* read right after take() returns */
  int flag_seen;
  uint64_t token_us;    /* take_idle's token_wait_us */
  atomic_int returned;
};

static void *taker_main(void *arg) {
  struct taker *t = arg;
  int idle;
  t->n = bq_queue_take_idle(t->q, t->max, SIZE_MAX, 0, &t->out,
                            &t->out_bytes, &idle, &t->token_us);
  assert(!idle);
  t->flag_seen = t->flag ? atomic_load(t->flag) : -1;
  atomic_store(&t->returned, 1);
  return NULL;
}

static void taker_start(struct taker *t, struct bq_queue *q, size_t max,
                        atomic_int *flag) {
  memset(t, 0, sizeof(*t));
  t->q = q;
  t->max = max;
  t->flag = flag;
  atomic_init(&t->returned, 0);
  assert_int_equal(pthread_create(&t->th, NULL, taker_main, t), 0);
}

static void taker_join(struct taker *t) {
  assert_int_equal(pthread_join(t->th, NULL), 0);
}

static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A second consumer waits for the writer token even though work is there;
 * take_idle reports how long. */
static void test_take_waits_for_token(void **state) {
  size_t tb = 0; /* cost of the batch taken */
  struct bq_queue q;
  struct bq_rec *b;
  struct taker t;
  atomic_int first_done;
  size_t bytes, count;
  uint64_t t_start, t_blocked, t_finish, t_end;
  (void)state;
  atomic_init(&first_done, 0);
  assert_int_equal(bq_queue_init(&q, 100, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 2, 4), 0);
  assert_int_equal(bq_queue_take(&q, 1, &b, &tb), 1); /* holds the token */
  assert_int_equal(b->ts_us, 0);

  t_start = mono_us();
  taker_start(&t, &q, 10, &first_done);
  wait_sleepers(&q, 1);
  /* record 1 is waiting, yet the second consumer is blocked */
  assert_int_equal(atomic_load(&t.returned), 0);
  /* more work arriving does not let it through either */
  assert_int_equal(push1(&q, 2, 4), 0);
  assert_int_equal(atomic_load(&t.returned), 0);

  t_blocked = mono_us(); /* its wait began before this */
  atomic_store(&first_done, 1);
  t_finish = mono_us();  /* its wait ends after this */
  assert_int_equal(bq_queue_finish(&q, 1, chain_cost(b, NULL)), 1);
  free_chain(b);
  taker_join(&t);
  t_end = mono_us(); /* its whole call lies in [t_start, t_end] */
  assert_int_equal(t.flag_seen, 1); /* it took only after the finish */
  /* the token wait covers at least the time it was seen blocked, and at
   * most the call (1 us of rounding either way) */
  assert_true(t.token_us + 1 >= t_finish - t_blocked);
  assert_true(t.token_us <= t_end - t_start + 1);
  assert_int_equal(t.n, 2);
  assert_int_equal(t.out->ts_us, 1);
  assert_int_equal(t.out->next->ts_us, 2);
  assert_null(t.out->next->next);
  bytes = chain_cost(t.out, NULL);
  bq_queue_finish(&q, t.n, bytes);
  free_chain(t.out);
  stats(&q, &count, &bytes);
  assert_int_equal(count, 0);
  assert_int_equal(bytes, 0);
  bq_queue_destroy(&q);
}

/* Several consumers queue up behind the token; each finish lets one in. */
static void test_token_chain_of_consumers(void **state) {
  size_t tb = 0; /* cost of the batch taken */
  enum { N = 3 };
  struct bq_queue q;
  struct bq_rec *b;
  struct taker t[N];
  int done[N] = {0};
  size_t count;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 100, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, N + 1, 1), 0);
  assert_int_equal(bq_queue_take(&q, 1, &b, &tb), 1);
  for (int i = 0; i < N; i++) taker_start(&t[i], &q, 1, NULL);
  wait_sleepers(&q, N);
  assert_int_equal(bq_queue_finish(&q, 1, chain_cost(b, NULL)), 1);
  free_chain(b);
  /* exactly one consumer at a time returns; finish it to let the next in */
  for (int round = 0; round < N; round++) {
    int who = -1, returned = 0;
    while (who < 0) {
      for (int i = 0; i < N; i++)
        if (!done[i] && atomic_load(&t[i].returned)) {
          who = i;
          break;
        }
      if (who < 0) sched_yield();
    }
    for (int i = 0; i < N; i++)
      if (!done[i] && atomic_load(&t[i].returned)) returned++;
    assert_int_equal(returned, 1); /* the others still wait for the token */
    done[who] = 1;
    taker_join(&t[who]);
    assert_int_equal(t[who].n, 1);
    assert_int_equal(t[who].out->ts_us, round + 1); /* FIFO */
    bq_queue_finish(&q, 1, chain_cost(t[who].out, NULL));
    free_chain(t[who].out);
  }
  stats(&q, &count, NULL);
  assert_int_equal(count, 0);
  bq_queue_destroy(&q);
}

static void test_take_wakes_on_push(void **state) {
  struct bq_queue q;
  struct taker t;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 100, 1u << 30), 0);
  taker_start(&t, &q, 10, NULL);
  wait_sleepers(&q, 1);
  assert_int_equal(atomic_load(&t.returned), 0);
  assert_int_equal(push_chain(&q, 0, 3, 2), 0);
  taker_join(&t);
  assert_int_equal(t.n, 3);
  assert_int_equal(t.out->ts_us, 0);
  bq_queue_finish(&q, t.n, chain_cost(t.out, NULL));
  free_chain(t.out);
  bq_queue_destroy(&q);
}

/* ---- close --------------------------------------------------------------- */

static struct bq_rec sentinel_rec;

static void test_close_drains(void **state) {
  size_t tb = 0; /* cost of the batch taken */
  struct bq_queue q;
  struct bq_rec *b = &sentinel_rec;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 100, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 3, 2), 0);
  bq_queue_close(&q);
  assert_int_equal(take_check_finish(&q, 2, 2, 0), 1);
  /* pushed after close: still handed out */
  assert_int_equal(push_chain(&q, 3, 2, 2), 0);
  assert_int_equal(take_check_finish(&q, 10, 3, 2), 1);
  assert_int_equal(bq_queue_take(&q, 10, &b, &tb), 0);
  assert_null(b);
  b = &sentinel_rec;
  assert_int_equal(bq_queue_take(&q, 1, &b, &tb), 0); /* and again */
  assert_null(b);
  assert_int_equal(push1(&q, 5, 0), 0);
  assert_int_equal(take_check_finish(&q, 10, 1, 5), 1);
  assert_int_equal(bq_queue_take(&q, 10, &b, &tb), 0);
  bq_queue_destroy(&q);
}

static void test_close_wakes_waiting_consumers(void **state) {
  enum { N = 3 };
  struct bq_queue q;
  struct taker t[N];
  (void)state;
  assert_int_equal(bq_queue_init(&q, 100, 1u << 30), 0);
  for (int i = 0; i < N; i++) taker_start(&t[i], &q, 10, NULL);
  wait_sleepers(&q, N);
  bq_queue_close(&q);
  for (int i = 0; i < N; i++) {
    taker_join(&t[i]);
    assert_int_equal(t[i].n, 0);
    assert_null(t[i].out);
  }
  bq_queue_destroy(&q);
}

/* Closing while a batch is out: the waiting consumer still waits for the
 * token, and gets 0 once the holder finishes. */
static void test_close_while_token_held(void **state) {
  size_t tb = 0; /* cost of the batch taken */
  enum { N = 2 };
  struct bq_queue q;
  struct bq_rec *b;
  struct taker t[N];
  atomic_int first_done;
  (void)state;
  atomic_init(&first_done, 0);
  assert_int_equal(bq_queue_init(&q, 100, 1u << 30), 0);
  assert_int_equal(push1(&q, 0, 1), 0);
  assert_int_equal(bq_queue_take(&q, 10, &b, &tb), 1);
  for (int i = 0; i < N; i++) taker_start(&t[i], &q, 10, &first_done);
  wait_sleepers(&q, N);
  bq_queue_close(&q);
  for (int i = 0; i < N; i++) assert_int_equal(atomic_load(&t[i].returned), 0);
  atomic_store(&first_done, 1);
  bq_queue_finish(&q, 1, chain_cost(b, NULL));
  free_chain(b);
  for (int i = 0; i < N; i++) {
    taker_join(&t[i]);
    assert_int_equal(t[i].n, 0);
    assert_null(t[i].out);
    assert_int_equal(t[i].flag_seen, 1);
  }
  bq_queue_destroy(&q);
}

/* Close with records left and consumers waiting: they drain, then all end. */
static void test_close_with_backlog_and_waiters(void **state) {
  size_t tb = 0; /* cost of the batch taken */
  enum { N = 3 };
  struct bq_queue q;
  struct bq_rec *b;
  struct taker t[N];
  int joined[N] = {0};
  size_t got = 0;
  (void)state;
  assert_int_equal(bq_queue_init(&q, 100, 1u << 30), 0);
  assert_int_equal(push_chain(&q, 0, 5, 1), 0);
  assert_int_equal(bq_queue_take(&q, 1, &b, &tb), 1);
  for (int i = 0; i < N; i++) taker_start(&t[i], &q, 2, NULL);
  wait_sleepers(&q, N);
  bq_queue_close(&q);
  bq_queue_finish(&q, 1, chain_cost(b, NULL));
  free_chain(b);
  /* each taker takes at most one batch (it does not loop), so finish each
   * returned batch to let the next one through */
  for (int done = 0; done < N;) {
    for (int i = 0; i < N; i++) {
      if (joined[i] || !atomic_load(&t[i].returned)) continue;
      taker_join(&t[i]);
      joined[i] = 1;
      done++;
      if (t[i].n > 0) {
        got += t[i].n;
        bq_queue_finish(&q, t[i].n, chain_cost(t[i].out, NULL));
        free_chain(t[i].out);
      }
    }
    sched_yield();
  }
  /* 4 records were left with max 2 each: exactly two batches of 2 and one
   * consumer that saw the end */
  assert_int_equal(got, 4);
  assert_int_equal(bq_queue_take(&q, 10, &b, &tb), 0);
  bq_queue_destroy(&q);
}

/* ---- stress -------------------------------------------------------------- */

#define ST_RECORDS 200000
#define ST_CONNS 37
#define ST_CONSUMERS 4

struct stress {
  struct bq_queue q;
  /* backpressure: the producer waits here for the low-water mark */
  pthread_mutex_t low_mu;
  pthread_cond_t low_cv;
  /* the shared log, appended to while holding the writer token */
  pthread_mutex_t log_mu;
  int64_t *log;
  size_t log_n;
  int64_t last_seq[ST_CONNS];
  size_t batches;
  size_t errors;          /* bad chain, data, seq, count */
  atomic_int holders;     /* consumers between take and finish */
  atomic_size_t overlaps; /* times two consumers held a batch together */
  atomic_size_t pauses;   /* times push reported a bound */
};

struct consumer {
  pthread_t th;
  struct stress *st;
  size_t max;
  size_t taken;
};

static void *producer_main(void *arg) {
  struct stress *st = arg;
  uint64_t rng = 0x243f6a8885a308d3ull;
  int64_t seq[ST_CONNS] = {0};
  int64_t idx = 0;
  while (idx < ST_RECORDS) {
    size_t chunk = 1 + (size_t)(rng_next_q(&rng) % 64);
    struct bq_rec *first = NULL, *last = NULL;
    size_t bytes = 0, n = 0;
    for (; n < chunk && idx < ST_RECORDS; n++, idx++) {
      int c = (int)(rng_next_q(&rng) % ST_CONNS);
      struct bq_rec *r =
          mkrec(c, ++seq[c], idx, (uint32_t)(rng_next_q(&rng) % 48));
      bytes += bq_rec_cost(r);
      if (last) last->next = r;
      else first = r;
      last = r;
    }
    if (bq_queue_push(&st->q, first, last, n, bytes)) {
      atomic_fetch_add(&st->pauses, 1);
      /* Stop reading until a finish reports the low-water mark. */
      pthread_mutex_lock(&st->low_mu);
      while (!bq_queue_low(&st->q))
        pthread_cond_wait(&st->low_cv, &st->low_mu);
      pthread_mutex_unlock(&st->low_mu);
    }
  }
  return NULL;
}

static void *consumer_main(void *arg) {
  size_t tb = 0; /* cost of the batch taken, as take() reports it */
  struct consumer *c = arg;
  struct stress *st = c->st;
  for (;;) {
    struct bq_rec *b = NULL;
    size_t n = bq_queue_take(&st->q, c->max, &b, &tb), k = 0, bytes = 0;
    if (n == 0) {
      if (b != NULL) {
        pthread_mutex_lock(&st->log_mu);
        st->errors++;
        pthread_mutex_unlock(&st->log_mu);
      }
      break;
    }
    if (atomic_fetch_add(&st->holders, 1) != 0)
      atomic_fetch_add(&st->overlaps, 1);
    pthread_mutex_lock(&st->log_mu);
    for (const struct bq_rec *r = b; r != NULL; r = r->next) {
      k++;
      bytes += bq_rec_cost(r);
      if (st->log_n < ST_RECORDS) st->log[st->log_n++] = r->ts_us;
      else st->errors++;
      if (r->conn != DUMMY_CONN || r->conn_id < 0 || r->conn_id >= ST_CONNS ||
          !data_ok(r)) {
        st->errors++;
        continue;
      }
      if (r->seq != st->last_seq[r->conn_id] + 1) st->errors++;
      st->last_seq[r->conn_id] = r->seq;
    }
    if (k != n || n > c->max || tb != bytes) st->errors++;
    st->batches++;
    pthread_mutex_unlock(&st->log_mu);
    c->taken += n;
    atomic_fetch_sub(&st->holders, 1);
    if (bq_queue_finish(&st->q, n, bytes)) {
      pthread_mutex_lock(&st->low_mu);
      pthread_cond_broadcast(&st->low_cv);
      pthread_mutex_unlock(&st->low_mu);
    }
    free_chain(b);
  }
  return NULL;
}

static void test_stress(void **state) {
  static const size_t maxes[ST_CONSUMERS] = {1, 16, 300, 5000};
  struct stress *st;
  struct consumer cons[ST_CONSUMERS];
  pthread_t prod;
  size_t count, bytes, total = 0;
  (void)state;
  st = calloc(1, sizeof(*st));
  assert_non_null(st);
  st->log = calloc(ST_RECORDS, sizeof(*st->log));
  assert_non_null(st->log);
  assert_int_equal(bq_queue_init(&st->q, 1000, 40 * 1024), 0);
  assert_int_equal(pthread_mutex_init(&st->low_mu, NULL), 0);
  assert_int_equal(pthread_cond_init(&st->low_cv, NULL), 0);
  assert_int_equal(pthread_mutex_init(&st->log_mu, NULL), 0);
  atomic_init(&st->holders, 0);
  atomic_init(&st->overlaps, 0);
  atomic_init(&st->pauses, 0);

  for (int i = 0; i < ST_CONSUMERS; i++) {
    cons[i].st = st;
    cons[i].max = maxes[i];
    cons[i].taken = 0;
    assert_int_equal(pthread_create(&cons[i].th, NULL, consumer_main, &cons[i]),
                     0);
  }
  assert_int_equal(pthread_create(&prod, NULL, producer_main, st), 0);
  assert_int_equal(pthread_join(prod, NULL), 0);
  bq_queue_close(&st->q);
  for (int i = 0; i < ST_CONSUMERS; i++) {
    assert_int_equal(pthread_join(cons[i].th, NULL), 0);
    total += cons[i].taken;
  }

  assert_int_equal(st->errors, 0);
  assert_int_equal(atomic_load(&st->overlaps), 0);
  assert_int_equal(total, ST_RECORDS);
  assert_int_equal(st->log_n, ST_RECORDS);
  /* every record exactly once, batches in push order */
  for (size_t i = 0; i < ST_RECORDS; i++) {
    if (st->log[i] != (int64_t)i)
      print_error("log[%zu] = %lld\n", i, (long long)st->log[i]);
    assert_int_equal(st->log[i], (int64_t)i);
  }
  /* (how often push reported a bound depends on scheduling: not checked) */
  stats(&st->q, &count, &bytes);
  assert_int_equal(count, 0);
  assert_int_equal(bytes, 0);
  assert_int_equal(bq_queue_full(&st->q), 0);
  assert_int_equal(bq_queue_low(&st->q), 1);

  bq_queue_destroy(&st->q);
  pthread_mutex_destroy(&st->low_mu);
  pthread_cond_destroy(&st->low_cv);
  pthread_mutex_destroy(&st->log_mu);
  free(st->log);
  free(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_count_bound),
      cmocka_unit_test(test_count_bound_chain),
      cmocka_unit_test(test_byte_bound),
      cmocka_unit_test(test_low_hysteresis),
      cmocka_unit_test(test_capacity_returned_by_finish),
      cmocka_unit_test(test_take_max_fifo),
      cmocka_unit_test(test_take_idle),
      cmocka_unit_test(test_take_byte_bound),
      cmocka_unit_test(test_full_both),
      cmocka_unit_test(test_take_waits_for_token),
      cmocka_unit_test(test_token_chain_of_consumers),
      cmocka_unit_test(test_take_wakes_on_push),
      cmocka_unit_test(test_close_drains),
      cmocka_unit_test(test_close_wakes_waiting_consumers),
      cmocka_unit_test(test_close_while_token_held),
      cmocka_unit_test(test_close_with_backlog_and_waiters),
      cmocka_unit_test(test_stress),
  };
  /* BQ_UNIT_FILTER=test_x* runs only the matching tests. */
  if (getenv("BQ_UNIT_FILTER") != NULL)
    cmocka_set_test_filter(getenv("BQ_UNIT_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
