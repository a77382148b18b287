/*
 * metrics.h -- burstqd's metrics registry and its Prometheus text rendering.
 *
 * Design: the numbers are kept apart by the thread that writes them.
 *
 *  - Loop-thread numbers (the counters of counters.h, connections open,
 *    pauses; the queue) stay where they are counted: struct
 *    bq_server_stats and the server, written only by the loop thread.
 *    The HTTP server (http.h) runs on the same loop, so a scrape copies them
 *    into a struct bq_metrics_snapshot (observe.c) with no synchronisation
 *    at all, and nothing is added to the per-message path.  The queue's
 *    depth is read under its own mutex (bq_queue_stats), once per scrape.
 *
 *  - Worker numbers live in struct bq_metrics: the batch-size and
 *    commit-latency histograms, database errors by kind (store.h), and whether
 *    the database takes writes.  They are recorded once per committed batch
 *    or per failed attempt -- never per message -- by the worker holding the
 *    writer token (queue.h), so there is one writer at a time, ordered by
 *    the queue's mutex.  They are C11 atomics updated with relaxed
 *    fetch-adds and read by the loop thread with relaxed loads: the atomics
 *    make the concurrent read defined and untorn; no lock is taken.  A
 *    histogram's rendered _count is the sum of the bucket counts it renders,
 *    so the two always agree; _sum may be one batch ahead or behind, which
 *    Prometheus tolerates.
 *
 *  - The health reason (the message of the last failed commit) is
 *    the one non-scalar.  reason_mu guards it; it is taken on a failed
 *    attempt (at most a few per second, the retry backs off), on the first
 *    success after a failure, and by a /healthz scrape while failing.
 *
 * Rendering (bq_metrics_render) is a pure function of a bq_metrics and a
 * snapshot, so the unit tests check the exposition byte for byte.
 */
#ifndef BQ_METRICS_H
#define BQ_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "promhist.h"
#include "retention.h"
#include "server.h"
#include "store.h"
#include "thread.h"
#include "waits.h"

struct bq_metrics {
  struct bq_prom_hist batch;         /* records per committed batch */
  struct bq_prom_hist commit;        /* microseconds from BEGIN to COMMIT */
  _Atomic uint64_t db_errors[BQ_STORE_NERR]; /* failed attempts by kind */
  _Atomic int db_err;                /* 0: last attempt committed; else its
                                        error (a negated enum bq_store_err) */
  struct bq_mutex reason_mu;         /* guards reason */
  char reason[256];                  /* message of the last failure */
  /* Retention (retention.h): what the passes did (the store records it)
   * and the limits (set at start-up, read-only after; all 0: none, and
   * no burstq_retention_* metric is rendered). */
  struct bq_retain_stats retain;
  struct bq_retain_limits retain_limits;
  /* Where a message waits (waits.h, which says who writes what). */
  struct bq_waits waits;
};

/* Initialise m: empty histograms with burstqd's buckets, database healthy.
 * Returns 0 or a negative errno. */
int bq_metrics_init(struct bq_metrics *m);
void bq_metrics_destroy(struct bq_metrics *m);

/* Worker side, writer-token holder: a batch of n records became durable
 * after usec microseconds (retries included). */
void bq_metrics_batch(struct bq_metrics *m, uint64_t n, uint64_t usec);

/* Worker side: an attempt failed with err (a negated enum bq_store_err) and
 * message msg.  The database counts as not writable until the next
 * bq_metrics_batch(). */
void bq_metrics_db_error(struct bq_metrics *m, int err, const char *msg);

/* Any thread: 1 if the last commit attempt succeeded (or none failed yet);
 * else 0 with "KIND: message" of the failure copied into reason (size
 * len). */
int bq_metrics_db_ok(struct bq_metrics *m, char *reason, size_t len);

/* Everything the loop thread knows, copied at scrape time (observe.c). */
struct bq_metrics_snapshot {
  const char *version, *backend, *libuv_version; /* backend: "sqlite 3.40.1" */
  double start_time;               /* Unix seconds */
  int64_t now_us;                  /* the wall clock at the scrape */
  struct bq_server_snapshot loop;  /* the counters of counters.h and more */
  int have_http;                   /* the --metrics server's own counters: */
  uint64_t http_requests, http_bad, http_refused;
  int have_http_tls;               /* --metrics ...,tls: its TLS counters
                                      (struct bq_http_stats' tls_*) */
  uint64_t http_tls_handshakes, http_tls_failed, http_tls_timeouts;
  uint64_t http_tls_limited, http_tls_plaintext;
  uint64_t queue_records, queue_bytes;
  uint64_t queue_limit_records, queue_limit_bytes;
  unsigned workers;
  /* The process, under the standard names (process_*) that Prometheus
   * client libraries and dashboards use; rendered when have_process. */
  int have_process;
  double cpu_seconds;              /* user + system */
  uint64_t rss_bytes, vsize_bytes;
  uint64_t open_fds, max_fds;
};

/* Append the Prometheus text exposition (version 0.0.4) of m and s to out.
 * Returns 0, or -ENOMEM if out ran out of memory. */
int bq_metrics_render(struct bq_metrics *m,
                      const struct bq_metrics_snapshot *s, struct bq_buf *out);

#endif /* BQ_METRICS_H */
