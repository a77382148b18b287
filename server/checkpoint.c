/*
 * checkpoint.c -- see checkpoint.h.  The checkpointer thread, plus kick()
 * on the writer's thread and start/stop on the main thread.
 */

#include "checkpoint.h"

#include <assert.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* Run one passive checkpoint; log a failure (rate-limited).  Checkpointer
 * thread only.  A busy database (another process holding a lock) is not a
 * failure worth a warning: the next kick tries again. */
static void run_once(struct bq_ckpt *k) {
  int nlog = 0, nckpt = 0;
  uint64_t t0 = k->waits ? bq_waits_now_us() : 0;
  int rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                     &nlog, &nckpt);
  uint64_t suppressed;
  if (k->waits)
    bq_prom_hist_observe(&k->waits->ckpt_run, bq_waits_now_us() - t0);
  bq_mutex_lock(&k->mu);
  k->runs++;
  if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) k->failures++;
  bq_mutex_unlock(&k->mu);
  if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY) return;
  if (k->log && bq_ratelimit_allow(&k->rl, bq_now_ms(), &suppressed))
    bq_log_warn(k->log,
                "background checkpoint failed: %s (%s); the WAL grows until "
                "one succeeds (%llu similar lines suppressed)",
                sqlite3_errmsg(k->db), sqlite3_errstr(rc),
                (unsigned long long)suppressed);
}

static void *ckpt_main(void *arg) {
  struct bq_ckpt *k = arg;
  bq_mutex_lock(&k->mu);
  for (;;) {
    while ((!k->wanted || k->writer_busy) && !k->stopping)
      bq_cond_wait(&k->cv, &k->mu);
    if (k->stopping) break;
    k->wanted = 0;
    k->running = 1;
    bq_mutex_unlock(&k->mu);
    run_once(k);
    bq_mutex_lock(&k->mu);
    k->running = 0;
    k->ran = 1;
    bq_cond_broadcast(&k->idle);
  }
  bq_mutex_unlock(&k->mu);
  return NULL;
}

int bq_ckpt_start(struct bq_ckpt *k, const char *path,
                  const struct bq_log *log, struct bq_waits *waits, char *err,
                  size_t errlen) {
  int rc;

  memset(k, 0, sizeof(*k));
  k->log = log;
  k->waits = waits;
  bq_ratelimit_init(&k->rl, 5000);
  rc = sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READWRITE |
                                         SQLITE_OPEN_NOMUTEX,
                       NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "cannot open the database for checkpoints: %s",
             k->db ? sqlite3_errmsg(k->db) : sqlite3_errstr(rc));
    sqlite3_close(k->db);
    k->db = NULL;
    return -rc;
  }
  /* This connection never writes rows; it must not checkpoint on close
   * either (the writer's close does the final one). */
  sqlite3_extended_result_codes(k->db, 1);
  sqlite3_db_config(k->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  /* Connections open their file lazily; until this connection has read
   * the database it does not know it is in WAL mode, and a checkpoint on
   * it would do nothing. */
  rc = sqlite3_exec(k->db, "PRAGMA schema_version", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "cannot read the database for checkpoints: %s",
             sqlite3_errmsg(k->db));
    sqlite3_close(k->db);
    k->db = NULL;
    return -rc;
  }
  {
    sqlite3_stmt *st = NULL;
    int page = 0;
    rc = sqlite3_prepare_v2(k->db, "PRAGMA page_size", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      page = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (page <= 0) page = 4096; /* SQLite's default; only a bound */
    k->soft_pages = BQ_CKPT_BYTES / page;
    k->hard_pages = BQ_CKPT_HARD_BYTES / page;
    k->limit_pages = BQ_CKPT_LIMIT_BYTES / page;
    assert(k->soft_pages > 0 && k->hard_pages > k->soft_pages &&
           k->limit_pages > k->hard_pages);
  }
  /* rc is a positive errno from here on (pthread's convention). */
  rc = -bq_mutex_init(&k->mu);
  if (rc == 0) {
    rc = -bq_cond_init(&k->cv);
    if (rc != 0) bq_mutex_destroy(&k->mu);
  }
  if (rc == 0) {
    rc = -bq_cond_init(&k->idle);
    if (rc != 0) {
      bq_cond_destroy(&k->cv);
      bq_mutex_destroy(&k->mu);
    }
  }
  if (rc == 0) {
    rc = pthread_create(&k->thread, NULL, ckpt_main, k);
    if (rc == 0) (void)pthread_setname_np(k->thread, "bq-ckpt");
    if (rc != 0) {
      bq_cond_destroy(&k->idle);
      bq_cond_destroy(&k->cv);
      bq_mutex_destroy(&k->mu);
    }
  }
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the checkpointer thread: %s",
             strerror(rc));
    sqlite3_close(k->db);
    k->db = NULL;
    return -rc;
  }
  return 0;
}

