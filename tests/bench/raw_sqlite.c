/*
 * raw_sqlite.c -- the ceiling: how fast can this machine insert burstq's
 * rows with burstq's pragmas, in one writer thread, with nothing else
 * going on?
 *
 * Usage: raw_sqlite DB ROWS BATCH off|normal|full [PAYLOAD_BYTES] [KEY=VALUE...]
 *   rows=K       rows per INSERT statement (1: the prepared one-row INSERT;
 *                K > 1: a K-row INSERT OR FAIL as burstqd's
 *                MULTI_ROWS)                                       [1]
 *   page_size=P  page size of a new database (512..65536)          [SQLite's]
 *   ckpt=M       inline: SQLite's auto-checkpoint (a PASSIVE checkpoint in
 *                the commit that crosses BQ_CKPT_BYTES of WAL, 1000 pages
 *                of 4 KiB, on the writer);
 *                bg: burstqd's own checkpointer (server/checkpoint.c: a
 *                thread with its own connection, kicked at BQ_CKPT_BYTES,
 *                inline on the writer at BQ_CKPT_HARD_BYTES);
 *                none: no checkpoint at all (the writer-only figure; the
 *                WAL grows without bound)                          [inline]
 *   overlap=1    at full: burstqd's flush beside the next transaction
 *                (server/pool.c, the syncer): COMMIT at synchronous=NORMAL,
 *                a second thread fdatasync()s the WAL, and the loop
 *                begins its next transaction once a flush covering the
 *                last commit has begun; the run ends when every commit
 *                is flushed                                        [0]
 *   writeback=1  burstqd's writeback hint at --sync normal
 *                (store_sqlite.c, BQ_CKPT_WRITEBACK_BYTES): start
 *                writing the WAL's dirty pages each time it has grown
 *                by that much                                      [0]
 * Prints one line: "raw_sqlite rows=N batch=B sync=S bytes=X rows_per_insert=K
 * page_size=P ckpt=M writeback=0|1 overlap=0|1 seconds=T rows_per_s=R mb_per_s=M wal_max_mb=W"
 * (mb_per_s counts payload bytes; wal_max_mb is the WAL's largest size).
 * Same schema, same WAL + synchronous setting as burstqd's store_sqlite.c;
 * payloads are PAYLOAD_BYTES (default 100); the database is checked
 * (row count) at the end.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "raw_sqlite: %s: %s\n", what,
            db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    exit(1);
  }
}

enum { CKPT_INLINE, CKPT_BG, CKPT_NONE };

/* overlap=1: the flushing thread and what it shares with the loop. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long committed; /* commits made */
  long started;   /* commits covered by the flush in progress or done */
  long flushed;   /* commits covered by a finished flush */
  int fd, stop;
} ov = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, -1, 0};

static void *flusher(void *arg) {
  (void)arg;
  pthread_mutex_lock(&ov.mu);
  for (;;) {
    long upto;
    while (ov.started == ov.committed && !ov.stop)
      pthread_cond_wait(&ov.cv, &ov.mu);
    if (ov.started == ov.committed) break; /* stop, all flushed */
    upto = ov.started = ov.committed;
    pthread_cond_broadcast(&ov.cv);
    pthread_mutex_unlock(&ov.mu);
    if (fdatasync(ov.fd) != 0) {
      perror("raw_sqlite: fdatasync");
      exit(1);
    }
    pthread_mutex_lock(&ov.mu);
    ov.flushed = upto;
    pthread_cond_broadcast(&ov.cv);
  }
  pthread_mutex_unlock(&ov.mu);
  return NULL;
}
static struct bq_ckpt ckpt;
static int wal_max;
static int wal_pages; /* the WAL's frames after the last commit */

/* burstqd's wal hook (store_sqlite.c on_wal_commit), for ckpt=bg. */
static int on_wal_bg(void *arg, sqlite3 *db, const char *name, int pages) {
  (void)arg;
  (void)name;
  if (pages > wal_max) wal_max = pages;
  wal_pages = pages;
  (void)db;
  bq_ckpt_on_commit(&ckpt, pages);
  return SQLITE_OK;
}

/* For ckpt=inline and none: record the WAL's size; for inline, run the
 * checkpoint SQLite's default hook (which this one replaces) runs, at
 * BQ_CKPT_BYTES rather than 1000 pages so that every page size has the
 * same WAL bound in bytes. */
