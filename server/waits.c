/*
 * waits.c -- see waits.h.  Owns nothing but the struct it is given.
 */
#include "waits.h"

#include <inttypes.h>
#include <time.h>

/* Microseconds: 10 us (a wake-up on an idle machine) to 10 s (a database
 * locked by someone else, retried). */
static const uint64_t wait_bounds[] = {
    10,     25,     50,      100,     250,     500,    1000,   2500,  5000,
    10000,  25000,  50000,   100000,  250000,  1000000, 2500000, 10000000};

#define NB (sizeof(wait_bounds) / sizeof(wait_bounds[0]))

void bq_waits_init(struct bq_waits *w) {
  struct bq_prom_hist *all[] = {&w->queue_wait, &w->token_wait,
                                &w->txn_insert, &w->txn_commit,
                                &w->ckpt_inline, &w->ckpt_run,
                                &w->pause,      &w->sync_wait,
                                &w->completion_wait, &w->ack_delay};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    bq_prom_hist_init(all[i], wait_bounds, NB, 1e-6);
  atomic_init(&w->pauses_records, 0);
  atomic_init(&w->pauses_bytes, 0);
}

uint64_t bq_waits_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void bq_waits_render(struct bq_waits *w, struct bq_buf *b) {
  static const char pn[] = "burstq_intake_pauses_by_bound_total";
  bq_prom_hist_render(
      b, "burstq_queue_wait_seconds",
      "Per batch: from the read that delivered its first message to the "
      "start of the transaction that writes it.",
      &w->queue_wait);
  bq_prom_hist_render(
      b, "burstq_token_wait_seconds",
      "Per batch, with more than one worker: how long the worker that took "
      "it was blocked while another worker held the writer token.",
      &w->token_wait);
  bq_prom_hist_render(
      b, "burstq_txn_insert_seconds",
      "SQLite, per committed batch: from BEGIN to the start of COMMIT "
      "(retention pass and inserts).",
      &w->txn_insert);
  bq_prom_hist_render(
      b, "burstq_txn_commit_seconds",
      "SQLite, per committed batch: the COMMIT, with the WAL write and wal "
      "hook (at --sync full the flush is burstq_sync_wait_seconds).",
      &w->txn_commit);
  bq_prom_hist_render(
      b, "burstq_checkpoint_inline_seconds",
      "SQLite: checkpoints the writer ran after a commit that left the WAL "
      "past its hard bound (after posting that batch, before the next), "
      "waiting for a background run included.",
      &w->ckpt_inline);
  bq_prom_hist_render(b, "burstq_checkpoint_run_seconds",
                      "SQLite: background checkpoint runs.", &w->ckpt_run);
  bq_prom_hist_render(
      b, "burstq_intake_pause_seconds",
      "Finished intake pauses (reading stopped: queue full), by length.",
      &w->pause);
  bq_buf_printf(b,
                "# HELP %s Intake pauses by the queue bound that started "
                "them (records: --queue-capacity; bytes: --queue-bytes "
                "alone).\n# TYPE %s counter\n",
                pn, pn);
  bq_buf_printf(b, "%s{bound=\"records\"} %" PRIu64 "\n", pn,
                atomic_load_explicit(&w->pauses_records,
                                     memory_order_relaxed));
  bq_buf_printf(b, "%s{bound=\"bytes\"} %" PRIu64 "\n", pn,
                atomic_load_explicit(&w->pauses_bytes, memory_order_relaxed));
  bq_prom_hist_render(
      b, "burstq_sync_wait_seconds",
      "SQLite at --sync full, per committed batch: from its commit to the "
      "end of the WAL flush that made it durable (a flush already running "
      "included).",
      &w->sync_wait);
  bq_prom_hist_render(
      b, "burstq_completion_wait_seconds",
      "Per committed batch: from the worker posting its completion to the "
      "loop taking it (the wake-up and whatever the loop was doing).",
      &w->completion_wait);
  bq_prom_hist_render(
      b, "burstq_ack_delay_seconds",
      "Per OK written: from the read that delivered the oldest message it "
      "covers to the write of the OK.",
      &w->ack_delay);
}