void bq_ckpt_on_commit(struct bq_ckpt *k, int pages) {
  if (pages >= k->limit_pages)
    k->owed = BQ_CKPT_OWED_WAIT;
  else if (pages >= k->hard_pages)
    k->owed = BQ_CKPT_OWED_TRY;
  else if (pages >= k->soft_pages)
    bq_ckpt_kick(k);
}

int bq_ckpt_owed(const struct bq_ckpt *k) { return k->owed != 0; }

void bq_ckpt_settle(struct bq_ckpt *k, struct sqlite3 *writer) {
  int owed = k->owed;
  k->owed = 0;
  if (owed == BQ_CKPT_OWED_WAIT)
    bq_ckpt_inline(k, writer, 1);
  else if (owed == BQ_CKPT_OWED_TRY && bq_ckpt_inline(k, writer, 0) == 1)
    bq_ckpt_kick(k);
}

void bq_ckpt_kick(struct bq_ckpt *k) {
  assert(k->db != NULL);
  bq_mutex_lock(&k->mu);
  if (!k->wanted) {
    k->wanted = 1;
    bq_cond_signal(&k->cv);
  }
  bq_mutex_unlock(&k->mu);
}

int bq_ckpt_inline(struct bq_ckpt *k, struct sqlite3 *writer, int wait) {
  int rc;
  uint64_t t0 = k->waits ? bq_waits_now_us() : 0;
  assert(k->db != NULL && writer != NULL);
  bq_mutex_lock(&k->mu);
  if ((k->running || !k->ran) && !wait) {
    bq_mutex_unlock(&k->mu);
    return 1;
  }
  k->ran = 0;
  k->writer_busy = 1;
  while (k->running) bq_cond_wait(&k->idle, &k->mu);
  bq_mutex_unlock(&k->mu);
  /* No other checkpoint runs in this process now; the background one has
   * copied nearly everything, so this copies the tail. */
  rc = sqlite3_wal_checkpoint_v2(writer, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                 NULL, NULL);
  bq_mutex_lock(&k->mu);
  k->writer_busy = 0;
  k->inline_runs++;
  bq_cond_signal(&k->cv);
  bq_mutex_unlock(&k->mu);
  if (k->waits)
    bq_prom_hist_observe(&k->waits->ckpt_inline, bq_waits_now_us() - t0);
  return rc == SQLITE_OK ? 0 : -rc;
}

void bq_ckpt_stop(struct bq_ckpt *k) {
  assert(k->db != NULL);
  bq_mutex_lock(&k->mu);
  k->stopping = 1;
  bq_cond_signal(&k->cv);
  bq_mutex_unlock(&k->mu);
  bq_thread_join(k->thread);
  bq_cond_destroy(&k->idle);
  bq_cond_destroy(&k->cv);
  bq_mutex_destroy(&k->mu);
  sqlite3_close(k->db);
  k->db = NULL;
}

void bq_ckpt_stats(struct bq_ckpt *k, uint64_t *runs, uint64_t *inline_runs,
                   uint64_t *failures) {
  bq_mutex_lock(&k->mu);
  if (runs) *runs = k->runs;
  if (inline_runs) *inline_runs = k->inline_runs;
  if (failures) *failures = k->failures;
  bq_mutex_unlock(&k->mu);
}
