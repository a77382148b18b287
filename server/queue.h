/*
 * queue.h -- the bounded buffer between the event loop and the workers.
 *
 * Design: a mutex-protected FIFO chain of records (record.h), bounded in
 * records and in bytes.  Threads: the loop thread produces (bq_queue_push),
 * worker threads consume (bq_queue_take / bq_queue_finish); anyone may read
 * the counters.
 *
 * Never blocking the producer: push always succeeds; it only reports that
 * the queue is now at or over a bound, and the loop then stops reading its
 * sockets until the queue falls to the low-water mark (half of each bound).
 * The overshoot is therefore what the loop framed from one read, plus the
 * OPEN/CLOSE records of connections that come and go while intake is paused
 * (at most two per connection).
 *
 * Capacity is returned only when a worker calls bq_queue_finish() after the
 * batch is durable, so the bounds cover every record between the socket and
 * the database, not just those waiting in the list.
 *
 * One writer at a time (the writer token): take() blocks until there is work
 * and no other consumer holds a batch, then hands out the oldest records and
 * the token together; finish() returns the token.  Batches therefore reach
 * the database in exactly the order they were pushed, and consumers wait on a
 * condition variable rather than contend for the database.
 */
#ifndef BQ_QUEUE_H
#define BQ_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "thread.h"

struct bq_queue {
  struct bq_mutex mu;
  pthread_cond_t cv;        /* signalled on push, finish and close */
  struct bq_rec *head;      /* oldest waiting record */
  struct bq_rec **tailp;    /* where the next record is linked */
  size_t waiting;           /* records in the chain */
  size_t waiting_bytes;     /* bq_rec_cost() of the records in the chain */
  size_t count;             /* records held: waiting + taken, not finished */
  size_t bytes;             /* bq_rec_cost() of the records held */
  size_t cap_count, cap_bytes;
  size_t low_count, low_bytes;
  size_t sleepers;          /* consumers blocked in take() */
  int writer_busy;          /* a consumer holds the writer token */
  int closed;               /* no more pushes; take() ends when empty */
};

/* Initialise q with the given bounds (both >= 1).  Returns 0 or a negative
 * errno from pthread. */
int bq_queue_init(struct bq_queue *q, size_t cap_count, size_t cap_bytes);

/* Destroy q.  It must be empty (count == 0) and have no consumer inside. */
void bq_queue_destroy(struct bq_queue *q);

/* What bq_queue_push() returns: which bounds the queue is at or over. */
enum { BQ_QUEUE_FULL_RECORDS = 1, BQ_QUEUE_FULL_BYTES = 2 };

/* Append the chain first..last (n records, total cost bytes) in order.
 * Never blocks beyond the mutex and never fails, even over the bounds or
 * after close (a closed queue still accepts records so that nothing read is
 * ever dropped; consumers drain them).  Returns 0 if the queue is below
 * both bounds, else (the producer should pause) the BQ_QUEUE_FULL_* bits
 * of the bounds it is now at or over. */
int bq_queue_push(struct bq_queue *q, struct bq_rec *first,
                  struct bq_rec *last, size_t n, size_t bytes);

/* Wait for work and the writer token, then detach up to max (>= 1) of the
 * oldest records into *out and their total cost into *bytes.  Returns how
 * many were taken (>= 1), or 0 when the queue is closed and empty (the
 * caller should exit; *out is NULL).  Taking everything waiting is O(1);
 * otherwise the chain is walked up to max records.  The caller must call
 * bq_queue_finish() for every non-zero take. */
size_t bq_queue_take(struct bq_queue *q, size_t max, struct bq_rec **out,
                     size_t *bytes);

/* As bq_queue_take(), but the batch also stops before the record that
 * would take its cost past max_bytes (the first record is always taken;
 * SIZE_MAX: no bound in bytes), and when idle_ms > 0 and the queue stays
 * open and without work for idle_ms while the token is free, take the
 * token alone: return 0 with *idle = 1 and *out NULL (background work such
 * as retention, under the token); the caller then calls
 * bq_queue_finish(q, 0, 0).  Otherwise *idle = 0 and the result is as
 * bq_queue_take()'s.  When token_wait_us is not NULL it gets the
 * microseconds this call spent blocked in waits that began while another
 * consumer held the token (0 when it found the token free): two clock
 * reads per such wait, none otherwise. */
size_t bq_queue_take_idle(struct bq_queue *q, size_t max, size_t max_bytes,
                          unsigned idle_ms, struct bq_rec **out,
                          size_t *bytes, int *idle, uint64_t *token_wait_us);

/* Return the writer token and release the capacity of a taken batch (n
 * records, cost bytes) once it is durable (or abandoned).  Returns 1 if the
 * queue is now at or below its low-water mark, else 0. */
int bq_queue_finish(struct bq_queue *q, size_t n, size_t bytes);

/* 1 if the queue is at or over a bound. */
int bq_queue_full(struct bq_queue *q);

/* 1 if the queue is at or below the low-water mark in both dimensions. */
int bq_queue_low(struct bq_queue *q);

/* Snapshot of the records and bytes held (waiting or taken). */
void bq_queue_stats(struct bq_queue *q, size_t *count, size_t *bytes);

/* Mark q closed: consumers drain what is left, then take() returns 0. */
void bq_queue_close(struct bq_queue *q);

#endif /* BQ_QUEUE_H */
