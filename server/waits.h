/*
 * waits.h -- where a message waits on its way from the socket to its ack:
 * the histograms behind burstq_*_wait_seconds, burstq_txn_*,
 * burstq_checkpoint_*, burstq_intake_pause_seconds,
 * burstq_completion_wait_seconds and burstq_ack_delay_seconds
 * (docs/metrics.md says what each measures).
 *
 * Design: a struct of promhist.h histograms, each written by one thread
 * and rendered by the loop thread (promhist.h says why no lock is
 * needed).  Every recording is per batch, per checkpoint, per pause or per
 * ack written -- never per message -- and costs one clock read and two
 * relaxed atomic adds.  Who writes what:
 *  - the worker holding the writer token (pool.c): queue_wait, token_wait
 *    (with more than one worker) and, through the SQLite store
 *    (store_sqlite.c), txn_insert, txn_commit and ckpt_inline (owed by the
 *    wal hook, made by the store's settle op after the batch is posted,
 *    checkpoint.c);
 *  - the checkpointer thread (checkpoint.c): ckpt_run;
 *  - the pool's syncer thread (pool.c, --sync full): sync_wait;
 *  - the loop thread (server.c, conn.c): pause, pauses_records,
 *    pauses_bytes, completion_wait (from the time the worker posted the
 *    batch, or from the syncer posting it: pool.h), ack_delay.
 * Values are recorded in microseconds and rendered in seconds.
 */
#ifndef BQ_WAITS_H
#define BQ_WAITS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "promhist.h"

struct bq_waits {
  struct bq_prom_hist queue_wait;  /* per batch: its first message's read
                                      to the start of its transaction */
  struct bq_prom_hist token_wait;  /* per batch: the taking worker's time
                                      blocked while another held the token */
  struct bq_prom_hist txn_insert;  /* per committed batch: BEGIN to COMMIT */
  struct bq_prom_hist txn_commit;  /* per committed batch: the COMMIT step,
                                      its wal hook included */
  struct bq_prom_hist ckpt_inline; /* per inline checkpoint (settle) */
  struct bq_prom_hist ckpt_run;    /* per background checkpoint run */
  struct bq_prom_hist pause;       /* per intake pause: its length */
  _Atomic uint64_t pauses_records; /* pauses begun at the records bound */
  _Atomic uint64_t pauses_bytes;   /* pauses begun at the bytes bound only */
  struct bq_prom_hist sync_wait;   /* per committed batch at --sync full:
                                      handed to the syncer to the end of
                                      the flush that made it durable */
  struct bq_prom_hist completion_wait; /* per committed batch: the worker
                                          posting it to the loop taking it */
  struct bq_prom_hist ack_delay;   /* per OK written: the read of the
                                      oldest message it covers to the
                                      write */
};

/* Make every histogram and counter of w empty. */
void bq_waits_init(struct bq_waits *w);

/* Append the families of w to b (Prometheus text, version 0.0.4). */
void bq_waits_render(struct bq_waits *w, struct bq_buf *b);

/* Microseconds of CLOCK_MONOTONIC (any thread; a vDSO read, no syscall). */
uint64_t bq_waits_now_us(void);

#endif /* BQ_WAITS_H */
