/*
 * metrics.c -- see metrics.h for who writes what.  Recording: the worker
 * holding the writer token.  Rendering: the loop thread.
 */
#include "metrics.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Records per batch: powers of two up to the largest --batch-max that is
 * sensible in practice; bigger batches land in +Inf. */
static const uint64_t batch_bounds[] = {1,   2,    4,    8,    16,   32,
                                        64,  128,  256,  512,  1024, 2048,
                                        4096, 8192, 16384, 32768, 65536};
/* Commit latency in microseconds: 250 us (an fsync on fast flash) to 10 s
 * (a database locked by someone else, retried). */
static const uint64_t commit_bounds[] = {
    250,    500,    1000,    2500,    5000,    10000,   25000,  50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

/* Error kinds always rendered (zero or not), so that alerts and rate()
 * see the series from the start. */
static const int always_errs[] = {BQ_STORE_BUSY, BQ_STORE_IO, BQ_STORE_FULL};

int bq_metrics_init(struct bq_metrics *m) {
  bq_prom_hist_init(&m->batch, batch_bounds,
            sizeof(batch_bounds) / sizeof(batch_bounds[0]), 1.0);
  bq_prom_hist_init(&m->commit, commit_bounds,
            sizeof(commit_bounds) / sizeof(commit_bounds[0]), 1e-6);
  for (size_t i = 0; i < BQ_STORE_NERR; i++) atomic_init(&m->db_errors[i], 0);
  atomic_init(&m->db_err, 0);
  m->reason[0] = '\0';
  bq_retain_stats_init(&m->retain);
  memset(&m->retain_limits, 0, sizeof(m->retain_limits));
  bq_waits_init(&m->waits);
  return bq_mutex_init(&m->reason_mu);
}

void bq_metrics_destroy(struct bq_metrics *m) {
  bq_mutex_destroy(&m->reason_mu);
}

void bq_metrics_batch(struct bq_metrics *m, uint64_t n, uint64_t usec) {
  bq_prom_hist_observe(&m->batch, n);
  bq_prom_hist_observe(&m->commit, usec);
  /* The reason is kept (for the log of who looks later); only the flag
   * flips, and only after a failure, so the lock-free path is one load. */
  if (atomic_load_explicit(&m->db_err, memory_order_relaxed) != 0)
    atomic_store_explicit(&m->db_err, 0, memory_order_release);
}

void bq_metrics_db_error(struct bq_metrics *m, int err, const char *msg) {
  int kind = err < 0 && -err < BQ_STORE_NERR ? -err : BQ_STORE_FAILED;
  atomic_fetch_add_explicit(&m->db_errors[kind], 1, memory_order_relaxed);
  bq_mutex_lock(&m->reason_mu);
  snprintf(m->reason, sizeof(m->reason), "%s", msg ? msg : "");
  bq_mutex_unlock(&m->reason_mu);
  atomic_store_explicit(&m->db_err, -kind, memory_order_release);
}

int bq_metrics_db_ok(struct bq_metrics *m, char *reason, size_t len) {
  int err = atomic_load_explicit(&m->db_err, memory_order_acquire);
  if (err == 0) return 1;
  bq_mutex_lock(&m->reason_mu);
  /* Cut to the caller's buffer: the kind comes first. */
  snprintf(reason, len, "%s: %s", bq_store_err_name(err), m->reason);
  bq_mutex_unlock(&m->reason_mu);
  return 0;
}

/* ---- rendering ------------------------------------------------------- */

static void head(struct bq_buf *b, const char *name, const char *type,
                 const char *help) {
  bq_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void u64(struct bq_buf *b, const char *name, const char *type,
                const char *help, uint64_t v) {
  head(b, name, type, help);
  bq_buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void dbl(struct bq_buf *b, const char *name, const char *type,
                const char *help, double v) {
  head(b, name, type, help);
  bq_buf_printf(b, "%s %.3f\n", name, v);
}

/* A label value with \, " and newline escaped (exposition format). */
static void label_value(struct bq_buf *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\') bq_buf_add(b, "\\\\", 2);
    else if (*v == '"') bq_buf_add(b, "\\\"", 2);
    else if (*v == '\n') bq_buf_add(b, "\\n", 2);
    else bq_buf_add(b, v, 1);
  }
}

/* The counters of counters.h, in their order: a family's HELP and TYPE
 * before its first member, one sample per member. */
struct loop_counter {
  const char *metric, *label, *help;
  size_t offset;
};

static const struct loop_counter loop_counters[] = {
#define BQ_X_ROW(field, key, metric, label, help) \
  {metric, label, help, offsetof(struct bq_server_stats, field)},
    BQ_LOOP_COUNTERS(BQ_X_ROW)
#undef BQ_X_ROW
};

static void loop_counters_render(struct bq_buf *b,
                                 const struct bq_server_stats *st) {
  const char *family = NULL;
  for (size_t i = 0; i < sizeof(loop_counters) / sizeof(loop_counters[0]);
       i++) {
    const struct loop_counter *c = &loop_counters[i];
    uint64_t v = *(const uint64_t *)((const char *)st + c->offset);
    if (family == NULL || strcmp(family, c->metric) != 0) {
      head(b, c->metric, "counter", c->help);
      family = c->metric;
    }
    if (c->label[0] != '\0')
      bq_buf_printf(b, "%s{%s} %" PRIu64 "\n", c->metric, c->label, v);
    else
      bq_buf_printf(b, "%s %" PRIu64 "\n", c->metric, v);
  }
}

static void db_errors(struct bq_buf *b, struct bq_metrics *m) {
  const char *name = "burstq_db_errors_total";
  head(b, name, "counter",
       "Failed commit attempts by kind (busy, full and io are retried; "
       "corrupt, constraint and failed stop the daemon).");
  for (int k = 1; k < BQ_STORE_NERR; k++) {
    uint64_t v = atomic_load_explicit(&m->db_errors[k], memory_order_relaxed);
    int always = 0;
    for (size_t i = 0; i < sizeof(always_errs) / sizeof(always_errs[0]); i++)
      if (always_errs[i] == k) always = 1;
    if (v == 0 && !always) continue;
    bq_buf_printf(b, "%s{kind=\"%s\"} %" PRIu64 "\n", name,
                  bq_store_err_name(-k), v);
  }
}

/* The --metrics ...,tls listener's handshakes. */
static void http_tls_render(struct bq_buf *b,
                            const struct bq_metrics_snapshot *s) {
  static const char fail[] = "burstq_http_tls_handshake_failures_total";
  const struct {
    const char *reason;
    uint64_t v;
  } by[] = {{"failed", s->http_tls_failed},
            {"timeout", s->http_tls_timeouts},
            {"limit", s->http_tls_limited},
            {"plaintext", s->http_tls_plaintext}};
  u64(b, "burstq_http_tls_handshakes_total", "counter",
      "TLS handshakes completed on the --metrics ...,tls listener.",
      s->http_tls_handshakes);
  head(b, fail, "counter",
       "--metrics ...,tls connections closed before their TLS handshake "
       "completed, by reason.");
  for (size_t i = 0; i < sizeof(by) / sizeof(by[0]); i++)
    bq_buf_printf(b, "%s{reason=\"%s\"} %" PRIu64 "\n", fail, by[i].reason,
                  by[i].v);
}

int bq_metrics_render(struct bq_metrics *m,
                      const struct bq_metrics_snapshot *s, struct bq_buf *b) {
  int writable = atomic_load_explicit(&m->db_err, memory_order_acquire) == 0;

  head(b, "burstq_build_info", "gauge",
       "Always 1; the labels name the versions burstqd runs with.");
  bq_buf_printf(b, "burstq_build_info{version=\"");
  label_value(b, s->version);
  bq_buf_printf(b, "\",backend=\"");
  label_value(b, s->backend);
  bq_buf_printf(b, "\",libuv=\"");
  label_value(b, s->libuv_version);
  bq_buf_printf(b, "\"} 1\n");
  dbl(b, "burstq_start_time_seconds", "gauge",
      "When burstqd started, in Unix seconds.", s->start_time);
  u64(b, "burstq_workers", "gauge", "Writer threads (--workers).",
      s->workers);
  u64(b, "burstq_draining", "gauge",
      "1 once shutdown has begun: intake stopped, the queue is being "
      "written.",
      (uint64_t)(s->loop.draining != 0));

  loop_counters_render(b, &s->loop.st);
  u64(b, "burstq_connections_open", "gauge", "Client connections open now.",
      s->loop.open);
  if (s->have_http) {
    u64(b, "burstq_http_requests_total", "counter",
        "Requests answered by the --metrics server, any status.",
        s->http_requests);
    u64(b, "burstq_http_bad_requests_total", "counter",
        "Requests answered 400, 405, 408, 413, 414 or 431.", s->http_bad);
    u64(b, "burstq_http_refused_total", "counter",
        "--metrics connections refused over the connection limit.",
        s->http_refused);
  }
  if (s->have_http && s->have_http_tls) http_tls_render(b, s);

  u64(b, "burstq_queue_records", "gauge",
      "Records (messages and connection events) between the sockets and "
      "the database.",
      s->queue_records);
  u64(b, "burstq_queue_bytes", "gauge",
      "Bytes charged to the queue (payload plus record header).",
      s->queue_bytes);
  u64(b, "burstq_queue_limit_records", "gauge",
      "Intake pauses at this many queued records (--queue-capacity).",
      s->queue_limit_records);
  u64(b, "burstq_queue_limit_bytes", "gauge",
      "Intake pauses at this many queued bytes (--queue-bytes).",
      s->queue_limit_bytes);
  u64(b, "burstq_intake_paused", "gauge",
      "1 while intake is paused because the queue is full.",
      (uint64_t)(s->loop.paused != 0));
  dbl(b, "burstq_intake_paused_seconds_total", "counter",
      "Time intake has spent paused.", (double)s->loop.paused_ms / 1000.0);
  u64(b, "burstq_record_memory_bytes", "gauge",
      "Memory mapped for records (2 MiB slabs), in use or kept for reuse.",
      s->loop.record_bytes);
  u64(b, "burstq_record_memory_kept_bytes", "gauge",
      "Of burstq_record_memory_bytes, emptied slabs kept for the next "
      "records.",
      s->loop.record_kept_bytes);
  u64(b, "burstq_record_slabs_mapped_total", "counter",
      "Slabs of record memory mapped from the system.",
      s->loop.slabs_mapped);
  u64(b, "burstq_record_slabs_reused_total", "counter",
      "Slabs of record memory carved again instead of mapped.",
      s->loop.slabs_reused);
  u64(b, "burstq_record_slabs_trimmed_total", "counter",
      "Kept slabs of record memory given back to the system after the "
      "loop took none for a while.",
      s->loop.slabs_trimmed);
  u64(b, "burstq_record_slab_failures_total", "counter",
      "Records stored with one malloc() each because no slab could be "
      "mapped (out of memory, or vm.max_map_count reached).",
      s->loop.slab_failures);

  bq_prom_hist_render(b, "burstq_batch_records", "Records per committed transaction.",
       &m->batch);
  bq_prom_hist_render(b, "burstq_commit_duration_seconds",
       "Time from BEGIN to COMMIT per batch, retries included (at --sync "
       "full on SQLite the flush follows: burstq_sync_wait_seconds).",
       &m->commit);
  bq_waits_render(&m->waits, b);
  db_errors(b, m);
  bq_retain_render(&m->retain, &m->retain_limits, s->now_us, b);
  if (s->have_process) {
    dbl(b, "process_cpu_seconds_total", "counter",
        "User and system CPU time spent, in seconds.", s->cpu_seconds);
    u64(b, "process_resident_memory_bytes", "gauge",
        "Resident memory size in bytes.", s->rss_bytes);
    u64(b, "process_virtual_memory_bytes", "gauge",
        "Virtual memory size in bytes.", s->vsize_bytes);
    u64(b, "process_open_fds", "gauge", "Open file descriptors.",
        s->open_fds);
    u64(b, "process_max_fds", "gauge",
        "The soft limit on open file descriptors.", s->max_fds);
    dbl(b, "process_start_time_seconds", "gauge",
        "Start time of the process, in Unix seconds.", s->start_time);
  }
  u64(b, "burstq_db_writable", "gauge",
      "1 if the last commit attempt succeeded (or none was made yet), 0 "
      "while commits fail.",
      (uint64_t)writable);
  return b->failed ? -ENOMEM : 0;
}
