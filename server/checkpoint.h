/*
 * checkpoint.h -- a background WAL checkpointer for one SQLite database.
 *
 * Why: in WAL mode every committed page is written twice, once appended to
 * the WAL by the commit and once copied into the database file by a
 * checkpoint.  SQLite's default runs that copy (and its fsyncs) inside the
 * commit that crosses 1000 WAL pages, on the writer's thread, where it
 * takes about a third of the writer's time.  burstq's writer is the
 * pipeline's bottleneck, so the copy moves to a thread of its own.
 *
 * Design: the store turns SQLite's auto-checkpoint off on its writing
 * connection and, after each commit (from its wal hook), calls
 * bq_ckpt_kick().  The checkpointer thread owns a second connection to the
 * same file and runs PASSIVE checkpoints, which never block the writer or
 * readers; kicks that arrive while one runs coalesce into one more run.
 *
 * A passive checkpoint running beside a busy writer rarely finds the WAL
 * fully copied at the moment the writer starts its next transaction, and
 * only then can SQLite rewind the WAL to its start.  So the writer itself
 * copies the tail once the WAL passes BQ_CKPT_HARD_BYTES, but only right
 * after a background run has ended (else it kicks): the
 * checkpointer has just copied nearly everything, the writer copies the
 * few batches that came during that run, and the WAL rewinds.  That copy
 * is owed by the commit's wal hook and made after the batch has been
 * handed on (bq_ckpt_settle, through the store's settle op), so that it
 * delays the next batch, never the acks of the one that crossed the bound.
 * While a background run is in progress the writer does not wait for it
 * (that wait, a whole run long, was the largest stall in the ack tail: see
 * docs/architecture.md "Where a message waits"); the next commit after the
 * run tries again.  Only past BQ_CKPT_LIMIT_BYTES, where checkpoints have
 * fallen behind ingest, does the writer wait for the run and copy: the
 * WAL's size bound.
 *
 * Threads: start/stop on the main thread; on_commit, owed, settle, kick
 * and inline on the writer (whichever worker holds the writer token); the
 * counters are read with bq_ckpt_stats() from any thread.
 */
#ifndef BQ_CHECKPOINT_H
#define BQ_CHECKPOINT_H

#include <pthread.h>
#include <stdint.h>

#include "log.h"
#include "thread.h"
#include "waits.h"

/* WAL bytes after which a commit asks for a background checkpoint
 * (SQLite's own default auto-checkpoint threshold, 1000 pages, at 4 KiB
 * pages).  The bounds are in bytes, not pages, so that a database with
 * larger pages keeps the same WAL size and the same checkpoint rhythm;
 * bq_ckpt_start() turns them into pages of the database's page size. */
#define BQ_CKPT_BYTES (1000 * 4096)
/* WAL bytes after which the writer copies the tail right after a
 * background run (see above). */
#define BQ_CKPT_HARD_BYTES (8000 * 4096)
/* WAL bytes after which the writer waits for a background run in progress
 * and then copies: the WAL's bound (see above). */
#define BQ_CKPT_LIMIT_BYTES (4 * BQ_CKPT_HARD_BYTES)
/* WAL growth between two writeback hints at --sync normal
 * (store_sqlite.c, "Writeback at --sync normal"): large enough that small
 * commits at low load do not each cost a system call, small enough that a
 * checkpoint's fsync never finds much of the WAL unwritten. */
#define BQ_CKPT_WRITEBACK_BYTES (1024 * 1024)

struct sqlite3;

enum { BQ_CKPT_OWED_TRY = 1, BQ_CKPT_OWED_WAIT = 2 };