static long inline_pages;
static int on_wal_track(void *arg, sqlite3 *db, const char *name, int pages) {
  int mode = *(int *)arg;
  if (pages > wal_max) wal_max = pages;
  wal_pages = pages;
  if (mode == CKPT_INLINE && pages >= inline_pages)
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  return SQLITE_OK;
}

int main(int argc, char **argv) {
  sqlite3 *db;
  sqlite3_stmt *ins;
  char sql[128], *multi;
  static char payload[1 << 20];
  long rows, batch, size = 100, k = 1, page_size = 0;
  int sync, mode = CKPT_INLINE, writeback = 0, wal_fd = -1;
  int hinted = 0, wb_pages = 0, overlap = 0;
  pthread_t flush_thread;
  double t0, t1;
  sqlite3_int64 count = 0;

  if (argc < 5) {
    fprintf(stderr, "usage: raw_sqlite DB ROWS BATCH off|normal|full [BYTES] "
                    "[rows=K] [page_size=P] [ckpt=inline|bg|none] "
                    "[writeback=1] [overlap=1]\n");
    return 2;
  }
  rows = atol(argv[2]);
  batch = atol(argv[3]);
  sync = strcmp(argv[4], "off") == 0 ? 0 : strcmp(argv[4], "normal") == 0 ? 1 : 2;
  for (int a = 5; a < argc; a++) {
    if (strncmp(argv[a], "rows=", 5) == 0) k = atol(argv[a] + 5);
    else if (strncmp(argv[a], "page_size=", 10) == 0) page_size = atol(argv[a] + 10);
    else if (strcmp(argv[a], "ckpt=inline") == 0) mode = CKPT_INLINE;
    else if (strcmp(argv[a], "ckpt=bg") == 0) mode = CKPT_BG;
    else if (strcmp(argv[a], "ckpt=none") == 0) mode = CKPT_NONE;
    else if (strcmp(argv[a], "writeback=1") == 0) writeback = 1;
    else if (strcmp(argv[a], "overlap=1") == 0) overlap = 1;
    else if (a == 5 && strchr(argv[a], '=') == NULL) size = atol(argv[a]);
    else {
      fprintf(stderr, "raw_sqlite: unknown argument %s\n", argv[a]);
      return 2;
    }
  }
  if (overlap && sync != 2) {
    fprintf(stderr, "raw_sqlite: overlap=1 is for full only\n");
    return 2;
  }
  if (rows < 1 || batch < 1 || size < 1 || size > (long)sizeof(payload) ||
      k < 1 || k > 1000 || batch % k != 0 || rows % k != 0) {
    fprintf(stderr, "raw_sqlite: need ROWS and BATCH multiples of rows=K, "
                    "1 <= BYTES <= %zu\n", sizeof(payload));
    return 2;
  }
  memset(payload, 'x', sizeof(payload));

  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
  check(NULL, sqlite3_open(argv[1], &db), "open");
  if (page_size > 0) {
    snprintf(sql, sizeof(sql), "PRAGMA page_size=%ld", page_size);
    check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), "page_size");
  }
  check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), "wal");
  snprintf(sql, sizeof(sql), "PRAGMA synchronous=%d", overlap ? 1 : sync);
  check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), "sync");
  check(db, sqlite3_exec(db,
      "CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY,"
      " conn_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
      " received_at INTEGER NOT NULL, payload BLOB NOT NULL)",
      NULL, NULL, NULL), "schema");
  {
    sqlite3_int64 ps = 0;
    sqlite3_stmt *q;
    check(db, sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL), "ps");
    if (sqlite3_step(q) == SQLITE_ROW) ps = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    page_size = (long)ps;
    inline_pages = BQ_CKPT_BYTES / page_size;
    wb_pages = (int)(BQ_CKPT_WRITEBACK_BYTES / page_size);
  }
  if (writeback || overlap) {
    char wal[4096];
    snprintf(wal, sizeof(wal), "%s-wal", argv[1]);
    wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (wal_fd < 0) {
      perror("raw_sqlite: open the WAL");
      return 1;
    }
  }
  if (mode == CKPT_BG) {
    char err[256];
    if (bq_ckpt_start(&ckpt, argv[1], NULL, NULL, err, sizeof(err)) != 0) {
      fprintf(stderr, "raw_sqlite: %s\n", err);
      return 1;
    }
    sqlite3_wal_hook(db, on_wal_bg, NULL);
  } else {
    sqlite3_wal_hook(db, on_wal_track, &mode);
  }
  multi = malloc((size_t)(80 + k * 16));
  if (multi == NULL) return 1;
  {
    /* OR FAIL for K > 1, as burstqd's: no statement journal
     * (store_sqlite.c, multi_insert) */
    size_t o = (size_t)sprintf(multi,
        "INSERT %sINTO messages(conn_id, seq, received_at, payload) VALUES",
        k > 1 ? "OR FAIL " : "");
    for (long i = 0; i < k; i++)
      o += (size_t)sprintf(multi + o, "%s(?,?,?,?)", i ? "," : "");
  }
  check(db, sqlite3_prepare_v3(db, multi, -1, SQLITE_PREPARE_PERSISTENT, &ins,
                               NULL), "prepare");
  free(multi);

  if (overlap) {
    ov.fd = wal_fd;
    if (pthread_create(&flush_thread, NULL, flusher, NULL) != 0) {
      fprintf(stderr, "raw_sqlite: cannot start the flushing thread\n");
      return 1;
    }
  }
  t0 = now_s();
  for (long i = 0; i < rows; i += batch) {
    check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
    for (long j = i; j < i + batch && j < rows; j += k) {
      for (long m = 0; m < k; m++) {
        sqlite3_bind_int64(ins, (int)(4 * m + 1), 1 + (j + m) % 4);
        sqlite3_bind_int64(ins, (int)(4 * m + 2), j + m + 1);
        sqlite3_bind_int64(ins, (int)(4 * m + 3), (sqlite3_int64)(t0 * 1e6));
        sqlite3_bind_blob(ins, (int)(4 * m + 4), payload, (int)size, SQLITE_STATIC);
      }
      check(db, sqlite3_step(ins), "insert");
      sqlite3_reset(ins);
    }
    check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    if (overlap) { /* as pool.c's syncer: wait for a flush to begin */
      pthread_mutex_lock(&ov.mu);
      ov.committed++;
      pthread_cond_broadcast(&ov.cv);
      while (ov.started < ov.committed) pthread_cond_wait(&ov.cv, &ov.mu);
      pthread_mutex_unlock(&ov.mu);
    }
    if (writeback) { /* as store_sqlite.c's writeback_owed() */
      if (wal_pages < hinted) hinted = 0;
      if (wal_pages - hinted >= wb_pages) {
        hinted = wal_pages;
        (void)sync_file_range(wal_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
      }
    }
    if (mode == CKPT_BG) bq_ckpt_settle(&ckpt, db); /* as burstqd's pool */
  }
  if (overlap) { /* the run ends when every commit is flushed */
    pthread_mutex_lock(&ov.mu);
    ov.stop = 1;
    pthread_cond_broadcast(&ov.cv);
    pthread_mutex_unlock(&ov.mu);
    pthread_join(flush_thread, NULL);
    if (ov.flushed != ov.committed) {
      fprintf(stderr, "raw_sqlite: %ld commits, %ld flushed\n", ov.committed,
              ov.flushed);
      return 1;
    }
  }
  t1 = now_s();
  sqlite3_finalize(ins);
  if (mode == CKPT_BG) bq_ckpt_stop(&ckpt);
  if (wal_fd >= 0) close(wal_fd);
  {
    sqlite3_stmt *q;
    check(db, sqlite3_prepare_v2(db, "SELECT count(*) FROM messages", -1, &q, NULL), "count");
    if (sqlite3_step(q) == SQLITE_ROW) count = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
  }
  sqlite3_close(db);
  if (count != rows) {
    fprintf(stderr, "raw_sqlite: %lld rows stored, %ld inserted\n",
            (long long)count, rows);
    return 1;
  }
  printf("raw_sqlite rows=%ld batch=%ld sync=%s bytes=%ld rows_per_insert=%ld "
         "page_size=%ld ckpt=%s writeback=%d overlap=%d seconds=%.3f "
         "rows_per_s=%.0f mb_per_s=%.1f wal_max_mb=%.1f\n",
         rows, batch, argv[4], size, k, page_size,
         mode == CKPT_BG ? "bg" : mode == CKPT_NONE ? "none" : "inline",
         writeback, overlap,
         t1 - t0, (double)rows / (t1 - t0),
         (double)rows * (double)size / (t1 - t0) / 1e6,
         (double)wal_max * (double)page_size / 1e6);
  return 0;
}