struct bq_ckpt {
  pthread_t thread;
  struct bq_mutex mu;
  pthread_cond_t cv;
  struct sqlite3 *db;        /* the checkpointer's own connection */
  const struct bq_log *log;  /* may be NULL */
  struct bq_waits *waits;    /* may be NULL: ckpt_run on the checkpointer
                                thread, ckpt_inline on the writer's */
  struct bq_ratelimit rl;    /* failure log lines; checkpointer thread */
  pthread_cond_t idle;       /* signalled when a background run ends */
  int wanted;                /* a kick arrived since the last run began */
  int ran;                   /* a run ended since the last inline copy */
  int owed;                  /* BQ_CKPT_OWED_*: what the last commit
                                left for bq_ckpt_settle() (writer
                                thread only) */
  int running;               /* a background run is in progress */
  int writer_busy;           /* the writer is checkpointing inline */
  int stopping;              /* stop() called: leave after this run */
  int soft_pages, hard_pages, limit_pages; /* the bounds above in pages */
  uint64_t runs;             /* checkpoints attempted (under mu) */
  uint64_t inline_runs;      /* checkpoints run by the writer (under mu) */
  uint64_t failures;         /* background runs that failed (under mu) */
};

/* Open a second connection to the WAL database at path and start the
 * checkpointer thread (named "bq-ckpt").  The durations of background runs
 * and inline checkpoints go to waits (may be NULL).  Returns 0, or a
 * negative errno / -SQLite code with a message in err; nothing is left to
 * stop then. */
int bq_ckpt_start(struct bq_ckpt *k, const char *path,
                  const struct bq_log *log, struct bq_waits *waits, char *err,
                  size_t errlen);

/* The writer's wal hook (sqlite3_wal_hook), after a commit that left
 * pages in the WAL: past hard_pages (or limit_pages) owes an inline copy
 * to bq_ckpt_settle(); past soft_pages kicks the checkpointer; else
 * nothing.  It never checkpoints itself: the hook runs inside COMMIT, and
 * the batch's acks should not wait for a copy of the WAL. */
void bq_ckpt_on_commit(struct bq_ckpt *k, int pages);

/* 1 when the last commit left an inline copy for bq_ckpt_settle(). */
int bq_ckpt_owed(const struct bq_ckpt *k);

/* Writer thread, after the committed batch has been handed on (its acks
 * may go out) and before the next transaction: what the last commit owed.
 * Past limit_pages, bq_ckpt_inline(wait 1); past hard_pages,
 * bq_ckpt_inline(wait 0), and a kick when that does not copy;
 * else nothing.  A failed copy is not the commit's failure: the WAL only
 * grows until the next one succeeds. */
void bq_ckpt_settle(struct bq_ckpt *k, struct sqlite3 *writer);

/* Ask for a checkpoint soon.  Cheap (a mutex and a signal); never blocks
 * on the checkpoint itself. */
void bq_ckpt_kick(struct bq_ckpt *k);

/* Writer thread, after a commit that left the WAL at or past
 * BQ_CKPT_HARD_BYTES.  With wait 0, return 1 at once unless a background
 * run has ended since the last inline copy and none is in progress (the
 * caller then kicks), so that the copy here is only what the last few
 * commits added;
 * with wait 1, wait for a run in progress to end.  Then hold further runs
 * off and run a PASSIVE checkpoint on the writer's own connection, so that
 * the writer's next transaction finds the WAL fully copied and rewinds it.
 * Readers still holding old snapshots are never waited for (the checkpoint
 * then stops short and the WAL keeps growing until they finish, as with
 * SQLite's own auto-checkpoint).  Returns 0 when it checkpointed, 1 when it
 * did not (wait 0), or -SQLite code (SQLITE_BUSY: another process is
 * checkpointing). */
int bq_ckpt_inline(struct bq_ckpt *k, struct sqlite3 *writer, int wait);

/* Finish the checkpoint in progress, if any, join the thread and close its
 * connection.  The caller checkpoints what is left (the writer's close
 * does a TRUNCATE checkpoint). */
void bq_ckpt_stop(struct bq_ckpt *k);

/* Snapshot of the counters (any pointer may be NULL); before stop only. */
void bq_ckpt_stats(struct bq_ckpt *k, uint64_t *runs, uint64_t *inline_runs,
                   uint64_t *failures);

#endif /* BQ_CHECKPOINT_H */
